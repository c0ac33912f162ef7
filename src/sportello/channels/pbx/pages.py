"""Pages of the PBX channel: the AMI link's state on the channel's admin form (a fragment the
form loads), a connection check, and click-to-call through the PBX from the console."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from sportello.channels.pbx import actions, link, service
from sportello.channels.pbx.api import access_pbx_channel
from sportello.channels.voice import service as voice_service
from sportello.channels.voice.models import VoiceCall
from sportello.conversations.models import Conversation
from sportello.core.db import SessionDep
from sportello.core.errors import InvalidInput
from sportello.web.auth import AdminUser, CsrfChecked, CurrentUser, SupervisorUser
from sportello.web.helpers import see_other
from sportello.web.render import render

router = APIRouter(dependencies=[CsrfChecked])


@router.get("/admin/pbx/{channel_id}/status", response_class=HTMLResponse, include_in_schema=False)
def status(
    request: Request, session: SessionDep, user: SupervisorUser, channel_id: int
) -> Response:
    channel = access_pbx_channel(session, channel_id)
    return render(
        request,
        "pbx/_status.html",
        {
            "channel": channel,
            "link": service.link_state(session, channel.id),
            "unmapped": service.unmapped_extensions(session, channel),
        },
    )


@router.post("/admin/pbx/{channel_id}/check", response_class=HTMLResponse, include_in_schema=False)
def check(request: Request, session: SessionDep, admin: AdminUser, channel_id: int) -> Response:
    channel = access_pbx_channel(session, channel_id)
    session.rollback()  # nothing to write here; the check writes in its own transaction
    link.check(request.app.state.db, channel.id)
    return see_other(f"/admin/channels/{channel.id}#pbx-status")


@router.get("/pbx/pop/{call_id}", response_class=HTMLResponse, include_in_schema=False)
def screen_pop(request: Request, session: SessionDep, user: CurrentUser, call_id: int) -> Response:
    """The customer and their recent conversations, for a PBX call ringing the agent's
    extension (204 for another agent's call, or a call of the built-in softphone)."""
    call = session.get(VoiceCall, call_id)
    if call is None or not call.sip_call_id.startswith("pbx:"):
        return Response(status_code=204)
    if call.agent_id != user.id and not user.is_supervisor:
        return Response(status_code=204)
    return render(request, "pbx/_pop.html", {"pop": voice_service.screen_pop(session, call)})


@router.post("/pbx/call", response_class=HTMLResponse, include_in_schema=False)
def call(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    number: Annotated[str, Form(max_length=40)],
    conversation_id: Annotated[int | None, Form()] = None,
) -> Response:
    """Click-to-call from the console when the install's phones are on the PBX."""
    try:
        placed = actions.do_click_to_call(
            session, user=user, number=number, conversation_id=conversation_id
        )
        session.commit()
        link.originate(request.app.state.db, placed)
    except InvalidInput as exc:
        session.rollback()
        return HTMLResponse(exc.message, status_code=422)
    session.expire_all()
    placed_call = session.get_one(VoiceCall, placed.call_id)
    conversation = session.get(Conversation, placed_call.conversation_id or 0)
    return see_other(f"/c/{conversation.number}" if conversation else "/inbox/mine")
