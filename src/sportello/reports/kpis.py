"""Every KPI in one module: its definition (the same words as in docs/kpis.md, which a test
compares), how one conversation's raw rows become its measures (:func:`derive_fact`), what those
measures add to the 15-minute interval table (:func:`contribution`), and how a KPI is computed
from the interval sums (:func:`compute`).

Times are UTC in the database; an interval bucket is 15 minutes of UTC. Days, weeks (Monday
first) and months are cut in Europe/Rome when a report is read, so a day has 92, 96 or 100
buckets across the DST changes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

from sportello.core.i18n import lazy as N_
from sportello.reports.models import INTERVAL_MEASURES, SL_EDGES

ROME: Final = ZoneInfo("Europe/Rome")
BUCKET: Final = timedelta(minutes=15)
#: An agent's work on one reply counts at most this long (the gap since the previous message).
HANDLE_CAP_SECONDS: Final = 600
#: After-contact work: from the last agent reply to resolution, at most this long.
WRAP_CAP_SECONDS: Final = 600
INTERVALS: Final = ("15min", "30min", "60min", "day", "week", "month")
SHORT_ABANDON_TREATMENTS: Final = ("exclude", "include")


@dataclass(frozen=True)
class Kpi:
    key: str
    label: str
    unit: str  # "count", "percent", "seconds", "score"
    definition: str


KPIS: Final[tuple[Kpi, ...]] = (
    Kpi(
        "volume",
        N_("Volume"),
        "count",
        N_(
            "Conversations offered: every conversation counts once, in the interval, channel, "
            "queue and brand where it arrived (its first message). Under the 'exclude' treatment "
            "of short abandons, conversations abandoned within the short-abandon threshold are "
            "not counted."
        ),
    ),
    Kpi(
        "service_level",
        N_("Service level"),
        "percent",
        N_(
            "Conversations answered within T seconds of arrival, divided by conversations offered "
            "in the same interval. 'Answered' means an agent took it: the first assignment to an "
            "agent or the first agent reply, whichever came first. Short abandons are taken out "
            "of the denominator under 'exclude' (the default) and count as not answered under "
            "'include'. T is one of 15, 30, 60, 120, 300, 900, 3600, 14400, 86400 seconds."
        ),
    ),
    Kpi(
        "asa",
        N_("Average speed of answer"),
        "seconds",
        N_(
            "Mean time from arrival to answer (as in service level), over answered conversations, "
            "counted in the interval of arrival."
        ),
    ),
    Kpi(
        "aht",
        N_("Average handle time"),
        "seconds",
        N_(
            "Handle time plus wrap-up, averaged over conversations resolved with an agent. Handle "
            "time is the sum, over the agents' replies, of the time since the previous message "
            "(at most 10 minutes each); wrap-up is the time from the last agent reply to "
            "resolution (at most 10 minutes). Counted in the interval of resolution."
        ),
    ),
    Kpi(
        "frt",
        N_("First response time"),
        "seconds",
        N_(
            "Mean time from arrival to the first reply written by an agent (bots and automatic "
            "acknowledgements do not count), over conversations that got one."
        ),
    ),
    Kpi(
        "resolution_time",
        N_("Resolution time"),
        "seconds",
        N_(
            "Mean time from arrival to resolution (or to closing, for a conversation closed "
            "without being resolved), over conversations resolved in the interval, abandons "
            "excluded. A reopened conversation counts when it is resolved for the last time."
        ),
    ),
    Kpi(
        "abandonment_rate",
        N_("Abandonment rate"),
        "percent",
        N_(
            "Conversations that ended (resolved or closed) without ever being answered, divided "
            "by conversations offered. A short abandon ends within the short-abandon threshold "
            "(10 seconds by default): under 'exclude' it leaves both numerator and denominator."
        ),
    ),
    Kpi(
        "fcr",
        N_("First-contact resolution"),
        "percent",
        N_(
            "Resolved conversations that were never reopened and after which the same customer "
            "(merged customers count as one) started no new conversation on any channel within N "
            "days of resolution (7 by default), divided by conversations resolved. Until N days "
            "have passed the figure is provisional."
        ),
    ),
    Kpi(
        "backlog",
        N_("Backlog"),
        "count",
        N_(
            "Conversations new, open or pending right now, and the age of the oldest and the "
            "median one (time since arrival)."
        ),
    ),
    Kpi(
        "reopen_rate",
        N_("Reopen rate"),
        "percent",
        N_(
            "Resolved conversations that were reopened at least once (resolved, then open again) "
            "before their last resolution, divided by conversations resolved."
        ),
    ),
    Kpi(
        "transfers",
        N_("Transfers"),
        "count",
        N_(
            "Reassignments from one agent to another: assignments after the first one, counted in "
            "the interval of arrival. The transfer rate divides them by conversations answered."
        ),
    ),
    Kpi(
        "csat",
        N_("CSAT"),
        "percent",
        N_(
            "Share of satisfaction answers scoring 4 or 5 on the 1-5 scale, among all "
            "satisfaction answers received in the interval (the average score is shown too)."
        ),
    ),
    Kpi(
        "nps",
        N_("NPS"),
        "score",
        N_(
            "Net promoter score: the share of promoters (9-10) minus the share of detractors "
            "(0-6) among the 0-10 answers received in the interval, times 100 (from -100 to 100)."
        ),
    ),
    Kpi(
        "ces",
        N_("Customer effort score"),
        "score",
        N_("Mean of the customer effort answers (1-7, higher is easier) received in the interval."),
    ),
    Kpi(
        "sla_compliance",
        N_("SLA compliance"),
        "percent",
        N_(
            "SLA clocks (first response and resolution targets) that stopped within their target, "
            "divided by clocks that stopped or breached, counted in the interval of arrival."
        ),
    ),
    Kpi(
        "occupancy",
        N_("Occupancy"),
        "percent",
        N_(
            "Handle time plus wrap-up of an agent, divided by the time the agent was available or "
            "busy (from the presence log) in the period; not shown when the log does not cover "
            "the work."
        ),
    ),
)
KPI_BY_KEY: Final = {k.key: k for k in KPIS}


# --------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class ReportConfig:
    """What the upkeep and the reports assume; a brand's ``report_settings`` override it.
    ``short_abandon_seconds`` and ``fcr_days`` are applied when facts are computed: after
    changing them, ``sportello reports rebuild`` recomputes the history."""

    sl_seconds: int = 300
    short_abandon_seconds: int = 10
    short_abandons: str = "exclude"
    fcr_days: int = 7
    # wallboard thresholds: service level (fraction) and longest wait (seconds)
    sl_warning: float = 0.8
    sl_critical: float = 0.6
    wait_warning: int = 120
    wait_critical: int = 300
    weekly_email: bool = True

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> ReportConfig:
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in (data or {}).items() if k in known})


# --------------------------------------------------------------------------- facts


@dataclass
class RawMessage:
    direction: str
    author_id: int | None
    created_at: datetime
    meta: Mapping[str, Any]


@dataclass
class RawCall:
    """The phone call that opened a conversation (table ``voice_call``, read only)."""

    started_at: datetime
    answered_at: datetime | None
    ended_at: datetime | None
    outcome: str | None  # answered, abandoned, short_abandon, callback, closed, failed; None live
    agent_id: int | None


#: Call outcomes that never reached a queue: not offered (like an ACD's "closed" calls).
CALL_NOT_OFFERED: Final = ("closed", "failed")


@dataclass
class RawConversation:
    id: int
    brand_id: int
    channel_id: int | None
    queue_id: int | None
    assignee_id: int | None
    customer_id: int
    status: str
    created_at: datetime
    resolved_at: datetime | None
    closed_at: datetime | None
    messages: list[RawMessage] = field(default_factory=list)
    sla: list[bool] = field(default_factory=list)  # stopped or breached clocks: met?
    last_message_id: int = 0
    call: RawCall | None = None  # the inbound call that opened it, if a call did


@dataclass
class Fact:
    conversation_id: int
    brand_id: int
    channel_id: int
    queue_id: int
    agent_id: int
    resolver_id: int
    customer_id: int
    created_at: datetime
    answered_at: datetime | None = None
    first_response_at: datetime | None = None
    resolved_at: datetime | None = None
    wait_seconds: int | None = None
    frt_seconds: int | None = None
    resolution_seconds: int | None = None
    handle_seconds: int = 0
    wrap_seconds: int = 0
    abandoned: bool = False
    short_abandon: bool = False
    reopens: int = 0
    transfers: int = 0
    fcr: bool = False
    messages_in: int = 0
    messages_out: int = 0
    sla_total: int = 0
    sla_met: int = 0
    last_message_id: int = 0
    offered: bool = True  # not stored: False for a call closed out of hours (never queued)

    def row(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "offered"}


def _seconds(later: datetime, earlier: datetime) -> int:
    return max(0, round((later - earlier).total_seconds()))


def _is_agent_reply(m: RawMessage) -> bool:
    return m.direction == "outbound" and m.author_id is not None and not m.meta.get("automated")


def derive_fact(
    conv: RawConversation,
    *,
    config: ReportConfig,
    later_contacts: Sequence[datetime] = (),
) -> Fact:
    """One conversation's measures, from its rows (messages in time order). ``later_contacts``:
    arrival times of the same customer's other conversations (for first-contact resolution)."""
    fact = Fact(
        conversation_id=conv.id,
        brand_id=conv.brand_id,
        channel_id=conv.channel_id or 0,
        queue_id=conv.queue_id or 0,
        agent_id=0,
        resolver_id=0,
        customer_id=conv.customer_id,
        created_at=conv.created_at,
    )
    assignments: list[datetime] = []
    replies: list[RawMessage] = []
    previous: datetime | None = None
    for m in conv.messages:
        if m.direction == "system":
            event = m.meta.get("event")
            if event == "assign" and m.meta.get("to"):
                assignments.append(m.created_at)
            elif (
                event == "status"
                and m.meta.get("from") == "resolved"
                and m.meta.get("to")
                in (
                    "open",
                    "new",
                    "pending",
                )
            ):
                fact.reopens += 1
            continue
        if m.direction == "inbound":
            fact.messages_in += 1
        elif m.direction == "outbound":
            fact.messages_out += 1
            if _is_agent_reply(m):
                replies.append(m)
                if previous is not None:
                    fact.handle_seconds += min(_seconds(m.created_at, previous), HANDLE_CAP_SECONDS)
        if m.direction in ("inbound", "outbound"):
            previous = m.created_at
    fact.transfers = max(0, len(assignments) - 1)
    if replies:
        fact.first_response_at = replies[0].created_at
        fact.frt_seconds = _seconds(replies[0].created_at, conv.created_at)
        fact.agent_id = replies[0].author_id or 0
    answers = [t for t in ([*assignments[:1], fact.first_response_at]) if t is not None]
    if answers:
        fact.answered_at = min(answers)
        fact.wait_seconds = _seconds(fact.answered_at, conv.created_at)
        if not fact.agent_id:
            fact.agent_id = conv.assignee_id or 0
    ended = conv.resolved_at or (conv.closed_at if conv.status == "closed" else None)
    if ended is not None:
        if fact.answered_at is None:
            fact.abandoned = True
            fact.short_abandon = _seconds(ended, conv.created_at) < config.short_abandon_seconds
            fact.resolved_at = ended
        else:
            fact.resolved_at = ended
            fact.resolution_seconds = _seconds(ended, conv.created_at)
            fact.resolver_id = conv.assignee_id or fact.agent_id
            if replies:
                fact.wrap_seconds = min(_seconds(ended, replies[-1].created_at), WRAP_CAP_SECONDS)
            horizon = ended + timedelta(days=config.fcr_days)
            fact.fcr = fact.reopens == 0 and not any(
                conv.created_at < t <= horizon for t in later_contacts
            )
    if conv.call is not None:
        _call_contact(fact, conv.call, config)
    fact.last_message_id = conv.last_message_id
    fact.sla_total = len(conv.sla)
    fact.sla_met = sum(1 for met in conv.sla if met)
    return fact


