"""Automatic schedule: which agent works which shift template on which day, on which channel.

A mixed-integer programme solved by HiGHS (``highspy``, MIT; 3 MB against OR-Tools' 30 MB):

* ``x[a, d, t, c]`` = 1 when agent ``a`` works template ``t`` on day ``d`` on channel ``c``,
  created only where the contract allows it (channel among the agent's skills, not a day off);
* at most one shift a day; per week at most ``days_per_week`` shifts and ``hours_per_week``
  paid hours (part-time contracts simply have fewer);
* coverage: for every channel, day and interval, the agents on shift plus a shortfall variable
  reach the requirement (agents to schedule, shrinkage included);
* objective: shortfall first (weight 1,000 an agent-interval), then contract hours left unused
  (1 an hour), then shifts outside the agent's preferred templates (5 each).

Breaks and lunch are placed afterwards, greedily, where the coverage has the most to spare.
"""

from __future__ import annotations

import time as clock
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

SHORTFALL_WEIGHT = 1000.0
UNUSED_HOUR_WEIGHT = 1.0
NOT_PREFERRED_WEIGHT = 5.0


@dataclass(frozen=True)
class Template:
    id: int
    name: str
    start_minute: int
    end_minute: int
    break_minutes: int = 15
    lunch_minutes: int = 0

    @property
    def paid_hours(self) -> float:
        return (self.end_minute - self.start_minute - self.lunch_minutes) / 60


@dataclass(frozen=True)
class Agent:
    id: int
    hours_per_week: float
    days_per_week: int
    channels: tuple[str, ...]
    days_off: tuple[int, ...] = ()
    preferred_template_ids: tuple[int, ...] = ()


@dataclass
class PlannedShift:
    agent_id: int
    day: date
    template_id: int
    channel: str
    start_at: datetime
    end_at: datetime
    breaks: list[dict[str, str]] = field(default_factory=list)


@dataclass
class Plan:
    shifts: list[PlannedShift]
    status: str
    seconds: float
    shortfall: float  # agent-intervals not covered
    objective: float


