"""Writes of the PBX channel: an AMI event applied to the call it belongs to, a click-to-call
placed through the PBX, the link's state.

A call on the PBX is keyed by its Asterisk ``Linkedid`` (the id every channel of one call
shares): ``voice_call.sip_call_id`` is ``pbx:<channel id>:<linkedid>``. The call record, the
conversation and the ``voice.call_changed`` events are the phone channel's own (``voice
.actions``): a PBX call is counted by the KPIs and webhooks exactly like a Kamailio one. Every
event is applied only when the call is in a state it can move from, so a repeated or late event
changes nothing.
"""

from __future__ import annotations

import logging
import re
import secrets as pysecrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from sportello.accounts.models import User
from sportello.channels.models import Channel
from sportello.channels.pbx import service
from sportello.channels.pbx.messages import _, invalid
from sportello.channels.pbx.models import PbxLink
from sportello.channels.voice import actions as voice_actions
from sportello.channels.voice import service as voice_service
from sportello.channels.voice.models import VoiceCall
from sportello.conversations import actions as conversations_actions
from sportello.conversations.models import ACTIVE_STATUSES, Conversation
from sportello.core.db import utcnow
from sportello.core.errors import Conflict, InvalidInput
from sportello.customers.identities import normalize_phone

log = logging.getLogger(__name__)

ANSWERED_DIAL = "ANSWER"
NOT_ANSWERED = {"NOANSWER", "BUSY", "CONGESTION", "CHANUNAVAIL", "CANCEL"}


def call_key(channel_id: int, linkedid: str) -> str:
    return f"pbx:{channel_id}:{linkedid}"[:255]


def _call(session: Session, channel: Channel, event: Mapping[str, str]) -> VoiceCall | None:
    linkedid = (event.get("Linkedid") or event.get("Uniqueid") or "").strip()
    if not linkedid:
        return None
    return voice_service.call_by_sip_id(session, call_key(channel.id, linkedid))


def _root(event: Mapping[str, str]) -> bool:
    unique = (event.get("Uniqueid") or "").strip()
    return bool(unique) and unique == (event.get("Linkedid") or "").strip()


def _agent_of(session: Session, channel: Channel, *names: str | None) -> User | None:
    for name in names:
        extension = service.extension_of_channel(name or "")
        if extension is None and name and re.fullmatch(r"[0-9]{2,8}", name.strip()):
            extension = name.strip()
        agent = service.agent_for_extension(session, channel, extension)
        if agent is not None:
            return agent
    return None


def _answered(session: Session, call: VoiceCall, agent: User | None, now: datetime) -> None:
    if call.state not in ("queued", "ringing"):
        return
    if agent is not None and call.direction == "inbound":
        call.agent_id = agent.id
        conversation = session.get(Conversation, call.conversation_id or 0)
        if (
            conversation is not None
            and conversation.status in ACTIVE_STATUSES
            and conversation.assignee_id != agent.id
        ):
            # The PBX's queue chose the agent: the conversation is theirs.
            conversations_actions.do_assign(
                session, conversation=conversation, assignee=agent, by=None
            )
    voice_actions.do_call_event(session, sip_call_id=call.sip_call_id, event="answered", now=now)


def _event_time(event: Mapping[str, str]) -> datetime | None:
    """The event's ``Timestamp`` (manager.conf ``timestampevents = yes``): waits and talk times
    as the PBX saw them, not as late as the link read them. Absent or absurd: None."""
    try:
        stamp = float((event.get("Timestamp") or "").strip())
    except ValueError:
        return None
    now = utcnow()
    at = datetime.fromtimestamp(stamp, tz=UTC)
    return at if abs((at - now).total_seconds()) < 86400 else None


def do_apply_event(
    session: Session, *, channel: Channel, event: Mapping[str, str], now: datetime | None = None
) -> VoiceCall | None:
    """Apply one AMI event of ``channel``'s PBX. Events about calls we do not follow (internal
    calls, calls that started before the link came up) and unknown events are ignored."""
    now = now or _event_time(event) or utcnow()
    name = (event.get("Event") or "").strip()
    if name == "Newchannel":
        return _new_channel(session, channel, event, now)
    call = _call(session, channel, event)
    if call is None:
        return None
    if name == "DialBegin":
        if call.direction == "inbound" and call.state in ("queued", "ringing"):
            agent = _agent_of(session, channel, event.get("DestChannel"))
            if agent is not None and (call.agent_id != agent.id or call.state != "ringing"):
                call.agent_id, call.state = agent.id, "ringing"
                call.ring_attempts += 1
                voice_actions._changed(session, call)
    elif name == "DialEnd":
        status = (event.get("DialStatus") or "").strip().upper()
        agent = _agent_of(session, channel, event.get("DestChannel"))
        if status == ANSWERED_DIAL:
            if call.direction == "outbound" or agent is not None:
                _answered(session, call, agent, now)
        elif (
            status in NOT_ANSWERED
            and call.direction == "inbound"
            and agent is not None
            and call.agent_id == agent.id
            and call.state == "ringing"
        ):
            voice_actions.do_call_event(
                session, sip_call_id=call.sip_call_id, event="noanswer", now=now
            )
    elif name == "AgentConnect":
        agent = _agent_of(session, channel, event.get("Interface"), event.get("DestChannel"))
        _answered(session, call, agent, now)
    elif name == "BridgeEnter":
        if not _root(event) and call.direction == "inbound":
            agent = _agent_of(session, channel, event.get("Channel"))
            if agent is not None:
                _answered(session, call, agent, now)
    elif name == "QueueCallerAbandon":
        voice_actions.do_call_event(
            session, sip_call_id=call.sip_call_id, event="abandoned", now=now
        )
    elif name == "Hangup":
        _hangup(session, channel, call, event, now)
    return call


