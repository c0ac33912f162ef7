"""Writes of the voice channel: the ACD answer to Kamailio, call events, SIP accounts, wrap-up,
outbound calls. Kamailio asks and reports over HTTP (``api.py``); every decision is made here."""

from __future__ import annotations

import hashlib
import logging
import math
import secrets as pysecrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sportello.accounts.models import Brand, User
from sportello.audit import actions as audit
from sportello.channels.base import Identity, InboundMessage
from sportello.channels.models import Channel
from sportello.channels.voice import media, service
from sportello.channels.voice.adapter import DEFAULTS
from sportello.channels.voice.daemons import sip_realm
from sportello.channels.voice.models import SipAccount, VoiceCall
from sportello.config import get_settings
from sportello.conversations import actions as conversations_actions
from sportello.conversations.models import ACTIVE_STATUSES, Conversation, Status
from sportello.core import i18n
from sportello.core.db import Database, utcnow
from sportello.core.errors import Conflict, InvalidInput, NotFound
from sportello.core.events import EventPayload, emit, register_event
from sportello.core.i18n import lazy as N_
from sportello.customers.identities import normalize_phone
from sportello.routing import actions as engine
from sportello.routing import presence
from sportello.routing.models import Offer, QueueRouting

log = logging.getLogger(__name__)

ANONYMOUS = "voice:anonymous"
EVENTS = ("answered", "noanswer", "unreachable", "hangup", "abandoned", "hold", "unhold")


class CallChanged(EventPayload):
    call_id: int
    conversation_id: int | None
    agent_id: int | None
    state: str
    outcome: str | None


register_event("voice.call_changed", CallChanged)


@dataclass(frozen=True)
class RouteAnswer:
    """What Kamailio does next: ``dial`` an agent, ``wait`` and ask again, or ``reject``."""

    action: str
    target: str = ""
    ring: int = 0
    seconds: int = 0
    code: int = 0
    reason: str = ""
    # Early media: the SDP of the 183 that answers the caller (rtpengine's address), and for a
    # reject, the seconds the announcement plays before the final answer.
    sdp: str = ""
    after: int = 0
    # A wait to the millisecond (0: ``seconds``): the next question comes right after the
    # announcement playing ends, so that the next one follows without a gap.
    ms: int = 0

    def as_json(self) -> dict[str, Any]:
        if self.action == "dial":
            return {"action": "dial", "target": self.target, "ring": self.ring}
        if self.action == "wait":
            ms = self.ms or self.seconds * 1000
            return {"action": "wait", "seconds": self.seconds, "ms": ms, "sdp": self.sdp}
        return {
            "action": "reject",
            "code": self.code,
            "reason": self.reason,
            "sdp": self.sdp,
            "after": self.after,
        }


@dataclass(frozen=True)
class MediaRequest:
    """What Kamailio gives for announcements: rtpengine's ng address, the caller's From tag and
    SDP offer."""

    ng: str
    from_tag: str
    sdp: str


def _reject(code: int, reason: str) -> RouteAnswer:
    return RouteAnswer("reject", code=code, reason=reason)


def _changed(session: Session, call: VoiceCall) -> None:
    emit(
        session,
        "voice.call_changed",
        CallChanged(
            call_id=call.id,
            conversation_id=call.conversation_id,
            agent_id=call.agent_id,
            state=call.state,
            outcome=call.outcome,
        ),
    )


def caller_identity(caller: str) -> tuple[Identity, str]:
    """The caller's identity (E.164 phone) and the number to show; a withheld or malformed
    number is one shared "anonymous caller" per install."""
    raw = (caller or "").strip()
    if raw and raw.lower() not in ("anonymous", "unknown", "restricted", "private"):
        try:
            number = normalize_phone(raw)
        except InvalidInput:
            number = ""
        if number:
            return Identity("phone", number), number
    return Identity("external", ANONYMOUS), ""


