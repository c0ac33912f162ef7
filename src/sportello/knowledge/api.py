"""REST API v1: knowledge-base search and articles (published and internal ones for the team)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

from sportello.core.db import SessionDep
from sportello.core.errors import NotFound
from sportello.knowledge import bot, service
from sportello.knowledge.models import Article, ArticleStatus
from sportello.knowledge.schemas import ArticleDetail, ArticleRead, SearchHit, SearchResponse
from sportello.web.api import ReadCaller, api_router

router = api_router("knowledge")


def _read(article: Article, model: type[ArticleRead] = ArticleRead) -> ArticleRead:
    read = model.model_validate(article, from_attributes=True)
    read.status = article.status.value
    if article.status == ArticleStatus.PUBLISHED:
        read.url = bot.article_url(article.language, article.slug)
    return read


@router.get("/kb/search", summary="Search the knowledge base", response_model=SearchResponse)
def search(
    session: SessionDep,
    caller: ReadCaller,
    q: Annotated[str, Query(max_length=500)],
    language: Annotated[str | None, Query(pattern="^(it|en)$")] = None,
    limit: Annotated[int, Query(ge=1, le=50)] = 10,
) -> SearchResponse:
    from sportello.accounts import service as accounts_service

    result = service.search_articles(
        session,
        q,
        brand_id=accounts_service.default_brand(session).id,
        language=language,
        statuses=service.FOR_AGENTS,
        limit=limit,
        any_language=language is None,
    )
    return SearchResponse(
        query=result.query.normalized,
        language=result.query.language,
        hits=[SearchHit(article=_read(h.article), confidence=h.confidence) for h in result.hits],
    )


@router.get("/kb/articles/{article_id}", summary="One article", response_model=ArticleDetail)
def article(session: SessionDep, caller: ReadCaller, article_id: int) -> ArticleRead:
    found = service.get_article(session, article_id)
    if found.status == ArticleStatus.DRAFT and not caller.user.is_supervisor:
        raise NotFound("article not found")
    return _read(found, ArticleDetail)
