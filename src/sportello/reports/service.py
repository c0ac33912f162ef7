"""Reads: report tables from the interval sums, the wallboard snapshot, drill-down lists.

Scope (as the rest of the console, issue 13 item 7): admins see everything; a supervisor sees
the queues of their teams and those teams' agents (everything when they belong to no team, as
in the inbox); an agent sees their own figures only (rows keyed to them as the answering or
resolving agent, and their own survey answers).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, false, func, or_, select, true
from sqlalchemy.orm import Session

from sportello.accounts.models import Brand, Role, Team, User, team_member
from sportello.channels.models import Channel
from sportello.conversations.models import ACTIVE_STATUSES, Conversation, Status, conversation_tag
from sportello.conversations.models import Tag as TagRow
from sportello.core import access
from sportello.core.db import utcnow
from sportello.core.errors import InvalidInput
from sportello.reports import kpis
from sportello.reports.models import (
    INTERVAL_MEASURES,
    SL_EDGES,
    ReportAlert,
    ReportDay,
    ReportFact,
    ReportInterval,
    ReportSettings,
    ReportSurveyAnswer,
)
from sportello.routing.models import AgentState, PresenceLog, Queue, QueueMember, RoutingState

GROUPS = ("none", "queue", "team", "agent", "channel", "brand", "tag")
MAX_DAYS = 400


# --------------------------------------------------------------------------- scope


@dataclass(frozen=True)
class Scope:
    everything: bool = False
    queue_ids: frozenset[int] = frozenset()
    agent_ids: frozenset[int] = frozenset()
    own_agent: int | None = None

    def interval_clause(self, table: Any) -> ColumnElement[bool]:
        if self.everything:
            return true()
        if self.own_agent is not None:
            return table.agent_id == self.own_agent  # type: ignore[no-any-return]
        return or_(
            table.queue_id.in_(self.queue_ids or {-1}),
            table.agent_id.in_(self.agent_ids or {-1}),
        )

    def fact_clause(self) -> ColumnElement[bool]:
        if self.everything:
            return true()
        if self.own_agent is not None:
            return or_(
                ReportFact.agent_id == self.own_agent, ReportFact.resolver_id == self.own_agent
            )
        return or_(
            ReportFact.queue_id.in_(self.queue_ids or {-1}),
            ReportFact.agent_id.in_(self.agent_ids or {-1}),
            ReportFact.resolver_id.in_(self.agent_ids or {-1}),
        )

    def sees_agent(self, agent_id: int) -> bool:
        if self.everything:
            return True
        if self.own_agent is not None:
            return agent_id == self.own_agent
        return agent_id in self.agent_ids

    def sees_queue(self, queue_id: int) -> bool:
        return self.everything or (self.own_agent is None and queue_id in self.queue_ids)


def scope_for(session: Session, user: User) -> Scope:
    if user.is_admin:
        return Scope(everything=True)
    if not user.is_supervisor:
        return Scope(own_agent=user.id)
    team_ids = [t.id for t in user.teams]
    if not team_ids:
        return Scope(everything=True)
    queue_ids = frozenset(session.scalars(select(Queue.id).where(Queue.team_id.in_(team_ids))))
    agent_ids = frozenset(
        session.scalars(select(team_member.c.user_id).where(team_member.c.team_id.in_(team_ids)))
    )
    return Scope(queue_ids=queue_ids, agent_ids=agent_ids | {user.id})


# --------------------------------------------------------------------------- filters


@dataclass(frozen=True)
class Filters:
    start: date
    end: date  # inclusive, local (Europe/Rome) days
    interval: str = "day"
    group: str = "none"
    queue_id: int | None = None
    team_id: int | None = None
    agent_id: int | None = None
    channel_id: int | None = None
    brand_id: int | None = None
    tag: str | None = None
    sl_seconds: int | None = None

    @property
    def start_at(self) -> datetime:
        return datetime(self.start.year, self.start.month, self.start.day, tzinfo=kpis.ROME)

    @property
    def end_at(self) -> datetime:
        end = self.end + timedelta(days=1)
        return datetime(end.year, end.month, end.day, tzinfo=kpis.ROME)

    def query(self) -> dict[str, str]:
        out = {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "interval": self.interval,
            "group": self.group,
        }
        for name in ("queue_id", "team_id", "agent_id", "channel_id", "brand_id", "tag"):
            value = getattr(self, name)
            if value not in (None, ""):
                out[name] = str(value)
        if self.sl_seconds:
            out["sl_seconds"] = str(self.sl_seconds)
        return out


def parse_filters(params: dict[str, str], *, today: date | None = None) -> Filters:
    """Filters from a query string; a clear error for each bad value."""
    today = today or utcnow().astimezone(kpis.ROME).date()

    def day(name: str, default: date) -> date:
        raw = params.get(name) or ""
        if not raw:
            return default
        try:
            return date.fromisoformat(raw)
        except ValueError:
            raise InvalidInput("not a date (YYYY-MM-DD)", field=name) from None

    def number(name: str) -> int | None:
        raw = params.get(name) or ""
        if not raw:
            return None
        if not raw.isdigit():
            raise InvalidInput("not a number", field=name)
        return int(raw)

    end = day("end", today)
    start = day("start", end - timedelta(days=29))
    if start > end:
        raise InvalidInput("the start comes after the end", field="start")
    if (end - start).days > MAX_DAYS:
        raise InvalidInput("at most 400 days at a time", field="start")
    interval = params.get("interval") or "day"
    if interval not in kpis.INTERVALS:
        raise InvalidInput("unknown interval", field="interval")
    group = params.get("group") or "none"
    if group not in GROUPS:
        raise InvalidInput("unknown grouping", field="group")
    sl = number("sl_seconds")
    if sl is not None and sl not in SL_EDGES:
        raise InvalidInput("choose one of the offered thresholds", field="sl_seconds")
    return Filters(
        start=start,
        end=end,
        interval=interval,
        group=group,
        queue_id=number("queue_id"),
        team_id=number("team_id"),
        agent_id=number("agent_id"),
        channel_id=number("channel_id"),
        brand_id=number("brand_id"),
        tag=(params.get("tag") or "").strip().lower() or None,
        sl_seconds=sl,
    )


def config(session: Session, brand_id: int | None = None) -> kpis.ReportConfig:
    if brand_id is None:
        brand_id = session.scalar(select(Brand.id).order_by(Brand.id).limit(1)) or 0
    row = session.get(ReportSettings, brand_id)
    return kpis.ReportConfig.from_dict(row.settings if row else None)


def _team_queues(session: Session, team_id: int) -> list[int]:
    return list(session.scalars(select(Queue.id).where(Queue.team_id == team_id)))


DAILY = ("day", "week", "month")


def _where(session: Session, scope: Scope, f: Filters, table: Any) -> list[ColumnElement[bool]]:
    if table is ReportDay:
        where = [table.day >= f.start, table.day <= f.end]
    else:
        where = [
            table.bucket_at >= f.start_at.astimezone(UTC),
            table.bucket_at < f.end_at.astimezone(UTC),
        ]
    where.append(scope.interval_clause(table))
    if f.queue_id is not None:
        where.append(table.queue_id == f.queue_id)
    if f.team_id is not None:
        where.append(table.queue_id.in_(_team_queues(session, f.team_id) or [-1]))
    if f.agent_id is not None:
        where.append(table.agent_id == f.agent_id)
    if f.channel_id is not None:
        where.append(table.channel_id == f.channel_id)
    if f.brand_id is not None:
        where.append(table.brand_id == f.brand_id)
    return where


_DIMS = {
    "queue": "queue_id",
    "team": "queue_id",
    "agent": "agent_id",
    "channel": "channel_id",
    "brand": "brand_id",
}


def bucket_sums(
    session: Session,
    scope: Scope,
    f: Filters,
    *,
    dim: str = "none",
    measures: Sequence[str] = INTERVAL_MEASURES,
) -> list[tuple[datetime, int, dict[str, int]]]:
    """Sums by period start (a 15-minute bucket, or a local day for day/week/month reports) and
    one dimension, filtered and scoped: from report_day when whole days are asked for."""
    table: Any = ReportDay if f.interval in DAILY else ReportInterval
    time_col = table.day if table is ReportDay else table.bucket_at
    dim_col = getattr(table, _DIMS[dim]) if dim in _DIMS else None
    cols: list[Any] = [time_col]
    if dim_col is not None:
        cols.append(dim_col)
    sums = [func.sum(getattr(table, name)).label(name) for name in measures]
    stmt = select(*cols, *sums).where(*_where(session, scope, f, table)).group_by(*cols)
    out = []
    for r in session.execute(stmt).all():
        at = r[0]
        if table is ReportDay:
            at = datetime(at.year, at.month, at.day, tzinfo=kpis.ROME)
        key = r[1] if dim_col is not None else 0
        values = r[len(cols) :]
        out.append(
            (at, int(key or 0), dict(zip(measures, (int(v or 0) for v in values), strict=True)))
        )
    return out


@dataclass
class ReportRow:
    period: datetime | None
    key: int | str | None
    label: str
    sums: dict[str, int]
    kpis: dict[str, Any] = field(default_factory=dict)


@dataclass
class Report:
    filters: Filters
    config: kpis.ReportConfig
    totals: ReportRow
    rows: list[ReportRow]
    periods: list[datetime]
    labels: dict[Any, str]


def labels_for(session: Session, group: str, keys: Sequence[Any]) -> dict[Any, str]:
    from sportello.core.i18n import gettext as _

    ids = [k for k in keys if isinstance(k, int) and k]
    names: dict[Any, str] = {}
    if group == "queue" and ids:
        names = dict(session.execute(select(Queue.id, Queue.name).where(Queue.id.in_(ids))).all())
    elif group == "team" and ids:
        names = dict(session.execute(select(Team.id, Team.name).where(Team.id.in_(ids))).all())
    elif group == "agent" and ids:
        names = dict(session.execute(select(User.id, User.name).where(User.id.in_(ids))).all())
    elif group == "channel" and ids:
        names = dict(
            session.execute(select(Channel.id, Channel.name).where(Channel.id.in_(ids))).all()
        )
    elif group == "brand" and ids:
        names = dict(session.execute(select(Brand.id, Brand.name).where(Brand.id.in_(ids))).all())
    out: dict[Any, str] = {}
    for k in keys:
        if isinstance(k, str):
            out[k] = k
        elif not k:
            out[k] = {"agent": _("No agent"), "queue": _("No queue"), "team": _("No team")}.get(
                group, _("None")
            )
        else:
            out[k] = names.get(k) or (
                _("Deleted agent #%(id)s", id=k) if group == "agent" else f"#{k}"
            )
    return out


def report(session: Session, user: User, f: Filters) -> Report:
    """The KPI table: one row a period and group value, and the totals."""
    scope = scope_for(session, user)
    cfg = config(session, f.brand_id)
    if f.sl_seconds:
        cfg = kpis.ReportConfig(**{**cfg.__dict__, "sl_seconds": f.sl_seconds})
    if f.group == "tag":
        return _tag_report(session, scope, f, cfg)
    dim = f.group if f.group != "none" else "none"
    team_of: dict[int, int] = {}
    if f.group == "team":
        team_of = {q: t or 0 for q, t in session.execute(select(Queue.id, Queue.team_id)).all()}
    grouped: dict[tuple[datetime, Any], dict[str, int]] = defaultdict(kpis.empty_sums)
    totals = kpis.empty_sums()
    for bucket, key, sums in bucket_sums(session, scope, f, dim=dim):
        if f.group == "team":
            key = team_of.get(key, 0)
        period = kpis.period_start(bucket, f.interval)
        kpis.add_into(grouped[(period, key)], sums)
        kpis.add_into(totals, sums)
    keys = sorted({k for _, k in grouped}, key=lambda k: (k == 0, k))
    labels = labels_for(session, f.group, keys)
    rows = [
        ReportRow(period, key, labels.get(key, ""), sums, kpis.compute(sums, cfg))
        for (period, key), sums in sorted(grouped.items(), key=lambda i: (i[0][0], str(i[0][1])))
    ]
    total = ReportRow(None, None, "", totals, kpis.compute(totals, cfg))
    total.kpis.update(backlog(session, scope, f))
    return Report(f, cfg, total, rows, sorted({p for p, _ in grouped}), labels)


def _tag_report(session: Session, scope: Scope, f: Filters, cfg: kpis.ReportConfig) -> Report:
    """By tag: from the facts (a conversation counts under each of its tags)."""
    start, end = f.start_at.astimezone(UTC), f.end_at.astimezone(UTC)
    stmt = (
        select(ReportFact, TagRow.name)
        .join(conversation_tag, conversation_tag.c.conversation_id == ReportFact.conversation_id)
        .join(TagRow, TagRow.id == conversation_tag.c.tag_id)
        .where(ReportFact.created_at >= start, ReportFact.created_at < end, scope.fact_clause())
    )
    if f.queue_id is not None:
        stmt = stmt.where(ReportFact.queue_id == f.queue_id)
    if f.channel_id is not None:
        stmt = stmt.where(ReportFact.channel_id == f.channel_id)
    if f.agent_id is not None:
        stmt = stmt.where(ReportFact.agent_id == f.agent_id)
    if f.tag:
        stmt = stmt.where(TagRow.name == f.tag)
    grouped: dict[str, dict[str, int]] = defaultdict(kpis.empty_sums)
    totals = kpis.empty_sums()
    for fact, tag in session.execute(stmt):
        part = kpis.Fact(**{k: getattr(fact, k) for k in kpis.Fact.__dataclass_fields__})
        for _bucket, _b, _c, _q, _a, measures in kpis.contribution(part):
            kpis.add_into(grouped[tag], measures)
            kpis.add_into(totals, measures)
    rows = [
        ReportRow(None, tag, tag, sums, kpis.compute(sums, cfg))
        for tag, sums in sorted(grouped.items())
    ]
    return Report(
        f, cfg, ReportRow(None, None, "", totals, kpis.compute(totals, cfg)), rows, [], {}
    )


def backlog(session: Session, scope: Scope, f: Filters | None = None) -> dict[str, Any]:
    """Open work right now (new, open, pending) and its age."""
    c = Conversation
    where: list[Any] = [c.status.in_(ACTIVE_STATUSES)]
    if not scope.everything:
        if scope.own_agent is not None:
            where.append(c.assignee_id == scope.own_agent)
        else:
            where.append(
                or_(c.queue_id.in_(scope.queue_ids or {-1}), c.assignee_id.in_(scope.agent_ids))
            )
    if f is not None:
        if f.queue_id is not None:
            where.append(c.queue_id == f.queue_id)
        if f.channel_id is not None:
            where.append(c.channel_id == f.channel_id)
        if f.agent_id is not None:
            where.append(c.assignee_id == f.agent_id)
    created = sorted(session.scalars(select(c.created_at).where(*where)))
    now = utcnow()
    if not created:
        return {"backlog": 0, "backlog_oldest": None, "backlog_median": None}
    return {
        "backlog": len(created),
        "backlog_oldest": (now - created[0]).total_seconds(),
        "backlog_median": (now - created[len(created) // 2]).total_seconds(),
    }


# --------------------------------------------------------------------------- charts' data


def heatmap(session: Session, user: User, f: Filters) -> list[list[int]]:
    """Volume (the KPI: offered, less short abandons when they are excluded) by weekday
    (Monday first) and hour, in Europe/Rome. A cell's conversations: ``drill_down`` with
    ``hour_of_week=(weekday, hour)``."""
    grid = [[0] * 24 for _ in range(7)]
    quarter = Filters(**{**f.__dict__, "interval": "15min"})
    exclude = config(session, f.brand_id).short_abandons == "exclude"
    for bucket, _key, sums in bucket_sums(
        session, scope_for(session, user), quarter, measures=("offered", "abandoned_short")
    ):
        local = bucket.astimezone(kpis.ROME)
        volume = sums["offered"] - (sums["abandoned_short"] if exclude else 0)
        grid[local.weekday()][local.hour] += volume
    return grid


def parse_hour_of_week(params: dict[str, str]) -> tuple[int, int] | None:
    """A heatmap cell from ``weekday`` (0 Monday .. 6) and ``hour`` (0-23), both or neither."""
    raw_day, raw_hour = params.get("weekday") or "", params.get("hour") or ""
    if not raw_day and not raw_hour:
        return None
    if not raw_day.isdigit() or int(raw_day) > 6:
        raise InvalidInput("a weekday is 0 (Monday) to 6 (Sunday)", field="weekday")
    if not raw_hour.isdigit() or int(raw_hour) > 23:
        raise InvalidInput("an hour is 0 to 23", field="hour")
    return int(raw_day), int(raw_hour)


def hour_of_week_ranges(f: Filters, weekday: int, hour: int) -> list[tuple[datetime, datetime]]:
    """The UTC ranges of one heatmap cell: that hour (Europe/Rome) of each such weekday in the
    filters' days. On a DST day the local hour may last 0 or 2 hours, as the heatmap counts."""
    if not 0 <= weekday <= 6:
        raise InvalidInput("a weekday is 0 (Monday) to 6 (Sunday)", field="weekday")
    if not 0 <= hour <= 23:
        raise InvalidInput("an hour is 0 to 23", field="hour")
    out = []
    day = f.start + timedelta(days=(weekday - f.start.weekday()) % 7)
    while day <= f.end:
        wall = datetime(day.year, day.month, day.day, hour)  # wall-clock hours, then Rome
        start = wall.replace(tzinfo=kpis.ROME)
        end = (wall + timedelta(hours=1)).replace(tzinfo=kpis.ROME)
        begin, finish = start.astimezone(UTC), end.astimezone(UTC)
        if finish > begin:
            out.append((begin, finish))
        day += timedelta(days=7)
    return out