def _setting(channel: Channel | None, name: str) -> int:
    value = (channel.settings if channel else {}).get(name, DEFAULTS[name])
    return int(value)


def _system_line(session: Session, call: VoiceCall, text: str, **meta: Any) -> None:
    conversation = session.get(Conversation, call.conversation_id) if call.conversation_id else None
    if conversation is None:
        return
    conversations_actions._system_message(
        session, conversation, text, {"event": "call", "call_id": call.id, **meta}
    )


# What a call writes as data (the conversation's subject, the first line), in the install's
# language: these are stored, not rendered per reader.
CALL_FROM = N_("Call from %(number)s to %(did)s")
WITHHELD = N_("withheld number")
CALL_SUBJECT = N_("Call %(number)s %(at)s")
CALL_OUT_SUBJECT = N_("Call %(number)s")
ANONYMOUS = N_("Anonymous caller")


def _stored(message: str, **values: str) -> str:
    text = i18n.translations(get_settings().default_language).gettext(message)
    return text % values if values else text


def _new_call(
    session: Session,
    *,
    channel: Channel,
    sip_call_id: str,
    caller: str,
    display: str,
    did: str,
    now: datetime,
) -> VoiceCall:
    identity, number = caller_identity(caller)
    name = display.strip().strip('"')[:200] if display else ""
    if identity.kind == "external":
        name = _stored(ANONYMOUS)
    stamp = now.strftime("%Y-%m-%d %H:%M:%S")
    received = conversations_actions.do_receive_message(
        session,
        channel=channel,
        inbound=InboundMessage(
            identity=identity,
            text=_stored(CALL_FROM, number=number or _stored(WITHHELD), did=did),
            sender_name=name,
            # One conversation per call: a subject of its own never threads into an open one.
            subject=_stored(CALL_SUBJECT, number=number or "-", at=stamp),
            provider_message_id=f"call:{sip_call_id}"[:300],
            received_at=now,
            meta={"call": True},
        ),
    )
    call = VoiceCall(
        brand_id=channel.brand_id,
        channel_id=channel.id,
        conversation_id=received.conversation_id,
        customer_id=received.customer_id,
        queue_id=channel.queue_id,
        sip_call_id=sip_call_id,
        direction="inbound",
        caller=number,
        did=did[:64],
        state="queued",
        started_at=now,
    )
    session.add(call)
    session.flush()
    return call


def _end_conversation(session: Session, call: VoiceCall) -> None:
    conversation = session.get(Conversation, call.conversation_id) if call.conversation_id else None
    if conversation is not None and conversation.status in ACTIVE_STATUSES:
        conversations_actions.do_change_status(
            session, conversation=conversation, status=Status.RESOLVED, by=None
        )


def _target(session: Session, call: VoiceCall) -> tuple[int, str] | None:
    """The agent the ACD chose for the call (a live offer, or the assignee) and their SIP user."""
    if call.conversation_id is None:
        return None
    user_id = session.scalar(
        select(Offer.user_id).where(Offer.conversation_id == call.conversation_id)
    )
    if user_id is None:
        conversation = session.get(Conversation, call.conversation_id)
        if conversation is None or conversation.status not in ACTIVE_STATUSES:
            return None
        user_id = conversation.assignee_id
    if user_id is None:
        return None
    account = session.get(SipAccount, user_id)
    if account is None:
        log.warning("voice: agent %s has no SIP account; the call goes to the next agent", user_id)
        _let_go(session, call, user_id, utcnow())
        return None
    return user_id, account.username


def _let_go(session: Session, call: VoiceCall, user_id: int, now: datetime) -> None:
    """The agent did not take the call: withdraw the offer (or the assignment), remember the
    decline so that the router offers it to someone else."""
    engine._remember_decline(session, call.conversation_id or 0, user_id, now)
    offer = session.scalar(select(Offer).where(Offer.conversation_id == call.conversation_id))
    if offer is not None:
        session.delete(offer)
    conversation = session.get(Conversation, call.conversation_id) if call.conversation_id else None
    if conversation is not None and conversation.assignee_id == user_id:
        conversations_actions.do_assign(session, conversation=conversation, assignee=None, by=None)
    session.flush()