def _call_contact(fact: Fact, call: RawCall, config: ReportConfig) -> None:
    """A conversation a phone call opened: its contact is the call, as an ACD counts it.
    Waiting runs from the call's arrival to the agent picking up (``answered``) or to the
    caller hanging up (``abandoned``, ``short_abandon`` under the channel's threshold or the
    report's); a ``callback`` was offered and neither answered nor abandoned; a call
    ``closed`` out of hours (or ``failed``) was never queued and is not offered. Resolution
    and handling stay the conversation's."""
    fact.created_at = call.started_at  # the contact's interval: when the phone rang
    fact.answered_at = fact.wait_seconds = None
    fact.abandoned = fact.short_abandon = False
    if call.outcome in CALL_NOT_OFFERED:
        fact.offered = False
        return
    if call.answered_at is not None:
        fact.answered_at = call.answered_at
        fact.wait_seconds = _seconds(call.answered_at, call.started_at)
        fact.agent_id = call.agent_id or fact.agent_id
    elif call.outcome in ("abandoned", "short_abandon") and call.ended_at is not None:
        fact.abandoned = True
        waited = _seconds(call.ended_at, call.started_at)
        fact.short_abandon = (
            call.outcome == "short_abandon" or waited < config.short_abandon_seconds
        )
        fact.resolved_at = call.ended_at
        fact.resolution_seconds = None
        fact.resolver_id = 0
        fact.wrap_seconds = 0
        fact.fcr = False


