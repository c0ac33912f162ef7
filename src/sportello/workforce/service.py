"""Reads of workforce management: history, plans, forecasts, required staff, schedules,
adherence."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from sportello.accounts.models import User
from sportello.channels.models import Channel
from sportello.conversations.models import Conversation, Direction, Message
from sportello.core.errors import NotFound
from sportello.routing.capacity import CLASSES, class_of_kind
from sportello.routing.models import PresenceLog, Queue
from sportello.workforce import forecast as forecasting
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

TZ = ZoneInfo("Europe/Rome")
INTERVALS = (15, 30, 60)
# An agent's work on a reply is the time since the message before it, up to this cap: the
# conversations tables record messages, not handle time (voice adds call durations later).
REPLY_WORK_CAP_SECONDS = 300
DEFAULT_AHT = {"voice": 300.0, "chat": 480.0, "messaging": 240.0, "email": 360.0}
DEFAULT_BACKLOG_SLA = {"messaging": 4 * 3600, "email": 8 * 3600}


def local_midnight(day: date, tz: ZoneInfo = TZ) -> datetime:
    return datetime.combine(day, datetime.min.time(), tzinfo=tz).astimezone(UTC)


# --------------------------------------------------------------------------- history


@dataclass
class History:
    """Contacts and handle seconds per (queue, channel class) and interval, from ``start``."""

    start: datetime
    end: datetime
    interval_minutes: int
    series: dict[tuple[int, str], tuple[np.ndarray, np.ndarray]]

    @property
    def count(self) -> int:
        return int((self.end - self.start).total_seconds() // (self.interval_minutes * 60))


def history(
    session: Session,
    *,
    brand_id: int,
    start: datetime,
    end: datetime,
    interval_minutes: int = 15,
    queue_ids: Sequence[int] | None = None,
) -> History:
    """Contacts (new conversations) and handle time per queue, channel class and interval.

    The ONE place the workforce package reads contact history: it reads the conversations and
    messages tables today, and can read the reports package's interval aggregates instead
    without anything else changing. Handle time of a conversation: each agent reply counts the
    time since the message before it, capped at ``REPLY_WORK_CAP_SECONDS``."""
    if interval_minutes not in INTERVALS:
        raise ValueError(f"interval must be one of {INTERVALS}")
    step = interval_minutes * 60
    n = int((end - start).total_seconds() // step)
    where = [
        Conversation.brand_id == brand_id,
        Conversation.created_at >= start,
        Conversation.created_at < end,
        Conversation.queue_id.is_not(None),
    ]
    if queue_ids is not None:
        where.append(Conversation.queue_id.in_(list(queue_ids)))
    rows = session.execute(
        select(Conversation.id, Conversation.queue_id, Conversation.created_at, Channel.kind)
        .outerjoin(Channel, Channel.id == Conversation.channel_id)
        .where(*where)
    ).all()
    conv_info: dict[int, tuple[tuple[int, str], int]] = {}
    series: dict[tuple[int, str], tuple[np.ndarray, np.ndarray]] = {}
    for conv_id, queue_id, created_at, kind in rows:
        assert queue_id is not None
        key = (int(queue_id), class_of_kind(kind))
        slot = int((created_at - start).total_seconds() // step)
        if not 0 <= slot < n:
            continue
        if key not in series:
            series[key] = (np.zeros(n), np.zeros(n))
        series[key][0][slot] += 1
        conv_info[conv_id] = (key, slot)
    if conv_info:
        messages = session.execute(
            select(
                Message.conversation_id, Message.direction, Message.author_id, Message.created_at
            )
            .join(Conversation, Conversation.id == Message.conversation_id)
            .where(*where)
            .order_by(Message.conversation_id, Message.created_at, Message.id)
        ).all()
        previous: dict[int, datetime] = {}
        for conv_id, direction, author_id, created_at in messages:
            before = previous.get(conv_id)
            previous[conv_id] = created_at
            if direction != Direction.OUTBOUND or author_id is None or before is None:
                continue
            info = conv_info.get(conv_id)
            if info is None:
                continue
            work = min((created_at - before).total_seconds(), REPLY_WORK_CAP_SECONDS)
            series[info[0]][1][info[1]] += max(work, 0.0)
    return History(start=start, end=end, interval_minutes=interval_minutes, series=series)


# --------------------------------------------------------------------------- plans


def plan_for(session: Session, queue_id: int, channel_class: str) -> StaffingPlan:
    """The stored plan, or the defaults for that channel (not added to the session)."""
    plan = session.scalar(
        select(StaffingPlan).where(
            StaffingPlan.queue_id == queue_id, StaffingPlan.channel_class == channel_class
        )
    )
    if plan is not None:
        return plan
    defaults: dict[str, Any] = {
        "voice": {"answer_within_seconds": 20, "patience_seconds": 90},
        "chat": {"answer_within_seconds": 60, "concurrency": 3},
        "messaging": {"answer_within_seconds": 3600, "backlog_sla_seconds": 4 * 3600},
        "email": {"answer_within_seconds": 8 * 3600, "backlog_sla_seconds": 8 * 3600},
    }[channel_class]
    return StaffingPlan(
        queue_id=queue_id,
        channel_class=channel_class,
        service_level_target=0.8,
        shrinkage=0.3,
        max_occupancy=0.85,
        concurrency=defaults.get("concurrency", 1),
        answer_within_seconds=defaults["answer_within_seconds"],
        patience_seconds=defaults.get("patience_seconds"),
        backlog_sla_seconds=defaults.get("backlog_sla_seconds"),
        target_asa_seconds=None,
        aht_seconds=None,
    )


def get_plans(session: Session, brand_id: int) -> list[StaffingPlan]:
    return list(
        session.scalars(
            select(StaffingPlan)
            .where(StaffingPlan.brand_id == brand_id)
            .order_by(StaffingPlan.queue_id, StaffingPlan.channel_class)
        )
    )


def get_adjustments(session: Session, brand_id: int) -> list[Adjustment]:
    return list(
        session.scalars(
            select(Adjustment).where(Adjustment.brand_id == brand_id).order_by(Adjustment.starts_on)
        )
    )


def adjustment_factor(
    adjustments: Sequence[Adjustment], queue_id: int, channel_class: str, day: date
) -> float:
    factor = 1.0
    for adj in adjustments:
        if adj.queue_id not in (None, queue_id) or adj.channel_class not in (None, channel_class):
            continue
        if adj.starts_on <= day <= adj.ends_on:
            factor *= adj.factor
    return factor


# --------------------------------------------------------------------------- forecasts


def latest_run(session: Session, brand_id: int) -> ForecastRun | None:
    return session.scalar(
        select(ForecastRun)
        .where(ForecastRun.brand_id == brand_id)
        .order_by(ForecastRun.created_at.desc(), ForecastRun.id.desc())
        .limit(1)
    )


def get_run(session: Session, run_id: int) -> ForecastRun:
    run = session.get(ForecastRun, run_id)
    if run is None:
        raise NotFound("forecast not found")
    return run


@dataclass
class Requirement:
    """Forecast and required staff of one queue and channel, per interval."""

    queue_id: int
    queue_name: str
    channel_class: str
    starts: list[datetime]
    contacts: np.ndarray
    aht: np.ndarray
    productive: np.ndarray  # agents handling contacts
    scheduled: np.ndarray  # after shrinkage
    service_level: np.ndarray
    model: str  # staffing model: erlang_c, erlang_a, chat, backlog
    plan: StaffingPlan


def requirements(
    session: Session,
    run: ForecastRun,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    volume_factor: float = 1.0,
) -> list[Requirement]:
    """Required staff per interval for every series of a forecast run (vectorised per series)."""
    from sportello.workforce import staffing

    where = [ForecastPoint.run_id == run.id]
    if start is not None:
        where.append(ForecastPoint.start_at >= start)
    if end is not None:
        where.append(ForecastPoint.start_at < end)
    rows = session.execute(
        select(
            ForecastPoint.queue_id,
            ForecastPoint.channel_class,
            ForecastPoint.start_at,
            ForecastPoint.contacts,
            ForecastPoint.aht_seconds,
        )
        .where(*where)
        .order_by(ForecastPoint.queue_id, ForecastPoint.channel_class, ForecastPoint.start_at)
    ).all()
    grouped: dict[tuple[int, str], list[Any]] = {}
    for row in rows:
        grouped.setdefault((row[0], row[1]), []).append(row)
    names = {row[0]: row[1] for row in session.execute(select(Queue.id, Queue.name))}
    out = []
    for (queue_id, cls), items in grouped.items():
        plan = plan_for(session, queue_id, cls)
        contacts = np.array([r[3] for r in items]) * volume_factor
        aht = np.array([r[4] for r in items])
        if plan.aht_seconds:
            aht = np.full_like(aht, float(plan.aht_seconds))
        aht = np.where(aht > 0, aht, DEFAULT_AHT.get(cls, 300.0))
        result = staffing.required_staff(
            contacts=contacts, aht=aht, interval_seconds=run.interval_minutes * 60,
            channel_class=cls, plan=plan,
        )  # fmt: skip
        out.append(
            Requirement(
                queue_id=queue_id,
                queue_name=names.get(queue_id, str(queue_id)),
                channel_class=cls,
                starts=[r[2] for r in items],
                contacts=contacts,
                aht=aht,
                productive=result.productive,
                scheduled=result.scheduled,
                service_level=result.service_level,
                model=result.model,
                plan=plan,
            )
        )
    return out


def reforecast_today(
    session: Session, run: ForecastRun, requirements_today: list[Requirement], now: datetime
) -> dict[tuple[int, str], tuple[np.ndarray, float, float]]:
    """Intraday re-forecast: today's remaining intervals scaled by how today is going so far.

    For each series: ``(contacts, actual_so_far, forecast_so_far)`` where ``contacts`` keeps the
    actuals for the intervals already over and multiplies the rest by
    ``(actual + 5) / (forecast + 5)`` (the 5 contacts of prior keep one early surprise from
    doubling the day)."""
    out: dict[tuple[int, str], tuple[np.ndarray, float, float]] = {}
    if not requirements_today:
        return out
    start = min(r.starts[0] for r in requirements_today if r.starts)
    hist = history(
        session,
        brand_id=run.brand_id,
        start=start,
        end=start + timedelta(days=1),
        interval_minutes=run.interval_minutes,
    )
    step = timedelta(minutes=run.interval_minutes)
    for req in requirements_today:
        if not req.starts:
            continue
        actual = hist.series.get((req.queue_id, req.channel_class), (np.zeros(hist.count),))[0]
        done = np.array([at + step <= now for at in req.starts])
        idx = [int((at - hist.start) / step) for at in req.starts]
        actual_here = np.array([actual[i] if 0 <= i < actual.size else 0.0 for i in idx])
        so_far = float(actual_here[done].sum())
        planned = float(req.contacts[done].sum())
        ratio = (so_far + 5.0) / (planned + 5.0)
        contacts = np.where(done, actual_here, req.contacts * ratio)
        out[(req.queue_id, req.channel_class)] = (contacts, so_far, planned)
    return out


# --------------------------------------------------------------------------- shifts


def get_templates(
    session: Session, brand_id: int, *, active_only: bool = True
) -> list[ShiftTemplate]:
    where = [ShiftTemplate.brand_id == brand_id]
    if active_only:
        where.append(ShiftTemplate.is_active.is_(True))
    return list(
        session.scalars(select(ShiftTemplate).where(*where).order_by(ShiftTemplate.start_minute))
    )


def get_contracts(session: Session, brand_id: int) -> list[Contract]:
    return list(
        session.scalars(
            select(Contract)
            .join(User, User.id == Contract.user_id)
            .where(Contract.brand_id == brand_id, User.is_active.is_(True))
            .order_by(User.name)
        )
    )


def get_schedules(session: Session, brand_id: int) -> list[Schedule]:
    return list(
        session.scalars(
            select(Schedule)
            .where(Schedule.brand_id == brand_id)
            .order_by(Schedule.starts_on.desc(), Schedule.id.desc())
        )
    )


def get_schedule(session: Session, schedule_id: int) -> Schedule:
    schedule = session.get(Schedule, schedule_id)
    if schedule is None:
        raise NotFound("schedule not found")
    return schedule


def schedule_shifts(session: Session, schedule: Schedule) -> list[Shift]:
    return list(
        session.scalars(
            select(Shift)
            .where(Shift.schedule_id == schedule.id)
            .order_by(Shift.start_at, Shift.user_id)
        )
    )


def published_shifts(
    session: Session, *, start: datetime, end: datetime, user_id: int | None = None
) -> list[Shift]:
    where = [
        Schedule.status == "published",
        Shift.start_at < end,
        Shift.end_at > start,
    ]
    if user_id is not None:
        where.append(Shift.user_id == user_id)
    return list(
        session.scalars(
            select(Shift)
            .join(Schedule, Schedule.id == Shift.schedule_id)
            .where(and_(*where))
            .order_by(Shift.start_at)
        )
    )


def coverage(
    shifts: Sequence[Shift], starts: Sequence[datetime], interval_minutes: int
) -> dict[str, np.ndarray]:
    """Agents on shift (not on a break) per channel class and interval."""
    out = {cls: np.zeros(len(starts)) for cls in CLASSES}
    if not starts:
        return out
    origin = starts[0]
    step = interval_minutes * 60
    n = len(starts)
    for shift in shifts:
        arr = out.setdefault(shift.channel_class, np.zeros(n))
        a = int(np.ceil((shift.start_at - origin).total_seconds() / step - 1e-9))
        b = int(np.floor((shift.end_at - origin).total_seconds() / step + 1e-9))
        if b <= 0 or a >= n:
            continue
        arr[max(a, 0) : min(b, n)] += 1
        for brk in shift.breaks:
            bs = datetime.fromisoformat(brk["start_at"])
            be = datetime.fromisoformat(brk["end_at"])
            i = int((bs - origin).total_seconds() // step)
            j = int(np.ceil((be - origin).total_seconds() / step))
            # a break takes the agent off the interval(s) it overlaps, by the share it overlaps
            for k in range(max(i, 0), min(j, n)):
                s0 = origin + timedelta(seconds=k * step)
                s1 = s0 + timedelta(seconds=step)
                overlap = (min(s1, be) - max(s0, bs)).total_seconds()
                if overlap > 0:
                    arr[k] -= overlap / step
    return out


# --------------------------------------------------------------------------- adherence


@dataclass
class AdherenceRow:
    user: User
    scheduled_minutes: float
    adherent_minutes: float
    state: str  # the agent's presence now (or at the end of the window)
    should_work: bool  # on shift now (not on a break)

    @property
    def adherence(self) -> float | None:
        if self.scheduled_minutes <= 0:
            return None
        return self.adherent_minutes / self.scheduled_minutes


WORKING = frozenset({"available", "busy"})


def adherence(session: Session, *, start: datetime, end: datetime) -> list[AdherenceRow]:
    """Scheduled vs actual: the minutes an agent was on shift (breaks excluded) and in a working
    presence (available or busy), over the published shifts overlapping [start, end)."""
    shifts = published_shifts(session, start=start, end=end)
    by_user: dict[int, list[Shift]] = {}
    for shift in shifts:
        by_user.setdefault(shift.user_id, []).append(shift)
    if not by_user:
        return []
    logs = session.execute(
        select(PresenceLog.user_id, PresenceLog.presence, PresenceLog.at)
        .where(PresenceLog.user_id.in_(list(by_user)), PresenceLog.at < end)
        .order_by(PresenceLog.user_id, PresenceLog.at, PresenceLog.id)
    ).all()
    timeline: dict[int, list[tuple[datetime, str]]] = {}
    for user_id, presence, at in logs:
        timeline.setdefault(user_id, []).append((at, presence))
    rows = []
    for user_id, user_shifts in by_user.items():
        work = _work_intervals(user_shifts, start, end)
        states = timeline.get(user_id, [])
        scheduled = sum((b - a).total_seconds() for a, b in work) / 60
        adherent = 0.0
        for a, b in work:
            adherent += _minutes_in(states, a, b, WORKING)
        current = states[-1][1] if states else "offline"
        now_in = any(a <= end - timedelta(seconds=1) < b for a, b in work)
        rows.append(
            AdherenceRow(
                user=user_shifts[0].user,
                scheduled_minutes=scheduled,
                adherent_minutes=adherent,
                state=current,
                should_work=now_in,
            )
        )
    rows.sort(key=lambda r: r.user.name)
    return rows


def _work_intervals(
    shifts: Sequence[Shift], start: datetime, end: datetime
) -> list[tuple[datetime, datetime]]:
    out = []
    for shift in shifts:
        pieces = [(shift.start_at, shift.end_at)]
        for brk in shift.breaks:
            bs, be = datetime.fromisoformat(brk["start_at"]), datetime.fromisoformat(brk["end_at"])
            nxt = []
            for a, b in pieces:
                if be <= a or bs >= b:
                    nxt.append((a, b))
                    continue
                if a < bs:
                    nxt.append((a, bs))
                if be < b:
                    nxt.append((be, b))
            pieces = nxt
        for a, b in pieces:
            a, b = max(a, start), min(b, end)
            if a < b:
                out.append((a, b))
    return out


def _minutes_in(
    states: Sequence[tuple[datetime, str]], a: datetime, b: datetime, wanted: frozenset[str]
) -> float:
    """Minutes within [a, b) spent in a ``wanted`` presence, from the change log."""
    total = 0.0
    current = "offline"
    since = a
    for at, presence in states:
        if at <= a:
            current = presence
            continue
        if at >= b:
            break
        if current in wanted:
            total += (at - since).total_seconds()
        current, since = presence, at
    if current in wanted:
        total += (b - since).total_seconds()
    return total / 60


def forecast_series_for(hist: History, key: tuple[int, str]) -> forecasting.Series:
    contacts, handle = hist.series[key]
    return forecasting.Series(
        start=hist.start, interval_minutes=hist.interval_minutes, contacts=contacts,
        handle_seconds=handle, tz=TZ,
    )  # fmt: skip