def _queues(session: Session, queue_id: int | None) -> list[int]:
    if queue_id is None:
        return []
    routing = session.get(QueueRouting, queue_id)
    extra = [routing.overflow_queue_id] if routing and routing.overflow_queue_id else []
    return [queue_id, *extra]


def _dial(
    session: Session, call: VoiceCall, channel: Channel | None, target: tuple[int, str]
) -> RouteAnswer:
    if call.agent_id != target[0] or call.state != "ringing":
        call.agent_id = target[0]
        call.state = "ringing"
        call.ring_attempts += 1
        _changed(session, call)
    return RouteAnswer("dial", target=target[1], ring=_setting(channel, "ring_seconds"))


def route_call(
    db: Database,
    *,
    sip_call_id: str,
    caller: str,
    did: str,
    display: str = "",
    now: datetime | None = None,
    media_request: MediaRequest | None = None,
    questions_left: int | None = None,
) -> RouteAnswer:
    """Kamailio's question for a new call (and again while it waits): where does it go? With a
    ``media_request`` the waiting (or closed-out) caller hears announcements and music.
    ``questions_left``: Kamailio's branches left for this call (each wait and each agent rung
    takes one); when they run out the call ends cleanly instead of Kamailio's 500."""
    now = now or utcnow()
    sip_call_id = sip_call_id.strip()[:255]
    if not sip_call_id:
        raise InvalidInput("a call needs its SIP Call-ID", field="call_id")
    answer = _route_call(
        db, sip_call_id=sip_call_id, caller=caller, did=did, display=display, now=now
    )
    if answer.action == "wait" and questions_left is not None and questions_left <= RESERVE:
        answer = _out_of_questions(db, sip_call_id, now)
    if media_request is not None and media_request.ng and media_request.sdp:
        answer = _with_media(db, sip_call_id, answer, media_request, now)
    return answer


def _with_media(
    db: Database, sip_call_id: str, answer: RouteAnswer, request: MediaRequest, now: datetime
) -> RouteAnswer:
    """Announcements through rtpengine: the greeting, then music while the call waits (played
    again when it ends), interrupted every so often by the caller's position in the queue and,
    past the longest wait, by the callback offer; the out-of-hours notice before the 480, the
    callback confirmation before the call ends. Stopped when an agent is dialed. Without
    rtpengine the call goes on silent (logged)."""
    with db.transaction() as session:
        call = service.call_by_sip_id(session, sip_call_id)
        if call is None:
            return answer
        closed = answer.action == "reject" and call.outcome == "closed"
        if answer.action == "reject" and call.outcome == "callback":
            # Booked by the caller's key: the confirmation plays out, then the call ends.
            if call.media == "booked" and call.media_until is not None and now < call.media_until:
                return replace(answer, after=math.ceil((call.media_until - now).total_seconds()))
            return answer
        if answer.action not in ("wait", "dial") and not closed:
            return answer
        channel = session.get(Channel, call.channel_id) if call.channel_id else None
        try:
            rtp = media.Rtpengine(request.ng)
            if answer.action == "dial":
                if call.media is not None:
                    rtp.stop(sip_call_id, request.from_tag)
                    # The offer to the agent (or rtpengine_delete after a miss) replaces it.
                    call.media, call.media_until = None, None
                return answer
            sdp = ""
            due, due_at = None, None
            if call.media is None:
                sdp = rtp.early_media(sip_call_id, request.from_tag, request.sdp)
                kind = "closed" if closed else "greeting"
            else:
                due, due_at = _announcement_due(session, call, channel, now)
                playing = call.media_until is not None and now < call.media_until - ENDING
                # Music gives way to a due announcement; a greeting or a prompt plays out.
                if playing and not (due and call.media == "music"):
                    left = (call.media_until - now).total_seconds()  # type: ignore[operator]
                    if due_at is not None and call.media == "music":
                        left = min(left, (due_at - now).total_seconds())
                    return _wait_until(answer, left)
                kind = due or "music"
            path = media.announcement(call.channel_id, _file_kind(session, call, kind))
            # The music loops in rtpengine: no question to Kamailio (a branch) to restart it.
            repeat = MUSIC_REPEATS if kind == "music" else 1
            seconds = rtp.play(sip_call_id, request.from_tag, path, repeat) * repeat
        except (media.MediaError, OSError) as exc:
            log.warning("voice: no announcement for call %s: %s", sip_call_id, exc)
            return answer
        # Timed from when rtpengine started playing (the question may have waited for the
        # database or the router): the next question must not come before the end.
        played = max(now, utcnow())
        call.media, call.media_until = kind, played + timedelta(seconds=seconds)
        if kind in ("offer", "position"):
            call.announced_at = now
            due_at = None
        log.info("voice: call %s hears the %s (%.1fs)", sip_call_id, kind, seconds)
        if closed:
            return replace(answer, sdp=sdp, after=max(1, math.ceil(seconds)))
        step = min(float(answer.seconds), seconds)
        if kind == "music" and due_at is not None:
            step = min(step, (due_at - now).total_seconds())
        return _wait_until(replace(answer, sdp=sdp), step)


