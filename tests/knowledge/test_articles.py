"""Articles: sanitised Markdown, size limit, versions with diff and restore, proposals, drafts."""

from __future__ import annotations

import pytest

from sportello.accounts.models import User
from sportello.core.errors import Conflict, InvalidInput, PermissionDenied
from sportello.knowledge import actions, markdown, service
from sportello.knowledge.models import ArticleStatus, ProposalStatus
from tests.knowledge.conftest import KB

MALICIOUS = [
    "<script>alert(1)</script>",
    '<img src=x onerror="alert(1)">',
    "[click](javascript:alert(1))",
    "[x](JaVaScRiPt:alert(1))",
    '<a href="javascript:alert(1)">x</a>',
    "![i](data:text/html;base64,PHNjcmlwdD4=)",
    '<iframe src="https://evil.example"></iframe>',
    '<svg onload="alert(1)"></svg>',
    "<style>body{display:none}</style>",
    '[x](https://ok.example "a\\" onmouseover=\\"alert(1)")',
]


@pytest.mark.parametrize("source", MALICIOUS)
def test_malicious_markdown_never_runs(source):
    import re

    html = markdown.to_html(source).lower()
    tags = re.findall(r"<[a-z][^>]*>", html)  # real tags only: escaped text is harmless
    assert not any(t.startswith(("<script", "<iframe", "<svg", "<style", "<img")) for t in tags)
    for tag in tags:
        assert "javascript:" not in tag and "data:" not in tag
        outside_values = re.sub(r'"[^"]*"', '""', tag)  # &quot; inside a value cannot close it
        assert not re.search(r"\son[a-z]+=", outside_values), tag


def test_markdown_renders_the_useful_parts():
    html = markdown.to_html(
        "# Titolo\n\n**grassetto** e [link](https://esempio.it)\n\n- uno\n- due"
    )
    assert "<strong>grassetto</strong>" in html
    assert 'href="https://esempio.it"' in html and 'rel="noopener noreferrer nofollow"' in html
    assert "<li>uno</li>" in html


def test_huge_article_is_refused_with_a_clear_limit(db, kb: KB):
    with db.transaction() as s, pytest.raises(InvalidInput) as caught:
        actions.do_create_article(
            s, brand_id=kb.brand_id, by=s.get_one(User, kb.editor.id), title="Enorme",
            body_md="parola " * 50_000,
        )  # fmt: skip
    assert "100,000" in caught.value.message and caught.value.field == "body_md"


def test_versions_diff_and_restore(db, kb: KB):
    article_id = kb.ids["Tempi di spedizione"]
    with db.transaction() as s:
        editor = s.get_one(User, kb.editor.id)
        article = service.get_article(s, article_id)
        actions.do_update_article(
            s, article=article, by=editor, title="Tempi di spedizione",
            body_md="Spediamo in 24 ore.", note="più veloci",
        )  # fmt: skip
        assert article.version == 2
        with pytest.raises(Conflict):
            actions.do_update_article(
                s, article=article, by=editor, title="x", body_md="y", base_version=1
            )
    with db.transaction() as s:
        article = service.get_article(s, article_id)
        history = service.versions(s, article)
        assert [v.version for v in history] == [2, 1]
        old = service.get_version(s, article, 1)
        lines = service.diff(old.body_md, article.body_md, old_label="v1", new_label="v2")
        assert ("add", "+Spediamo in 24 ore.") in lines
        assert any(kind == "del" for kind, _ in lines)
        actions.do_restore_version(s, article=article, by=s.get_one(User, kb.editor.id), version=1)
        assert article.version == 3 and "24/48" in article.body_md
        assert "24/48" in article.body_html
    with db.session() as s:
        result = service.search_articles(s, "24/48 spediamo", brand_id=kb.brand_id)
        assert result.hits[0].article.id == article_id


def test_agents_propose_editors_accept(db, kb: KB, personas):
    article_id = kb.ids["Metodi di pagamento"]
    with db.transaction() as s:
        sara = s.get_one(User, personas.sara.id)
        article = service.get_article(s, article_id)
        with pytest.raises(PermissionDenied):
            actions.do_update_article(s, article=article, by=sara, title="x", body_md="y")
        proposal = actions.do_propose_edit(
            s, article=article, by=sara, title=article.title,
            body_md=article.body_md + " Anche Satispay.", note="manca Satispay",
        )  # fmt: skip
        with pytest.raises(PermissionDenied):
            actions.do_accept_proposal(s, proposal=proposal, by=sara)
        proposal_id = proposal.id
    with db.transaction() as s:
        editor = s.get_one(User, kb.editor.id)
        proposal = service.get_proposal(s, proposal_id)
        actions.do_accept_proposal(s, proposal=proposal, by=editor)
        assert proposal.status == ProposalStatus.ACCEPTED
        assert "Satispay" in service.get_article(s, article_id).body_md
        assert "proposal" in service.versions(s, proposal.article)[0].note
        with pytest.raises(Conflict):
            actions.do_reject_proposal(s, proposal=proposal, by=editor)


def test_agents_create_drafts_only_and_edit_their_own(db, kb: KB, personas):
    with db.transaction() as s:
        sara = s.get_one(User, personas.sara.id)
        with pytest.raises(PermissionDenied):
            actions.do_create_article(
                s, brand_id=kb.brand_id, by=sara, title="T", body_md="B",
                status=ArticleStatus.PUBLISHED,
            )  # fmt: skip
        draft = actions.do_create_article(s, brand_id=kb.brand_id, by=sara, title="T", body_md="B")
        actions.do_update_article(s, article=draft, by=sara, title="T2", body_md="B2")
        with pytest.raises(PermissionDenied):
            actions.do_set_status(s, article=draft, by=sara, status=ArticleStatus.PUBLISHED)
        assert draft.title == "T2" and draft.status == ArticleStatus.DRAFT


def test_translations_are_linked_and_slugs_unique(db, kb: KB):
    with db.transaction() as s:
        editor = s.get_one(User, kb.editor.id)
        source = service.get_article(s, kb.ids["Tempi di spedizione"])
        english = actions.do_create_article(
            s, brand_id=kb.brand_id, by=editor, title="Shipping times", body_md="24-48 hours.",
            language="en", translation_of=source, status=ArticleStatus.PUBLISHED,
        )  # fmt: skip
        assert [a.id for a in service.translations_of(s, english)] == [source.id]
        twin = actions.do_create_article(
            s, brand_id=kb.brand_id, by=editor, title="Tempi di spedizione", body_md="Doppio"
        )
        assert twin.slug == "tempi-di-spedizione-2"
