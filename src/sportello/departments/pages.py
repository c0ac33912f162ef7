"""Department pages: the admin tab, the panel beside a conversation (side conversations and
hand-offs), the supervisors' hand-off list, and the public outcome page at /h/<token> that a
department member opens from the hand-off mail (no account)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from sportello.accounts import service as accounts_service
from sportello.accounts.models import User
from sportello.conversations.models import Conversation, Direction
from sportello.core import access, i18n
from sportello.core.db import SessionDep
from sportello.core.errors import InvalidInput, InvalidTransition, NotFound, SportelloError
from sportello.departments import actions, links, service
from sportello.departments.models import FINAL_STATUSES, Handoff, HandoffKind, HandoffStatus
from sportello.web.auth import AdminUser, CsrfChecked, CurrentUser, SupervisorUser
from sportello.web.helpers import form_error, see_other, translating
from sportello.web.render import csrf_token, env, render

router = APIRouter(dependencies=[CsrfChecked])
Id = Annotated[int, Path(ge=1, le=2**31 - 1)]
OUTCOMES = [s for s in HandoffStatus if s != HandoffStatus.OPEN]


async def _form(request: Request) -> dict[str, Any]:
    form = await request.form()
    data: dict[str, Any] = {k: v for k, v in form.items() if isinstance(v, str)}
    for key in ("quote_message", "quote_attachment"):
        data[key] = [v for v in form.getlist(key) if isinstance(v, str)]
    return data


Form = Annotated[dict[str, Any], Depends(_form)]


def _ids(values: list[str]) -> list[int]:
    ids = []
    for v in values[: actions.MAX_QUOTES + 1]:
        if not v.isdigit() or len(v) > 9:
            raise InvalidInput("a quoted message is not in this conversation", field="quote")
        ids.append(int(v))
    return ids


def _int(value: Any, field: str) -> int | None:
    raw = str(value or "").strip()
    if not raw:
        return None
    if not raw.isdigit() or len(raw) > 9:
        raise InvalidInput("choose from the list", field=field)
    return int(raw)


# --- admin ---------------------------------------------------------------------------------


def _admin(
    request: Request,
    session: Session,
    *,
    editing: Any = None,
    error: Any = None,
    values: dict[str, Any] | None = None,
) -> Response:
    return render(
        request,
        "departments/admin.html",
        {
            "admin_tab": "departments",
            "departments": service.departments(session, accounts_service.default_brand(session).id),
            "editing": editing,
            "error": error,
            "values": values or {},
        },
        status_code=422 if error else 200,
        headers={"Cache-Control": "no-store"},
    )


@router.get("/admin/departments", response_class=HTMLResponse, include_in_schema=False)
def admin_departments(
    request: Request, session: SessionDep, user: AdminUser, edit: int | None = None
) -> Response:
    brand_id = accounts_service.default_brand(session).id
    editing = (
        service.get_department(session, edit, brand_id=brand_id)
        if edit and 0 < edit < 2**31
        else None
    )
    return _admin(request, session, editing=editing)


@router.post("/admin/departments", response_class=HTMLResponse, include_in_schema=False)
def admin_department_save(
    request: Request, session: SessionDep, user: AdminUser, form: Form
) -> Response:
    brand_id = accounts_service.default_brand(session).id
    editing = None
    try:
        dept_id = _int(form.get("department_id"), "department_id")
        editing = service.get_department(session, dept_id, brand_id=brand_id) if dept_id else None
        department = actions.do_save_department(
            session,
            brand_id=brand_id,
            department=editing,
            name=str(form.get("name", "")),
            emails=str(form.get("emails", "")),
            description=str(form.get("description", "")),
            is_active=bool(form.get("is_active")),
        )
    except InvalidInput as exc:
        session.rollback()
        if editing is not None:
            editing = service.get_department(session, editing.id, brand_id=brand_id)
        return _admin(request, session, editing=editing, error=form_error(exc), values=form)
    return see_other(f"/admin/departments?edit={department.id}&saved=1")


# --- the panel beside a conversation -------------------------------------------------------


def _panel(
    request: Request,
    session: Session,
    user: User,
    conversation: Conversation,
    *,
    done: str | None = None,
    error: Any = None,
    values: dict[str, Any] | None = None,
) -> Response:
    from sqlalchemy import select

    from sportello.conversations.models import Message

    quotable = list(
        session.scalars(
            select(Message)
            .where(
                Message.conversation_id == conversation.id,
                Message.direction.in_([Direction.INBOUND, Direction.OUTBOUND]),
            )
            .order_by(Message.id.desc())
            .limit(10)
        )
    )
    quotable.reverse()
    return render(
        request,
        "departments/_panel.html",
        {
            "c": conversation,
            "threads": service.side_threads(session, conversation.id),
            "handoffs": service.handoffs_for(session, conversation.id),
            "departments": service.departments(session, conversation.brand_id, active_only=True),
            "all_departments": {
                d.id: d for d in service.departments(session, conversation.brand_id)
            },
            "quotable": quotable,
            "kinds": list(HandoffKind),
            "outcomes": OUTCOMES,
            "done": done,
            "error": error,
            "values": values or {},
        },
    )


@router.get("/c/{number}/departments", response_class=HTMLResponse, include_in_schema=False)
def departments_panel(
    request: Request, session: SessionDep, user: CurrentUser, number: Id
) -> Response:
    conversation = access.access_conversation_by_number(session, user, number)
    return _panel(request, session, user, conversation)


def _after(
    request: Request,
    session: Session,
    user: User,
    number: int,
    done: str,
    form: dict[str, Any] | None = None,
    exc: SportelloError | None = None,
) -> Response:
    if exc is not None:
        session.rollback()
        conversation = access.access_conversation_by_number(session, user, number)
        return _panel(
            request,
            session,
            user,
            conversation,
            error=form_error(exc),
            values=form,
        )
    session.commit()
    conversation = access.access_conversation_by_number(session, user, number)
    return _panel(request, session, user, conversation, done=done)


@router.post("/c/{number}/side-conversations", response_class=HTMLResponse, include_in_schema=False)
def side_create(
    request: Request, session: SessionDep, user: CurrentUser, number: Id, form: Form
) -> Response:
    conversation = access.access_conversation_by_number(session, user, number)
    with translating(request):
        try:
            dept_id = _int(form.get("department_id"), "department_id")
            department = (
                service.get_department(session, dept_id, brand_id=conversation.brand_id)
                if dept_id
                else None
            )
            if department is None and not str(form.get("to", "")).strip():
                raise InvalidInput("choose a department or write an address", field="to")
            actions.do_open_side_conversation(
                session,
                conversation=conversation,
                author=user,
                department=department,
                to=str(form.get("to", "")),
                subject=str(form.get("subject", "")),
                text=str(form.get("text", "")),
                quote_message_ids=_ids(form["quote_message"]),
                quote_attachment_ids=_ids(form["quote_attachment"]),
            )
        except (InvalidInput, NotFound) as exc:
            return _after(request, session, user, number, "", form, exc)
        done = i18n.gettext("Sent. The answer will appear in the timeline as an internal message.")
    return _after(request, session, user, number, done)


@router.post(
    "/c/{number}/side-conversations/{side_id}/reply",
    response_class=HTMLResponse,
    include_in_schema=False,
)
def side_reply(
    request: Request, session: SessionDep, user: CurrentUser, number: Id, side_id: Id, form: Form
) -> Response:
    side, conversation = service.access_side(session, user, side_id)
    if conversation.number != number:
        raise NotFound("side conversation not found")
    with translating(request):
        try:
            actions.do_reply_side(
                session,
                side=side,
                conversation=conversation,
                author=user,
                text=str(form.get("text", "")),
                quote_message_ids=_ids(form["quote_message"]),
                quote_attachment_ids=_ids(form["quote_attachment"]),
            )
        except (InvalidInput, InvalidTransition) as exc:
            return _after(request, session, user, number, "", form, exc)
        done = i18n.gettext("Sent.")
    return _after(request, session, user, number, done)


@router.post(
    "/c/{number}/side-conversations/{side_id}/{verb}",
    response_class=HTMLResponse,
    include_in_schema=False,
)
def side_status(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    number: Id,
    side_id: Id,
    verb: str,
) -> Response:
    if verb not in ("close", "reopen"):
        raise NotFound("side conversation not found")
    side, conversation = service.access_side(session, user, side_id)
    if conversation.number != number:
        raise NotFound("side conversation not found")
    with translating(request):
        try:
            if verb == "close":
                actions.do_close_side(session, side=side, author=user)
                done = i18n.gettext("Side conversation closed.")
            else:
                actions.do_reopen_side(session, side=side, author=user)
                done = i18n.gettext("Side conversation open again.")
        except InvalidTransition as exc:
            return _after(request, session, user, number, "", None, exc)
    return _after(request, session, user, number, done)


@router.post("/c/{number}/handoffs", response_class=HTMLResponse, include_in_schema=False)
def handoff_create(
    request: Request, session: SessionDep, user: CurrentUser, number: Id, form: Form
) -> Response:
    conversation = access.access_conversation_by_number(session, user, number)
    with translating(request):
        try:
            dept_id = _int(form.get("department_id"), "department_id")
            if dept_id is None:
                raise InvalidInput("choose a department", field="department_id")
            actions.do_create_handoff(
                session,
                conversation=conversation,
                author=user,
                department=service.get_department(session, dept_id, brand_id=conversation.brand_id),
                kind=actions.parse_kind(str(form.get("kind", ""))),
                summary=str(form.get("summary", "")),
            )
        except (InvalidInput, NotFound) as exc:
            return _after(request, session, user, number, "", form, exc)
        done = i18n.gettext("Handed off: the department has it by email.")
    return _after(request, session, user, number, done)


@router.post(
    "/c/{number}/handoffs/{handoff_id}/outcome",
    response_class=HTMLResponse,
    include_in_schema=False,
)
def handoff_outcome(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    number: Id,
    handoff_id: Id,
    form: Form,
) -> Response:
    handoff, conversation = service.access_handoff(session, user, handoff_id)
    if conversation.number != number:
        raise NotFound("hand-off not found")
    with translating(request):
        try:
            actions.do_set_handoff_outcome(
                session,
                handoff=handoff,
                status=actions.parse_status(str(form.get("status", ""))),
                note=str(form.get("note", "")),
                by=user.name,
            )
        except (InvalidInput, InvalidTransition) as exc:
            return _after(request, session, user, number, "", form, exc)
        done = i18n.gettext("Outcome saved.")
    return _after(request, session, user, number, done)


# --- the supervisors' list -----------------------------------------------------------------


@router.get("/handoffs", response_class=HTMLResponse, include_in_schema=False)
def handoff_list(
    request: Request,
    session: SessionDep,
    user: SupervisorUser,
    department: str = "",
    status: str = "",
    kind: str = "",
    age: str = "",
) -> Response:
    brand_id = accounts_service.default_brand(session).id
    dept_id = int(department) if department.isdigit() and len(department) < 10 else None
    f = service.HandoffFilter(
        department_id=dept_id,
        status=status[:20],
        kind=kind[:20],
        age_days=service.AGES.get(age),
    )
    counts = service.handoff_counts(session, brand_id, f)
    return render(
        request,
        "departments/handoffs.html",
        {
            "rows": service.handoffs(session, brand_id, f),
            "table": service.count_table(counts),
            "departments": service.departments(session, brand_id),
            "statuses": list(HandoffStatus),
            "kinds": list(HandoffKind),
            "final": FINAL_STATUSES,
            "f": {"department": dept_id, "status": status, "kind": kind, "age": age},
        },
    )


# --- the public outcome page ---------------------------------------------------------------


def _public(
    request: Request, handoff: Handoff | None, *, status: int = 200, **extra: Any
) -> HTMLResponse:
    language = request.query_params.get("lang", "")
    if language not in i18n.LANGUAGES:
        language = "it"
    token = i18n.current_language.set(language)
    try:
        context: dict[str, Any] = {
            "request": request,
            "lang": language,
            "csrf_token": csrf_token(request),
            "h": handoff,
            "outcomes": OUTCOMES,
            **extra,
        }
        html = env.get_template("departments/public_handoff.html").render(context)
    finally:
        i18n.current_language.reset(token)
    return HTMLResponse(
        html,
        status_code=status,
        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
    )


def _by_token(session: Session, token: str) -> Handoff:
    handoff = session.get(Handoff, links.handoff_id_from(token))
    if handoff is None:
        raise links.LinkInvalid
    return handoff


def _public_context(session: Session, handoff: Handoff) -> dict[str, Any]:
    from sportello.departments.models import Department

    return {"department": session.get(Department, handoff.department_id)}


@router.get("/h/{token}", response_class=HTMLResponse, include_in_schema=False)
def public_handoff(request: Request, session: SessionDep, token: str) -> Response:
    try:
        handoff = _by_token(session, token)
    except links.LinkExpired:
        return _public(request, None, status=410, expired=True)
    except links.LinkInvalid:
        return _public(request, None, status=404, invalid=True)
    return _public(request, handoff, token=token, **_public_context(session, handoff))


@router.post("/h/{token}", response_class=HTMLResponse, include_in_schema=False)
def public_handoff_outcome(
    request: Request, session: SessionDep, token: str, form: Form
) -> Response:
    try:
        handoff = _by_token(session, token)
    except links.LinkExpired:
        return _public(request, None, status=410, expired=True)
    except links.LinkInvalid:
        return _public(request, None, status=404, invalid=True)
    try:
        actions.do_set_handoff_outcome(
            session,
            handoff=handoff,
            status=actions.parse_status(str(form.get("status", ""))),
            note=str(form.get("note", "")),
            by=str(form.get("by", "")),
        )
    except (InvalidInput, InvalidTransition) as exc:
        session.rollback()
        handoff = _by_token(session, token)
        return _public(
            request,
            handoff,
            status=422,
            token=token,
            error=form_error(exc),
            values=form,
            **_public_context(session, handoff),
        )
    session.commit()
    return _public(request, handoff, token=token, saved=True, **_public_context(session, handoff))