MUSIC_REPEATS = 100
ENDING = timedelta(milliseconds=100)  # an announcement this close to its end has ended


def _wait_until(answer: RouteAnswer, seconds: float) -> RouteAnswer:
    """Ask again in ``seconds`` (at most the router's own step), a little after an announcement
    ends rather than a little before: a question that came early would find it still playing
    and wait again, and the caller would hear a gap."""
    seconds = max(0.2, min(float(answer.seconds), seconds))
    return replace(answer, seconds=max(1, math.ceil(seconds)), ms=int(seconds * 1000) + 50)


OFFER_EVERY = 30  # seconds between two callback offers when position announcements are off


def _position(session: Session, call: VoiceCall) -> int:
    """The caller's place among the calls waiting in the same queue (1: next to be answered)."""
    ahead = session.scalar(
        select(func.count(VoiceCall.id)).where(
            VoiceCall.queue_id == call.queue_id,
            VoiceCall.state == "queued",
            VoiceCall.direction == "inbound",
            VoiceCall.started_at < call.started_at,
        )
    )
    return int(ahead or 0) + 1


def _file_kind(session: Session, call: VoiceCall, kind: str) -> str:
    return media.position_kind(_position(session, call)) if kind == "position" else kind


def callback_offered(channel: Channel | None, call: VoiceCall, now: datetime) -> bool:
    """Past the channel's longest wait, with callbacks on and a number to call back: the caller
    may press 1."""
    max_wait = _setting(channel, "max_wait_seconds")
    return bool(
        max_wait
        and channel is not None
        and channel.settings.get("callback")
        and call.caller
        and call.state == "queued"
        and now - call.started_at >= timedelta(seconds=max_wait)
    )


def _announcement_due(
    session: Session, call: VoiceCall, channel: Channel | None, now: datetime
) -> tuple[str | None, datetime | None]:
    """The announcement due now (``offer`` or ``position``, else None) and when the next one
    falls due (to cut the music short then)."""
    every = _setting(channel, "position_every_seconds")
    last = call.announced_at
    max_wait = _setting(channel, "max_wait_seconds")
    offering = max_wait and channel is not None and channel.settings.get("callback") and call.caller
    if offering:
        limit = call.started_at + timedelta(seconds=max_wait)
        if now < limit:
            next_at = limit
        elif last is None or last < limit:
            return "offer", None
        else:
            next_at = last + timedelta(seconds=every or OFFER_EVERY)
            if now >= next_at:
                return "offer", None
        if not every:
            return None, next_at
    if not every:
        return None, None
    position_at = (last or call.started_at) + timedelta(seconds=every)
    if now >= position_at:
        return "position", None
    return None, min(position_at, next_at) if offering else position_at