def _new_channel(
    session: Session, channel: Channel, event: Mapping[str, str], now: datetime
) -> VoiceCall | None:
    if not _root(event):
        return None
    context = (event.get("Context") or "").strip()
    if context not in (service.setting(channel, "inbound_contexts") or []):
        return None  # an internal or outgoing call: not a customer's call
    linkedid = (event.get("Linkedid") or "").strip()
    key = call_key(channel.id, linkedid)
    existing = voice_service.call_by_sip_id(session, key)
    if existing is not None:
        return existing
    did = (event.get("Exten") or "").strip()
    call = voice_actions._new_call(
        session,
        channel=channel,
        sip_call_id=key,
        caller=(event.get("CallerIDNum") or "").strip(),
        display=(event.get("CallerIDName") or "").strip(),
        did="" if did == "s" else did,
        now=now,
    )
    voice_actions._changed(session, call)
    log.info("pbx: call %s from the PBX's %s", call.id, context)
    return call


def _hangup(
    session: Session, channel: Channel, call: VoiceCall, event: Mapping[str, str], now: datetime
) -> None:
    if _root(event):
        # The first channel of the call: the customer's inbound, the agent's leg outbound.
        by = "caller"
    elif call.state in ("talking", "held"):
        if call.direction == "inbound":
            agent = _agent_of(session, channel, event.get("Channel"))
            if agent is None or agent.id != call.agent_id:
                return  # another member's ringing leg, a Local helper channel
        by = "callee"
    else:
        return
    voice_actions.do_call_event(
        session, sip_call_id=call.sip_call_id, event="hangup", by=by, now=now
    )


def do_record_link_state(
    session: Session, *, channel_id: int, state: str, detail: str, now: datetime | None = None
) -> PbxLink:
    now = now or utcnow()
    link = session.get(PbxLink, channel_id)
    if link is None:
        link = PbxLink(channel_id=channel_id, state=state, detail="", last_error="")
        session.add(link)
    link.state, link.changed_at = state, now
    if state == "connected":
        link.detail, link.connected_at = detail[:300], now
    else:
        link.last_error, link.last_error_at = detail[:300], now
    session.flush()
    return link


@dataclass(frozen=True)
class Originate:
    """A click-to-call ready to go: the call record, the AMI action to send."""

    call_id: int
    channel_id: int
    action: dict[str, str]


def do_click_to_call(
    session: Session,
    *,
    user: User,
    number: str,
    conversation_id: int | None = None,
    channel: Channel | None = None,
) -> Originate:
    """A call the agent places through the PBX: Asterisk rings the agent's extension, then dials
    the customer. The call record is made now (in the conversation given, or a new one); the
    action is sent by the caller after commit (``link.originate``)."""
    channels = [channel] if channel is not None else service.active_channels(session)
    if not channels:
        raise Conflict("no PBX channel is configured")  # the install, not the input
    found = [(c, service.extension_of_user(c, user)) for c in channels]
    chosen = next(((c, e) for c, e in found if e), None)
    if chosen is None:
        raise Conflict("your extension is not listed on the PBX channel")
    pbx, extension = chosen
    assert extension is not None
    phone = normalize_phone(number)
    channel_uid = f"sportello-{pysecrets.token_hex(10)}"
    call = voice_actions.do_start_outbound_call(
        session,
        user=user,
        number=phone,
        sip_call_id=call_key(pbx.id, channel_uid),
        conversation_id=conversation_id,
    )
    call.channel_id = call.channel_id or pbx.id
    return Originate(
        call_id=call.id,
        channel_id=pbx.id,
        action={
            "Action": "Originate",
            "Channel": service.interface(pbx, extension),
            "Context": str(service.setting(pbx, "originate_context")),
            "Exten": phone,
            "Priority": "1",
            "CallerID": f"{phone} <{phone}>",
            "Timeout": "30000",
            "Async": "true",
            "ChannelId": channel_uid,
            "Variable": f"SPORTELLO_CALL={call.id}",
        },
    )


def do_originate_failed(session: Session, *, call_id: int, reason: str) -> VoiceCall | None:
    """The PBX refused or could not be reached: the outgoing call ends as failed."""
    call = session.get(VoiceCall, call_id)
    if call is None or call.state == "ended":
        return call
    call.state, call.outcome, call.ended_at, call.ended_by = "ended", "failed", utcnow(), "system"
    voice_actions._system_line(session, call, "Outgoing call failed", outcome="failed")
    voice_actions._changed(session, call)
    log.warning("pbx: click-to-call %s failed: %s", call.id, reason)
    return call


def check_number(number: str) -> str:
    try:
        return normalize_phone(number)
    except InvalidInput:
        raise invalid(
            _("not a phone number: %(value)s"), field="number", value=number[:40]
        ) from None
