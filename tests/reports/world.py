"""Building conversations for report tests through the real actions, then (where a test needs
exact times) moving their rows to hand-chosen instants, as the demo loader redates history."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from sportello.accounts.models import User
from sportello.channels.models import Channel
from sportello.conversations import actions as conv_actions
from sportello.conversations.models import Conversation, Message, Status
from sportello.core.db import Database
from sportello.core.dispatcher import Dispatcher
from sportello.reports import actions, service
from sportello.reports.models import ReportInterval
from tests.factories import inbound, receive


def drain(db: Database) -> None:
    Dispatcher(db, name="reports-test").drain()


def contact(db: Database, channel: Channel, email: str, text: str = "Buongiorno") -> int:
    return receive(db, channel, inbound(text, email=email)).conversation_id


def reply(db: Database, conversation_id: int, agent: User, text: str = "Eccomi") -> None:
    with db.transaction() as s:
        conv = s.get_one(Conversation, conversation_id)
        conv_actions.do_send_reply(
            s, conversation=conv, author=s.get_one(User, agent.id), text=text
        )


def assign(db: Database, conversation_id: int, agent: User | None) -> None:
    with db.transaction() as s:
        conv = s.get_one(Conversation, conversation_id)
        who = s.get_one(User, agent.id) if agent else None
        conv_actions.do_assign(s, conversation=conv, assignee=who, by=None)


def status(db: Database, conversation_id: int, value: Status) -> None:
    with db.transaction() as s:
        conv = s.get_one(Conversation, conversation_id)
        conv_actions.do_change_status(s, conversation=conv, status=value, by=None)


def retime(db: Database, conversation_id: int, times: list[datetime], **conv: Any) -> None:
    """Give the conversation's messages these times, in order (system messages included), and
    set the conversation's columns given (created_at, resolved_at, ...)."""
    with db.transaction() as s:
        ids = list(
            s.scalars(
                select(Message.id)
                .where(Message.conversation_id == conversation_id)
                .order_by(Message.id)
            )
        )
        assert len(ids) == len(times), (len(ids), len(times))
        for mid, at in zip(ids, times, strict=True):
            s.execute(update(Message).where(Message.id == mid).values(created_at=at))
        if conv:
            s.execute(update(Conversation).where(Conversation.id == conversation_id).values(**conv))


def totals(db: Database) -> dict[str, int]:
    from sqlalchemy import func

    from sportello.reports.models import INTERVAL_MEASURES

    with db.session() as s:
        row = s.execute(
            select(
                *[func.coalesce(func.sum(getattr(ReportInterval, n)), 0) for n in INTERVAL_MEASURES]
            )
        ).one()
        return dict(zip(INTERVAL_MEASURES, (int(v) for v in row), strict=True))


def interval_rows(db: Database) -> set[tuple[Any, ...]]:
    from sportello.reports.models import INTERVAL_MEASURES

    with db.session() as s:
        out = set()
        for r in s.scalars(select(ReportInterval)):
            values = tuple(getattr(r, n) for n in INTERVAL_MEASURES)
            if any(values):
                out.add((r.bucket_at, r.brand_id, r.channel_id, r.queue_id, r.agent_id, values))
        return out


def refresh_all(db: Database) -> None:
    with db.transaction() as s:
        ids = list(s.scalars(select(Conversation.id)))
        actions.do_refresh_conversations(s, conversation_ids=ids)


def report_for(db: Database, user: User, **filters: str) -> service.Report:
    with db.session() as s:
        me = s.get_one(User, user.id)
        return service.report(s, me, service.parse_filters(filters))