def _route_call(
    db: Database,
    *,
    sip_call_id: str,
    caller: str,
    did: str,
    display: str,
    now: datetime,
) -> RouteAnswer:
    with db.transaction() as session:
        call = service.call_by_sip_id(session, sip_call_id)
        if call is None:
            channel = service.channel_for_did(session, did)
            if channel is None:
                log.warning(
                    "voice: call %s from %r to unknown number %r refused", sip_call_id, caller, did
                )
                return _reject(404, "Unknown number")
            call = _new_call(
                session,
                channel=channel,
                sip_call_id=sip_call_id,
                caller=caller,
                display=display,
                did=did,
                now=now,
            )
            if not service.queue_open(session, call.queue_id, now):
                call.state, call.outcome, call.ended_at, call.ended_by = (
                    "ended",
                    "closed",
                    now,
                    "system",
                )
                _system_line(session, call, "Call out of business hours", outcome="closed")
                _changed(session, call)
                log.info("voice: call %s out of business hours", sip_call_id)
                return _reject(480, "Closed")
            _changed(session, call)
        if call.state == "ended":
            if call.outcome == "callback":
                return _reject(480, "Callback booked")
            return _reject(487, "Request Terminated")
        channel = session.get(Channel, call.channel_id) if call.channel_id else None
        target = _target(session, call)
        if target is not None:
            return _dial(session, call, channel, target)
        queue_ids = _queues(session, call.queue_id)
        call_id = call.id
    if queue_ids:
        engine.route(db, queue_ids=queue_ids, now=now)
    with db.transaction() as session:
        call = session.get_one(VoiceCall, call_id)
        channel = session.get(Channel, call.channel_id) if call.channel_id else None
        target = _target(session, call)
        if target is not None:
            return _dial(session, call, channel, target)
        if call.state != "queued":
            call.state, call.agent_id = "queued", None
            _changed(session, call)
        if callback_offered(channel, call, now):
            # The caller hears the offer and may press 1 (``do_keypress``): ask again within a
            # few seconds so that a booked call ends soon after its confirmation (not every
            # second: the call's SIP branches must last while the caller keeps waiting).
            return RouteAnswer("wait", seconds=min(4, _wait_step(now - call.started_at)))
        return RouteAnswer("wait", seconds=_wait_step(now - call.started_at))


def _wait_step(waited: timedelta) -> int:
    """Seconds before Kamailio asks again: often at first (an agent may free up any moment),
    then less and less (each wait is a branch of the SIP transaction, 30 at most): a quarter of
    the wait so far, up to 30 s."""
    seconds = waited.total_seconds()
    return 1 if seconds < 5 else 2 if seconds < 10 else max(3, min(30, int(seconds / 4)))


RESERVE = 2  # branches kept for the end of a call (its 480, an agent to ring)


def _out_of_questions(db: Database, sip_call_id: str, now: datetime) -> RouteAnswer:
    """Kamailio cannot hold the call any longer (its branches are spent): a caller who can be
    called back is (the task stays in the queue), otherwise the call ends as failed, with a
    line in the conversation. Either way with a 480, not Kamailio's 500."""
    with db.transaction() as session:
        call = service.call_by_sip_id(session, sip_call_id)
        if call is None or call.state != "queued":
            return _reject(480, "Temporarily Unavailable")
        channel = session.get(Channel, call.channel_id) if call.channel_id else None
        if channel is not None and channel.settings.get("callback") and call.caller:
            _book_callback(session, call, now, by="system")
            log.warning(
                "voice: call %s waited as long as Kamailio can hold it: callback", sip_call_id
            )
            return _reject(480, "Callback booked")
        call.state, call.outcome, call.ended_at, call.ended_by = "ended", "failed", now, "system"
        _system_line(
            session,
            call,
            "The caller waited as long as the phone system can hold a call",
            outcome="failed",
            wait=service.seconds(call.started_at, now),
        )
        _end_conversation(session, call)
        _changed(session, call)
        log.warning("voice: call %s waited as long as Kamailio can hold it: ended", sip_call_id)
        return _reject(480, "Temporarily Unavailable")


