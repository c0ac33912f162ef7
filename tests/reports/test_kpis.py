"""Every KPI against small hand-computed datasets, edge cases included: midnight, the DST changes
of Europe/Rome, reopened conversations, transfers, short abandons, later contacts (first-contact
resolution), deleted agents."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sportello.conversations.models import Status
from sportello.reports import kpis
from sportello.reports.kpis import RawConversation, RawMessage, ReportConfig

ROME = kpis.ROME
CFG = ReportConfig()


def rome(*args: int) -> datetime:
    return datetime(*args, tzinfo=ROME).astimezone(UTC)  # type: ignore[misc]


def conv(created: datetime, messages: list[tuple], **kw) -> RawConversation:
    """messages: (direction, author_id, time, meta)."""
    defaults = dict(
        id=1,
        brand_id=1,
        channel_id=3,
        queue_id=5,
        assignee_id=None,
        customer_id=9,
        status="open",
        created_at=created,
        resolved_at=None,
        closed_at=None,
    )
    defaults.update(kw)
    c = RawConversation(**defaults)
    c.messages = [RawMessage(d, a, t, m or {}) for d, a, t, m in messages]
    return c


def sums_of(*facts: kpis.Fact) -> dict[str, int]:
    total = kpis.empty_sums()
    for fact in facts:
        for *_key, measures in kpis.contribution(fact):
            kpis.add_into(total, measures)
    return total


def assign(at, who="Sara"):
    return ("system", None, at, {"event": "assign", "to": who})


def status_msg(at, a, b):
    return ("system", None, at, {"event": "status", "from": a, "to": b})


def test_a_conversation_spanning_midnight_counts_on_each_side():
    t0 = rome(2026, 6, 10, 23, 50)
    c = conv(
        t0,
        [
            ("inbound", None, t0, None),
            assign(t0 + timedelta(minutes=15)),
            ("outbound", 7, t0 + timedelta(minutes=16), None),
        ],
        status="resolved",
        assignee_id=7,
        resolved_at=t0 + timedelta(minutes=30),
    )
    fact = kpis.derive_fact(c, config=CFG)
    assert fact.wait_seconds == 900 and fact.frt_seconds == 960
    assert fact.agent_id == 7 and fact.resolver_id == 7
    parts = kpis.contribution(fact)
    days = [kpis.period_start(datetime.fromisoformat(p[0]), "day").date() for p in parts]
    assert [str(d) for d in days] == ["2026-06-10", "2026-06-11"]
    assert "offered" in parts[0][5] and "resolved" in parts[1][5]
    k = kpis.compute(sums_of(fact), ReportConfig(sl_seconds=900))
    assert k["service_level"] == 1.0 and k["asa"] == 900 and k["frt"] == 960
    assert kpis.compute(sums_of(fact), ReportConfig(sl_seconds=300))["service_level"] == 0.0
    assert k["resolution_time"] == 1800


@pytest.mark.parametrize(
    ("day", "buckets"),
    [((2026, 3, 29), 92), ((2026, 10, 25), 100), ((2026, 6, 10), 96)],
)
def test_a_rome_day_has_92_96_or_100_buckets_across_dst(day, buckets):
    start = rome(*day)
    end = rome(*(datetime(*day) + timedelta(days=1)).timetuple()[:3])
    count, at = 0, start
    while at < end:
        assert kpis.period_start(kpis.bucket_of(at), "day").date() == datetime(*day).date()
        count += 1
        at += kpis.BUCKET
    assert count == buckets
    # the bucket just before local midnight belongs to the day before
    before = kpis.period_start(kpis.bucket_of(start - timedelta(minutes=1)), "day")
    assert before.date() == (datetime(*day) - timedelta(days=1)).date()


def test_dst_night_conversations_fall_on_their_local_day_and_hour():
    # 29 March 2026: 01:50 CET and 03:10 CEST are 80 minutes apart in local clock terms, 20 real
    at1, at2 = rome(2026, 3, 29, 1, 50), rome(2026, 3, 29, 3, 10)
    assert at2 - at1 == timedelta(minutes=20)
    for at in (at1, at2):
        assert kpis.period_start(kpis.bucket_of(at), "day").date().isoformat() == "2026-03-29"
    assert kpis.period_start(kpis.bucket_of(at2), "60min").astimezone(ROME).hour == 3
    # 25 October 2026: 02:30 happens twice; both count on the 25th
    first = datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # 02:30 CEST
    second = datetime(2026, 10, 25, 1, 30, tzinfo=UTC)  # 02:30 CET
    assert first.astimezone(ROME).hour == second.astimezone(ROME).hour == 2
    for at in (first, second):
        assert kpis.period_start(kpis.bucket_of(at), "day").date().isoformat() == "2026-10-25"
    # the week starts on Monday 23 March, the month on 1 March
    assert kpis.period_start(kpis.bucket_of(at1), "week").date().isoformat() == "2026-03-23"
    assert kpis.period_start(kpis.bucket_of(at1), "month").date().isoformat() == "2026-03-01"


def test_short_abandons_under_each_treatment():
    t0 = rome(2026, 5, 4, 10, 0)
    short = conv(
        t0, [("inbound", None, t0, None)], status="closed", closed_at=t0 + timedelta(seconds=9)
    )
    edge = conv(
        t0, [("inbound", None, t0, None)], status="closed", closed_at=t0 + timedelta(seconds=10)
    )
    answered = conv(
        t0,
        [("inbound", None, t0, None), ("outbound", 7, t0 + timedelta(seconds=40), None)],
        status="resolved",
        assignee_id=7,
        resolved_at=t0 + timedelta(minutes=5),
    )
    facts = [kpis.derive_fact(c, config=CFG) for c in (short, edge, answered)]
    assert [f.short_abandon for f in facts] == [True, False, False]
    assert [f.abandoned for f in facts] == [True, True, False]
    s = sums_of(*facts)
    excl = kpis.compute(s, ReportConfig(sl_seconds=60, short_abandons="exclude"))
    assert excl["volume"] == 2 and excl["abandoned"] == 1
    assert excl["service_level"] == 1 / 2 and excl["abandonment_rate"] == 1 / 2
    incl = kpis.compute(s, ReportConfig(sl_seconds=60, short_abandons="include"))
    assert incl["volume"] == 3 and incl["abandoned"] == 2
    assert incl["service_level"] == 1 / 3 and incl["abandonment_rate"] == 2 / 3
    assert excl["asa"] == 40  # abandons never enter the speed of answer


def test_reopened_conversation_counts_once_when_resolved_again_and_is_no_fcr():
    t0 = rome(2026, 5, 4, 9, 0)
    c = conv(
        t0,
        [
            ("inbound", None, t0, None),
            ("outbound", 7, t0 + timedelta(minutes=2), None),
            status_msg(t0 + timedelta(minutes=3), "open", "resolved"),
            status_msg(t0 + timedelta(hours=2), "resolved", "open"),
            ("outbound", 7, t0 + timedelta(hours=2, minutes=4), None),
            status_msg(t0 + timedelta(hours=2, minutes=5), "open", "resolved"),
        ],
        status="resolved",
        assignee_id=7,
        resolved_at=t0 + timedelta(hours=2, minutes=5),
    )
    fact = kpis.derive_fact(c, config=CFG)
    assert fact.reopens == 1 and not fact.fcr
    s = sums_of(fact)
    assert s["resolved"] == 1 and s["reopened"] == 1 and s["fcr"] == 0
    assert s["resolution_sum"] == 2 * 3600 + 300
    k = kpis.compute(s, CFG)
    assert k["reopen_rate"] == 1.0 and k["fcr"] == 0.0


def test_transfers_handle_time_and_wrap_up():
    t0 = rome(2026, 5, 4, 10, 0)
    c = conv(
        t0,
        [
            ("inbound", None, t0, None),
            assign(t0 + timedelta(minutes=1), "Sara"),
            assign(t0 + timedelta(minutes=2), "Luca"),
            ("outbound", 8, t0 + timedelta(minutes=3), None),  # handle 180 s
            ("inbound", None, t0 + timedelta(minutes=10), None),
            ("note", 8, t0 + timedelta(minutes=12), None),  # notes are not replies
            ("outbound", 8, t0 + timedelta(minutes=30), None),  # 1200 s, capped at 600
            assign(t0 + timedelta(minutes=31), "Sara"),
            ("outbound", None, t0 + timedelta(minutes=31), {"automated": True}),
        ],
        status="resolved",
        assignee_id=7,
        resolved_at=t0 + timedelta(minutes=32),
    )
    fact = kpis.derive_fact(c, config=CFG)
    assert fact.transfers == 2
    assert fact.wait_seconds == 60  # the first assignment answers it
    assert fact.frt_seconds == 180
    assert fact.agent_id == 8  # who replied first
    assert fact.resolver_id == 7  # the assignee at resolution
    assert fact.handle_seconds == 180 + 600
    assert fact.wrap_seconds == 120
    assert fact.messages_in == 2 and fact.messages_out == 3
    s = sums_of(fact)
    k = kpis.compute(s, CFG)
    assert k["aht"] == 900 and k["transfers"] == 2 and k["transfer_rate"] == 2.0
    parts = kpis.contribution(fact)
    assert parts[0][4] == 8 and parts[1][4] == 7


def test_first_contact_resolution_looks_n_days_ahead_on_every_channel():
    t0 = rome(2026, 5, 4, 10, 0)
    base = dict(status="resolved", assignee_id=7, resolved_at=t0 + timedelta(hours=1))
    msgs = [("inbound", None, t0, None), ("outbound", 7, t0 + timedelta(minutes=5), None)]
    c = conv(t0, msgs, **base)
    within = t0 + timedelta(hours=1, days=6, minutes=59)
    after = t0 + timedelta(hours=1, days=7, minutes=1)
    assert not kpis.derive_fact(c, config=CFG, later_contacts=[t0, within]).fcr
    assert kpis.derive_fact(c, config=CFG, later_contacts=[t0, after]).fcr
    assert kpis.derive_fact(c, config=ReportConfig(fcr_days=8), later_contacts=[after]).fcr is False
    # a contact started while this one was open counts as a repeat too
    assert not kpis.derive_fact(c, config=CFG, later_contacts=[t0 + timedelta(minutes=30)]).fcr


def test_a_deleted_agents_conversation_has_no_agent_but_keeps_its_counts():
    t0 = rome(2026, 5, 4, 10, 0)
    c = conv(
        t0,
        [
            assign(t0 + timedelta(minutes=1)),
            ("inbound", None, t0, None),
            ("outbound", None, t0 + timedelta(minutes=2), None),
        ],
        status="resolved",
        assignee_id=None,  # the user row is gone: SET NULL
        resolved_at=t0 + timedelta(minutes=3),
    )
    fact = kpis.derive_fact(c, config=CFG)
    assert fact.agent_id == 0 and fact.resolver_id == 0
    s = sums_of(fact)
    assert s["answered"] == 1 and s["resolved"] == 1 and s["handled"] == 0


def test_occupancy_from_presence_changes():
    start = datetime(2026, 5, 4, 8, 0, tzinfo=UTC)
    end = start + timedelta(hours=8)
    log = [
        (start + timedelta(hours=1), "available"),
        (start + timedelta(hours=3), "break"),
        (start + timedelta(hours=3, minutes=30), "busy"),
        (start + timedelta(hours=5), "offline"),
    ]
    seconds = kpis.presence_seconds(log, start=start, end=end, before="offline")
    assert seconds == 2 * 3600 + 1.5 * 3600
    assert kpis.presence_seconds([], start=start, end=end, before="available") == 8 * 3600
    assert kpis.occupancy(1800, seconds) == 1800 / seconds
    assert kpis.occupancy(10, 0) is None


def test_nps_csat_ces_from_answers():
    s = kpis.empty_sums()
    for kind, score in [
        ("nps", 10),
        ("nps", 9),
        ("nps", 8),
        ("nps", 6),
        ("nps", 0),
        ("csat", 4),
        ("csat", 3),
        ("ces", 2),
        ("ces", 5),
    ]:
        kpis.add_into(s, kpis.survey_contribution(kind, score))
    k = kpis.compute(s, CFG)
    assert k["nps"] == 100 * (2 - 2) / 5
    assert k["csat"] == 0.5 and k["csat_avg"] == 3.5
    assert k["ces"] == 3.5
    with pytest.raises(ValueError):
        kpis.survey_contribution("mood", 3)


def test_sla_compliance():
    t0 = rome(2026, 5, 4, 10, 0)
    c = conv(t0, [("inbound", None, t0, None)], sla=[True, False])
    c.sla = [True, False]
    fact = kpis.derive_fact(c, config=CFG)
    assert kpis.compute(sums_of(fact), CFG)["sla_compliance"] == 0.5


def test_the_docs_carry_each_definition_word_for_word():
    docs = (Path(__file__).resolve().parents[2] / "docs" / "kpis.md").read_text(encoding="utf-8")
    flat = " ".join(docs.split())
    for kpi in kpis.KPIS:
        assert kpi.definition in flat, kpi.key


def test_report_by_day_over_the_dst_change_from_the_database(db, personas):
    from tests.reports.world import contact, refresh_all, reply, report_for, retime, status

    ch = personas.api_channel
    times = [
        rome(2026, 3, 28, 23, 50),
        rome(2026, 3, 29, 1, 50),
        rome(2026, 3, 29, 3, 10),
        rome(2026, 3, 29, 23, 59),
    ]
    for i, at in enumerate(times):
        cid = contact(db, ch, f"cliente{i}@example.it")
        reply(db, cid, personas.sara)
        status(db, cid, Status.RESOLVED)
        retime(
            db,
            cid,
            [at, at + timedelta(seconds=30), at + timedelta(minutes=20)],
            created_at=at,
            resolved_at=at + timedelta(minutes=20),
        )
    refresh_all(db)
    rep = report_for(db, personas.admin, start="2026-03-28", end="2026-03-30", interval="day")
    by_day = {r.period.date().isoformat(): r.sums for r in rep.rows}
    assert by_day["2026-03-28"]["offered"] == 1
    assert by_day["2026-03-29"]["offered"] == 3
    # the 23:59 conversation is resolved at 00:19 on the 30th
    assert by_day["2026-03-28"]["resolved"] == 0
    assert by_day["2026-03-29"]["resolved"] == 3 and by_day["2026-03-30"]["resolved"] == 1
    assert rep.totals.kpis["asa"] == 30 and rep.totals.kpis["service_level"] == 1.0