def league(session: Session, user: User, f: Filters) -> list[ReportRow]:
    """Agents ranked by conversations resolved, with their KPIs and occupancy."""
    scope = scope_for(session, user)
    cfg = config(session, f.brand_id)
    grouped: dict[int, dict[str, int]] = defaultdict(kpis.empty_sums)
    for _bucket, key, sums in bucket_sums(session, scope, f, dim="agent"):
        if key:
            kpis.add_into(grouped[key], sums)
    labels = labels_for(session, "agent", list(grouped))
    available = available_seconds(session, list(grouped), f.start_at, f.end_at)
    rows = []
    for agent_id, sums in grouped.items():
        row = ReportRow(None, agent_id, labels[agent_id], sums, kpis.compute(sums, cfg))
        row.kpis["occupancy"] = kpis.occupancy(
            sums["handle_sum"] + sums["wrap_sum"], available.get(agent_id, 0.0)
        )
        rows.append(row)
    rows.sort(key=lambda r: (-r.sums["resolved"], -r.sums["answered"], r.label))
    return rows


def available_seconds(
    session: Session, agent_ids: Sequence[int], start: datetime, end: datetime
) -> dict[int, float]:
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    out: dict[int, float] = {}
    if not agent_ids:
        return out
    logs: dict[int, list[tuple[datetime, str]]] = defaultdict(list)
    for uid, at, presence in session.execute(
        select(PresenceLog.user_id, PresenceLog.at, PresenceLog.presence)
        .where(PresenceLog.user_id.in_(agent_ids), PresenceLog.at < end, PresenceLog.at >= start)
        .order_by(PresenceLog.user_id, PresenceLog.at)
    ):
        logs[uid].append((at, presence))
    for uid in agent_ids:
        before = session.scalar(
            select(PresenceLog.presence)
            .where(PresenceLog.user_id == uid, PresenceLog.at < start)
            .order_by(PresenceLog.at.desc())
            .limit(1)
        )
        out[uid] = kpis.presence_seconds(
            logs.get(uid, []), start=start, end=min(end, utcnow()), before=before
        )
    return out