def _close_hold(call: VoiceCall, now: datetime) -> None:
    if call.held_since is not None:
        call.hold_seconds += max(0, int((now - call.held_since).total_seconds()))
        call.held_since = None


def do_call_event(
    session: Session,
    *,
    sip_call_id: str,
    event: str,
    by: str = "",
    now: datetime | None = None,
) -> VoiceCall | None:
    """Kamailio's news about a call. Unknown calls are logged and ignored (an agent's internal
    call, or a call already forgotten); a repeated event changes nothing."""
    if event not in EVENTS:
        raise InvalidInput("unknown call event", field="event")
    now = now or utcnow()
    call = session.scalar(
        select(VoiceCall).where(VoiceCall.sip_call_id == sip_call_id).with_for_update()
    )
    if call is None:
        log.info("voice: %s for unknown call %s ignored", event, sip_call_id)
        return None
    if call.state == "ended" and event != "hangup":
        return call
    agent = session.get(User, call.agent_id) if call.agent_id else None
    if event == "answered" and call.state in ("ringing", "queued"):
        call.state, call.answered_at = "talking", now
        if agent is not None and call.conversation_id is not None:
            offer = session.scalar(
                select(Offer).where(Offer.conversation_id == call.conversation_id)
            )
            if offer is not None and offer.user_id == agent.id:
                engine.do_accept_offer(session, offer_id=offer.id, user=agent, now=now)
            presence.do_set_presence(
                session, user=agent, presence=presence.Presence.BUSY, cause="call", now=now
            )
        _system_line(
            session,
            call,
            "Call answered",
            outcome="answered",
            agent=agent.name if agent else None,
            wait=service.wait_seconds(call),
        )
    elif event in ("noanswer", "unreachable") and call.state in ("ringing", "queued"):
        if call.agent_id is not None:
            log.info(
                "voice: agent %s did not answer call %s (%s)", call.agent_id, sip_call_id, event
            )
            _let_go(session, call, call.agent_id, now)
        call.state, call.agent_id = "queued", None
    elif event == "hold" and call.state == "talking":
        call.state, call.held_since = "held", now
    elif event == "unhold" and call.state == "held":
        _close_hold(call, now)
        call.state = "talking"
    elif event == "hangup" and call.state in ("talking", "held"):
        _close_hold(call, now)
        call.state, call.outcome, call.ended_at = "ended", "answered", now
        # Kamailio says which side of the dialog hung up: the one that placed the call or the
        # one called. Inbound, the customer placed it; outbound (click-to-call), the agent did.
        agent_side = "caller" if call.direction == "outbound" else "callee"
        call.ended_by = "agent" if by == agent_side else "customer" if by else None
        _system_line(
            session,
            call,
            "Call ended",
            outcome="answered",
            agent=agent.name if agent else None,
            talk=service.talk_seconds(call),
            hold=call.hold_seconds,
            ended_by=call.ended_by,
        )
    elif event in ("abandoned", "hangup") and call.state in ("queued", "ringing"):
        if call.agent_id is not None and call.conversation_id is not None:
            engine._withdraw_offer(session, call.conversation_id)
        waited = service.seconds(call.started_at, now) or 0
        channel = session.get(Channel, call.channel_id) if call.channel_id else None
        short = waited < _setting(channel, "short_abandon_seconds")
        call.state, call.ended_at, call.ended_by = "ended", now, "customer"
        call.outcome = "short_abandon" if short else "abandoned"
        _system_line(
            session, call, "Caller hung up while waiting", outcome=call.outcome, wait=waited
        )
        _end_conversation(session, call)
        log.info("voice: call %s abandoned after %ss", sip_call_id, waited)
    else:
        return call
    _changed(session, call)
    return call


