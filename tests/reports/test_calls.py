"""Phone calls in the KPIs, as an ACD report counts them (QueueMetrics): calls driven through the
voice channel's own actions (Kamailio's questions and events, at hand-chosen instants), then the
interval sums and the report by queue and 15-minute interval checked against hand counts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from sportello.accounts.models import User
from sportello.channels.voice import actions as voice
from sportello.channels.voice.models import VoiceCall
from sportello.core.db import Database
from sportello.reports import kpis
from sportello.reports.models import ReportInterval
from sportello.routing import presence
from tests.reports.world import drain, report_for

DID = "+390212345678"
T0 = datetime(2026, 11, 18, 9, 14, 50, tzinfo=UTC)  # a Wednesday, 10:14:50 in Rome


def _phone_channel(client: TestClient, db: Database, p: Any) -> int:
    from tests.channels.voice.test_admin_api import _voice_channel

    return int(_voice_channel(client, db, p)["id"])


def _ring(db: Database, call_id: str, caller: str, at: datetime) -> voice.RouteAnswer:
    return voice.route_call(db, sip_call_id=call_id, caller=caller, did=DID, now=at)


def _event(db: Database, call_id: str, event: str, at: datetime, by: str = "") -> None:
    with db.transaction() as s:
        voice.do_call_event(s, sip_call_id=call_id, event=event, by=by, now=at)


def test_calls_feed_asa_abandonment_and_service_level_by_queue_and_interval(
    client: TestClient, db: Database, personas: Any
) -> None:
    channel_id = _phone_channel(client, db, personas)
    queue_id = personas.queue_assistenza.id
    with db.transaction() as s:
        sara = s.get_one(User, personas.sara.id)
        voice.do_generate_sip_account(s, user=sara)
        presence.do_set_presence(s, user=sara, presence="available")
    # A: rings at 10:14:50, Sara picks up at 10:15:08 (18 s, across the 10:15 boundary).
    first = _ring(db, "a@trunk", "3331111111", T0)
    assert first.action == "dial", first
    _event(db, "a@trunk", "answered", T0 + timedelta(seconds=18))
    # B: at 10:16:00 nobody is free (Sara is talking); the caller hangs up after 3 s: a short
    # abandon (the channel's threshold is 5 s).
    assert _ring(db, "b@trunk", "3332222222", T0 + timedelta(seconds=70)).action == "wait"
    _event(db, "b@trunk", "abandoned", T0 + timedelta(seconds=73))
    # C: at 10:17:00, hangs up after a minute: an abandon.
    assert _ring(db, "c@trunk", "3333333333", T0 + timedelta(seconds=130)).action == "wait"
    _event(db, "c@trunk", "hangup", T0 + timedelta(seconds=190))
    _event(db, "a@trunk", "hangup", T0 + timedelta(minutes=6), by="callee")
    drain(db)
    with db.session() as s:
        outcomes = {r[0]: r[1] for r in s.execute(select(VoiceCall.sip_call_id, VoiceCall.outcome))}
        assert outcomes == {
            "a@trunk": "answered",
            "b@trunk": "short_abandon",
            "c@trunk": "abandoned",
        }
        rows = {
            (r.bucket_at.replace(tzinfo=UTC), r.agent_id): r
            for r in s.scalars(
                select(ReportInterval).where(ReportInterval.channel_id == channel_id)
            )
            if r.offered
        }
    at_10_00 = T0.replace(minute=0, second=0)
    at_10_15 = T0.replace(minute=15, second=0)
    # A counts where it rang (10:00-10:15), with Sara, waited 18 s: within 30 s, not 15.
    a = rows[(at_10_00, personas.sara.id)]
    assert (a.offered, a.answered, a.wait_sum) == (1, 1, 18)
    assert (a.answered_le_15, a.answered_le_30, a.abandoned) == (0, 1, 0)
    # B and C rang in 10:15-10:30, nobody answered.
    bc = rows[(at_10_15, 0)]
    assert (bc.offered, bc.answered, bc.abandoned, bc.abandoned_short) == (2, 0, 2, 1)
    assert bc.abandon_wait_sum == 3 + 60
    assert set(rows) == {(at_10_00, personas.sara.id), (at_10_15, 0)}

    # The report by queue and 15-minute interval, phone channel only (short abandons excluded
    # by default: B is neither offered nor abandoned for the rates).
    day = T0.date().isoformat()
    rep = report_for(
        db,
        personas.admin,
        start=day,
        end=day,
        interval="15min",
        group="queue",
        channel_id=str(channel_id),
        sl_seconds="30",
    )
    by_period = {r.period.astimezone(UTC): r.kpis for r in rep.rows if r.key == queue_id}
    assert by_period[at_10_00]["asa"] == 18
    assert by_period[at_10_00]["service_level"] == 1.0
    assert by_period[at_10_15]["volume"] == 1  # C only
    assert by_period[at_10_15]["abandonment_rate"] == 1.0
    assert by_period[at_10_15]["service_level"] == 0.0
    t = rep.totals.kpis
    assert (t["volume"], t["answered"], t["abandoned"]) == (2, 1, 1)
    assert (t["asa"], t["abandonment_rate"], t["service_level"]) == (18, 0.5, 0.5)


def _call_fact(outcome: str | None, *, answered: int | None, ended: int | None) -> kpis.Fact:
    start = T0
    conv = kpis.RawConversation(
        id=1,
        brand_id=1,
        channel_id=7,
        queue_id=3,
        assignee_id=None,
        customer_id=9,
        status="new",
        created_at=start,
        resolved_at=None,
        closed_at=None,
        messages=[kpis.RawMessage("inbound", None, start, {"call": True})],
        call=kpis.RawCall(
            started_at=start,
            answered_at=start + timedelta(seconds=answered) if answered is not None else None,
            ended_at=start + timedelta(seconds=ended) if ended is not None else None,
            outcome=outcome,
            agent_id=5 if answered is not None else None,
        ),
    )
    return kpis.derive_fact(conv, config=kpis.ReportConfig())


def test_call_outcomes_hand_counted() -> None:
    # Closed out of hours: never queued, not offered (nothing in the contact's interval).
    closed = kpis.contribution(_call_fact("closed", answered=None, ended=0))
    assert closed[0][5] == {"messages_in": 1}
    # A callback booked after the longest wait: offered, neither answered nor abandoned.
    callback = kpis.contribution(_call_fact("callback", answered=None, ended=120))
    assert callback[0][5] == {"offered": 1, "messages_in": 1}
    # Abandoned after 8 s: above the report's 10 s default? No: below, so also short.
    abandon = kpis.contribution(_call_fact("abandoned", answered=None, ended=8))
    assert abandon[0][5] == {
        "offered": 1,
        "abandoned": 1,
        "abandoned_short": 1,
        "abandon_wait_sum": 8,
        "messages_in": 1,
    }
    # Still queued: offered, waiting.
    assert kpis.contribution(_call_fact(None, answered=None, ended=None))[0][5] == {
        "offered": 1,
        "messages_in": 1,
    }
    # Answered after 16 s by agent 5.
    answered = kpis.contribution(_call_fact("answered", answered=16, ended=200))
    bucket, _brand, _channel, _queue, agent, measures = answered[0]
    assert (bucket, agent) == (kpis.bucket_of(T0).isoformat(), 5)
    assert measures["answered"] == 1 and measures["wait_sum"] == 16
    assert "answered_le_15" not in measures and measures["answered_le_30"] == 1
