"""The knowledge base's status door (article list) and category door (settings page)."""

from __future__ import annotations

from sportello.accounts.models import User
from sportello.knowledge import actions
from sportello.knowledge.models import Article, ArticleStatus, Category
from tests.factories import csrf_from, login


def _article(db, personas) -> int:
    with db.transaction() as s:
        return actions.do_create_article(
            s,
            brand_id=personas.brand_id,
            by=s.get_one(User, personas.admin.id),
            title="Come fare un reso",
            body_md="Entro 30 giorni dall'acquisto.",
        ).id


def test_editor_publishes_from_the_list_and_sees_statuses_translated(client, db, personas):
    article_id = _article(db, personas)
    login(client, personas.supervisor)
    page = client.get("/kb", headers={"Accept-Language": "it"})
    assert f'action="/kb/{article_id}/status"' in page.text
    response = client.post(
        f"/kb/{article_id}/status",
        data={"status": "published", "csrf_token": csrf_from(page.text)},
        follow_redirects=False,
    )
    assert response.status_code == 303
    with db.session() as s:
        assert s.get_one(Article, article_id).status == ArticleStatus.PUBLISHED
    client.cookies.clear()
    login(client, personas.admin)  # Italian
    listing = client.get("/kb").text
    assert ">Pubblicato</option>" in listing and ">Bozza</option>" in listing
    bad = client.post(
        f"/kb/{article_id}/status", data={"status": "lost", "csrf_token": csrf_from(listing)}
    )
    assert bad.status_code == 422


def test_agents_cannot_change_the_status(client, db, personas):
    article_id = _article(db, personas)
    with db.transaction() as s:
        actions.do_set_status(
            s,
            article=s.get_one(Article, article_id),
            by=s.get_one(User, personas.admin.id),
            status=ArticleStatus.PUBLISHED,
        )
    login(client, personas.sara)
    page = client.get("/kb")
    assert f'action="/kb/{article_id}/status"' not in page.text
    response = client.post(
        f"/kb/{article_id}/status", data={"status": "draft", "csrf_token": csrf_from(page.text)}
    )
    assert response.status_code == 403
    with db.session() as s:
        assert s.get_one(Article, article_id).status == ArticleStatus.PUBLISHED


def test_category_renamed_and_described(client, db, personas):
    with db.transaction() as s:
        category = actions.do_create_category(
            s,
            brand_id=personas.brand_id,
            by=s.get_one(User, personas.admin.id),
            name="Resi",
            language="it",
        )
        category_id = category.id
    login(client, personas.admin)
    page = client.get("/kb-settings")
    token = csrf_from(page.text)
    response = client.post(
        f"/kb-settings/categories/{category_id}",
        data={"name": "Resi e rimborsi", "description": "Come restituire", "position": "2",
              "csrf_token": token},
        follow_redirects=False,
    )  # fmt: skip
    assert response.status_code == 303
    with db.session() as s:
        saved = s.get_one(Category, category_id)
        assert (saved.name, saved.description, saved.position) == (
            "Resi e rimborsi",
            "Come restituire",
            2,
        )
    empty = client.post(
        f"/kb-settings/categories/{category_id}", data={"name": " ", "csrf_token": token}
    )
    assert empty.status_code == 422
    assert "una categoria deve avere un nome" in empty.text