KEYS = "0123456789*#ABCD"


def _book_callback(session: Session, call: VoiceCall, now: datetime, *, by: str) -> None:
    """The call ends as ``callback``: its conversation stays in the queue as a task, tagged
    ``callback``, routed like any other; the agent who takes it dials from the softphone."""
    if call.conversation_id is not None:
        engine._withdraw_offer(session, call.conversation_id)
    call.state, call.outcome, call.ended_at, call.ended_by = "ended", "callback", now, by
    conversation = session.get(Conversation, call.conversation_id or 0)
    if conversation is not None:
        conversations_actions.do_update_conversation(
            session,
            conversation=conversation,
            by=None,
            tags=[*(t.name for t in conversation.tags), "callback"],
        )
    _system_line(
        session,
        call,
        "Callback requested",
        outcome="callback",
        wait=service.seconds(call.started_at, now),
    )
    _changed(session, call)


def do_keypress(
    db: Database,
    *,
    sip_call_id: str,
    event: int,
    ng: str = "",
    from_tag: str = "",
    now: datetime | None = None,
) -> VoiceCall | None:
    """A key the caller pressed (an RFC 4733 event rtpengine saw). Past the longest wait, 1
    books the callback: the call ends (after a confirmation, when rtpengine plays it) and the
    conversation stays in the queue as a task, tagged ``callback``, routed like any other; the
    agent who takes it dials from the softphone. Any other key, or 1 before the offer, changes
    nothing."""
    now = now or utcnow()
    digit = KEYS[event] if 0 <= event < len(KEYS) else "?"
    with db.transaction() as session:
        call = session.scalar(
            select(VoiceCall).where(VoiceCall.sip_call_id == sip_call_id).with_for_update()
        )
        if call is None:
            log.info("voice: key %s for unknown call %s ignored", digit, sip_call_id)
            return None
        channel = session.get(Channel, call.channel_id) if call.channel_id else None
        if digit != "1" or not callback_offered(channel, call, now):
            log.info("voice: key %s on call %s (%s) ignored", digit, sip_call_id, call.state)
            return call
        _book_callback(session, call, now, by="customer")
        log.info("voice: caller of %s pressed 1: callback booked", sip_call_id)
        if ng and from_tag and call.media is not None:
            try:
                path = media.announcement(call.channel_id, "booked")
                seconds = media.Rtpengine(ng).play(sip_call_id, from_tag, path)
                call.media, call.media_until = "booked", now + timedelta(seconds=seconds)
            except (media.MediaError, OSError) as exc:
                log.warning("voice: no callback confirmation for call %s: %s", sip_call_id, exc)
        return call


def do_finish_wrapup(
    session: Session, *, call: VoiceCall, user: User, resolve: bool = True
) -> VoiceCall:
    """The agent is done with the call's after-work: wrap-up time stops, the agent is available
    again, and the conversation is resolved (unless kept open for a follow-up)."""
    if call.agent_id != user.id:
        raise NotFound("this call is not yours")
    if call.state != "ended":
        raise Conflict("the call is still going on")
    if call.wrapup_ended_at is None:
        call.wrapup_ended_at = utcnow()
        if resolve:
            _end_conversation(session, call)
        state = presence.get_state(session, user.id)
        if state is not None and state.presence == presence.Presence.BUSY.value:
            presence.do_set_presence(
                session, user=user, presence=presence.Presence.AVAILABLE, cause="wrapup"
            )
        _changed(session, call)
    return call