def score_distribution(session: Session, user: User, f: Filters) -> dict[str, list[int]]:
    scope = scope_for(session, user)
    t = ReportSurveyAnswer
    out = {kind: [0] * (high - low + 1) for kind, (low, high) in kpis.SURVEY_RANGES.items()}
    stmt = (
        select(t.survey_kind, t.score, func.count())
        .where(
            t.answered_at >= f.start_at.astimezone(UTC),
            t.answered_at < f.end_at.astimezone(UTC),
            scope.interval_clause(t),
        )
        .group_by(t.survey_kind, t.score)
    )
    if f.queue_id is not None:
        stmt = stmt.where(t.queue_id == f.queue_id)
    if f.agent_id is not None:
        stmt = stmt.where(t.agent_id == f.agent_id)
    if f.channel_id is not None:
        stmt = stmt.where(t.channel_id == f.channel_id)
    for kind, score, n in session.execute(stmt):
        low, _high = kpis.SURVEY_RANGES.get(kind, (0, 0))
        if kind in out and 0 <= score - low < len(out[kind]):
            out[kind][score - low] += n
    return out


# --------------------------------------------------------------------------- drill-down

#: metric -> (which time the range applies to, condition on the fact, which agent column)
DRILL: dict[str, tuple[str, Callable[[kpis.ReportConfig], ColumnElement[bool]], str]] = {
    "volume": (
        "created",
        lambda cfg: ~ReportFact.short_abandon if cfg.short_abandons == "exclude" else true(),
        "agent",
    ),
    "answered": ("created", lambda cfg: ReportFact.answered_at.is_not(None), "agent"),
    "answered_within": (
        "created",
        lambda cfg: ReportFact.wait_seconds <= cfg.sl_seconds,
        "agent",
    ),
    "not_answered_within": (
        "created",
        lambda cfg: and_(
            or_(ReportFact.wait_seconds.is_(None), ReportFact.wait_seconds > cfg.sl_seconds),
            ~ReportFact.short_abandon if cfg.short_abandons == "exclude" else true(),
        ),
        "agent",
    ),
    "abandoned": (
        "created",
        lambda cfg: and_(
            ReportFact.abandoned,
            ~ReportFact.short_abandon if cfg.short_abandons == "exclude" else true(),
        ),
        "agent",
    ),
    "short_abandoned": ("created", lambda cfg: ReportFact.short_abandon.is_(True), "agent"),
    "responded": ("created", lambda cfg: ReportFact.frt_seconds.is_not(None), "agent"),
    "transfers": ("created", lambda cfg: ReportFact.transfers > 0, "agent"),
    "resolved": ("resolved", lambda cfg: ~ReportFact.abandoned, "resolver"),
    "fcr": ("resolved", lambda cfg: and_(~ReportFact.abandoned, ReportFact.fcr), "resolver"),
    "not_fcr": (
        "resolved",
        lambda cfg: and_(~ReportFact.abandoned, ~ReportFact.fcr),
        "resolver",
    ),
    "reopened": (
        "resolved",
        lambda cfg: and_(~ReportFact.abandoned, ReportFact.reopens > 0),
        "resolver",
    ),
    "sla_missed": ("created", lambda cfg: ReportFact.sla_met < ReportFact.sla_total, "agent"),
}
DRILL_LIMIT = 500


