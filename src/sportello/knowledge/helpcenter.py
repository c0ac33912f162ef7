"""The public help center: /help/{lang}/..., server-rendered, its own light layout (help.css,
help.js), no login. Italian and English texts live here so the public site is complete without the
console's catalogues."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Annotated, Any
from xml.sax.saxutils import escape as xml_escape

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from sportello.accounts import service as accounts_service
from sportello.config import get_settings
from sportello.core import i18n, ratelimit
from sportello.core.db import SessionDep, get_database
from sportello.core.errors import InvalidInput, NotFound
from sportello.knowledge import actions, semantic, service
from sportello.knowledge.models import Article
from sportello.web.auth import CsrfChecked
from sportello.web.render import csrf_token, env

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)

LANGS = ("it", "en")
VOTE_RULE_IP = "30/hour"
VOTE_RULE_ARTICLE = "3/hour"
LIVE_RESULTS = 6

TEXTS_IT: Mapping[str, str] = {
    "Help center": "Centro assistenza",
    "How can we help?": "Come possiamo aiutarti?",
    "Search the help center": "Cerca nel centro assistenza",
    "Search": "Cerca",
    "Categories": "Categorie",
    "Popular articles": "Articoli più letti",
    "All articles": "Tutti gli articoli",
    "articles": "articoli",
    "Results for": "Risultati per",
    "No article matches your search.": "Nessun articolo corrisponde alla ricerca.",
    "Try other words, or contact us.": "Prova con altre parole, oppure contattaci.",
    "Was this article helpful?": "Questo articolo ti è stato utile?",
    "Yes": "Sì",
    "No": "No",
    "Thanks for your feedback!": "Grazie per il tuo parere!",
    "Tell us what was missing (optional)": "Raccontaci cosa mancava (facoltativo)",
    "Send": "Invia",
    "Related articles": "Articoli correlati",
    "Also in": "Disponibile anche in",
    "Updated": "Aggiornato",
    "Home": "Home",
    "Page not found": "Pagina non trovata",
    "This page does not exist or is no longer published.": (
        "Questa pagina non esiste o non è più pubblicata."
    ),
    "Back to the help center": "Torna al centro assistenza",
    "Too many votes from your connection: please retry later.": (
        "Troppi voti dalla tua connessione: riprova più tardi."
    ),
    "No articles in this category yet.": "Ancora nessun articolo in questa categoria.",
    "Search results": "Risultati della ricerca",
    "Contact us": "Contattaci",
    "Did you mean": "Forse cercavi",
    "Skip to content": "Vai al contenuto",
}


def translator(lang: str):  # type: ignore[no-untyped-def]
    def t(message: str) -> str:
        return TEXTS_IT.get(message, message) if lang == "it" else message

    return t


def _lang(lang: str) -> str:
    if lang not in LANGS:
        raise NotFound("page not found")
    return lang


def help_render(
    request: Request,
    lang: str,
    template: str,
    context: Mapping[str, Any],
    *,
    status_code: int = 200,
    session: Session | None = None,
) -> HTMLResponse:
    token = i18n.current_language.set(lang)
    try:
        brand = accounts_service.default_brand(session) if session is not None else None
        ctx = {
            "request": request,
            "lang": lang,
            "t": translator(lang),
            "brand": brand,
            "csrf_token": csrf_token(request),
            "base_url": get_settings().base_url.rstrip("/"),
            "other_lang": "en" if lang == "it" else "it",
            **context,
        }
        html = env.get_template(template).render(ctx)
    finally:
        i18n.current_language.reset(token)
    headers = {"Cache-Control": "no-cache"} if request.method == "GET" else {}
    return HTMLResponse(html, status_code=status_code, headers=headers)


def _brand_id(session: Session) -> int:
    return accounts_service.default_brand(session).id


def _client_ip(request: Request) -> str:
    return request.client.host if request.client else "-"


def _write(request: Request, fn: Any) -> None:
    """A best-effort write outside the page's read transaction (view counts, search logs)."""
    try:
        with get_database(request).transaction() as session:
            fn(session)
    except Exception:  # a lost counter must never break a public page
        log.exception("help center bookkeeping failed")