def bucket_of(at: datetime) -> datetime:
    at = at.astimezone(UTC)
    return at.replace(minute=at.minute - at.minute % 15, second=0, microsecond=0)


Key = tuple[str, int, int, int, int]  # bucket iso, brand, channel, queue, agent


def contribution(fact: Fact) -> list[list[Any]]:
    """What a fact adds to report_interval: contact measures in the bucket of arrival (keyed by
    the answering agent), resolution measures in the bucket of resolution (keyed by the
    resolver). JSON-ready: ``[[bucket iso, brand, channel, queue, agent, {measure: n}], ...]``."""
    dims = (fact.brand_id, fact.channel_id, fact.queue_id)
    contact: dict[str, int] = {"offered": 1} if fact.offered else {}
    if fact.answered_at is not None and fact.wait_seconds is not None:
        contact["answered"] = 1
        contact["wait_sum"] = fact.wait_seconds
        for edge in SL_EDGES:
            if fact.wait_seconds <= edge:
                contact[f"answered_le_{edge}"] = 1
    if fact.abandoned:
        contact["abandoned"] = 1
        assert fact.resolved_at is not None
        contact["abandon_wait_sum"] = _seconds(fact.resolved_at, fact.created_at)
        if fact.short_abandon:
            contact["abandoned_short"] = 1
    if fact.frt_seconds is not None:
        contact["responded"] = 1
        contact["frt_sum"] = fact.frt_seconds
    for name in ("transfers", "messages_in", "messages_out", "sla_total", "sla_met"):
        if getattr(fact, name):
            contact[name] = getattr(fact, name)
    out: list[list[Any]] = [[bucket_of(fact.created_at).isoformat(), *dims, fact.agent_id, contact]]
    if fact.resolved_at is not None and not fact.abandoned:
        resolution: dict[str, int] = {"resolved": 1}
        resolution["resolution_sum"] = fact.resolution_seconds or 0
        if fact.resolver_id:
            resolution["handled"] = 1
            resolution["handle_sum"] = fact.handle_seconds
            resolution["wrap_sum"] = fact.wrap_seconds
        if fact.reopens:
            resolution["reopened"] = 1
        if fact.fcr:
            resolution["fcr"] = 1
        out.append([bucket_of(fact.resolved_at).isoformat(), *dims, fact.resolver_id, resolution])
    return out


