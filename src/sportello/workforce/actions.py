"""Writes of workforce management: plans, adjustments, forecasts, templates, contracts,
schedules (generate, edit, publish)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from sportello.accounts.models import User
from sportello.core.db import utcnow
from sportello.core.errors import Conflict, InvalidInput
from sportello.core.events import EventPayload, emit, register_event
from sportello.core.i18n import gettext
from sportello.routing.capacity import CLASSES
from sportello.routing.models import Queue
from sportello.workforce import service
from sportello.workforce.models import (
    Adjustment,
    Contract,
    ForecastPoint,
    ForecastRun,
    Schedule,
    Shift,
    ShiftTemplate,
    StaffingPlan,
)

HISTORY_DAYS = 91
MAX_HORIZON_DAYS = 42


class SchedulePublished(EventPayload):
    schedule_id: int
    starts_on: date
    days: int
    user_ids: list[int]


class ForecastCreated(EventPayload):
    run_id: int
    start_at: datetime
    end_at: datetime


register_event("wfm.schedule_published", SchedulePublished)
register_event("wfm.forecast_created", ForecastCreated)


def _channel(value: str) -> str:
    if value not in CLASSES:
        raise InvalidInput(gettext("Unknown channel."), field="channel_class")
    return value


# --------------------------------------------------------------------------- staffing plans


def check_plan(data: dict[str, Any]) -> dict[str, Any]:
    def num(name: str, lo: float, hi: float, *, optional: bool = False) -> float | None:
        value = data.get(name)
        if value in (None, "") and optional:
            return None
        try:
            number = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise InvalidInput(gettext("Enter a number."), field=name) from None
        if not lo <= number <= hi:
            raise InvalidInput(
                gettext("Enter a number between %(lo)s and %(hi)s.", lo=lo, hi=hi), field=name
            )
        return number

    clean: dict[str, Any] = {
        "service_level_target": num("service_level_target", 0.01, 0.999),
        "answer_within_seconds": int(num("answer_within_seconds", 0, 7 * 86400) or 0),
        "shrinkage": num("shrinkage", 0, 0.9),
        "max_occupancy": num("max_occupancy", 0.1, 1),
        "concurrency": int(num("concurrency", 1, 20) or 1),
    }
    for name, hi in (
        ("target_asa_seconds", 86400),
        ("patience_seconds", 86400),
        ("backlog_sla_seconds", 14 * 86400),
        ("aht_seconds", 86400),
    ):
        value = num(name, 1, hi, optional=True)
        clean[name] = int(value) if value is not None else None
    return clean


def do_save_plan(
    session: Session, *, brand_id: int, queue: Queue, channel_class: str, data: dict[str, Any]
) -> StaffingPlan:
    clean = check_plan(data)
    channel_class = _channel(channel_class)
    plan = session.scalar(
        select(StaffingPlan).where(
            StaffingPlan.queue_id == queue.id, StaffingPlan.channel_class == channel_class
        )
    )
    if plan is None:
        plan = StaffingPlan(brand_id=brand_id, queue_id=queue.id, channel_class=channel_class)
        session.add(plan)
    for key, value in clean.items():
        setattr(plan, key, value)
    plan.updated_at = utcnow()
    session.flush()
    return plan


# --------------------------------------------------------------------------- adjustments


def do_create_adjustment(
    session: Session,
    *,
    brand_id: int,
    label: str,
    starts_on: date,
    ends_on: date,
    factor: float,
    queue_id: int | None = None,
    channel_class: str | None = None,
) -> Adjustment:
    label = label.strip()[:200]
    if not label:
        raise InvalidInput(gettext("Give the event a name."), field="label")
    if ends_on < starts_on:
        raise InvalidInput(gettext("The end comes before the start."), field="ends_on")
    if not 0 <= factor <= 20:
        raise InvalidInput(gettext("The factor must be between 0 and 20."), field="factor")
    if channel_class:
        _channel(channel_class)
    adj = Adjustment(
        brand_id=brand_id,
        label=label,
        starts_on=starts_on,
        ends_on=ends_on,
        factor=factor,
        queue_id=queue_id,
        channel_class=channel_class or None,
    )
    session.add(adj)
    session.flush()
    return adj


def do_delete_adjustment(session: Session, *, adjustment: Adjustment) -> None:
    session.delete(adjustment)
    session.flush()


# --------------------------------------------------------------------------- forecast


def do_run_forecast(
    session: Session,
    *,
    brand_id: int,
    now: datetime,
    horizon_days: int = 14,
    interval_minutes: int = 15,
    history_days: int = HISTORY_DAYS,
    by: User | None = None,
) -> ForecastRun:
    """Forecast every queue and channel with history, for today (local; the intraday
    re-forecast corrects it with today's actuals) and the ``horizon_days`` after it; store the
    points and the back-test of the chosen models."""
    from sportello.workforce import forecast as forecasting

    if not 1 <= horizon_days <= MAX_HORIZON_DAYS:
        raise InvalidInput(
            gettext("The horizon must be 1 to %(max)d days.", max=MAX_HORIZON_DAYS),
            field="horizon_days",
        )
    if interval_minutes not in service.INTERVALS:
        raise InvalidInput(gettext("The interval must be 15, 30 or 60 minutes."), field="interval")
    today = now.astimezone(service.TZ).date()
    start = service.local_midnight(today - timedelta(days=history_days))
    end = service.local_midnight(today)  # whole days only: today is partial
    hist = service.history(
        session, brand_id=brand_id, start=start, end=end, interval_minutes=interval_minutes
    )
    adjustments = service.get_adjustments(session, brand_id)
    f_start = service.local_midnight(today)
    f_end = service.local_midnight(today + timedelta(days=1 + horizon_days))
    run = ForecastRun(
        brand_id=brand_id,
        start_at=f_start,
        end_at=f_end,
        interval_minutes=interval_minutes,
        summary=[],
        created_by_id=by.id if by else None,
        created_at=utcnow(),
    )
    session.add(run)
    session.flush()
    summary = []
    rows: list[dict[str, Any]] = []
    for key in sorted(hist.series):
        queue_id, cls = key
        if hist.series[key][0].sum() == 0:
            continue

        def adjust(day: date, q: int = queue_id, c: str = cls) -> float:
            return service.adjustment_factor(adjustments, q, c, day)

        fc = forecasting.forecast(
            service.forecast_series_for(hist, key),
            horizon_days=horizon_days + 1,  # today (partial history) + the horizon
            adjust=adjust,
        )
        step = timedelta(minutes=interval_minutes)
        for i in range(fc.contacts.size):
            at = fc.start + i * step
            if at < f_start or at >= f_end:
                continue
            rows.append(
                {
                    "run_id": run.id,
                    "queue_id": queue_id,
                    "channel_class": cls,
                    "start_at": at,
                    "contacts": float(round(fc.contacts[i], 4)),
                    "aht_seconds": float(round(fc.aht_seconds[i], 2)),
                }
            )
        summary.append(
            {
                "queue_id": queue_id,
                "channel_class": cls,
                "model": fc.model,
                "backtest": fc.backtest,
                "history_contacts": int(hist.series[key][0].sum()),
            }
        )
    if rows:
        session.execute(insert(ForecastPoint), rows)
    run.summary = summary
    emit(
        session,
        "wfm.forecast_created",
        ForecastCreated(run_id=run.id, start_at=run.start_at, end_at=run.end_at),
    )
    return run


# --------------------------------------------------------------------------- templates


def do_save_template(
    session: Session,
    *,
    brand_id: int,
    name: str,
    start: str,
    end: str,
    break_minutes: int,
    lunch_minutes: int,
    template: ShiftTemplate | None = None,
) -> ShiftTemplate:
    name = name.strip()[:100]
    if not name:
        raise InvalidInput(gettext("Give the shift a name."), field="name")
    start_m, end_m = _minutes(start, "start"), _minutes(end, "end")
    if end_m <= start_m:
        raise InvalidInput(gettext("The shift must end after it starts."), field="end")
    if not 0 <= break_minutes <= 60 or not 0 <= lunch_minutes <= 120:
        raise InvalidInput(gettext("Breaks: 0-60 minutes, lunch: 0-120."), field="break_minutes")
    if lunch_minutes + 2 * break_minutes >= end_m - start_m:
        raise InvalidInput(gettext("Breaks and lunch do not fit the shift."), field="lunch_minutes")
    clash = session.scalar(
        select(ShiftTemplate.id).where(
            ShiftTemplate.brand_id == brand_id, ShiftTemplate.name == name
        )
    )
    if clash is not None and (template is None or clash != template.id):
        raise Conflict(gettext("A shift with this name already exists."))
    if template is None:
        template = ShiftTemplate(brand_id=brand_id, name=name, start_minute=0, end_minute=0)
        session.add(template)
    template.name = name
    template.start_minute, template.end_minute = start_m, end_m
    template.break_minutes, template.lunch_minutes = break_minutes, lunch_minutes
    session.flush()
    return template


def _minutes(value: str, field: str) -> int:
    try:
        hours, minutes = value.strip().split(":")
        total = int(hours) * 60 + int(minutes)
    except ValueError:
        raise InvalidInput(gettext("Enter a time as HH:MM."), field=field) from None
    if not 0 <= total <= 24 * 60 or int(minutes) >= 60:
        raise InvalidInput(gettext("Enter a time as HH:MM."), field=field)
    return total


# --------------------------------------------------------------------------- contracts


def do_save_contract(
    session: Session,
    *,
    brand_id: int,
    user: User,
    hours_per_week: float,
    days_per_week: int,
    days_off: list[int],
    channels: list[str],
    preferred_template_ids: list[int],
    part_time: bool,
) -> Contract:
    if not 1 <= hours_per_week <= 60:
        raise InvalidInput(gettext("Hours a week: 1 to 60."), field="hours_per_week")
    if not 1 <= days_per_week <= 7:
        raise InvalidInput(gettext("Days a week: 1 to 7."), field="days_per_week")
    if any(d not in range(7) for d in days_off) or len(set(days_off)) + days_per_week > 7:
        raise InvalidInput(
            gettext("Days off and working days do not fit in a week."), field="days_off"
        )
    if not channels:
        raise InvalidInput(gettext("Choose at least one channel."), field="channels")
    for c in channels:
        _channel(c)
    contract = session.get(Contract, user.id)
    if contract is None:
        contract = Contract(user_id=user.id, brand_id=brand_id)
        session.add(contract)
    contract.hours_per_week = hours_per_week
    contract.days_per_week = days_per_week
    contract.days_off = sorted(set(days_off))
    contract.channels = [c for c in CLASSES if c in channels]
    contract.preferred_template_ids = sorted(set(preferred_template_ids))
    contract.part_time = part_time
    contract.updated_at = utcnow()
    session.flush()
    return contract


# --------------------------------------------------------------------------- schedules


def requirement_grid(session: Session, run: ForecastRun, days: list[date]) -> dict[str, np.ndarray]:
    """Agents to schedule per channel class, local day and slot, summed over queues."""
    minutes = run.interval_minutes
    slots = 24 * 60 // minutes
    grid: dict[str, np.ndarray] = {}
    start = service.local_midnight(days[0])
    end = service.local_midnight(days[-1] + timedelta(days=1))
    day_pos = {d: i for i, d in enumerate(days)}
    for req in service.requirements(session, run, start=start, end=end):
        arr = grid.setdefault(req.channel_class, np.zeros((len(days), slots)))
        for at, need in zip(req.starts, req.scheduled, strict=True):
            local = at.astimezone(service.TZ)
            di = day_pos.get(local.date())
            if di is None:
                continue
            arr[di, (local.hour * 60 + local.minute) // minutes] += float(need)
    return grid


def do_generate_schedule(
    session: Session,
    *,
    brand_id: int,
    starts_on: date,
    days: int = 7,
    run: ForecastRun | None = None,
    by: User | None = None,
    time_limit: float = 50.0,
) -> Schedule:
    """A draft schedule covering the forecast's requirement with the active contracts."""
    from sportello.workforce import scheduler

    if not 1 <= days <= 42:
        raise InvalidInput(gettext("A schedule covers 1 to 42 days."), field="days")
    run = run or service.latest_run(session, brand_id)
    if run is None:
        raise InvalidInput(gettext("Run a forecast first."), field="run")
    templates = service.get_templates(session, brand_id)
    if not templates:
        raise InvalidInput(gettext("Create at least one shift template first."), field="templates")
    contracts = service.get_contracts(session, brand_id)
    if not contracts:
        raise InvalidInput(gettext("Give at least one agent a contract first."), field="contracts")
    day_list = [starts_on + timedelta(days=i) for i in range(days)]
    grid = requirement_grid(session, run, day_list)
    for contract in contracts:  # channels an agent can work but nobody forecast: no demand
        for c in contract.channels:
            grid.setdefault(c, np.zeros((days, 24 * 60 // run.interval_minutes)))
    plan = scheduler.solve(
        days=day_list,
        templates=[
            scheduler.Template(
                t.id, t.name, t.start_minute, t.end_minute, t.break_minutes, t.lunch_minutes
            )
            for t in templates
        ],
        agents=[
            scheduler.Agent(
                id=c.user_id,
                hours_per_week=c.hours_per_week,
                days_per_week=c.days_per_week,
                channels=tuple(c.channels),
                days_off=tuple(c.days_off),
                preferred_template_ids=tuple(c.preferred_template_ids),
            )
            for c in contracts
        ],
        requirement=grid,
        interval_minutes=run.interval_minutes,
        tz=service.TZ,
        time_limit=time_limit,
    )
    end_day = day_list[-1]
    schedule = Schedule(
        brand_id=brand_id,
        name=gettext(
            "Shifts %(start)s - %(end)s",
            start=starts_on.strftime("%d/%m"),
            end=end_day.strftime("%d/%m/%Y"),
        ),
        starts_on=starts_on,
        days=days,
        status="draft",
        solver_status=plan.status[:40],
        solve_seconds=round(plan.seconds, 3),
        forecast_run_id=run.id,
        created_by_id=by.id if by else None,
        created_at=utcnow(),
    )
    session.add(schedule)
    session.flush()
    if plan.shifts:
        session.execute(
            insert(Shift),
            [
                {
                    "schedule_id": schedule.id,
                    "user_id": s.agent_id,
                    "template_id": s.template_id,
                    "channel_class": s.channel,
                    "start_at": s.start_at,
                    "end_at": s.end_at,
                    "breaks": s.breaks,
                }
                for s in plan.shifts
            ],
        )
    return schedule


def do_add_shift(
    session: Session,
    *,
    schedule: Schedule,
    user: User,
    day: date,
    template: ShiftTemplate,
    channel_class: str,
) -> Shift:
    """A shift added by hand (breaks at the template's usual places)."""
    _channel(channel_class)
    if not schedule.starts_on <= day < schedule.starts_on + timedelta(days=schedule.days):
        raise InvalidInput(gettext("That day is outside the schedule."), field="day")
    taken = session.scalar(
        select(Shift.id).where(
            Shift.schedule_id == schedule.id,
            Shift.user_id == user.id,
            Shift.start_at >= service.local_midnight(day),
            Shift.start_at < service.local_midnight(day + timedelta(days=1)),
        )
    )
    if taken is not None:
        raise Conflict(gettext("This agent already has a shift that day."))
    base = datetime.combine(day, datetime.min.time(), tzinfo=service.TZ)

    def at(minute: int) -> datetime:
        return (base + timedelta(minutes=minute)).astimezone(UTC)

    breaks = []
    mid = (template.start_minute + template.end_minute) // 2
    if template.lunch_minutes:
        breaks.append(("lunch", mid - template.lunch_minutes // 2, template.lunch_minutes))
    if template.break_minutes:
        breaks.append(("break", template.start_minute + 120, template.break_minutes))
    shift = Shift(
        schedule_id=schedule.id,
        user_id=user.id,
        template_id=template.id,
        channel_class=channel_class,
        start_at=at(template.start_minute),
        end_at=at(template.end_minute),
        breaks=[
            {"kind": k, "start_at": at(m).isoformat(), "end_at": at(m + n).isoformat()}
            for k, m, n in breaks
        ],
    )
    session.add(shift)
    session.flush()
    return shift


def do_delete_shift(session: Session, *, shift: Shift) -> None:
    session.delete(shift)
    session.flush()


def do_publish_schedule(session: Session, *, schedule: Schedule) -> Schedule:
    """Publish: agents see their shifts; a published schedule replaces the shifts of another
    published one on the same days (it goes back to draft)."""
    if schedule.status == "published":
        return schedule
    end = schedule.starts_on + timedelta(days=schedule.days)
    for other in session.scalars(
        select(Schedule).where(
            Schedule.brand_id == schedule.brand_id,
            Schedule.status == "published",
            Schedule.id != schedule.id,
        )
    ):
        other_end = other.starts_on + timedelta(days=other.days)
        if other.starts_on < end and schedule.starts_on < other_end:
            other.status = "draft"
            other.published_at = None
    schedule.status = "published"
    schedule.published_at = utcnow()
    session.flush()
    user_ids = sorted(
        set(session.scalars(select(Shift.user_id).where(Shift.schedule_id == schedule.id)))
    )
    emit(
        session,
        "wfm.schedule_published",
        SchedulePublished(
            schedule_id=schedule.id,
            starts_on=schedule.starts_on,
            days=schedule.days,
            user_ids=user_ids,
        ),
    )
    return schedule


def do_delete_schedule(session: Session, *, schedule: Schedule) -> None:
    session.execute(delete(Shift).where(Shift.schedule_id == schedule.id))
    session.delete(schedule)
    session.flush()
