"""Forecast on synthetic seasonality, staffing per channel, schedule feasibility, adherence,
the demo loader."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from sqlalchemy import select

from sportello.core.errors import Conflict, InvalidInput
from sportello.routing import presence as presence_actions
from sportello.workforce import actions, scheduler, service, staffing
from sportello.workforce import forecast as forecasting
from sportello.workforce.models import Shift
from tests.workforce.world import history_on_webform

TZ = ZoneInfo("Europe/Rome")
WEEK = np.array([1.0, 0.9, 0.85, 0.85, 0.95, 0.5, 0.2])


def synthetic(days: int = 84, seed: int = 1, *, holiday_factor: float = 0.1):
    """Contacts with a known weekly and daily shape (peak at 13:00 local), Italian holidays
    at a tenth of the normal volume; handle time 240 s."""
    start = datetime(2026, 9, 14, tzinfo=TZ).astimezone(UTC)  # a Monday
    n = days * 96
    starts = forecasting.interval_starts(start, n, 15)
    hol = forecasting.default_holidays([s.astimezone(TZ).date() for s in starts])
    lam = np.zeros(n)
    for i, s in enumerate(starts):
        local = s.astimezone(TZ)
        hour = local.hour + local.minute / 60
        day_shape = max(0.0, np.sin((hour - 7) / 12 * np.pi)) if 7 <= hour < 19 else 0.0
        lam[i] = 30 * WEEK[local.weekday()] * day_shape
        if local.date() in hol:
            lam[i] *= holiday_factor
    rng = np.random.default_rng(seed)
    y = rng.poisson(lam).astype(float)
    return forecasting.Series(start, 15, y, y * 240.0, TZ), lam


def test_forecast_recovers_weekly_and_daily_seasonality() -> None:
    series, lam = synthetic()
    fc = forecasting.forecast(series, horizon_days=14)
    assert fc.contacts.size == 14 * 96
    assert fc.start.astimezone(TZ).date() == date(2026, 12, 7)
    daily = fc.contacts.reshape(14, 96).sum(axis=1)
    # the true daily totals (the first history week, a Monday, had no holiday)
    expected = np.array([lam.reshape(-1, 96)[i % 7].sum() for i in range(14)])
    ordinary = [0, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]
    assert np.all(np.abs(daily[ordinary] - expected[ordinary]) / expected[ordinary] < 0.12)
    # 8 December (Immacolata) is a holiday: far below an ordinary Tuesday
    assert daily[1] < 0.4 * daily[8]
    # daily shape: the peak is around 13:00, nothing at night
    day0 = fc.contacts[:96]
    assert 11 * 4 <= int(np.argmax(day0)) <= 15 * 4
    assert day0[: 6 * 4].sum() < 0.5
    assert fc.aht_seconds[52] == pytest.approx(240.0, rel=0.01)
    # back-test shown per horizon week for every model; the chosen one is the best
    assert set(fc.backtest) == set(forecasting.MODELS)
    best = min(fc.backtest, key=lambda m: np.mean([v["wape"] for v in fc.backtest[m].values()]))
    assert fc.model == best
    assert fc.backtest[fc.model]["week 1"]["wape"] < 0.3
    assert fc.backtest[fc.model]["week 1"]["mape"] < 0.15


def test_holt_winters_wins_on_a_trend() -> None:
    series, _ = synthetic(days=98)
    ramp = np.linspace(1.0, 2.5, series.contacts.size)
    series.contacts = np.round(series.contacts * ramp)
    series.handle_seconds = series.contacts * 240.0
    fc = forecasting.forecast(series, horizon_days=7)
    assert fc.model in ("holt_winters", "regression")  # the naive week-ago lags the trend
    naive, chosen = fc.backtest["seasonal_naive"], fc.backtest[fc.model]
    assert naive["week 2"]["mape"] > chosen["week 2"]["mape"]  # daily totals: the lag shows


class _Plan:
    service_level_target = 0.8
    answer_within_seconds = 20
    target_asa_seconds = None
    patience_seconds: int | None = None
    shrinkage = 0.25
    max_occupancy = 0.9
    concurrency = 1
    backlog_sla_seconds: int | None = 3600


def test_staffing_by_channel() -> None:
    contacts = np.array([0.0, 40, 80, 40, 0, 0, 0, 0])
    aht = np.full(8, 300.0)
    voice = staffing.required_staff(
        contacts=contacts, aht=aht, interval_seconds=900, channel_class="voice", plan=_Plan()
    )
    assert voice.model == "erlang_c"
    assert list(voice.productive[[0, 4]]) == [0, 0]
    assert voice.productive[2] > voice.productive[1] >= 14  # 13.3 Erlangs
    assert np.all(voice.scheduled >= np.ceil(voice.productive / 0.75 - 1e-9))
    # backlog: 12,000 s of work in interval 2 spread over the hour-long SLA window (4 intervals)
    email = staffing.required_staff(
        contacts=contacts, aht=aht, interval_seconds=900, channel_class="email", plan=_Plan()
    )
    need = (np.convolve(contacts * 300, np.ones(4))[:8] / 3600) / 0.9
    assert email.productive == pytest.approx(need)  # fractional: agent-equivalents
    assert email.scheduled == pytest.approx(need / 0.75)
    assert email.productive[6] > 0 and email.productive[7] == 0  # work still being cleared
    sl = staffing.service_level_with(
        contacts=contacts * 1.3, aht=aht, interval_seconds=900, channel_class="voice",
        plan=_Plan(), scheduled_agents=voice.scheduled.astype(float),
    )  # fmt: skip
    assert sl[2] < voice.service_level[2]  # what-if +30%: service level drops
    # backlog: 1.5 agents' worth of work at 9:00 with one agent from 9:00, SLA one hour
    work = np.zeros(8)
    work[0] = 5400.0  # 1.5 hours of work
    one_agent = np.array([1.0, 1, 1, 1, 1, 1, 1, 1]) / 0.75  # 1 productive after shrinkage
    plan = _Plan()
    plan.max_occupancy = 1.0
    backlog = staffing.service_level_with(
        contacts=work / 300, aht=np.full(8, 300.0), interval_seconds=900,
        channel_class="email", plan=plan, scheduled_agents=one_agent,
    )  # fmt: skip
    assert backlog[0] == pytest.approx(3600 / 5400)  # two thirds done within the hour
    assert np.all(backlog[1:] == 1.0)  # nothing else arrived


def _templates() -> list[scheduler.Template]:
    return [
        scheduler.Template(1, "Mattina", 480, 840, 15, 0),
        scheduler.Template(2, "Pomeriggio", 780, 1140, 15, 0),
        scheduler.Template(3, "Giornata", 540, 1080, 15, 60),
    ]


def test_schedule_covers_and_respects_contracts() -> None:
    days = [date(2026, 12, 14) + timedelta(days=i) for i in range(7)]
    req = np.zeros((7, 96))
    req[:5, 36:64] = 2  # 9:00-16:00 two agents on weekdays
    req[:5, 64:72] = 1
    agents = [
        scheduler.Agent(1, 40, 5, ("voice",), days_off=(5, 6)),
        scheduler.Agent(2, 40, 5, ("voice", "email"), days_off=(6,)),
        scheduler.Agent(3, 20, 5, ("voice",), preferred_template_ids=(1,)),  # part-time
        scheduler.Agent(4, 40, 5, ("email",)),
    ]
    email = np.zeros((7, 96))
    email[:6, 40:60] = 1
    plan = scheduler.solve(
        days=days, templates=_templates(), agents=agents,
        requirement={"voice": req, "email": email}, interval_minutes=15, tz=TZ,
    )  # fmt: skip
    assert plan.status == "Optimal"
    assert plan.shortfall == 0
    by_agent: dict[int, list[scheduler.PlannedShift]] = {}
    for s in plan.shifts:
        by_agent.setdefault(s.agent_id, []).append(s)
    templates = {t.id: t for t in _templates()}
    for agent in agents:
        mine = by_agent.get(agent.id, [])
        assert len({s.day for s in mine}) == len(mine)  # one shift a day
        assert len(mine) <= agent.days_per_week
        assert sum(templates[s.template_id].paid_hours for s in mine) <= agent.hours_per_week
        assert all(s.day.weekday() not in agent.days_off for s in mine)
        assert all(s.channel in agent.channels for s in mine)
    # coverage: every required interval has enough agents on shift
    for c, grid in (("voice", req), ("email", email)):
        on = np.zeros((7, 96))
        for s in plan.shifts:
            if s.channel == c:
                t = templates[s.template_id]
                on[days.index(s.day), t.start_minute // 15 : t.end_minute // 15] += 1
        assert np.all(on >= grid)
    # lunch on the full-day shifts, placed within the shift
    for s in plan.shifts:
        kinds = [b["kind"] for b in s.breaks]
        assert ("lunch" in kinds) == (s.template_id == 3)
        for b in s.breaks:
            assert s.start_at <= datetime.fromisoformat(b["start_at"]) < s.end_at


def test_preferred_templates_are_honoured_when_coverage_allows() -> None:
    days = [date(2026, 12, 14) + timedelta(days=i) for i in range(7)]
    req = np.zeros((7, 96))
    req[:5, 36:48] = 1  # 9:00-12:00: the morning and the full-day shift both cover it
    agent = scheduler.Agent(1, 30, 5, ("chat",), days_off=(5, 6), preferred_template_ids=(1,))
    plan = scheduler.solve(
        days=days, templates=_templates(), agents=[agent], requirement={"chat": req},
        interval_minutes=15, tz=TZ,
    )  # fmt: skip
    assert len(plan.shifts) == 5 and {s.template_id for s in plan.shifts} == {1}


def test_sixty_agents_four_weeks_three_skills_under_a_minute() -> None:
    days = [date(2026, 12, 14) + timedelta(days=i) for i in range(28)]
    rng = np.random.default_rng(0)
    channels = ["voice", "chat", "email"]
    agents = []
    for i in range(60):
        skills = tuple(sorted(rng.choice(channels, int(rng.integers(1, 4)), replace=False)))
        agents.append(scheduler.Agent(i + 1, 20 if i % 6 == 0 else 40, 5, skills))
    shape = np.zeros(96)
    shape[32:76] = np.sin(np.linspace(0.2, np.pi - 0.2, 44))
    week = np.array([1, 0.95, 0.9, 0.9, 1, 0.5, 0.0])
    req = {
        c: np.array([np.round(peak * week[d.weekday()] * shape) for d in days])
        for c, peak in zip(channels, [14, 8, 6], strict=True)
    }
    plan = scheduler.solve(
        days=days, templates=_templates(), agents=agents, requirement=req,
        interval_minutes=15, tz=TZ,
    )  # fmt: skip
    assert plan.seconds < 60
    assert plan.shortfall == 0
    assert len(plan.shifts) > 500


# --------------------------------------------------------------------------- through actions


def test_forecast_schedule_publish_adherence(db, personas) -> None:  # type: ignore[no-untyped-def]
    now = datetime(2026, 12, 7, 11, 0, tzinfo=UTC)  # Monday, 12:00 in Rome
    history_on_webform(db, personas, days=35, now=now)
    with db.transaction() as s:
        brand_id = personas.brand_id
        hist = service.history(
            s, brand_id=brand_id, start=now - timedelta(days=40), end=now, interval_minutes=15
        )
        key = (personas.queue_vendite.id, "email")
        assert hist.series[key][0].sum() >= 35 * 3
        run = actions.do_run_forecast(s, brand_id=brand_id, now=now, horizon_days=7)
        assert run.summary and run.summary[0]["model"] in forecasting.MODELS
        reqs = service.requirements(s, run)
        assert reqs and reqs[0].channel_class == "email" and reqs[0].model == "backlog"
        # today is forecast too; nothing came in yet this morning, so the rest of the day is
        # re-forecast lower than planned
        today = service.local_midnight(date(2026, 12, 7))
        todays = service.requirements(s, run, start=today, end=today + timedelta(days=1))
        assert todays and len(todays[0].starts) == 96
        evening = now + timedelta(hours=6)  # 18:00: the usual afternoon contacts did not come
        intraday = service.reforecast_today(s, run, todays, evening)
        contacts, actual, planned = intraday[(personas.queue_vendite.id, "email")]
        assert actual == 0 and planned > 0
        later = np.array([at >= evening for at in todays[0].starts])
        ratio = 5 / (planned + 5)
        assert contacts[later] == pytest.approx(todays[0].contacts[later] * ratio)
        for name, a, b, lunch in (
            ("Mattina", "08:00", "14:00", 0),
            ("Giornata", "09:00", "18:00", 60),
        ):
            actions.do_save_template(
                s, brand_id=brand_id, name=name, start=a, end=b, break_minutes=15,
                lunch_minutes=lunch,
            )  # fmt: skip
        with pytest.raises(InvalidInput):
            actions.do_save_template(
                s, brand_id=brand_id, name="Rotto", start="18:00", end="09:00",
                break_minutes=15, lunch_minutes=0,
            )  # fmt: skip
        for user in (personas.sara, personas.luca):
            actions.do_save_contract(
                s, brand_id=brand_id, user=user, hours_per_week=30, days_per_week=5,
                days_off=[6], channels=["email"], preferred_template_ids=[], part_time=True,
            )  # fmt: skip
        schedule = actions.do_generate_schedule(
            s, brand_id=brand_id, starts_on=date(2026, 12, 7), days=7, run=run
        )
        shifts = service.schedule_shifts(s, schedule)
        assert shifts and schedule.status == "draft"
        assert (
            service.published_shifts(s, start=now - timedelta(days=1), end=now + timedelta(days=7))
            == []
        )
        actions.do_publish_schedule(s, schedule=schedule)
        schedule_id = schedule.id

    # adherence: put Sara on a known shift today, in and out of presence
    with db.transaction() as s:
        schedule = service.get_schedule(s, schedule_id)
        for shift in service.schedule_shifts(s, schedule):
            if shift.start_at.astimezone(TZ).date() == date(2026, 12, 7):
                actions.do_delete_shift(s, shift=shift)
        s.flush()
        from sportello.accounts.models import User

        sara = s.get(User, personas.sara.id)
        tmpl = service.get_templates(s, personas.brand_id)[0]  # Mattina 8-14 (7-13 UTC)
        shift = actions.do_add_shift(
            s, schedule=schedule, user=sara, day=date(2026, 12, 7), template=tmpl,
            channel_class="email",
        )  # fmt: skip
        shift.breaks = []
        with pytest.raises(Conflict):
            actions.do_add_shift(
                s, schedule=schedule, user=sara, day=date(2026, 12, 7), template=tmpl,
                channel_class="email",
            )  # fmt: skip
        t0 = datetime(2026, 12, 7, 7, 0, tzinfo=UTC)
        presence_actions.do_set_presence(
            s, user=sara, presence="available", now=t0 + timedelta(minutes=30)
        )
        presence_actions.do_set_presence(
            s, user=sara, presence="away", now=t0 + timedelta(minutes=90)
        )
        presence_actions.do_set_presence(
            s, user=sara, presence="busy", now=t0 + timedelta(minutes=120)
        )
    with db.session() as s:
        rows = service.adherence(s, start=t0, end=t0 + timedelta(hours=3))
        row = next(r for r in rows if r.user.id == personas.sara.id)
        assert row.scheduled_minutes == 180
        # 7:30-8:30 available (60) + 9:00-10:00 busy (60) = 120 of 180
        assert row.adherent_minutes == pytest.approx(120)
        assert row.adherence == pytest.approx(2 / 3)
        assert row.state == "busy" and row.should_work
        n = len(list(s.scalars(select(Shift).where(Shift.schedule_id == schedule_id))))
        assert n >= 1


def test_bad_plans_and_contracts_are_refused(db, personas) -> None:  # type: ignore[no-untyped-def]
    with db.transaction() as s:
        with pytest.raises(InvalidInput) as info:
            actions.do_save_plan(
                s, brand_id=personas.brand_id, queue=personas.queue_vendite,
                channel_class="voice", data={"service_level_target": "2"},
            )  # fmt: skip
        assert info.value.field == "service_level_target"
        with pytest.raises(InvalidInput) as info:
            actions.do_save_contract(
                s, brand_id=personas.brand_id, user=personas.sara, hours_per_week=40,
                days_per_week=6, days_off=[5, 6], channels=["voice"],
                preferred_template_ids=[], part_time=False,
            )  # fmt: skip
        assert info.value.field == "days_off"
        with pytest.raises(InvalidInput, match="Run a forecast first"):
            actions.do_generate_schedule(s, brand_id=personas.brand_id, starts_on=date(2026, 12, 7))


def test_demo_loader(db) -> None:  # type: ignore[no-untyped-def]
    from sportello import demo as core_demo
    from sportello.workforce import demo
    from tests.demo_snapshot import DEMO_NOW, load_demo

    now = DEMO_NOW
    load_demo(db, seed=7, now=now)  # runs the domain loaders, this one included
    assert "sportello.workforce.demo" in core_demo.DOMAIN_DEMOS
    demo.load(db, now=now, seed=7)  # again: nothing new, nothing refused
    with db.session() as s:
        brand_id = service.get_schedules(s, 1)[0].brand_id if service.get_schedules(s, 1) else 1
        schedules = service.get_schedules(s, brand_id)
        assert schedules and schedules[0].status == "published"
        shifts = service.schedule_shifts(s, schedules[0])
        assert {sh.user.email for sh in shifts} >= {
            "chiara@casalavanda.example",
            "francesca@casalavanda.example",
        }
        assert {t.name for t in service.get_templates(s, brand_id)} == {
            "Mattina", "Pomeriggio", "Giornata",
        }  # fmt: skip
        run = service.latest_run(s, brand_id)
        assert run is not None and service.requirements(s, run)
        rows = service.adherence(s, start=service.local_midnight(date(2026, 12, 7)), end=now)
        assert rows and all(r.scheduled_minutes > 0 for r in rows)
