"""Console pages of the knowledge base: articles (edit, history, diff, restore), proposals,
categories and synonyms, measures; and the agents' suggestions fragment for a conversation."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, Response

from sportello.accounts import service as accounts_service
from sportello.accounts.models import User
from sportello.conversations.models import Message
from sportello.core import access
from sportello.core.db import SessionDep
from sportello.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from sportello.knowledge import (  # noqa: F401  (bot: registers its handler)
    actions,
    bot,
    importer,
    indexing,
    service,
)
from sportello.knowledge.models import Article, ArticleStatus, Synonym
from sportello.web.auth import AdminUser, CsrfChecked, CurrentUser, SupervisorUser
from sportello.web.helpers import back_to, form_error, see_other
from sportello.web.render import render

router = APIRouter(dependencies=[CsrfChecked], include_in_schema=False)


def _brand_id(session: SessionDep) -> int:
    return accounts_service.default_brand(session).id


def _visible(article: Article, user: User) -> Article:
    if article.status == ArticleStatus.DRAFT and not (
        actions.is_editor(user) or article.owner_id == user.id
    ):
        raise NotFound("article not found")
    return article


def _article(session: SessionDep, user: User, article_id: int) -> Article:
    return _visible(service.get_article(session, article_id), user)


def _status(value: str) -> ArticleStatus | None:
    try:
        return ArticleStatus(value) if value else None
    except ValueError:
        return None


def _review(value: str) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    except ValueError:
        raise InvalidInput("the review date is not a date", field="review_at") from None


# --- articles ----------------------------------------------------------------------------------


@router.get("/kb", response_class=HTMLResponse)
def article_list(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    q: str = "",
    status: str = "",
    language: str = "",
) -> Response:
    wanted = _status(status)
    articles = service.articles_for_editor(
        session,
        brand_id=_brand_id(session),
        status=wanted,
        language=language if language in ("it", "en") else None,
        q=q[:500],
    )
    articles = [
        a
        for a in articles
        if a.status != ArticleStatus.DRAFT or actions.is_editor(user) or a.owner_id == user.id
    ]
    return render(
        request,
        "knowledge/list.html",
        {
            "articles": articles,
            "q": q,
            "status": status,
            "language": language,
            "is_editor": actions.is_editor(user),
            "statuses": list(ArticleStatus),
            "proposals": len(service.open_proposals(session, brand_id=_brand_id(session)))
            if actions.is_editor(user)
            else 0,
            "kb_tab": "articles",
        },
    )


def _editor_page(
    request: Request,
    session: SessionDep,
    user: User,
    *,
    article: Article | None,
    values: dict[str, str],
    error: object = None,
    translation_of: Article | None = None,
) -> Response:
    return render(
        request,
        "knowledge/edit.html",
        {
            "article": article,
            "values": values,
            "error": error,
            "categories": service.all_categories(session, brand_id=_brand_id(session)),
            "is_editor": actions.is_editor(user),
            "translation_of": translation_of,
            "statuses": list(ArticleStatus),
            "max_body": actions.MAX_BODY_CHARS,
            "kb_tab": "articles",
        },
        status_code=422 if error else 200,
    )


@router.get("/kb/new", response_class=HTMLResponse)
def article_new(
    request: Request, session: SessionDep, user: CurrentUser, translation_of: int | None = None
) -> Response:
    source = _article(session, user, translation_of) if translation_of else None
    values = {"language": "en" if source and source.language == "it" else "it", "status": "draft"}
    if source is not None:
        values.update(title=source.title, body_md=source.body_md, tags=", ".join(source.tags))
    return _editor_page(request, session, user, article=None, values=values, translation_of=source)


def _category(session: SessionDep, value: str):  # type: ignore[no-untyped-def]
    return service.get_category(session, int(value)) if value.isdigit() else None


@router.post("/kb/new", response_class=HTMLResponse)
def article_create(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    title: Annotated[str, Form(max_length=1000)] = "",
    body_md: Annotated[str, Form(max_length=400_000)] = "",
    summary: Annotated[str, Form(max_length=1000)] = "",
    language: Annotated[str, Form(max_length=8)] = "it",
    category_id: Annotated[str, Form(max_length=20)] = "",
    tags: Annotated[str, Form(max_length=2000)] = "",
    status: Annotated[str, Form(max_length=20)] = "draft",
    review_at: Annotated[str, Form(max_length=40)] = "",
    translation_of: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    values = dict(
        title=title, body_md=body_md, summary=summary, language=language,
        category_id=category_id, tags=tags, status=status, review_at=review_at,
    )  # fmt: skip
    source = _article(session, user, int(translation_of)) if translation_of.isdigit() else None
    try:
        article = actions.do_create_article(
            session,
            brand_id=_brand_id(session),
            by=user,
            title=title,
            body_md=body_md,
            summary=summary,
            language=language,
            category=_category(session, category_id),
            tags=tags.split(","),
            status=_status(status) or ArticleStatus.DRAFT,
            review_at=_review(review_at),
            translation_of=source,
        )
    except (InvalidInput, PermissionDenied, Conflict, NotFound) as exc:
        session.rollback()
        return _editor_page(
            request, session, user, article=None, values=values, error=form_error(exc),
            translation_of=source,
        )  # fmt: skip
    return see_other(f"/kb/{article.id}")


@router.get("/kb/{article_id:int}", response_class=HTMLResponse)
def article_view(
    request: Request, session: SessionDep, user: CurrentUser, article_id: int
) -> Response:
    return _view_page(request, session, user, _article(session, user, article_id))


@router.post("/kb/{article_id:int}/questions", response_class=HTMLResponse)
def article_question(
    request: Request,
    session: SessionDep,
    user: SupervisorUser,
    article_id: int,
    text: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    article = _article(session, user, article_id)
    try:
        actions.check_editor(user)
        if len(text.strip()) > 300:
            raise InvalidInput("the question is longer than 300 characters", field="text")
        actions.do_learn_question(session, article=article, question=text, source="editor")
    except InvalidInput as exc:
        session.rollback()
        return _view_page(request, session, user, article, question_error=form_error(exc))
    return see_other(f"/kb/{article.id}#kb-questions")


def _view_page(
    request: Request,
    session: SessionDep,
    user: User,
    article: Article,
    question_error: object = None,
) -> Response:
    return render(
        request,
        "knowledge/view.html",
        {
            "article": article,
            "translations": service.translations_of(session, article, public=False),
            "comments": service.article_votes(session, article, limit=20)
            if actions.is_editor(user)
            else [],
            "is_editor": actions.is_editor(user),
            "can_edit": actions.is_editor(user)
            or (article.status == ArticleStatus.DRAFT and article.owner_id == user.id),
            "questions": service.learned_questions(session, article),
            "question_error": question_error,
            "kb_tab": "articles",
        },
        status_code=422 if question_error else 200,
    )


@router.get("/kb/{article_id:int}/edit", response_class=HTMLResponse)
def article_edit(
    request: Request, session: SessionDep, user: CurrentUser, article_id: int
) -> Response:
    article = _article(session, user, article_id)
    values = {
        "title": article.title,
        "body_md": article.body_md,
        "summary": article.summary,
        "language": article.language,
        "category_id": str(article.category_id or ""),
        "tags": ", ".join(article.tags),
        "status": article.status.value,
        "review_at": article.review_at.date().isoformat() if article.review_at else "",
        "base_version": str(article.version),
    }
    return _editor_page(request, session, user, article=article, values=values)


@router.post("/kb/{article_id:int}/edit", response_class=HTMLResponse)
def article_save(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    article_id: int,
    title: Annotated[str, Form(max_length=1000)] = "",
    body_md: Annotated[str, Form(max_length=400_000)] = "",
    summary: Annotated[str, Form(max_length=1000)] = "",
    language: Annotated[str, Form(max_length=8)] = "",
    category_id: Annotated[str, Form(max_length=20)] = "",
    tags: Annotated[str, Form(max_length=2000)] = "",
    status: Annotated[str, Form(max_length=20)] = "",
    review_at: Annotated[str, Form(max_length=40)] = "",
    note: Annotated[str, Form(max_length=1000)] = "",
    base_version: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    article = _article(session, user, article_id)
    values = dict(
        title=title, body_md=body_md, summary=summary, language=language or article.language,
        category_id=category_id, tags=tags, status=status, review_at=review_at,
        base_version=base_version, note=note,
    )  # fmt: skip
    can_edit = actions.is_editor(user) or (
        article.status == ArticleStatus.DRAFT and article.owner_id == user.id
    )
    try:
        if not can_edit:
            actions.do_propose_edit(
                session, article=article, by=user, title=title, body_md=body_md, note=note
            )
            return see_other(f"/kb/{article.id}?proposed=1")
        actions.do_update_article(
            session,
            article=article,
            by=user,
            title=title,
            body_md=body_md,
            summary=summary,
            language=language or None,
            category=_category(session, category_id),
            tags=tags.split(","),
            status=_status(status),
            review_at=_review(review_at),
            note=note,
            base_version=int(base_version) if base_version.isdigit() else None,
        )
    except (InvalidInput, PermissionDenied, Conflict, NotFound) as exc:
        session.rollback()
        article = service.get_article(session, article_id)
        return _editor_page(
            request, session, user, article=article, values=values, error=form_error(exc)
        )
    return see_other(f"/kb/{article.id}")


@router.post("/kb/{article_id:int}/status", response_class=HTMLResponse)
def article_status(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    article_id: int,
    status: Annotated[str, Form(max_length=20)],
) -> Response:
    """Publish, make internal or send back to draft from the list (editors only)."""
    wanted = _status(status)
    if wanted is None:
        raise InvalidInput("choose a status", field="status")
    actions.check_editor(user)
    actions.do_set_status(
        session, article=_article(session, user, article_id), by=user, status=wanted
    )
    return back_to(request, "/kb")


@router.post("/kb/{article_id:int}/delete", response_class=HTMLResponse)
def article_delete(
    request: Request, session: SessionDep, user: SupervisorUser, article_id: int
) -> Response:
    actions.do_delete_article(session, article=service.get_article(session, article_id), by=user)
    return see_other("/kb")


@router.get("/kb/{article_id:int}/history", response_class=HTMLResponse)
def article_history(
    request: Request, session: SessionDep, user: CurrentUser, article_id: int, version: int = 0
) -> Response:
    article = _article(session, user, article_id)
    history = service.versions(session, article)
    chosen = service.get_version(session, article, version) if version else None
    diff = (
        service.diff(
            f"# {chosen.title}\n\n{chosen.body_md}",
            f"# {article.title}\n\n{article.body_md}",
            old_label=f"v{chosen.version}",
            new_label=f"v{article.version}",
        )
        if chosen
        else []
    )
    return render(
        request,
        "knowledge/history.html",
        {
            "article": article,
            "history": history,
            "chosen": chosen,
            "diff": diff,
            "is_editor": actions.is_editor(user),
            "kb_tab": "articles",
        },
    )


@router.post("/kb/{article_id:int}/history/{version}/restore", response_class=HTMLResponse)
def article_restore(
    request: Request, session: SessionDep, user: SupervisorUser, article_id: int, version: int
) -> Response:
    article = service.get_article(session, article_id)
    actions.do_restore_version(session, article=article, by=user, version=version)
    return see_other(f"/kb/{article.id}/history")


# --- proposals ---------------------------------------------------------------------------------


@router.get("/kb-proposals", response_class=HTMLResponse)
def proposals(
    request: Request, session: SessionDep, user: SupervisorUser, show: int = 0
) -> Response:
    items = service.open_proposals(session, brand_id=_brand_id(session))
    chosen = service.get_proposal(session, show) if show else None
    diff = (
        service.diff(
            f"# {chosen.article.title}\n\n{chosen.article.body_md}",
            f"# {chosen.title}\n\n{chosen.body_md}",
            old_label=f"v{chosen.article.version}",
            new_label="proposal",
        )
        if chosen
        else []
    )
    return render(
        request,
        "knowledge/proposals.html",
        {"proposals": items, "chosen": chosen, "diff": diff, "kb_tab": "proposals"},
    )


@router.post("/kb-proposals/{proposal_id}/{decision}", response_class=HTMLResponse)
def proposal_decide(
    request: Request, session: SessionDep, user: SupervisorUser, proposal_id: int, decision: str
) -> Response:
    proposal = service.get_proposal(session, proposal_id)
    if decision == "accept":
        actions.do_accept_proposal(session, proposal=proposal, by=user)
    elif decision == "reject":
        actions.do_reject_proposal(session, proposal=proposal, by=user)
    else:
        raise NotFound("no such decision")
    return see_other("/kb-proposals")


# --- categories and synonyms -------------------------------------------------------------------


def _settings_page(
    request: Request,
    session: SessionDep,
    user: User,
    error: object = None,
    *,
    import_error: object = None,
    import_report: object = None,
) -> Response:
    brand_id = _brand_id(session)
    return render(
        request,
        "knowledge/settings.html",
        {
            "categories": service.all_categories(session, brand_id=brand_id),
            "synonyms": service.synonyms(session, brand_id=brand_id),
            "error": error,
            "import_error": import_error,
            "import_report": import_report,
            "kb_tab": "settings",
        },
        status_code=422 if error or import_error else 200,
    )


@router.post("/kb-settings/import", response_class=HTMLResponse)
def articles_import(
    request: Request,
    session: SessionDep,
    user: AdminUser,
    file: Annotated[UploadFile, File()],
    language: Annotated[str, Form(max_length=8)] = "it",
    draft: Annotated[str, Form(max_length=5)] = "",
) -> Response:
    """Import a file of articles (CSV, JSON, Zendesk Guide or Freshdesk export, Markdown)."""
    try:
        data = file.file.read(importer.MAX_BYTES + 1)
        items = importer.read_bytes(file.filename or "", data)
        report = actions.do_import_articles(
            session,
            brand_id=_brand_id(session),
            by=user,
            items=items,
            language=language,
            publish=not draft,
        )
    except InvalidInput as exc:
        session.rollback()
        return _settings_page(request, session, user, import_error=form_error(exc))
    return _settings_page(request, session, user, import_report=report)


@router.get("/kb-settings", response_class=HTMLResponse)
def kb_settings(request: Request, session: SessionDep, user: SupervisorUser) -> Response:
    return _settings_page(request, session, user)


@router.post("/kb-settings/categories", response_class=HTMLResponse)
def category_create(
    request: Request,
    session: SessionDep,
    user: SupervisorUser,
    name: Annotated[str, Form(max_length=300)] = "",
    language: Annotated[str, Form(max_length=8)] = "it",
    description: Annotated[str, Form(max_length=1000)] = "",
    position: Annotated[int, Form(ge=0, le=10_000)] = 0,
) -> Response:
    try:
        actions.do_create_category(
            session, brand_id=_brand_id(session), by=user, name=name, language=language,
            description=description, position=position,
        )  # fmt: skip
    except (InvalidInput, Conflict) as exc:
        session.rollback()
        return _settings_page(request, session, user, form_error(exc))
    return see_other("/kb-settings")


@router.post("/kb-settings/categories/{category_id:int}", response_class=HTMLResponse)
def category_save(
    request: Request,
    session: SessionDep,
    user: SupervisorUser,
    category_id: int,
    name: Annotated[str, Form(max_length=300)] = "",
    description: Annotated[str, Form(max_length=1000)] = "",
    position: Annotated[int, Form(ge=0, le=10_000)] = 0,
) -> Response:
    category = service.get_category(session, category_id)
    try:
        actions.do_update_category(
            session, category=category, by=user, name=name, description=description,
            position=position,
        )  # fmt: skip
    except InvalidInput as exc:
        session.rollback()
        return _settings_page(request, session, user, form_error(exc))
    return see_other("/kb-settings")


@router.post("/kb-settings/synonyms", response_class=HTMLResponse)
def synonyms_create(
    request: Request,
    session: SessionDep,
    user: AdminUser,
    words: Annotated[str, Form(max_length=2000)] = "",
    language: Annotated[str, Form(max_length=8)] = "it",
) -> Response:
    try:
        actions.do_add_synonyms(
            session,
            brand_id=_brand_id(session),
            by=user,
            words=actions.parse_synonyms(words),
            language=language,
        )
    except InvalidInput as exc:
        session.rollback()
        return _settings_page(request, session, user, form_error(exc))
    return see_other("/kb-settings")


@router.post("/kb-settings/synonyms/{group_id}/delete", response_class=HTMLResponse)
def synonyms_delete(
    request: Request, session: SessionDep, user: AdminUser, group_id: int
) -> Response:
    group = session.get(Synonym, group_id)
    if group is None:
        raise NotFound("synonym group not found")
    actions.do_delete_synonyms(session, group=group, by=user)
    return see_other("/kb-settings")


# --- measures ----------------------------------------------------------------------------------


@router.get("/kb-measures", response_class=HTMLResponse)
def kb_measures(
    request: Request, session: SessionDep, user: SupervisorUser, days: int = 30
) -> Response:
    brand_id = _brand_id(session)
    return render(
        request,
        "knowledge/measures.html",
        {
            "measures": service.measures(session, brand_id=brand_id, days=days),
            "gaps": service.search_gaps(session, brand_id=brand_id, days=days),
            "review": service.due_for_review(session, brand_id=brand_id),
            "bot_log": service.recent_bot_log(session, limit=30),
            "days": days,
            "kb_tab": "measures",
        },
    )


# --- for agents in a conversation --------------------------------------------------------------


@router.get("/kb/suggest", response_class=HTMLResponse)
def suggest(
    request: Request, session: SessionDep, user: CurrentUser, conversation_id: int, q: str = ""
) -> Response:
    """The suggestions fragment for the conversation page (htmx partial)."""
    conversation = access.access_conversation_by_id(session, user, conversation_id)
    if q.strip():
        result = service.search_articles(
            session, q[:500], brand_id=conversation.brand_id, statuses=service.FOR_AGENTS,
            limit=5, any_language=True,
        )  # fmt: skip
    else:
        result = service.suggestions_for(session, conversation)
    return render(
        request,
        "knowledge/_suggest.html",
        {
            "conversation": conversation,
            "hits": result.hits,
            "q": q,
            "parsed": result.query,
            "passages": {
                h.article.id: service.best_passage(h.article, result.query) for h in result.hits
            },
            "urls": {
                h.article.id: bot.article_url(h.article.language, h.article.slug)
                for h in result.hits
            },
        },
    )


@router.post("/kb/draft-from-message", response_class=HTMLResponse)
def draft_from_message(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    message_id: Annotated[int, Form()],
) -> Response:
    message = session.get(Message, message_id)
    if message is None:
        raise NotFound("message not found")
    conversation = access.access_conversation_by_id(session, user, message.conversation_id)
    article = actions.do_draft_from_reply(
        session, message=message, by=user, brand_id=conversation.brand_id
    )
    return back_to(request, f"/kb/{article.id}/edit")