def _not_found(request: Request, session: Session, lang: str) -> HTMLResponse:
    return help_render(request, lang, "help/not_found.html", {}, status_code=404, session=session)


@router.get("/help")
def help_root(request: Request) -> Response:
    lang = i18n.pick_language(request.headers.get("accept-language"))
    return RedirectResponse(f"/help/{lang}", status_code=302)


@router.get("/help/sitemap.xml")
def sitemap(request: Request, session: SessionDep) -> Response:
    base = get_settings().base_url.rstrip("/")
    brand_id = _brand_id(session)
    urls = [f"{base}/help/{lang}" for lang in LANGS]
    for lang in LANGS:
        urls += [
            f"{base}/help/{lang}/categories/{c.slug}"
            for c in service.categories(session, brand_id=brand_id, language=lang)
        ]
    lastmod: dict[str, str] = {}
    for article in service.sitemap_entries(session, brand_id=brand_id):
        url = f"{base}/help/{article.language}/articles/{article.slug}"
        urls.append(url)
        lastmod[url] = article.updated_at.date().isoformat()
    body = ['<?xml version="1.0" encoding="UTF-8"?>']
    body.append('<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">')
    for url in urls:
        mod = f"<lastmod>{lastmod[url]}</lastmod>" if url in lastmod else ""
        body.append(f"<url><loc>{xml_escape(url)}</loc>{mod}</url>")
    body.append("</urlset>")
    return Response("\n".join(body), media_type="application/xml")


@router.get("/help/{lang}", response_class=HTMLResponse)
def home(request: Request, session: SessionDep, lang: str) -> Response:
    lang = _lang(lang)
    brand_id = _brand_id(session)
    categories = service.categories(session, brand_id=brand_id, language=lang)
    articles = service.public_articles(session, brand_id=brand_id, language=lang)
    by_category: dict[int | None, list[Article]] = {}
    for article in articles:
        by_category.setdefault(article.category_id, []).append(article)
    return help_render(
        request,
        lang,
        "help/home.html",
        {
            "categories": categories,
            "by_category": by_category,
            "uncategorized": by_category.get(None, []),
            "popular": service.popular_articles(session, brand_id=brand_id, language=lang),
        },
        session=session,
    )


@router.get("/help/{lang}/categories/{slug}", response_class=HTMLResponse)
def category_page(request: Request, session: SessionDep, lang: str, slug: str) -> Response:
    lang = _lang(lang)
    brand_id = _brand_id(session)
    try:
        category = service.category_by_slug(
            session, brand_id=brand_id, language=lang, slug=slug[:80]
        )
    except NotFound:
        return _not_found(request, session, lang)
    articles = service.public_articles(
        session, brand_id=brand_id, language=lang, category_id=category.id
    )
    return help_render(
        request,
        lang,
        "help/category.html",
        {"category": category, "articles": articles},
        session=session,
    )


@router.get("/help/{lang}/articles/{slug}", response_class=HTMLResponse)
def article_page(
    request: Request,
    session: SessionDep,
    lang: str,
    slug: str,
    voted: str = "",
    q: str = "",
    t: str = "",
) -> Response:
    lang = _lang(lang)
    try:
        article = service.public_article_by_slug(
            session, brand_id=_brand_id(session), language=lang, slug=slug
        )
    except NotFound:
        return _not_found(request, session, lang)
    article_id = article.id
    # before the writes below: this read transaction's snapshot must not refill the ranking's
    # caches after a learned question has cleared them
    related = service.related_articles(session, article)
    # reached from a help-center search (a signed result link): the search teaches the ranking
    searched = q[:300] if t and actions.reader_token_ok(article_id, q[:300], t[:64]) else ""
    if not voted:
        _write(
            request,
            lambda s: actions.do_count_view(s, article=s.get_one(Article, article_id)),
        )
        if searched:
            semantic.prepare_question(searched)
            _write(
                request,
                lambda s: actions.do_learn_from_reader(
                    s, article=s.get_one(Article, article_id), query=searched, signal="click"
                ),
            )
    return help_render(
        request,
        lang,
        "help/article.html",
        {
            "article": article,
            "related": related,
            "translations": service.translations_of(session, article),
            "voted": voted if voted in ("yes", "no", "limited") else "",
            "searched": searched,
            "search_token": t[:64] if searched else "",
        },
        session=session,
    )


