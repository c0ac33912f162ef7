"""Knowledge-base fixtures: a small Italian/English shop knowledge base made through the actions."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy import select

from sportello.accounts.models import User
from sportello.core.db import Database
from sportello.knowledge import actions, semantic
from sportello.knowledge import query as kbquery
from sportello.knowledge.models import Article, ArticleStatus

ARTICLES = [
    (
        "it",
        "Resi e rimborsi",
        "Puoi **restituire** un prodotto entro 30 giorni dalla consegna.\n\n"
        "Il rimborso arriva sullo stesso metodo di pagamento entro 5 giorni lavorativi.",
        ["reso"],
        ArticleStatus.PUBLISHED,
    ),
    (
        "it",
        "Tempi di spedizione",
        "Spediamo in tutta Italia in 24/48 ore.\n\nLa consegna è gratuita sopra i 49 euro.",
        ["spedizione"],
        ArticleStatus.PUBLISHED,
    ),
    (
        "it",
        "Metodi di pagamento",
        "Accettiamo carta di credito, PayPal e bonifico bancario. Non accettiamo contrassegno.",
        [],
        ArticleStatus.PUBLISHED,
    ),
    (
        "it",
        "Procedura interna per i rimborsi manuali",
        "Solo per gli operatori: il rimborso manuale si fa dal gestionale.",
        [],
        ArticleStatus.INTERNAL,
    ),
    (
        "it",
        "Bozza sulla garanzia",
        "Garanzia di 24 mesi, testo da rivedere.",
        [],
        ArticleStatus.DRAFT,
    ),
    (
        "en",
        "Returns and refunds",
        "You can return a product within 30 days of delivery.\n\nRefunds arrive within 5 days.",
        ["returns"],
        ArticleStatus.PUBLISHED,
    ),
]


@dataclass
class KB:
    brand_id: int
    editor: User
    ids: dict[str, int]


@pytest.fixture(autouse=True)
def _lexical_only():
    semantic.set_embedder(None)
    kbquery.invalidate()
    yield
    semantic.reset()
    kbquery.invalidate()


@pytest.fixture
def kb(db: Database, personas) -> KB:  # type: ignore[no-untyped-def]
    ids: dict[str, int] = {}
    with db.transaction() as s:
        editor = s.get_one(User, personas.supervisor.id)
        cat = actions.do_create_category(s, brand_id=personas.brand_id, by=editor, name="Ordini")
        for language, title, body, tags, status in ARTICLES:
            article = actions.do_create_article(
                s,
                brand_id=personas.brand_id,
                by=editor,
                title=title,
                body_md=body,
                tags=tags,
                status=status,
                language=language,
                category=cat if language == "it" else None,
            )
            ids[title] = article.id
        it = s.get_one(Article, ids["Resi e rimborsi"])
        en = s.get_one(Article, ids["Returns and refunds"])
        en.translation_group = it.translation_group = it.id
    return KB(personas.brand_id, personas.supervisor, ids)


def titles(result) -> list[str]:  # type: ignore[no-untyped-def]
    return [h.article.title for h in result.hits]


def first_article(db: Database) -> Article:
    with db.session() as s:
        return s.scalars(select(Article).order_by(Article.id)).first()  # type: ignore[return-value]