def drill_down(
    session: Session,
    user: User,
    f: Filters,
    metric: str,
    *,
    period: datetime | None = None,
    hour_of_week: tuple[int, int] | None = None,
) -> list[Conversation]:
    """The conversations behind a number of a report (at most DRILL_LIMIT, newest first);
    ``hour_of_week`` (weekday, hour): a heatmap cell's."""
    if metric not in DRILL:
        raise InvalidInput("unknown measure", field="metric")
    scope = scope_for(session, user)
    cfg = config(session, f.brand_id)
    if f.sl_seconds:
        cfg = kpis.ReportConfig(**{**cfg.__dict__, "sl_seconds": f.sl_seconds})
    when, condition, agent_col = DRILL[metric]
    time_col = ReportFact.created_at if when == "created" else ReportFact.resolved_at
    start, end = f.start_at.astimezone(UTC), f.end_at.astimezone(UTC)
    if period is not None:
        start = max(start, period.astimezone(UTC))
        end = min(end, _period_end(period, f.interval).astimezone(UTC))
    stmt = (
        access.conversations_query(session, user)
        .join(ReportFact, ReportFact.conversation_id == Conversation.id)
        .where(time_col >= start, time_col < end, condition(cfg), scope.fact_clause())
        .order_by(time_col.desc())
        .limit(DRILL_LIMIT)
    )
    if hour_of_week is not None:
        ranges = hour_of_week_ranges(f, *hour_of_week)
        stmt = stmt.where(
            or_(*[and_(time_col >= a, time_col < b) for a, b in ranges]) if ranges else false()
        )
    if f.queue_id is not None:
        stmt = stmt.where(ReportFact.queue_id == f.queue_id)
    if f.team_id is not None:
        stmt = stmt.where(ReportFact.queue_id.in_(_team_queues(session, f.team_id) or [-1]))
    if f.channel_id is not None:
        stmt = stmt.where(ReportFact.channel_id == f.channel_id)
    if f.brand_id is not None:
        stmt = stmt.where(ReportFact.brand_id == f.brand_id)
    if f.agent_id is not None:
        column = ReportFact.agent_id if agent_col == "agent" else ReportFact.resolver_id
        stmt = stmt.where(column == f.agent_id)
    if f.tag:
        stmt = stmt.where(
            ReportFact.conversation_id.in_(
                select(conversation_tag.c.conversation_id)
                .join(TagRow, TagRow.id == conversation_tag.c.tag_id)
                .where(TagRow.name == f.tag)
            )
        )
    return list(session.scalars(stmt).unique())


