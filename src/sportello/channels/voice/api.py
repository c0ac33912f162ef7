"""/api/v1 for the voice channel: calls, wrap-up, outbound calls, SIP credentials, the console
softphone's own configuration. Voice channels themselves are channels (``/api/v1/channels``
with ``kind: voice``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import File, Request, UploadFile
from sqlalchemy.orm import Session

from sportello.accounts.models import User
from sportello.channels.models import Channel
from sportello.channels.voice import actions, media, service
from sportello.channels.voice.models import SipAccount, VoiceCall
from sportello.channels.voice.schemas import (
    Announcement,
    CallRead,
    LiveCalls,
    OutboundCallCreate,
    SipCredentials,
    SoftphoneConfig,
    WrapupDone,
)
from sportello.core.access import require_supervisor
from sportello.core.db import SessionDep
from sportello.core.errors import NotFound
from sportello.web.api import (
    DEFAULT_LIMIT,
    AdminCaller,
    Cursor,
    Limit,
    Page,
    ReadCaller,
    WriteCaller,
    api_router,
    decode_cursor,
    encode_cursor,
)

router = api_router("voice")


def call_read(call: VoiceCall) -> CallRead:
    read = CallRead.model_validate(call)
    return read.model_copy(
        update={
            "wait_seconds": service.wait_seconds(call),
            "talk_seconds": service.talk_seconds(call),
            "wrapup_seconds": service.wrapup_seconds(call),
        }
    )


def access_call_by_id(session: Session, user: User, call_id: int) -> VoiceCall:
    """A call: supervisors see every call, agents their own."""
    call = session.get(VoiceCall, call_id)
    if call is None or (not user.is_supervisor and call.agent_id != user.id):
        raise NotFound("call not found")
    return call


@router.get("/voice/calls", summary="List calls, newest first", response_model=Page[CallRead])
def list_calls(
    session: SessionDep, caller: ReadCaller, cursor: Cursor = None, limit: Limit = DEFAULT_LIMIT
) -> Page[CallRead]:
    require_supervisor(caller.user)
    before = decode_cursor(cursor, 1)[0] if cursor else None
    rows = service.recent_calls(session, limit=limit, before_id=before)
    return Page[CallRead](
        items=[call_read(c) for c in rows],
        next_cursor=encode_cursor(rows[-1].id) if len(rows) == limit else None,
    )


@router.get("/voice/calls/live", summary="Calls waiting and talking now", response_model=LiveCalls)
def live_calls(session: SessionDep, caller: ReadCaller) -> LiveCalls:
    require_supervisor(caller.user)
    return LiveCalls(**service.live_counts(session))


@router.get("/voice/calls/{call_id}", summary="One call", response_model=CallRead)
def get_call(call_id: int, session: SessionDep, caller: ReadCaller) -> CallRead:
    return call_read(access_call_by_id(session, caller.user, call_id))


@router.post(
    "/voice/calls/{call_id}/wrapup",
    summary="End the wrap-up of one's call (and resolve its conversation)",
    response_model=CallRead,
)
def finish_wrapup(
    call_id: int, data: WrapupDone, session: SessionDep, caller: WriteCaller
) -> CallRead:
    call = access_call_by_id(session, caller.user, call_id)
    return call_read(
        actions.do_finish_wrapup(session, call=call, user=caller.user, resolve=data.resolve)
    )


@router.post(
    "/voice/calls",
    summary="Record an outgoing call placed from the softphone",
    response_model=CallRead,
    status_code=201,
)
def start_outbound(data: OutboundCallCreate, session: SessionDep, caller: WriteCaller) -> CallRead:
    call = actions.do_start_outbound_call(
        session,
        user=caller.user,
        number=data.number,
        sip_call_id=data.sip_call_id,
        conversation_id=data.conversation_id,
    )
    return call_read(call)


@router.post(
    "/voice/sip-accounts/{user_id}",
    summary="Generate a user's SIP credentials (the password is shown only in this answer)",
    response_model=SipCredentials,
)
def generate_sip_account(
    request: Request, user_id: int, session: SessionDep, caller: AdminCaller
) -> SipCredentials:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound("user not found")
    account, password = actions.do_generate_sip_account(session, user=user)
    return SipCredentials(
        user_id=user.id,
        username=account.username,
        realm=account.realm,
        password=password,
        ws_url=request.app.state.settings.voice_ws_url,
    )


@router.get(
    "/voice/softphone",
    summary="The caller's own softphone registration (404 without a SIP account)",
    response_model=SoftphoneConfig,
)
def softphone(request: Request, session: SessionDep, caller: ReadCaller) -> SoftphoneConfig:
    ws_url = request.app.state.settings.voice_ws_url
    account = session.get(SipAccount, caller.user.id)
    if account is None or not ws_url:
        raise NotFound("no phone for this user")
    return SoftphoneConfig(
        uri=f"sip:{account.username}@{account.realm}",
        username=account.username,
        realm=account.realm,
        ha1=account.ha1,
        ws_url=ws_url,
    )


def voice_channel(session: Session, channel_id: int) -> Channel:
    channel = session.get(Channel, channel_id)
    if channel is None or channel.kind != "voice":
        raise NotFound("channel not found")
    return channel


def announcements(channel: Channel) -> list[Announcement]:
    kept = channel.settings.get("announcements") or {}
    return [
        Announcement(kind=kind, custom=kind in kept, seconds=(kept.get(kind) or {}).get("seconds"))
        for kind in media.KINDS
    ]


@router.get(
    "/voice/channels/{channel_id}/announcements",
    summary="A phone channel's announcements (greeting, music, closed, callback, position)",
    response_model=list[Announcement],
)
def list_announcements(
    channel_id: int, session: SessionDep, caller: ReadCaller
) -> list[Announcement]:
    require_supervisor(caller.user)
    return announcements(voice_channel(session, channel_id))


@router.put(
    "/voice/channels/{channel_id}/announcements/{kind}",
    summary="Upload an announcement (a WAV file, at most 5 MB and 10 minutes)",
    response_model=list[Announcement],
)
def upload_announcement(
    channel_id: int,
    kind: str,
    file: Annotated[UploadFile, File()],
    session: SessionDep,
    caller: AdminCaller,
) -> list[Announcement]:
    channel = voice_channel(session, channel_id)
    data = file.file.read(media.MAX_BYTES + 1)
    actions.do_set_announcement(session, channel=channel, kind=kind, data=data, by=caller.user)
    return announcements(channel)


@router.delete(
    "/voice/channels/{channel_id}/announcements/{kind}",
    summary="Go back to the default announcement",
    response_model=list[Announcement],
)
def delete_announcement(
    channel_id: int, kind: str, session: SessionDep, caller: AdminCaller
) -> list[Announcement]:
    channel = voice_channel(session, channel_id)
    actions.do_remove_announcement(session, channel=channel, kind=kind, by=caller.user)
    return announcements(channel)
