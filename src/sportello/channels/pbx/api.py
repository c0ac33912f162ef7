"""/api/v1 for the PBX channel: click-to-call through the PBX, the AMI link's state and a
connection check. PBX channels themselves are channels (``/api/v1/channels`` with ``kind:
pbx``); their calls are the phone's (``/api/v1/voice/calls``)."""

from __future__ import annotations

from fastapi import Request
from sqlalchemy.orm import Session

from sportello.channels.models import Channel
from sportello.channels.pbx import actions, link, service
from sportello.channels.pbx.adapter import KIND
from sportello.channels.pbx.schemas import PbxCallCreate, PbxLinkRead
from sportello.channels.voice.api import call_read
from sportello.channels.voice.models import VoiceCall
from sportello.channels.voice.schemas import CallRead
from sportello.core.access import require_supervisor
from sportello.core.db import SessionDep
from sportello.core.errors import NotFound
from sportello.web.api import AdminCaller, ReadCaller, WriteCaller, api_router

router = api_router("pbx")


def access_pbx_channel(session: Session, channel_id: int) -> Channel:
    channel = session.get(Channel, channel_id)
    if channel is None or channel.kind != KIND:
        raise NotFound("channel not found")
    return channel


def link_read(session: Session, channel: Channel) -> PbxLinkRead:
    state = service.link_state(session, channel.id)
    if state is None:
        return PbxLinkRead(
            channel_id=channel.id,
            state="unknown",
            detail="",
            last_error="",
            last_error_at=None,
            connected_at=None,
            changed_at=None,
        )
    return PbxLinkRead.model_validate(state)


@router.post(
    "/pbx/calls",
    summary="Call a customer through the PBX: it rings the caller's extension, then dials",
    response_model=CallRead,
    status_code=201,
)
def click_to_call(
    request: Request, data: PbxCallCreate, session: SessionDep, caller: WriteCaller
) -> CallRead:
    placed = actions.do_click_to_call(
        session, user=caller.user, number=data.number, conversation_id=data.conversation_id
    )
    session.commit()  # the worker's link must find the call when the PBX's events come
    link.originate(request.app.state.db, placed)
    session.expire_all()
    return call_read(session.get_one(VoiceCall, placed.call_id))


@router.get(
    "/pbx/channels/{channel_id}/link",
    summary="The state of a PBX channel's AMI connection",
    response_model=PbxLinkRead,
)
def get_link(channel_id: int, session: SessionDep, caller: ReadCaller) -> PbxLinkRead:
    require_supervisor(caller.user)
    return link_read(session, access_pbx_channel(session, channel_id))


@router.post(
    "/pbx/channels/{channel_id}/check",
    summary="Log in to the PBX once and record the outcome",
    response_model=PbxLinkRead,
)
def check_link(
    request: Request, channel_id: int, session: SessionDep, caller: AdminCaller
) -> PbxLinkRead:
    channel = access_pbx_channel(session, channel_id)
    link.check(request.app.state.db, channel.id)
    session.expire_all()
    return link_read(session, channel)