def survey_contribution(kind: str, score: int) -> dict[str, int]:
    """A survey answer's measures: CSAT 1-5 (4-5 satisfied), NPS 0-10 (9-10 promoters, 0-6
    detractors), CES 1-7."""
    if kind == "csat":
        return {"csat_n": 1, "csat_sum": score, "csat_good": int(score >= 4)}
    if kind == "nps":
        return {
            "nps_n": 1,
            "nps_promoters": int(score >= 9),
            "nps_detractors": int(score <= 6),
        }
    if kind == "ces":
        return {"ces_n": 1, "ces_sum": score}
    raise ValueError(f"unknown survey kind {kind!r}")


SURVEY_RANGES: Final = {"csat": (1, 5), "nps": (0, 10), "ces": (1, 7)}


def diff(old: Iterable[Sequence[Any]], new: Iterable[Sequence[Any]]) -> dict[Key, dict[str, int]]:
    """The change to report_interval when a fact's contribution goes from ``old`` to ``new``."""
    out: dict[Key, dict[str, int]] = {}
    for sign, parts in ((-1, old), (1, new)):
        for bucket, brand, channel, queue, agent, measures in parts:
            key = (str(bucket), int(brand), int(channel), int(queue), int(agent))
            slot = out.setdefault(key, {})
            for name, value in measures.items():
                slot[name] = slot.get(name, 0) + sign * int(value)
    return {k: {n: v for n, v in m.items() if v} for k, m in out.items() if any(m.values())}


# --------------------------------------------------------------------------- periods