def ha1(username: str, realm: str, password: str) -> str:
    """The SIP digest HA1 (RFC 2617): what Kamailio checks a REGISTER against."""
    return hashlib.md5(f"{username}:{realm}:{password}".encode()).hexdigest()  # noqa: S324


def do_generate_sip_account(session: Session, *, user: User) -> tuple[SipAccount, str]:
    """New SIP credentials for ``user`` (replacing any): the password is returned once, only
    its digest HA1 is kept."""
    if not user.is_active:
        raise InvalidInput("a deactivated user cannot have a phone", field="user_id")
    password = pysecrets.token_urlsafe(18)
    realm = sip_realm()
    account = session.get(SipAccount, user.id)
    username = f"u{user.id}"
    if account is None:
        account = SipAccount(user_id=user.id, username=username, realm=realm, ha1="")
        session.add(account)
    account.realm, account.ha1 = realm, ha1(username, realm, password)
    session.flush()
    return account, password


def do_start_outbound_call(
    session: Session,
    *,
    user: User,
    number: str,
    sip_call_id: str,
    conversation_id: int | None = None,
) -> VoiceCall:
    """A call the agent places from the softphone (click-to-call, a callback, a campaign): a
    call record in the given conversation, or in a new one of the customer with that number."""
    phone = normalize_phone(number)
    if conversation_id is not None:
        conversation = session.get(Conversation, conversation_id)
        if conversation is None:
            raise InvalidInput("unknown conversation", field="conversation_id")
    else:
        from sportello.customers import actions as customers_actions

        customer_id, _name = customers_actions.find_or_create_customer_id(
            session, kind="phone", value=phone
        )
        conversation = Conversation(
            number=conversations_actions.next_number(session),
            brand_id=session.scalar(select(Brand.id).order_by(Brand.id).limit(1)),
            customer_id=customer_id,
            status=Status.OPEN,
            subject=_stored(CALL_OUT_SUBJECT, number=phone),
            assignee_id=user.id,
        )
        session.add(conversation)
        session.flush()
    call = VoiceCall(
        brand_id=conversation.brand_id,
        channel_id=conversation.channel_id,
        conversation_id=conversation.id,
        customer_id=conversation.customer_id,
        queue_id=conversation.queue_id,
        agent_id=user.id,
        sip_call_id=sip_call_id.strip()[:255] or f"out-{pysecrets.token_hex(8)}",
        direction="outbound",
        caller=phone,
        state="ringing",
    )
    session.add(call)
    session.flush()
    _system_line(session, call, f"Outgoing call to {phone}", outcome=None, agent=user.name)
    _changed(session, call)
    return call


def do_set_announcement(
    session: Session, *, channel: Channel, kind: str, data: bytes, by: User | None = None
) -> media.AudioInfo:
    """An admin's own recording for a channel's greeting, music on hold or closed notice (WAV,
    checked); the generated default plays until there is one."""
    if channel.kind != "voice":
        raise NotFound("channel not found")
    info = media.save_announcement(channel.id, kind, data)
    kept = dict(channel.settings.get("announcements") or {})
    kept[kind] = {"seconds": info.seconds, "size": info.size, "at": utcnow().isoformat()}
    channel.settings = {**channel.settings, "announcements": kept}
    audit.record(
        session, "voice.announcement_set", target=channel, actor=by, kind=kind, seconds=info.seconds
    )
    session.flush()
    return info


def do_remove_announcement(
    session: Session, *, channel: Channel, kind: str, by: User | None = None
) -> None:
    """Back to the generated default."""
    if channel.kind != "voice":
        raise NotFound("channel not found")
    media.remove_announcement(channel.id, kind)
    kept = dict(channel.settings.get("announcements") or {})
    kept.pop(kind, None)
    channel.settings = {**channel.settings, "announcements": kept}
    audit.record(session, "voice.announcement_removed", target=channel, actor=by, kind=kind)
    session.flush()
