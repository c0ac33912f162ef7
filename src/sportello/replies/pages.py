"""Pages: canned replies, macros and saved views (each agent's own; supervisors also manage the
shared ones), the composer's "/" picker, and applying a macro to a conversation."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from sportello.accounts import service as accounts_service
from sportello.accounts.models import Team, User
from sportello.conversations import pages as conversation_pages
from sportello.conversations import service as conversations_service
from sportello.conversations.models import Priority, Status
from sportello.core import access, i18n
from sportello.core.db import SessionDep
from sportello.core.errors import InvalidInput, SportelloError
from sportello.replies import actions, placeholders, service
from sportello.routing import service as routing_service
from sportello.web.auth import CsrfChecked, CurrentUser
from sportello.web.helpers import local_path, see_other, translating, user_errors
from sportello.web.render import render

router = APIRouter(dependencies=[CsrfChecked])

PLACEHOLDER_HELP = (
    "cliente.nome",
    "cliente.cognome",
    "cliente.nome_completo",
    "cliente.email",
    "cliente.telefono",
    "agente.nome",
    "conversazione.numero",
    "conversazione.oggetto",
    "ordine.numero",
)


def _form_error(request: Request, exc: SportelloError) -> dict[str, str | None]:
    """The error of a form, in the reader's language, with the field it is about."""
    with translating(request):
        message = i18n.gettext(exc.message)
    return {"message": message, "field": getattr(exc, "field", None)}


def _team(session: SessionDep, value: str) -> Team | None:
    if not value:
        return None
    team = session.get(Team, int(value)) if value.isdigit() else None
    if team is None:
        raise InvalidInput("choose a team", field="team_id")
    return team


# --- canned replies -------------------------------------------------------------------------------


