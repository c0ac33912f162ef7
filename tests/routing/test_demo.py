"""The routing demo loader: after the core demo, every routing setting has realistic data."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select

from sportello.accounts.models import Team
from sportello.core.db import utcnow
from sportello.core.outbox import OutboxEvent
from sportello.routing import demo as routing_demo
from sportello.routing import presence, sla
from sportello.routing.calendar import BusinessCalendar
from sportello.routing.models import (
    AgentSkill,
    BusinessCalendarRow,
    Queue,
    QueueRouting,
    QueueSkill,
    SlaPolicy,
    TeamRouting,
)
from tests.demo_snapshot import load_demo


def test_routing_demo_configures_every_setting(db):
    load_demo(db, seed=7)
    now = utcnow()
    routing_demo.load(db, now=now, seed=7)
    routing_demo.load(db, now=now, seed=7)  # a second run changes nothing
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(AgentSkill)) >= 12
        assert [r.name for r in presence.pause_reasons(s)] == sorted(routing_demo.PAUSE_REASONS)
        care = s.scalar(select(Queue).where(Queue.name == "Assistenza clienti"))
        routing = s.get(QueueRouting, care.id)
        assert (routing.mode, routing.offer_timeout_seconds) == ("push", 30)
        assert routing.overflow_after_seconds == 600
        assert s.scalar(select(QueueSkill.min_level).where(QueueSkill.queue_id == care.id)) == 2
        calendar_row = s.scalar(select(BusinessCalendarRow))
        calendar = BusinessCalendar.from_dict(calendar_row.config)
        assert calendar.is_open(datetime(2026, 12, 4, 10, 0, tzinfo=calendar.tz))  # a Friday
        assert not calendar.is_open(datetime(2026, 12, 5, 15, 0, tzinfo=calendar.tz))  # Sat pm
        assert not calendar.is_open(datetime(now.year, 8, 14, 10, 0, tzinfo=calendar.tz))
        assert calendar.holiday_name(datetime(2026, 12, 25).date()) == "Natale"
        for team in s.scalars(select(Team)):
            row = s.get(TeamRouting, team.id)
            assert row.calendar_id == calendar_row.id and row.capacity["voice"] == 1
        priorities = {p.priority for p in s.scalars(select(SlaPolicy))}
        assert {"urgent", "high", "normal", "low"} <= priorities
        assert sla.calendar_for(s, care.id) == calendar
        assert s.scalar(select(func.count()).select_from(OutboxEvent)) == 0
