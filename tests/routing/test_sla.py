"""SLA policies and clocks in business hours: start, pause while pending, warn, breach, escalate."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from sportello.accounts.models import User
from sportello.conversations import actions as conversations_actions
from sportello.conversations.models import Conversation, Priority, Status
from sportello.core.db import utcnow
from sportello.core.dispatcher import Dispatcher
from sportello.core.errors import InvalidInput
from sportello.core.outbox import OutboxEvent
from sportello.routing import actions as routing_actions
from sportello.routing import sla
from sportello.routing.models import Queue, SlaClockRow
from tests.routing.world import add_channel, new_conversation

OFFICE = {
    "tz": "Europe/Rome",
    "weekly": {
        d: [["09:00", "13:00"], ["14:00", "18:00"]] for d in ("mon", "tue", "wed", "thu", "fri")
    },
    "subdiv": "MI",
    "closures": [],
}


@pytest.fixture
def chat(db, personas):
    with db.transaction() as s:
        queue = s.get_one(Queue, personas.queue_assistenza.id)
        return add_channel(s, brand_id=personas.brand_id, kind="chat", queue=queue).id


def drain(db):
    Dispatcher(db, name="test").drain()


def clocks(db, cid):
    with db.session() as s:
        return {
            r.kind: r
            for r in s.scalars(select(SlaClockRow).where(SlaClockRow.conversation_id == cid))
        }


def test_bad_calendars_and_targets_are_refused(db, personas):
    with db.transaction() as s:
        with pytest.raises(InvalidInput, match="overlap"):
            sla.do_create_calendar(
                s,
                brand_id=personas.brand_id,
                name="Storto",
                config={"weekly": {"mon": [["09:00", "13:00"], ["12:00", "18:00"]]}},
            )
        with pytest.raises(InvalidInput, match="no open hours"):
            sla.do_create_calendar(
                s, brand_id=personas.brand_id, name="Vuoto", config={"weekly": {}}
            )
        with pytest.raises(InvalidInput, match="positive"):
            sla.do_create_sla_policy(
                s, brand_id=personas.brand_id, name="Zero", first_response_seconds=0
            )
        with pytest.raises(InvalidInput):
            sla.do_create_sla_policy(s, brand_id=personas.brand_id, name="Nulla")
        with pytest.raises(InvalidInput):
            sla.do_create_sla_policy(
                s,
                brand_id=personas.brand_id,
                name="Frazione",
                resolution_seconds=60,
                warning_fraction=1.5,
            )


def test_most_specific_policy_wins(db, personas, chat):
    with db.transaction() as s:
        sla.do_create_sla_policy(
            s, brand_id=personas.brand_id, name="Base", first_response_seconds=3600
        )
        queue_policy = sla.do_create_sla_policy(
            s,
            brand_id=personas.brand_id,
            name="Assistenza",
            queue_id=personas.queue_assistenza.id,
            first_response_seconds=600,
        )
    cid = new_conversation(db, chat)
    drain(db)
    first = clocks(db, cid)["first_response"]
    assert first.policy_id == queue_policy.id
    assert first.state["target_seconds"] == 600


def test_clock_runs_in_business_hours_and_pauses_while_pending(db, personas, chat):
    with db.transaction() as s:
        cal = sla.do_create_calendar(s, brand_id=personas.brand_id, name="Ufficio", config=OFFICE)
        routing_actions.do_set_queue_routing(
            s, queue=s.get_one(Queue, personas.queue_assistenza.id), calendar_id=cal.id
        )
        sla.do_create_sla_policy(
            s,
            brand_id=personas.brand_id,
            name="Chat",
            first_response_seconds=2 * 3600,
            resolution_seconds=8 * 3600,
        )
    cid = new_conversation(db, chat)
    # Created on Friday 24 April 2026 at 17:00 Rome time (15:00 UTC): Saturday 25 April is
    # Liberation Day and a Saturday anyway; Monday 27 at 09:00 the clock runs on.
    created = datetime(2026, 4, 24, 15, 0, tzinfo=UTC)
    with db.transaction() as s:
        conv = s.get_one(Conversation, cid)
        conv.created_at = created
        conv.updated_at = created
    drain(db)
    first = clocks(db, cid)["first_response"]
    # 1 hour on Friday, 1 more on Monday from 09:00 Rome (07:00 UTC): due at 08:00 UTC.
    assert first.due_at == datetime(2026, 4, 27, 8, 0, tzinfo=UTC)

    # Pending on the customer on Monday 09:30-10:30 Rome: the resolution clock pauses.
    with db.transaction() as s:
        conv = s.get_one(Conversation, cid)
        conversations_actions.do_change_status(s, conversation=conv, status=Status.PENDING, by=None)
        conv.updated_at = datetime(2026, 4, 27, 7, 30, tzinfo=UTC)
    drain(db)
    resolution = clocks(db, cid)["resolution"]
    assert resolution.due_at is None and resolution.state["paused_at"] is not None
    with db.transaction() as s:
        conv = s.get_one(Conversation, cid)
        conversations_actions.do_change_status(s, conversation=conv, status=Status.OPEN, by=None)
        conv.updated_at = datetime(2026, 4, 27, 8, 30, tzinfo=UTC)
    drain(db)
    resolution = clocks(db, cid)["resolution"]
    # 8 h target: 1 h Friday + Monday 09:00-09:30 Rome before the pause, 6.5 h left from 10:30
    # Rome: 10:30-13:00 (2.5 h) + 14:00-18:00 (4 h) = due at 18:00 Rome (16:00 UTC), one hour
    # later than without the pause.
    assert resolution.due_at == datetime(2026, 4, 27, 16, 0, tzinfo=UTC)


def test_first_reply_stops_the_first_response_clock(db, personas, chat):
    with db.transaction() as s:
        sla.do_create_sla_policy(
            s, brand_id=personas.brand_id, name="Chat", first_response_seconds=3600
        )
    cid = new_conversation(db, chat)
    drain(db)
    with db.transaction() as s:
        conversations_actions.do_send_reply(
            s,
            conversation=s.get_one(Conversation, cid),
            author=s.get_one(User, personas.sara.id),
            text="Buongiorno, controllo subito.",
        )
    drain(db)
    first = clocks(db, cid)["first_response"]
    assert first.stopped_at is not None and first.met is True


def test_warning_then_breach_escalates(db, personas, chat):
    with db.transaction() as s:
        sla.do_create_sla_policy(
            s,
            brand_id=personas.brand_id,
            name="Veloce",
            first_response_seconds=600,
            escalate_queue_id=personas.queue_vendite.id,
        )
    cid = new_conversation(db, chat)
    drain(db)
    start = clocks(db, cid)["first_response"].state["started_at"]
    started = datetime.fromisoformat(start)
    with db.transaction() as s:
        assert (
            sla.check_clock(
                s, conversation_id=cid, kind="first_response", now=started + timedelta(minutes=5)
            )
            == "ok"
        )
    with db.transaction() as s:
        assert (
            sla.check_clock(
                s, conversation_id=cid, kind="first_response", now=started + timedelta(minutes=9)
            )
            == "warning"
        )
    with db.transaction() as s:
        assert (
            sla.check_clock(
                s, conversation_id=cid, kind="first_response", now=started + timedelta(minutes=11)
            )
            == "breached"
        )
    with db.transaction() as s:  # once only
        sla.check_clock(
            s, conversation_id=cid, kind="first_response", now=started + timedelta(minutes=12)
        )
    with db.session() as s:
        conv = s.get_one(Conversation, cid)
        assert conv.priority == Priority.HIGH
        assert conv.queue_id == personas.queue_vendite.id
        names = [e.name for e in s.scalars(select(OutboxEvent).order_by(OutboxEvent.id))]
        assert names.count("sla.warning") == 1 and names.count("sla.breached") == 1
        status = sla.status_for(s, [cid], now=started + timedelta(minutes=12))
        assert status[cid]["state"] == "breached"


def test_the_sweep_catches_due_clocks(db, personas, chat):
    with db.transaction() as s:
        sla.do_create_sla_policy(
            s, brand_id=personas.brand_id, name="Veloce", resolution_seconds=60
        )
    cid = new_conversation(db, chat)
    drain(db)
    assert sla.sweep(db, now=utcnow() + timedelta(minutes=2)) == 1
    assert clocks(db, cid)["resolution"].breached_at is not None


def test_resolution_stops_and_reopening_resumes(db, personas, chat):
    with db.transaction() as s:
        sla.do_create_sla_policy(
            s, brand_id=personas.brand_id, name="Chat", resolution_seconds=3600
        )
    cid = new_conversation(db, chat)
    drain(db)
    with db.transaction() as s:
        conversations_actions.do_change_status(
            s, conversation=s.get_one(Conversation, cid), status=Status.RESOLVED, by=None
        )
    drain(db)
    row = clocks(db, cid)["resolution"]
    assert row.stopped_at is not None and row.met is True
    with db.transaction() as s:
        conversations_actions.do_change_status(
            s, conversation=s.get_one(Conversation, cid), status=Status.OPEN, by=None
        )
    drain(db)
    row = clocks(db, cid)["resolution"]
    assert row.stopped_at is None and row.due_at is not None