@router.post("/help/{lang}/articles/{slug}/vote", dependencies=[CsrfChecked])
def vote(
    request: Request,
    session: SessionDep,
    lang: str,
    slug: str,
    helpful: Annotated[str, Form(max_length=5)],
    comment: Annotated[str, Form(max_length=actions.MAX_COMMENT)] = "",
    q: Annotated[str, Form(max_length=300)] = "",
    t: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    lang = _lang(lang)
    article = service.public_article_by_slug(
        session, brand_id=_brand_id(session), language=lang, slug=slug
    )
    url = f"/help/{lang}/articles/{article.slug}"
    ip = _client_ip(request)
    redis_url = get_settings().redis_url
    if not (
        ratelimit.hit(VOTE_RULE_IP, "kb-vote", ip, redis_url=redis_url)
        and ratelimit.hit(VOTE_RULE_ARTICLE, "kb-vote", ip, str(article.id), redis_url=redis_url)
    ):
        return RedirectResponse(f"{url}?voted=limited#vote", status_code=303)
    is_yes = helpful == "yes"
    try:
        actions.do_vote(session, article=article, helpful=is_yes, comment=comment, ip=ip)
        if t and actions.reader_token_ok(article.id, q, t):
            actions.do_learn_from_reader(
                session, article=article, query=q, signal="yes" if is_yes else "no"
            )
    except InvalidInput:
        session.rollback()
        return RedirectResponse(f"{url}#vote", status_code=303)
    return RedirectResponse(f"{url}?voted={'yes' if is_yes else 'no'}#vote", status_code=303)


def ranked(
    session: Session, lang: str, q: str, *, prefix: bool = False, limit: int = 20
) -> service.SearchResult:
    """The help center's ranking (its search page, and ``sportello kb search``)."""
    return service.search_articles(
        session, q, brand_id=_brand_id(session), language=lang, limit=limit, prefix=prefix
    )


@router.get("/help/{lang}/search", response_class=HTMLResponse)
def search_page(request: Request, session: SessionDep, lang: str, q: str = "") -> Response:
    lang = _lang(lang)
    q = q[:500]
    result = ranked(session, lang, q, prefix=False, limit=20) if q.strip() else None
    if result is not None and not result.query.empty:
        brand_id = _brand_id(session)
        top = result.hits[0].article.id if result.hits else None
        count = len(result.hits)
        normalized = result.query.normalized
        _write(
            request,
            lambda s: actions.do_log_search(
                s,
                brand_id=brand_id,
                source="help",
                query=q,
                language=lang,
                normalized=normalized,
                result_count=count,
                top_article_id=top,
            ),
        )
    tokens = (
        {h.article.id: actions.reader_token(h.article.id, q[:300]) for h in result.hits}
        if result is not None
        else {}
    )
    return help_render(
        request,
        lang,
        "help/search.html",
        {"q": q, "result": result, "tokens": tokens},
        session=session,
    )


@router.get("/help/{lang}/search/live", response_class=HTMLResponse)
def search_live(request: Request, session: SessionDep, lang: str, q: str = "") -> Response:
    """Results as you type (help.js): a fragment, not logged (it is not a finished search)."""
    lang = _lang(lang)
    q = q[:500]
    result = ranked(session, lang, q, prefix=True, limit=LIVE_RESULTS) if q.strip() else None
    return help_render(
        request, lang, "help/_live.html", {"q": q, "result": result}, session=session
    )