def _period_end(period: datetime, interval: str) -> datetime:
    if interval == "15min":
        return period + timedelta(minutes=15)
    if interval == "30min":
        return period + timedelta(minutes=30)
    if interval == "60min":
        return period + timedelta(hours=1)
    local = period.astimezone(kpis.ROME).replace(tzinfo=None)
    if interval == "day":
        nxt = local + timedelta(days=1)
    elif interval == "week":
        nxt = local + timedelta(days=7)
    else:
        nxt = (local.replace(day=1) + timedelta(days=32)).replace(day=1)
    return nxt.replace(tzinfo=kpis.ROME)


# --------------------------------------------------------------------------- wallboard


@dataclass
class Tile:
    key: int
    name: str
    waiting: int = 0
    longest_wait: float | None = None
    sums: dict[str, int] = field(default_factory=kpis.empty_sums)
    service_level: float | None = None
    answered: int = 0
    abandoned: int = 0
    agents: dict[str, int] = field(default_factory=dict)
    level: str = "ok"  # ok, warning, critical

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.key,
            "name": self.name,
            "waiting": self.waiting,
            "longest_wait": self.longest_wait,
            "service_level": self.service_level,
            "answered": self.answered,
            "abandoned": self.abandoned,
            "agents": self.agents,
            "level": self.level,
        }


