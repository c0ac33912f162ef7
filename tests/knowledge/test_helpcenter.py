"""The public help center: pages, SEO basics, live search, votes with a rate limit."""

from __future__ import annotations

import re

from sqlalchemy import select

from sportello.knowledge.models import Article, SearchLog, Vote
from tests.factories import csrf_from
from tests.knowledge.conftest import KB


def test_help_redirects_by_language_and_renders_home(client, kb: KB):
    response = client.get("/help", headers={"accept-language": "en-GB,en"}, follow_redirects=False)
    assert response.headers["location"] == "/help/en"
    home = client.get("/help/it")
    assert home.status_code == 200
    assert "Come possiamo aiutarti?" in home.text
    assert "Resi e rimborsi" in home.text and "Ordini" in home.text
    assert "Procedura interna" not in home.text and "Bozza" not in home.text
    assert '<script src="/static/help.js" defer></script>' in home.text
    assert "<script>" not in home.text and "style=" not in home.text
    english = client.get("/help/en")
    assert "How can we help?" in english.text and "Returns and refunds" in english.text


def test_article_page_has_seo_basics_and_translation_links(client, kb: KB):
    page = client.get("/help/it/articles/resi-e-rimborsi")
    assert page.status_code == 200
    assert "<title>Resi e rimborsi · Centro assistenza" in page.text
    assert '<meta name="description" content="Puoi restituire un prodotto' in page.text
    assert 'rel="canonical"' in page.text
    assert (
        'hreflang="en" href="http://127.0.0.1:8000/help/en/articles/returns-and-refunds"'
        in page.text
    )
    assert "<strong>restituire</strong>" in page.text
    assert client.get("/help/it/articles/bozza-sulla-garanzia").status_code == 404
    assert (
        client.get("/help/it/articles/procedura-interna-per-i-rimborsi-manuali").status_code == 404
    )
    assert client.get("/help/de").status_code == 404
    category = client.get("/help/it/categories/ordini")
    assert category.status_code == 200 and "Tempi di spedizione" in category.text


def test_sitemap_lists_published_articles_only(client, kb: KB):
    response = client.get("/help/sitemap.xml")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/xml")
    assert "/help/it/articles/resi-e-rimborsi</loc>" in response.text
    assert "/help/en/articles/returns-and-refunds</loc>" in response.text
    assert "bozza" not in response.text and "procedura-interna" not in response.text


def test_search_page_logs_and_live_results(client, db, kb: KB):
    page = client.get("/help/it/search", params={"q": "spedizioni gratis"})
    assert page.status_code == 200 and "Tempi di spedizione" in page.text
    empty = client.get("/help/it/search", params={"q": "astronave marziana"})
    assert "Nessun articolo" in empty.text
    live = client.get("/help/it/search/live", params={"q": "rimbo"})
    assert live.status_code == 200 and "Resi e rimborsi" in live.text and "<html" not in live.text
    weird = client.get("/help/it/search", params={"q": '"* NEAR( OR -- <script>alert(1)</script>'})
    assert weird.status_code == 200 and "<script>alert" not in weird.text
    with db.session() as s:
        logs = {row.query: row.result_count for row in s.scalars(select(SearchLog))}
    assert logs["spedizioni gratis"] >= 1 and logs["astronave marziana"] == 0
    assert "rimbo" not in logs  # typing is not logged


def _vote(client, slug: str, helpful: str, comment: str = ""):  # type: ignore[no-untyped-def]
    page = client.get(f"/help/it/articles/{slug}")
    data = {"csrf_token": csrf_from(page.text), "helpful": helpful, "comment": comment}
    return client.post(f"/help/it/articles/{slug}/vote", data=data, follow_redirects=False)


def test_votes_with_comment_escaped_and_rate_limited(client, db, kb: KB):
    first = _vote(client, "resi-e-rimborsi", "yes")
    assert first.status_code == 303 and first.headers["location"].endswith("?voted=yes#vote")
    thanks = client.get(first.headers["location"])
    assert "Grazie per il tuo parere" in thanks.text
    second = _vote(client, "resi-e-rimborsi", "no", "<script>alert('x')</script> poco chiaro")
    assert second.headers["location"].endswith("?voted=no#vote")
    _vote(client, "resi-e-rimborsi", "no")
    spam = _vote(client, "resi-e-rimborsi", "no")
    assert spam.headers["location"].endswith("?voted=limited#vote")
    with db.session() as s:
        votes = list(s.scalars(select(Vote)))
        article = s.scalars(select(Article).where(Article.slug == "resi-e-rimborsi")).one()
        assert len(votes) == 3 and article.helpful_yes == 1 and article.helpful_no == 2
        assert all(len(v.ip_hash) == 64 for v in votes)
    no_csrf = client.post("/help/it/articles/resi-e-rimborsi/vote", data={"helpful": "yes"})
    assert no_csrf.status_code == 403


def test_vote_comment_is_shown_escaped_to_editors(client, db, kb: KB, personas):
    from tests.factories import login

    _vote(client, "resi-e-rimborsi", "no", "<img src=x onerror=alert(1)> non chiaro")
    login(client, personas.supervisor)
    page = client.get(f"/kb/{kb.ids['Resi e rimborsi']}")
    assert page.status_code == 200
    assert "&lt;img src=x onerror=alert(1)&gt; non chiaro" in page.text
    assert not re.search(r"<img src=x", page.text)