def _replies_page(
    request: Request,
    session: SessionDep,
    user: User,
    *,
    error: object = None,
    form: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    replies = service.replies_for(session, user)
    return render(
        request,
        "replies/replies.html",
        {
            "mine": [r for r in replies if r.owner_id == user.id],
            "shared": [r for r in replies if r.is_shared],
            "teams": accounts_service.get_all_teams(session),
            "may_manage": lambda r: service.may_manage_reply(user, r),
            "placeholders": PLACEHOLDER_HELP,
            "error": error,
            "form": form or {},
            "tools_tab": "replies",
            "current_path": "",
        },
        status_code=status_code,
    )


@router.get("/replies", response_class=HTMLResponse, include_in_schema=False)
def replies_list(request: Request, session: SessionDep, user: CurrentUser) -> Response:
    return _replies_page(request, session, user)


@router.post("/replies", response_class=HTMLResponse, include_in_schema=False)
def reply_create(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    title: Annotated[str, Form(max_length=300)] = "",
    shortcut: Annotated[str, Form(max_length=100)] = "",
    body: Annotated[str, Form(max_length=actions.MAX_BODY + 1000)] = "",
    share: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    """``share``: empty (personal), "all", or a team id."""
    try:
        with translating(request):
            actions.do_create_reply(
                session,
                brand_id=accounts_service.default_brand(session).id,
                by=user,
                title=title,
                shortcut=shortcut,
                body=body,
                shared=share == "all",
                team=_team(session, share) if share not in ("", "all") else None,
            )
    except SportelloError as exc:
        session.rollback()
        form = {"title": title, "shortcut": shortcut, "body": body, "share": share, "id": None}
        return _replies_page(
            request,
            session,
            user,
            error=_form_error(request, exc),
            form=form,
            status_code=exc.status_code,
        )
    return see_other("/replies")


@router.post("/replies/{reply_id}", response_class=HTMLResponse, include_in_schema=False)
def reply_save(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    reply_id: int,
    title: Annotated[str, Form(max_length=300)] = "",
    shortcut: Annotated[str, Form(max_length=100)] = "",
    body: Annotated[str, Form(max_length=actions.MAX_BODY + 1000)] = "",
) -> Response:
    reply = service.get_reply(session, user, reply_id)
    try:
        with translating(request):
            actions.do_update_reply(
                session, reply=reply, by=user, title=title, shortcut=shortcut, body=body
            )
    except SportelloError as exc:
        session.rollback()
        form = {"title": title, "shortcut": shortcut, "body": body, "id": reply_id}
        return _replies_page(
            request,
            session,
            user,
            error=_form_error(request, exc),
            form=form,
            status_code=exc.status_code,
        )
    return see_other("/replies")


@router.post("/replies/{reply_id}/delete", response_class=HTMLResponse, include_in_schema=False)
def reply_delete(
    request: Request, session: SessionDep, user: CurrentUser, reply_id: int
) -> Response:
    reply = service.get_reply(session, user, reply_id)
    try:
        with translating(request):
            actions.do_delete_reply(session, reply=reply, by=user)
    except SportelloError as exc:
        session.rollback()
        return _replies_page(
            request,
            session,
            user,
            error={**_form_error(request, exc), "reply_id": reply_id},
            status_code=exc.status_code,
        )
    return see_other("/replies")


@router.get("/replies/picker", include_in_schema=False)
def reply_picker(
    request: Request, session: SessionDep, user: CurrentUser, conversation: int
) -> JSONResponse:
    """The composer's "/" picker: every reply the agent may use, its placeholders filled for this
    conversation; what could not be filled is named (``missing``, ``unknown``)."""
    target = access.access_conversation_by_number(session, user, conversation)
    values = service.placeholder_values(session, target, user)
    items = []
    for reply in service.replies_for(session, user):
        rendered = placeholders.render(reply.body, values)
        items.append(
            {
                "id": reply.id,
                "title": reply.title,
                "shortcut": reply.shortcut,
                "shared": reply.is_shared,
                "text": rendered.text,
                "missing": rendered.missing,
                "unknown": rendered.unknown,
            }
        )
    return JSONResponse({"items": items}, headers={"Cache-Control": "no-store"})


# --- macros ---------------------------------------------------------------------------------------


def _macro_fields(
    session: SessionDep,
    *,
    name: str,
    canned_reply_id: str,
    status: str,
    priority: str,
    tags: str,
    assign: str,
) -> dict[str, Any]:
    mode, assignee_id = assign, None
    if assign.isdigit():
        mode, assignee_id = "user", int(assign)
    if canned_reply_id and not canned_reply_id.isdigit():
        raise InvalidInput("choose a reply", field="canned_reply_id")
    return {
        "name": name,
        "canned_reply_id": int(canned_reply_id) if canned_reply_id else None,
        "status": status or None,
        "priority": priority or None,
        "add_tags": [t for t in tags.split(",") if t.strip()],
        "assign": mode,
        "assignee_id": assignee_id,
    }


def _macros_page(
    request: Request,
    session: SessionDep,
    user: User,
    *,
    error: object = None,
    form: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "replies/macros.html",
        {
            "macros": service.macros_for(session, user),
            "replies": service.replies_for(session, user),
            "agents": conversations_service.assignable_users(session),
            "statuses": [s for s in Status if s != Status.NEW],
            "priorities": list(Priority),
            "may_manage": lambda m: service.may_manage_macro(user, m),
            "error": error,
            "form": form or {},
            "tools_tab": "macros",
            "current_path": "",
        },
        status_code=status_code,
    )


@router.get("/macros", response_class=HTMLResponse, include_in_schema=False)
def macros_list(request: Request, session: SessionDep, user: CurrentUser) -> Response:
    return _macros_page(request, session, user)


MacroForm = Annotated[str, Form(max_length=2000)]


@router.post("/macros", response_class=HTMLResponse, include_in_schema=False)
def macro_create(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    name: MacroForm = "",
    canned_reply_id: MacroForm = "",
    status: MacroForm = "",
    priority: MacroForm = "",
    tags: MacroForm = "",
    assign: MacroForm = "",
    shared: MacroForm = "",
) -> Response:
    raw = {
        "name": name,
        "canned_reply_id": canned_reply_id,
        "status": status,
        "priority": priority,
        "tags": tags,
        "assign": assign,
    }
    try:
        with translating(request):
            actions.do_create_macro(
                session,
                brand_id=accounts_service.default_brand(session).id,
                by=user,
                shared=bool(shared),
                **_macro_fields(session, **raw),
            )
    except SportelloError as exc:
        session.rollback()
        return _macros_page(
            request,
            session,
            user,
            error=_form_error(request, exc),
            form={**raw, "shared": shared, "id": None},
            status_code=exc.status_code,
        )
    return see_other("/macros")


@router.post("/macros/{macro_id}", response_class=HTMLResponse, include_in_schema=False)
def macro_save(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    macro_id: int,
    name: MacroForm = "",
    canned_reply_id: MacroForm = "",
    status: MacroForm = "",
    priority: MacroForm = "",
    tags: MacroForm = "",
    assign: MacroForm = "",
) -> Response:
    macro = service.get_macro(session, user, macro_id)
    raw = {
        "name": name,
        "canned_reply_id": canned_reply_id,
        "status": status,
        "priority": priority,
        "tags": tags,
        "assign": assign,
    }
    try:
        with translating(request):
            actions.do_update_macro(session, macro=macro, by=user, **_macro_fields(session, **raw))
    except SportelloError as exc:
        session.rollback()
        return _macros_page(
            request,
            session,
            user,
            error=_form_error(request, exc),
            form={**raw, "id": macro_id},
            status_code=exc.status_code,
        )
    return see_other("/macros")


@router.post("/macros/{macro_id}/delete", response_class=HTMLResponse, include_in_schema=False)
def macro_delete(
    request: Request, session: SessionDep, user: CurrentUser, macro_id: int
) -> Response:
    macro = service.get_macro(session, user, macro_id)
    try:
        with translating(request):
            actions.do_delete_macro(session, macro=macro, by=user)
    except SportelloError as exc:
        session.rollback()
        return _macros_page(
            request, session, user, error=_form_error(request, exc), status_code=exc.status_code
        )
    return see_other("/macros")


@router.post("/c/{number}/macro", response_class=HTMLResponse, include_in_schema=False)
def conversation_apply_macro(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    number: int,
    macro: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    conversation = access.access_conversation_by_number(session, user, number)
    with translating(request), user_errors(request):
        if not macro.isdigit():
            raise InvalidInput("choose a macro", field="macro")
        chosen = service.get_macro(session, user, int(macro))
        actions.do_apply_macro(session, conversation=conversation, macro=chosen, by=user)
    return conversation_pages._after_change(request, session, user, conversation)


# --- saved views ----------------------------------------------------------------------------------


def _views_page(
    request: Request,
    session: SessionDep,
    user: User,
    *,
    error: object = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "replies/views.html",
        {
            "views": service.views_for(session, user),
            "may_manage": lambda v: service.may_manage_view(user, v),
            "names": {
                "channel": {str(c.id): c.name for c in conversations_service.channels(session)},
                "queue": {str(q.id): q.name for q in routing_service.get_all(session)},
                "assignee": {
                    str(a.id): a.name for a in conversations_service.assignable_users(session)
                },
            },
            "error": error,
            "tools_tab": "views",
            "current_path": "",
        },
        status_code=status_code,
    )


@router.get("/views", response_class=HTMLResponse, include_in_schema=False)
def views_list(request: Request, session: SessionDep, user: CurrentUser) -> Response:
    return _views_page(request, session, user)


ViewForm = Annotated[str, Form(max_length=200)]


@router.post("/inbox/views", response_class=HTMLResponse, include_in_schema=False)
def view_create(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    view_name: ViewForm = "",
    shared: ViewForm = "",
    status: ViewForm = "",
    channel: ViewForm = "",
    queue: ViewForm = "",
    assignee: ViewForm = "",
    tag: ViewForm = "",
    priority: ViewForm = "",
    sla: ViewForm = "",
    sort: ViewForm = "newest",
) -> Response:
    """Save the inbox's current filters and order as a view in the sidebar."""
    params = {
        "status": status,
        "channel": channel,
        "queue": queue,
        "assignee": assignee,
        "tag": tag,
        "priority": priority,
        "sla": sla,
        "sort": sort,
    }
    try:
        with translating(request):
            filters = conversations_service.Filters.parse(params)
            view = actions.do_save_view(
                session,
                brand_id=accounts_service.default_brand(session).id,
                by=user,
                name=view_name,
                filters=filters.as_params(),
                sort=filters.sort,
                shared=bool(shared),
            )
    except SportelloError as exc:
        session.rollback()
        return _views_page(
            request, session, user, error=_form_error(request, exc), status_code=exc.status_code
        )
    return see_other(f"/inbox/views/{view.id}")


@router.post("/views/{view_id}/delete", response_class=HTMLResponse, include_in_schema=False)
def view_delete(request: Request, session: SessionDep, user: CurrentUser, view_id: int) -> Response:
    view = service.get_view(session, user, view_id)
    try:
        with translating(request):
            actions.do_delete_view(session, view=view, by=user)
    except SportelloError as exc:
        session.rollback()
        return _views_page(
            request, session, user, error=_form_error(request, exc), status_code=exc.status_code
        )
    return see_other(local_path(request.query_params.get("next"), "/views"))
