"""Console pages: the editor flow, agents' suggestions fragment, drafts from replies, measures."""

from __future__ import annotations

from sqlalchemy import select

from sportello.accounts.models import User
from sportello.conversations import actions as conversations_actions
from sportello.conversations.models import Conversation
from sportello.knowledge.models import Article, ArticleStatus, Proposal, SearchLog
from tests.factories import csrf_from, inbound, login, receive
from tests.knowledge.conftest import KB


def test_editor_creates_publishes_and_restores(client, db, kb: KB, personas):
    login(client, personas.supervisor)
    form = client.get("/kb/new")
    assert form.status_code == 200
    token = csrf_from(form.text)
    created = client.post(
        "/kb/new",
        data={
            "csrf_token": token,
            "title": "Orari dei negozi",
            "body_md": "Aperti **9-19**.",
            "language": "it",
            "status": "published",
            "tags": "negozio, orari",
        },
        follow_redirects=False,
    )
    assert created.status_code == 303
    article_url = created.headers["location"]
    page = client.get(article_url)
    assert "<strong>9-19</strong>" in page.text
    too_big = client.post(
        "/kb/new",
        data={"csrf_token": token, "title": "Enorme", "body_md": "x" * 150_000},
    )
    assert too_big.status_code == 422 and "100,000" in too_big.text
    edit = client.get(article_url + "/edit")
    saved = client.post(
        article_url + "/edit",
        data={
            "csrf_token": csrf_from(edit.text),
            "title": "Orari dei negozi",
            "body_md": "Aperti 10-20.",
            "status": "published",
            "language": "it",
            "base_version": "1",
            "note": "nuovo orario",
        },
        follow_redirects=False,
    )
    assert saved.status_code == 303
    history = client.get(article_url + "/history?version=1")
    assert "nuovo orario" in history.text and "kb-diff-add" in history.text
    restore = client.post(
        article_url + "/history/1/restore",
        data={"csrf_token": csrf_from(history.text)},
        follow_redirects=False,
    )
    assert restore.status_code == 303
    assert "9-19" in client.get("/help/it/articles/orari-dei-negozi").text


def test_agent_edit_becomes_a_proposal(client, db, kb: KB, personas):
    login(client, personas.sara)
    url = f"/kb/{kb.ids['Metodi di pagamento']}"
    assert "Bozza sulla garanzia" not in client.get("/kb").text  # someone else's draft
    assert client.get(f"/kb/{kb.ids['Bozza sulla garanzia']}").status_code == 404
    edit = client.get(url + "/edit")
    assert edit.status_code == 200
    response = client.post(
        url + "/edit",
        data={
            "csrf_token": csrf_from(edit.text),
            "title": "Metodi di pagamento",
            "body_md": "Anche Satispay.",
            "note": "nuovo metodo",
        },
        follow_redirects=False,
    )
    assert response.headers["location"].endswith("?proposed=1")
    with db.session() as s:
        assert s.scalars(select(Proposal)).one().note == "nuovo metodo"
    assert client.get("/kb-proposals").status_code == 403
    assert client.get("/kb-measures").status_code == 403


def test_suggestions_fragment_is_scoped_and_insertable(client, db, kb: KB, personas):
    result = receive(db, personas.api_channel, inbound("Quando mi arriva il rimborso del reso?"))
    other = receive(db, personas.webform, inbound("Rimborso?", email="x@example.it"))
    login(client, personas.sara)  # Assistenza sees the API channel's queue only
    fragment = client.get(f"/kb/suggest?conversation_id={result.conversation_id}")
    assert fragment.status_code == 200 and "<html" not in fragment.text
    assert "Resi e rimborsi" in fragment.text
    assert 'data-kb-insert="link"' in fragment.text and 'data-kb-insert="text"' in fragment.text
    assert "/help/it/articles/resi-e-rimborsi" in fragment.text
    assert "Procedura interna per i rimborsi manuali" in fragment.text  # internal: for agents
    searched = client.get(f"/kb/suggest?conversation_id={result.conversation_id}&q=spedizione")
    assert "Tempi di spedizione" in searched.text
    denied = client.get(f"/kb/suggest?conversation_id={other.conversation_id}")
    assert denied.status_code == 404


