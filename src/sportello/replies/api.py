"""REST API v1: canned replies, macros, saved views and bulk changes, scoped to the caller."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi import Request, Response

from sportello.accounts import service as accounts_service
from sportello.accounts.models import Team
from sportello.conversations import service as conversations_service
from sportello.core import access
from sportello.core.db import SessionDep
from sportello.core.errors import InvalidInput, SportelloError
from sportello.replies import actions, service
from sportello.replies.schemas import (
    BulkResultRead,
    BulkSkipped,
    BulkUpdate,
    CannedReplyCreate,
    CannedReplyRead,
    CannedReplyUpdate,
    MacroRead,
    MacroWrite,
    RenderedReply,
    SavedViewCreate,
    SavedViewRead,
)
from sportello.web.api import ReadCaller, WriteCaller, api_router, problem_response
from sportello.web.auth import ApiCaller
from sportello.web.helpers import translating

router = api_router("agent tools")
CONFLICT: dict[int | str, dict[str, Any]] = {409: problem_response("The item is in use")}


@contextmanager
def _errors(request: Request) -> Iterator[None]:
    """Errors in the caller's language (Accept-Language, or the user's own)."""
    from sportello.core import i18n

    with translating(request):
        try:
            yield
        except SportelloError as exc:
            exc.message = i18n.gettext(exc.message)
            exc.args = (exc.message,)
            raise


def _brand(session: SessionDep) -> int:
    return accounts_service.default_brand(session).id


# --- canned replies -------------------------------------------------------------------------------


@router.get(
    "/canned-replies",
    summary="Canned replies the caller may use",
    response_model=list[CannedReplyRead],
)
def list_replies(session: SessionDep, caller: ReadCaller) -> list[CannedReplyRead]:
    return [CannedReplyRead.model_validate(r) for r in service.replies_for(session, caller.user)]


@router.post(
    "/canned-replies",
    summary="Create a canned reply",
    status_code=201,
    response_model=CannedReplyRead,
)
def create_reply(
    request: Request, body: CannedReplyCreate, session: SessionDep, caller: WriteCaller
) -> CannedReplyRead:
    with _errors(request):
        team = session.get(Team, body.team_id) if body.team_id is not None else None
        if body.team_id is not None and team is None:
            raise InvalidInput("choose a team", field="team_id")
        reply = actions.do_create_reply(
            session,
            brand_id=_brand(session),
            by=caller.user,
            title=body.title,
            shortcut=body.shortcut,
            body=body.body,
            shared=body.shared,
            team=team,
        )
    return CannedReplyRead.model_validate(reply)


@router.get(
    "/canned-replies/{reply_id}", summary="Get a canned reply", response_model=CannedReplyRead
)
def get_reply(reply_id: int, session: SessionDep, caller: ReadCaller) -> CannedReplyRead:
    return CannedReplyRead.model_validate(service.get_reply(session, caller.user, reply_id))


@router.patch(
    "/canned-replies/{reply_id}", summary="Change a canned reply", response_model=CannedReplyRead
)
def update_reply(
    request: Request,
    reply_id: int,
    body: CannedReplyUpdate,
    session: SessionDep,
    caller: WriteCaller,
) -> CannedReplyRead:
    reply = service.get_reply(session, caller.user, reply_id)
    with _errors(request):
        actions.do_update_reply(
            session,
            reply=reply,
            by=caller.user,
            title=body.title if body.title is not None else reply.title,
            shortcut=body.shortcut if body.shortcut is not None else reply.shortcut,
            body=body.body if body.body is not None else reply.body,
        )
    return CannedReplyRead.model_validate(reply)


@router.delete(
    "/canned-replies/{reply_id}",
    summary="Delete a canned reply (refused while a macro sends it)",
    status_code=204,
    responses=CONFLICT,
)
def delete_reply(
    request: Request, reply_id: int, session: SessionDep, caller: WriteCaller
) -> Response:
    reply = service.get_reply(session, caller.user, reply_id)
    with _errors(request):
        actions.do_delete_reply(session, reply=reply, by=caller.user)
    return Response(status_code=204)


@router.get(
    "/canned-replies/{reply_id}/render",
    summary="A canned reply with its placeholders filled for a conversation",
    response_model=RenderedReply,
)
def render_reply(
    reply_id: int, conversation_id: int, session: SessionDep, caller: ReadCaller
) -> RenderedReply:
    reply = service.get_reply(session, caller.user, reply_id)
    conversation = access.access_conversation_by_id(session, caller.user, conversation_id)
    rendered = service.render_reply(session, reply, conversation, caller.user)
    return RenderedReply(text=rendered.text, missing=rendered.missing, unknown=rendered.unknown)


# --- macros ---------------------------------------------------------------------------------------


def _macro_fields(body: MacroWrite) -> dict[str, Any]:
    return {
        "name": body.name,
        "canned_reply_id": body.canned_reply_id,
        "status": body.status.value if body.status else None,
        "priority": body.priority.value if body.priority else None,
        "add_tags": body.add_tags,
        "assign": body.assign,
        "assignee_id": body.assignee_id,
    }


@router.get("/macros", summary="Macros the caller may apply", response_model=list[MacroRead])
def list_macros(session: SessionDep, caller: ReadCaller) -> list[MacroRead]:
    return [MacroRead.model_validate(m) for m in service.macros_for(session, caller.user)]


@router.post("/macros", summary="Create a macro", status_code=201, response_model=MacroRead)
def create_macro(
    request: Request, body: MacroWrite, session: SessionDep, caller: WriteCaller
) -> MacroRead:
    with _errors(request):
        macro = actions.do_create_macro(
            session,
            brand_id=_brand(session),
            by=caller.user,
            shared=body.shared,
            **_macro_fields(body),
        )
    return MacroRead.model_validate(macro)


@router.put("/macros/{macro_id}", summary="Replace a macro", response_model=MacroRead)
def update_macro(
    request: Request, macro_id: int, body: MacroWrite, session: SessionDep, caller: WriteCaller
) -> MacroRead:
    macro = service.get_macro(session, caller.user, macro_id)
    with _errors(request):
        actions.do_update_macro(session, macro=macro, by=caller.user, **_macro_fields(body))
    return MacroRead.model_validate(macro)


@router.delete("/macros/{macro_id}", summary="Delete a macro", status_code=204)
def delete_macro(
    request: Request, macro_id: int, session: SessionDep, caller: WriteCaller
) -> Response:
    macro = service.get_macro(session, caller.user, macro_id)
    with _errors(request):
        actions.do_delete_macro(session, macro=macro, by=caller.user)
    return Response(status_code=204)


# --- bulk changes ---------------------------------------------------------------------------------


def _assignee(session: SessionDep, caller: ApiCaller, value: str | None) -> Any:
    if value is None or value == "":
        return False
    if value == "me":
        return caller.user
    if value == "none":
        return None
    if not value.isdigit():
        raise InvalidInput("choose an agent", field="assignee")
    return conversations_service.get_assignable_user(session, int(value))


@router.post(
    "/conversations/bulk",
    summary="Change many conversations at once (or apply a macro to them)",
    response_model=BulkResultRead,
)
def bulk_update(
    request: Request, body: BulkUpdate, session: SessionDep, caller: WriteCaller
) -> BulkResultRead:
    """Each conversation is changed within the caller's scope; ids outside it count as
    ``not_found``; one a change cannot apply to is ``skipped`` with the reason."""
    with _errors(request):
        change = actions.BulkChange(
            assignee=_assignee(session, caller, body.assignee),
            status=body.status,
            priority=body.priority,
            add_tags=tuple(body.add_tags),
            macro=service.get_macro(session, caller.user, body.macro_id)
            if body.macro_id is not None
            else None,
        )
        result = actions.do_bulk_update(
            session, by=caller.user, conversation_ids=body.conversation_ids, change=change
        )
    return BulkResultRead(
        updated=result.updated,
        skipped=[BulkSkipped(number=n, reason=r) for n, r in result.skipped],
        not_found=result.not_found,
    )


# --- saved views ----------------------------------------------------------------------------------


@router.get(
    "/saved-views", summary="Saved inbox views (shared and own)", response_model=list[SavedViewRead]
)
def list_views(session: SessionDep, caller: ReadCaller) -> list[SavedViewRead]:
    return [SavedViewRead.model_validate(v) for v in service.views_for(session, caller.user)]


@router.post(
    "/saved-views", summary="Save an inbox view", status_code=201, response_model=SavedViewRead
)
def create_view(
    request: Request, body: SavedViewCreate, session: SessionDep, caller: WriteCaller
) -> SavedViewRead:
    with _errors(request):
        filters = conversations_service.Filters.parse({**body.filters, "sort": body.sort})
        view = actions.do_save_view(
            session,
            brand_id=_brand(session),
            by=caller.user,
            name=body.name,
            filters=filters.as_params(),
            sort=filters.sort,
            shared=body.shared,
        )
    return SavedViewRead.model_validate(view)


@router.delete("/saved-views/{view_id}", summary="Delete a saved view", status_code=204)
def delete_view(
    request: Request, view_id: int, session: SessionDep, caller: WriteCaller
) -> Response:
    view = service.get_view(session, caller.user, view_id)
    with _errors(request):
        actions.do_delete_view(session, view=view, by=caller.user)
    return Response(status_code=204)