def period_start(bucket: datetime, interval: str) -> datetime:
    """The start of the period holding ``bucket``: sub-hour intervals in UTC (shown in local
    time), days, ISO weeks and months in Europe/Rome (returned as aware local datetimes)."""
    if interval == "15min":
        return bucket
    if interval == "30min":
        return bucket.replace(minute=bucket.minute - bucket.minute % 30)
    if interval == "60min":
        return bucket.replace(minute=0)
    local = bucket.astimezone(ROME)
    day = local.replace(hour=0, minute=0, second=0, microsecond=0, tzinfo=None)
    if interval == "week":
        day -= timedelta(days=day.weekday())
    elif interval == "month":
        day = day.replace(day=1)
    elif interval != "day":
        raise ValueError(f"unknown interval {interval!r}")
    return day.replace(tzinfo=ROME)


def local_day(at: datetime) -> date:
    """The day in Rome of an instant."""
    return at.astimezone(ROME).date()


def local_midnight(at: datetime) -> datetime:
    """Midnight in Rome of the day holding ``at``, as UTC."""
    local = at.astimezone(ROME).replace(hour=0, minute=0, second=0, microsecond=0, tzinfo=None)
    return local.replace(tzinfo=ROME).astimezone(UTC)


# --------------------------------------------------------------------------- KPIs from sums


def empty_sums() -> dict[str, int]:
    return dict.fromkeys(INTERVAL_MEASURES, 0)


def add_into(target: dict[str, int], source: Mapping[str, Any]) -> None:
    for name in INTERVAL_MEASURES:
        target[name] += int(source.get(name) or 0)


def _ratio(a: float, b: float) -> float | None:
    return a / b if b else None


def compute(sums: Mapping[str, int], config: ReportConfig) -> dict[str, float | int | None]:
    """Every KPI that the interval sums give (occupancy and backlog come from elsewhere)."""
    exclude = config.short_abandons == "exclude"
    short = sums["abandoned_short"] if exclude else 0
    offered = sums["offered"] - short
    edge = config.sl_seconds if config.sl_seconds in SL_EDGES else 300
    nps_n = sums["nps_n"]
    return {
        "volume": offered,
        "answered": sums["answered"],
        "abandoned": sums["abandoned"] - short,
        "service_level": _ratio(sums[f"answered_le_{edge}"], offered),
        "asa": _ratio(sums["wait_sum"], sums["answered"]),
        "aht": _ratio(sums["handle_sum"] + sums["wrap_sum"], sums["handled"]),
        "frt": _ratio(sums["frt_sum"], sums["responded"]),
        "resolved": sums["resolved"],
        "resolution_time": _ratio(sums["resolution_sum"], sums["resolved"]),
        "abandonment_rate": _ratio(sums["abandoned"] - short, offered),
        "fcr": _ratio(sums["fcr"], sums["resolved"]),
        "reopen_rate": _ratio(sums["reopened"], sums["resolved"]),
        "transfers": sums["transfers"],
        "transfer_rate": _ratio(sums["transfers"], sums["answered"]),
        "csat": _ratio(sums["csat_good"], sums["csat_n"]),
        "csat_avg": _ratio(sums["csat_sum"], sums["csat_n"]),
        "csat_n": sums["csat_n"],
        "nps": (
            None if not nps_n else 100 * (sums["nps_promoters"] - sums["nps_detractors"]) / nps_n
        ),
        "nps_n": nps_n,
        "ces": _ratio(sums["ces_sum"], sums["ces_n"]),
        "ces_n": sums["ces_n"],
        "sla_compliance": _ratio(sums["sla_met"], sums["sla_total"]),
        "messages_in": sums["messages_in"],
        "messages_out": sums["messages_out"],
    }


def occupancy(work_seconds: float, available_seconds: float) -> float | None:
    """None when the presence log does not cover the work (more work than time available:
    the agent worked before presence was recorded)."""
    if work_seconds > available_seconds:
        return None
    return _ratio(work_seconds, available_seconds)


def presence_seconds(
    log: Sequence[tuple[datetime, str]],
    *,
    start: datetime,
    end: datetime,
    before: str | None,
    states: frozenset[str] = frozenset({"available", "busy"}),
) -> float:
    """Seconds in ``states`` between start and end, from one agent's presence changes in time
    order (``before``: the state at ``start``)."""
    total = 0.0
    state, since = before, start
    for at, presence in log:
        at = min(max(at, start), end)
        if state in states:
            total += (at - since).total_seconds()
        state, since = presence, at
    if state in states:
        total += (end - since).total_seconds()
    return max(total, 0.0)