def _level(tile: Tile, cfg: kpis.ReportConfig) -> str:
    wait = tile.longest_wait or 0
    sl = tile.service_level
    if wait >= cfg.wait_critical or (sl is not None and sl < cfg.sl_critical):
        return "critical"
    if wait >= cfg.wait_warning or (sl is not None and sl < cfg.sl_warning):
        return "warning"
    return "ok"


def wallboard(
    session: Session, user: User | None, *, now: datetime | None = None
) -> dict[str, Any]:
    """The live snapshot: a handful of indexed queries (bench/reports.py times it). Without a
    user: everything (the alert check)."""
    now = now or utcnow()
    scope = scope_for(session, user) if user is not None else Scope(everything=True)
    cfg = config(session)
    queues = {
        q.id: Tile(q.id, q.name)
        for q in session.execute(
            select(Queue.id, Queue.name).order_by(Queue.priority.desc(), Queue.name)
        )
        if scope.sees_queue(q.id)
    }
    queue_team = dict(session.execute(select(Queue.id, Queue.team_id)).all())
    channels = {
        c.id: Tile(c.id, c.name)
        for c in session.execute(select(Channel.id, Channel.name).order_by(Channel.name))
    }
    # waiting now (new/open, nobody assigned), by queue and channel
    c = Conversation
    queued = func.coalesce(RoutingState.queued_at, c.created_at)
    waiting = session.execute(
        select(c.queue_id, c.channel_id, func.count(), func.min(queued))
        .outerjoin(RoutingState, RoutingState.conversation_id == c.id)
        .where(c.status.in_((Status.NEW, Status.OPEN)), c.assignee_id.is_(None))
        .group_by(c.queue_id, c.channel_id)
    ).all()
    for queue_id, channel_id, n, oldest in waiting:
        if not scope.sees_queue(queue_id or 0):
            continue
        wait = (now - oldest).total_seconds() if oldest else None
        for tile in (queues.get(queue_id or 0), channels.get(channel_id or 0)):
            if tile is None:
                continue
            tile.waiting += n
            if wait is not None:
                tile.longest_wait = max(tile.longest_wait or 0, wait)
    # today, from the interval table
    t = ReportDay
    today = session.execute(
        select(
            t.queue_id,
            t.channel_id,
            t.agent_id,
            *[func.sum(getattr(t, n)).label(n) for n in INTERVAL_MEASURES],
        )
        .where(t.day == kpis.local_day(now), scope.interval_clause(t))
        .group_by(t.queue_id, t.channel_id, t.agent_id)
    ).all()
    agent_sums: dict[int, dict[str, int]] = defaultdict(kpis.empty_sums)
    for r in today:
        sums = {n: int(getattr(r, n) or 0) for n in INTERVAL_MEASURES}
        if r.queue_id in queues:
            kpis.add_into(queues[r.queue_id].sums, sums)
        if r.channel_id in channels:
            kpis.add_into(channels[r.channel_id].sums, sums)
        if r.agent_id:
            kpis.add_into(agent_sums[r.agent_id], sums)
    # agents: presence and load
    members: dict[int, set[int]] = defaultdict(set)
    for team_id, user_id in session.execute(select(team_member.c.team_id, team_member.c.user_id)):
        members[team_id].add(user_id)
    explicit: dict[int, set[int]] = defaultdict(set)
    for queue_id, user_id in session.execute(select(QueueMember.queue_id, QueueMember.user_id)):
        explicit[queue_id].add(user_id)
    staff = session.execute(
        select(User.id, User.name, AgentState.presence, AgentState.presence_since)
        .outerjoin(AgentState, AgentState.user_id == User.id)
        .where(User.is_active, or_(User.role == Role.AGENT, AgentState.user_id.is_not(None)))
        .order_by(User.name)
    ).all()
    # Open conversations per agent: one index seek per agent and status on (assignee, status).
    load = dict(
        session.execute(
            select(c.assignee_id, func.count())
            .where(c.assignee_id.in_([row[0] for row in staff]), c.status.in_(ACTIVE_STATUSES))
            .group_by(c.assignee_id)
        ).all()
    )
    agents = []
    presence_of: dict[int, str] = {}
    for uid, name, presence, since in staff:
        presence = presence or "offline"
        since = since or now
        presence_of[uid] = presence
        if not scope.sees_agent(uid):
            continue
        sums = agent_sums.get(uid, kpis.empty_sums())
        computed = kpis.compute(sums, cfg)
        agents.append(
            {
                "id": uid,
                "name": name,
                "state": presence,
                "since": since.isoformat(),
                "in_state": (now - since).total_seconds(),
                "load": int(load.get(uid, 0)),
                "handled": sums["resolved"],
                "csat": computed["csat"],
                "csat_n": sums["csat_n"],
            }
        )
    everyone = set(presence_of)
    for tile in queues.values():
        serving = members.get(queue_team.get(tile.key) or -1, set()) | explicit.get(tile.key, set())
        if not serving and queue_team.get(tile.key) is None:
            serving = everyone
        counts: dict[str, int] = defaultdict(int)
        for uid in serving:
            counts[presence_of.get(uid, "offline")] += 1
        tile.agents = dict(counts)
    for tile in [*queues.values(), *channels.values()]:
        computed = kpis.compute(tile.sums, cfg)
        tile.service_level = computed["service_level"]
        tile.answered = tile.sums["answered"]
        tile.abandoned = int(computed["abandoned"] or 0)
        tile.level = _level(tile, cfg)
    alerts = [
        {
            "queue_id": a.queue_id,
            "kind": a.kind,
            "value": a.value,
            "raised_at": a.raised_at.isoformat(),
        }
        for a in session.scalars(select(ReportAlert).where(ReportAlert.cleared_at.is_(None)))
        if scope.sees_queue(a.queue_id)
    ]
    return {
        "at": now.isoformat(),
        "sl_seconds": cfg.sl_seconds,
        "thresholds": {
            "sl_warning": cfg.sl_warning,
            "sl_critical": cfg.sl_critical,
            "wait_warning": cfg.wait_warning,
            "wait_critical": cfg.wait_critical,
        },
        "queues": [t.as_dict() for t in queues.values()],
        "channels": [t.as_dict() for t in channels.values() if t.sums["offered"] or t.waiting],
        "agents": agents,
        "alerts": alerts,
    }


def open_alerts(session: Session) -> list[ReportAlert]:
    return list(session.scalars(select(ReportAlert).where(ReportAlert.cleared_at.is_(None))))
