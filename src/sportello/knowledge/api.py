"""REST API v1: knowledge-base search and articles (published and internal ones for the team)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

from sportello.core.db import SessionDep
from sportello.core.errors import NotFound
from sportello.knowledge import actions, bot, importer, service
from sportello.knowledge.models import Article, ArticleStatus
from sportello.knowledge.schemas import (
    ArticleDetail,
    ArticleRead,
    ImportError_,
    ImportRequest,
    ImportResponse,
    LearnedQuestionCreate,
    LearnedQuestionRead,
    SearchHit,
    SearchResponse,
)
from sportello.web.api import AdminCaller, ReadCaller, WriteCaller, api_router

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


@router.post(
    "/kb/import", summary="Import articles from a file", response_model=ImportResponse,
    status_code=201,
)  # fmt: skip
def import_articles(
    session: SessionDep, caller: AdminCaller, body: ImportRequest
) -> ImportResponse:
    """CSV or JSON (title, body, category, language), a Zendesk Guide or Freshdesk export, or a
    Markdown file; titles already present are skipped, invalid records listed."""
    from sportello.accounts import service as accounts_service

    items = importer.read_bytes(body.filename, body.content.encode("utf-8"))
    report = actions.do_import_articles(
        session,
        brand_id=accounts_service.default_brand(session).id,
        by=caller.user,
        items=items,
        language=body.language,
        publish=not body.draft,
    )
    return ImportResponse(
        created=report.created,
        skipped=report.skipped,
        errors=[ImportError_(record=n, error=e) for n, e in report.errors],
    )


@router.post(
    "/kb/articles/{article_id}/questions",
    summary="Teach the search a question this article answers",
    response_model=LearnedQuestionRead,
    status_code=201,
)
def learn_question(
    session: SessionDep, caller: WriteCaller, article_id: int, body: LearnedQuestionCreate
) -> LearnedQuestionRead:
    found = service.get_article(session, article_id)
    actions.check_editor(caller.user)
    learned = actions.do_learn_question(session, article=found, question=body.text, source="editor")
    return LearnedQuestionRead(
        id=learned.id if learned else None,
        article_id=found.id,
        text=learned.text if learned else body.text,
        source="editor",
    )
