"""Reads for the voice channel: the channel of a number, calls, screen pops, live counts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sportello.channels.models import Channel
from sportello.channels.voice.adapter import KIND
from sportello.channels.voice.models import SipAccount, VoiceCall
from sportello.conversations.models import Conversation
from sportello.customers.models import Customer
from sportello.routing.calendar import BusinessCalendar
from sportello.routing.models import BusinessCalendarRow, QueueRouting

LIVE_STATES = ("queued", "ringing", "talking", "held")


def channel_for_did(session: Session, did: str) -> Channel | None:
    """The active voice channel that answers ``did`` (compared on digits, so ``+39...``,
    ``0039...`` and ``39...`` find the same number)."""
    wanted = _digits(did)
    if not wanted:
        return None
    for channel in session.scalars(
        select(Channel).where(Channel.kind == KIND, Channel.is_active.is_(True))
    ):
        for number in channel.settings.get("dids") or []:
            if _digits(number) == wanted:
                return channel
    return None


def _digits(number: str) -> str:
    digits = "".join(ch for ch in number if ch.isdigit())
    return digits[2:] if digits.startswith("00") else digits


def queue_open(session: Session, queue_id: int | None, at: datetime) -> bool:
    """Whether the queue's business calendar is open at ``at`` (no calendar: always open)."""
    if queue_id is None:
        return True
    routing = session.get(QueueRouting, queue_id)
    if routing is None or routing.calendar_id is None:
        return True
    row = session.get(BusinessCalendarRow, routing.calendar_id)
    if row is None:
        return True
    return BusinessCalendar.from_dict(row.config).is_open(at)


def call_by_sip_id(session: Session, sip_call_id: str) -> VoiceCall | None:
    return session.scalar(select(VoiceCall).where(VoiceCall.sip_call_id == sip_call_id))


def account_by_username(session: Session, username: str) -> SipAccount | None:
    return session.scalar(select(SipAccount).where(SipAccount.username == username))


def calls_of_conversation(session: Session, conversation_id: int) -> list[VoiceCall]:
    return list(
        session.scalars(
            select(VoiceCall)
            .where(VoiceCall.conversation_id == conversation_id)
            .order_by(VoiceCall.started_at)
        )
    )


def recent_calls(
    session: Session, *, limit: int = 50, before_id: int | None = None
) -> list[VoiceCall]:
    query = select(VoiceCall).order_by(VoiceCall.id.desc()).limit(limit)
    if before_id is not None:
        query = query.where(VoiceCall.id < before_id)
    return list(session.scalars(query))


@dataclass(frozen=True)
class ScreenPop:
    call: VoiceCall
    customer: Customer | None
    conversation: Conversation | None
    history: list[Conversation]


def screen_pop(session: Session, call: VoiceCall) -> ScreenPop:
    customer = session.get(Customer, call.customer_id) if call.customer_id else None
    conversation = session.get(Conversation, call.conversation_id) if call.conversation_id else None
    history: list[Conversation] = []
    if customer is not None:
        history = list(
            session.scalars(
                select(Conversation)
                .where(
                    Conversation.customer_id == customer.id,
                    Conversation.id != (call.conversation_id or 0),
                )
                .order_by(Conversation.last_message_at.desc())
                .limit(5)
            )
        )
    return ScreenPop(call, customer, conversation, history)


def live_calls(session: Session, limit: int = 50) -> list[VoiceCall]:
    return list(
        session.scalars(
            select(VoiceCall)
            .where(VoiceCall.state.in_(LIVE_STATES))
            .order_by(VoiceCall.started_at)
            .limit(limit)
        )
    )


def live_counts(session: Session) -> dict[str, int]:
    """Calls now waiting (queued or ringing) and talking (talking or held)."""
    rows = session.execute(
        select(VoiceCall.state, func.count())
        .where(VoiceCall.state.in_(LIVE_STATES))
        .group_by(VoiceCall.state)
    ).all()
    counts = {state: int(n) for state, n in rows}
    return {
        "waiting": counts.get("queued", 0) + counts.get("ringing", 0),
        "talking": counts.get("talking", 0) + counts.get("held", 0),
    }


def seconds(start: datetime | None, end: datetime | None) -> int | None:
    if start is None or end is None:
        return None
    return max(0, int((end - start).total_seconds()))


def wait_seconds(call: VoiceCall) -> int | None:
    return seconds(call.started_at, call.answered_at or call.ended_at)


def talk_seconds(call: VoiceCall) -> int | None:
    talk = seconds(call.answered_at, call.ended_at)
    return None if talk is None else max(0, talk - call.hold_seconds)


def wrapup_seconds(call: VoiceCall) -> int | None:
    return seconds(call.ended_at, call.wrapup_ended_at)