def solve(
    *,
    days: Sequence[date],
    templates: Sequence[Template],
    agents: Sequence[Agent],
    requirement: dict[str, npt.NDArray[np.float64]],  # channel -> [day, slot] agents needed
    interval_minutes: int,
    tz: ZoneInfo,
    time_limit: float = 50.0,
    mip_gap: float = 0.01,
) -> Plan:
    import highspy
    from scipy import sparse

    started = clock.perf_counter()
    slots = 24 * 60 // interval_minutes
    channels = sorted(requirement)
    ch_index = {c: i for i, c in enumerate(channels)}
    n_days = len(days)

    # template coverage by slot (1 while on shift)
    cover = np.zeros((len(templates), slots))
    for ti, t in enumerate(templates):
        a = t.start_minute // interval_minutes
        b = -(-t.end_minute // interval_minutes)
        cover[ti, a : min(b, slots)] = 1.0

    cols: list[tuple[int, int, int, int]] = []  # (agent index, day index, template index, ch)
    cost: list[float] = []
    for ai, agent in enumerate(agents):
        for di, d in enumerate(days):
            if d.weekday() in agent.days_off:
                continue
            for ti, t in enumerate(templates):
                for name in agent.channels:
                    if name not in ch_index:
                        continue
                    cols.append((ai, di, ti, ch_index[name]))
                    penalty = (
                        NOT_PREFERRED_WEIGHT
                        if agent.preferred_template_ids and t.id not in agent.preferred_template_ids
                        else 0.0
                    )
                    # unused contract hours cost 1 an hour: each worked hour saves 1
                    cost.append(penalty - UNUSED_HOUR_WEIGHT * t.paid_hours)
    n_x = len(cols)
    n_short = len(channels) * n_days * slots
    n_cols = n_x + n_short

    rows_i: list[int] = []
    cols_j: list[int] = []
    vals: list[float] = []
    row_lo: list[float] = []
    row_hi: list[float] = []
    row = 0
    inf = highspy.kHighsInf

    col_arr = np.array(cols, dtype=np.int64).reshape(-1, 4)
    # one shift a day per agent
    day_groups: dict[tuple[int, int], list[int]] = {}
    week_groups: dict[tuple[int, int], list[int]] = {}
    for j, (ai, di, _ti, _c) in enumerate(cols):
        day_groups.setdefault((ai, di), []).append(j)
        week_groups.setdefault((ai, (days[di] - days[0]).days // 7), []).append(j)
    for js in day_groups.values():
        rows_i.extend([row] * len(js))
        cols_j.extend(js)
        vals.extend([1.0] * len(js))
        row_lo.append(-inf)
        row_hi.append(1.0)
        row += 1
    for (ai, _w), js in week_groups.items():
        agent = agents[ai]
        rows_i.extend([row] * len(js))
        cols_j.extend(js)
        vals.extend([1.0] * len(js))
        row_lo.append(-inf)
        row_hi.append(float(agent.days_per_week))
        row += 1
        rows_i.extend([row] * len(js))
        cols_j.extend(js)
        vals.extend([templates[cols[j][2]].paid_hours for j in js])
        row_lo.append(-inf)
        row_hi.append(float(agent.hours_per_week) + 1e-6)
        row += 1
    # coverage rows
    if n_x:
        by_cd: dict[tuple[int, int], list[int]] = {}
        for j, (_ai, di, _ti, c) in enumerate(cols):
            by_cd.setdefault((c, di), []).append(j)
    else:
        by_cd = {}
    for c in range(len(channels)):
        req = requirement[channels[c]]
        for di in range(n_days):
            js = by_cd.get((c, di), [])
            tis = col_arr[js, 2] if js else np.zeros(0, dtype=np.int64)
            for s in range(slots):
                need = float(req[di, s]) if di < req.shape[0] else 0.0
                if need <= 0:
                    continue
                covering = [j for j, ti in zip(js, tis, strict=True) if cover[ti, s] > 0]
                rows_i.extend([row] * (len(covering) + 1))
                cols_j.extend(covering)
                cols_j.append(n_x + (c * n_days + di) * slots + s)
                vals.extend([1.0] * (len(covering) + 1))
                row_lo.append(need)
                row_hi.append(inf)
                row += 1

    lp = highspy.HighsLp()
    lp.num_col_ = n_cols
    lp.num_row_ = row
    lp.col_cost_ = np.concatenate([np.array(cost), np.full(n_short, SHORTFALL_WEIGHT)])
    lp.col_lower_ = np.zeros(n_cols)
    lp.col_upper_ = np.concatenate([np.ones(n_x), np.full(n_short, inf)])
    lp.row_lower_ = np.array(row_lo)
    lp.row_upper_ = np.array(row_hi)
    matrix = sparse.csc_matrix(
        (np.array(vals), (np.array(rows_i), np.array(cols_j))), shape=(row, n_cols)
    )
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = matrix.indptr
    lp.a_matrix_.index_ = matrix.indices
    lp.a_matrix_.value_ = matrix.data
    lp.a_matrix_.num_col_ = n_cols
    lp.a_matrix_.num_row_ = row
    lp.integrality_ = [highspy.HighsVarType.kInteger] * n_x + [
        highspy.HighsVarType.kContinuous
    ] * n_short
    h = highspy.Highs()  # type: ignore[no-untyped-call]
    h.setOptionValue("output_flag", False)
    h.setOptionValue("time_limit", float(time_limit))
    h.setOptionValue("mip_rel_gap", float(mip_gap))
    h.setOptionValue("threads", 1)
    h.passModel(lp)
    h.run()
    status = h.modelStatusToString(h.getModelStatus())
    values = np.asarray(h.getSolution().col_value)
    if values.size != n_cols:
        values = np.zeros(n_cols)
    chosen = [cols[j] for j in range(n_x) if values[j] > 0.5]
    shortfall = float(values[n_x:].sum()) if n_short else 0.0

    shifts = []
    coverage = np.zeros((len(channels), n_days, slots))
    for _ai, di, ti, c in chosen:
        coverage[c, di] += cover[ti]
    for ai, di, ti, c in chosen:
        t = templates[ti]
        d = days[di]
        start_local = datetime.combine(d, datetime.min.time(), tzinfo=tz) + timedelta(
            minutes=t.start_minute
        )
        end_local = datetime.combine(d, datetime.min.time(), tzinfo=tz) + timedelta(
            minutes=t.end_minute
        )
        grid = requirement[channels[c]]
        day_need = grid[di] if di < grid.shape[0] else None
        breaks = _place_breaks(t, coverage[c, di], day_need, interval_minutes)
        shifts.append(
            PlannedShift(
                agent_id=agents[ai].id,
                day=d,
                template_id=t.id,
                channel=channels[c],
                start_at=start_local.astimezone(ZoneInfo("UTC")),
                end_at=end_local.astimezone(ZoneInfo("UTC")),
                breaks=[
                    {
                        "kind": kind,
                        "start_at": (
                            datetime.combine(d, datetime.min.time(), tzinfo=tz)
                            + timedelta(minutes=m0)
                        )
                        .astimezone(ZoneInfo("UTC"))
                        .isoformat(),
                        "end_at": (
                            datetime.combine(d, datetime.min.time(), tzinfo=tz)
                            + timedelta(minutes=m1)
                        )
                        .astimezone(ZoneInfo("UTC"))
                        .isoformat(),
                    }
                    for kind, m0, m1 in breaks
                ],
            )
        )
    shifts.sort(key=lambda s: (s.start_at, s.agent_id))
    return Plan(
        shifts=shifts,
        status=status,
        seconds=clock.perf_counter() - started,
        shortfall=shortfall,
        objective=float(h.getInfo().objective_function_value),
    )


def _place_breaks(
    t: Template,
    coverage: npt.NDArray[np.float64],
    requirement: npt.NDArray[np.float64] | None,
    interval_minutes: int,
) -> list[tuple[str, int, int]]:
    """Lunch near the middle of the shift, a short break in each half (one if the shift is six
    hours or less), each where coverage exceeds the requirement most; updates ``coverage``."""
    length = t.end_minute - t.start_minute
    wanted: list[tuple[str, int, int, int]] = []  # kind, minutes, window start, window end
    mid = t.start_minute + length // 2
    if t.lunch_minutes:
        wanted.append(("lunch", t.lunch_minutes, mid - 90, mid + 60))
    if t.break_minutes:
        if length > 6 * 60:
            wanted.append(("break", t.break_minutes, t.start_minute + 90, mid - 60))
            wanted.append(("break", t.break_minutes, mid + 60, t.end_minute - 60))
        else:
            wanted.append(("break", t.break_minutes, t.start_minute + 120, t.end_minute - 90))
    out = []
    for kind, minutes, lo, hi in wanted:
        lo = max(lo, t.start_minute)
        hi = max(lo, min(hi, t.end_minute - minutes))
        best, best_score = lo, -np.inf
        for m in range(lo - lo % interval_minutes, hi + 1, interval_minutes):
            if m < lo:
                continue
            a = m // interval_minutes
            b = -(-(m + minutes) // interval_minutes)
            need = requirement[a:b] if requirement is not None else np.zeros(b - a)
            score = float(np.min(coverage[a:b] - need)) if b > a else 0.0
            if score > best_score:
                best, best_score = m, score
        a = best // interval_minutes
        b = -(-(best + minutes) // interval_minutes)
        coverage[a:b] -= minutes / ((b - a) * interval_minutes) if b > a else 0
        out.append((kind, best, best + minutes))
    return out