def test_draft_from_a_good_reply(client, db, kb: KB, personas):
    result = receive(db, personas.api_channel, inbound("Come cambio la password?"))
    with db.transaction() as s:
        conversation = s.get_one(Conversation, result.conversation_id)
        reply = conversations_actions.do_send_reply(
            s, conversation=conversation, author=s.get_one(User, personas.sara.id),
            text="Per cambiare la password apri Profilo e scegli Sicurezza.",
        )  # fmt: skip
        reply_id = reply.id
    login(client, personas.sara)
    page = client.get("/kb")
    response = client.post(
        "/kb/draft-from-message",
        data={"csrf_token": csrf_from(page.text), "message_id": reply_id},
        follow_redirects=False,
    )
    assert response.status_code == 303 and response.headers["location"].endswith("/edit")
    with db.session() as s:
        draft = s.scalars(select(Article).where(Article.owner_id == personas.sara.id)).one()
        assert draft.status == ArticleStatus.DRAFT and "Profilo" in draft.body_md


def test_measures_page_shows_gaps_votes_and_deflection(client, db, kb: KB, personas):
    client.get("/help/it/search", params={"q": "astronave marziana"})
    client.get("/help/it/search", params={"q": "Astronave marziana"})
    login(client, personas.supervisor)
    page = client.get("/kb-measures")
    assert page.status_code == 200
    assert "astronave marziana" in page.text.lower()
    assert 'id="kb-deflection"' in page.text and 'id="kb-votes"' in page.text
    with db.session() as s:
        assert len(list(s.scalars(select(SearchLog)))) == 2


def test_synonyms_page_for_admins(client, db, kb: KB, personas):
    login(client, personas.admin)
    page = client.get("/kb-settings")
    response = client.post(
        "/kb-settings/synonyms",
        data={"csrf_token": csrf_from(page.text), "words": "reso, rimborso, restituzione"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert "reso, rimborso, restituzione" in client.get("/kb-settings").text


def test_api_search(client, db, kb: KB, personas):
    headers = {"Authorization": f"Bearer {personas.api_token}"} if False else {}
    login(client, personas.sara)
    response = client.get("/api/v1/kb/search", params={"q": "rimborso"}, headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["hits"][0]["article"]["title"] in (
        "Resi e rimborsi",
        "Procedura interna per i rimborsi manuali",
    )
    one = client.get(f"/api/v1/kb/articles/{kb.ids['Resi e rimborsi']}")
    assert one.json()["url"].endswith("/help/it/articles/resi-e-rimborsi")
    assert client.get(f"/api/v1/kb/articles/{kb.ids['Bozza sulla garanzia']}").status_code == 404


def test_the_conversation_page_offers_suggestions_and_drafts(client, db, kb: KB, personas):
    result = receive(db, personas.api_channel, inbound("Quando mi arriva il rimborso del reso?"))
    with db.transaction() as s:
        conversation = s.get_one(Conversation, result.conversation_id)
        reply = conversations_actions.do_send_reply(
            s, conversation=conversation, author=s.get_one(User, personas.sara.id),
            text="Il rimborso arriva entro 14 giorni dal reso.",
        )  # fmt: skip
        reply_id, number = reply.id, conversation.number
    login(client, personas.sara)
    page = client.get(f"/c/{number}").text
    assert f'hx-get="/kb/suggest?conversation_id={result.conversation_id}"' in page
    assert '<script src="/static/kb.js" defer></script>' in page
    assert 'action="/kb/draft-from-message"' in page
    assert f'name="message_id" value="{reply_id}"' in page
    assert 'href="/kb"' in page and 'href="/help"' in page
    assert "/static/chat-console.js" not in page  # not a chat
