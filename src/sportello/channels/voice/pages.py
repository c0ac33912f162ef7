"""Pages of the voice channel: the phone admin (voice channels, agents' SIP credentials), the
call log for supervisors, the screen pop of the softphone's toast, the wrap-up button."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select

from sportello.accounts.models import User
from sportello.channels.models import Channel
from sportello.channels.voice import actions, media, service
from sportello.channels.voice.adapter import KIND
from sportello.channels.voice.api import access_call_by_id, voice_channel
from sportello.channels.voice.models import SipAccount
from sportello.core.db import SessionDep
from sportello.core.errors import Conflict, InvalidInput, NotFound
from sportello.web.auth import AdminUser, CsrfChecked, CurrentUser, SupervisorUser
from sportello.web.helpers import form_error, see_other
from sportello.web.render import render

router = APIRouter(dependencies=[CsrfChecked])


def _admin(request: Request, session: SessionDep, **extra: object) -> Response:
    users = list(session.scalars(select(User).where(User.is_active.is_(True)).order_by(User.name)))
    accounts = {a.user_id: a for a in session.scalars(select(SipAccount))}
    channels = list(
        session.scalars(select(Channel).where(Channel.kind == KIND).order_by(Channel.name))
    )
    return render(
        request,
        "voice/admin.html",
        {
            "users": users,
            "accounts": accounts,
            "channels": channels,
            "ws_url": request.app.state.settings.voice_ws_url,
            "announcement_kinds": media.KINDS,
            "admin_tab": "voice",
            **extra,
        },
        status_code=422 if extra.get("error") else 200,
    )


@router.get("/admin/voice", response_class=HTMLResponse, include_in_schema=False)
def admin_page(request: Request, session: SessionDep, user: SupervisorUser) -> Response:
    return _admin(request, session)


@router.post(
    "/admin/voice/sip-accounts/{user_id}", response_class=HTMLResponse, include_in_schema=False
)
def generate_account(
    request: Request, session: SessionDep, admin: AdminUser, user_id: int
) -> Response:
    target = session.get(User, user_id)
    if target is None:
        raise NotFound("user not found")
    try:
        account, password = actions.do_generate_sip_account(session, user=target)
    except InvalidInput as exc:
        session.rollback()
        return _admin(request, session, error=form_error(exc))
    # The password appears on this answer only (no redirect that could show it again).
    return _admin(
        request, session, shown={"user": target, "account": account, "password": password}
    )


@router.post(
    "/admin/voice/channels/{channel_id}/announcements/{kind}",
    response_class=HTMLResponse,
    include_in_schema=False,
)
def upload_announcement(
    request: Request,
    session: SessionDep,
    admin: AdminUser,
    channel_id: int,
    kind: str,
    file: Annotated[UploadFile | None, File()] = None,
    remove: Annotated[str, Form(max_length=5)] = "",
) -> Response:
    channel = voice_channel(session, channel_id)
    try:
        if remove:
            actions.do_remove_announcement(session, channel=channel, kind=kind, by=admin)
        else:
            data = file.file.read(media.MAX_BYTES + 1) if file is not None else b""
            actions.do_set_announcement(session, channel=channel, kind=kind, data=data, by=admin)
    except InvalidInput as exc:
        session.rollback()
        # Translated by the template, in the reader's language.
        message = getattr(exc, "msgid", exc.message)
        params = getattr(exc, "params", None) or {}
        return _admin(request, session, error={"message": message, "params": params})
    return see_other("/admin/voice#announcements")


@router.get("/voice/calls", response_class=HTMLResponse, include_in_schema=False)
def call_log(request: Request, session: SessionDep, user: SupervisorUser) -> Response:
    calls = service.recent_calls(session, limit=100)
    agents = {u.id: u for u in session.scalars(select(User))}
    return render(
        request,
        "voice/calls.html",
        {"calls": calls, "agents": agents, "live": service.live_counts(session), "svc": service},
    )


@router.get("/voice/live", response_class=HTMLResponse, include_in_schema=False)
def live_calls(request: Request, session: SessionDep, user: SupervisorUser) -> Response:
    """Calls waiting and talking, for the supervisors' live routing page."""
    calls = service.live_calls(session)
    agents = {
        u.id: u
        for u in session.scalars(
            select(User).where(User.id.in_([c.agent_id for c in calls if c.agent_id]))
        )
    }
    return render(
        request,
        "voice/_live.html",
        {"live": service.live_counts(session), "calls": calls, "agents": agents},
    )


@router.get("/voice/pop/{sip_call_id}", response_class=HTMLResponse, include_in_schema=False)
def screen_pop(
    request: Request, session: SessionDep, user: CurrentUser, sip_call_id: str
) -> Response:
    """The customer and their recent conversations, for the incoming-call toast."""
    call = service.call_by_sip_id(session, sip_call_id[:255])
    if call is None or (call.agent_id != user.id and not user.is_supervisor):
        return render(request, "voice/_pop.html", {"pop": None})
    return render(request, "voice/_pop.html", {"pop": service.screen_pop(session, call)})


@router.post("/voice/calls/{call_id}/wrapup", response_class=HTMLResponse, include_in_schema=False)
def wrapup(request: Request, session: SessionDep, user: CurrentUser, call_id: int) -> Response:
    call = access_call_by_id(session, user, call_id)
    try:
        actions.do_finish_wrapup(session, call=call, user=user)
    except (Conflict, NotFound) as exc:
        session.rollback()
        return HTMLResponse(exc.message, status_code=409)
    number = None
    if call.conversation_id:
        from sportello.conversations.models import Conversation

        conversation = session.get(Conversation, call.conversation_id)
        number = conversation.number if conversation else None
    return see_other(f"/c/{number}" if number else "/inbox/mine")
