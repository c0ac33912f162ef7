"""Required staff per interval, by channel class, from forecast contacts and handle time.

* ``voice``: Erlang A when the plan has a patience (the queue has abandons), else Erlang C;
* ``chat``: Erlang C on chat slots, an agent handling ``concurrency`` chats at once;
* ``messaging`` / ``email``: a backlog model. Nobody waits on the line: the work of each interval
  must be done within the SLA (``backlog_sla_seconds``). Spreading each interval's work evenly
  over the SLA window that follows it, the productive agents needed in an interval are the work
  that arrived in the last SLA window divided by the window's length (and by the maximum
  occupancy). The need stays fractional (0.2 of an agent at night is work one person clears in
  the morning, not a person awake all night); the scheduler covers fractions like any need.
  Its "service level" is the share of that need the staffing covers.

Then shrinkage turns productive agents into agents to schedule. Vectorised: a month of
intervals is one call per series.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from sportello.workforce import erlang

Array = npt.NDArray[np.float64]
BACKLOG = frozenset({"messaging", "email"})


class PlanLike(Protocol):
    service_level_target: float
    answer_within_seconds: int
    target_asa_seconds: int | None
    patience_seconds: int | None
    shrinkage: float
    max_occupancy: float
    concurrency: int
    backlog_sla_seconds: int | None


@dataclass
class Staffing:
    productive: Array  # whole agents for Erlang; fractional (FTE) for backlog channels
    scheduled: Array
    service_level: Array
    model: str


def model_for(channel_class: str, plan: PlanLike) -> str:
    if channel_class in BACKLOG:
        return "backlog"
    if channel_class == "chat":
        return "chat"
    return "erlang_a" if plan.patience_seconds else "erlang_c"


def _backlog_need(work_seconds: Array, interval_seconds: float, sla_seconds: float) -> Array:
    window = max(1, math.ceil(sla_seconds / interval_seconds))
    csum = np.concatenate([[0.0], np.cumsum(work_seconds)])
    idx = np.arange(work_seconds.size)
    moving = csum[idx + 1] - csum[np.maximum(idx + 1 - window, 0)]
    result: Array = moving / (window * interval_seconds)
    return result


def required_staff(
    *, contacts: Array, aht: Array, interval_seconds: float, channel_class: str, plan: PlanLike
) -> Staffing:
    model = model_for(channel_class, plan)
    if model == "backlog":
        sla = float(plan.backlog_sla_seconds or plan.answer_within_seconds or 8 * 3600)
        productive = _backlog_need(contacts * aht, interval_seconds, sla) / plan.max_occupancy
        scheduled = productive / (1.0 - plan.shrinkage)
        sl = np.ones_like(productive)
    else:
        m = erlang.required(
            calls=contacts,
            aht=aht,
            interval=interval_seconds,
            target=plan.service_level_target,
            answer_within=plan.answer_within_seconds,
            target_asa=plan.target_asa_seconds,
            patience=plan.patience_seconds if model == "erlang_a" else None,
            max_occupancy=plan.max_occupancy,
            concurrency=plan.concurrency if model == "chat" else 1,
        )
        productive = m.agents.astype(np.float64)
        scheduled = erlang.with_shrinkage(m.agents, plan.shrinkage).astype(np.float64)
        sl = m.service_level
    return Staffing(productive=productive, scheduled=scheduled, service_level=sl, model=model)


def service_level_with(
    *,
    contacts: Array,
    aht: Array,
    interval_seconds: float,
    channel_class: str,
    plan: PlanLike,
    scheduled_agents: Array,
) -> Array:
    """Expected service level per interval with the agents on shift (shrinkage applied).

    Erlang channels: the service level of each interval's staffing (whole agents). Backlog
    channels: the work is played through the day first in, first out with the agents' time
    (fractional agents are fine: it is time), and each interval's value is the share of the work
    that arrived in it done within the SLA (work whose deadline falls after the day counts as
    on time: tomorrow's shifts are not in view)."""
    model = model_for(channel_class, plan)
    if model == "backlog":
        sla = float(plan.backlog_sla_seconds or plan.answer_within_seconds or 8 * 3600)
        window = max(1, math.ceil(sla / interval_seconds))
        capacity = (
            np.maximum(scheduled_agents, 0)
            * (1 - plan.shrinkage)
            * plan.max_occupancy
            * interval_seconds
        )
        return _backlog_service_level(contacts * aht, capacity, window)
    productive = np.floor(np.maximum(scheduled_agents, 0) * (1 - plan.shrinkage) + 1e-9)
    m = erlang.evaluate(
        calls=contacts,
        aht=aht,
        interval=interval_seconds,
        agents=productive,
        answer_within=plan.answer_within_seconds,
        patience=plan.patience_seconds if model == "erlang_a" else None,
        concurrency=plan.concurrency if model == "chat" else 1,
        strict=False,
    )
    return m.service_level


def _backlog_service_level(work: Array, capacity: Array, window: int) -> Array:
    """Share of each interval's work done within ``window`` intervals, first in first out."""
    n = work.size
    on_time = np.zeros(n)
    late = np.zeros(n)
    queue: deque[list[float]] = deque()  # [arrival interval, work left]
    for i in range(n):
        if work[i] > 0:
            queue.append([float(i), float(work[i])])
        room = float(capacity[i])
        while queue and room > 1e-9:
            item = queue[0]
            take = min(room, item[1])
            item[1] -= take
            room -= take
            arrival = int(item[0])
            if i - arrival < window:
                on_time[arrival] += take
            else:
                late[arrival] += take
            if item[1] <= 1e-9:
                queue.popleft()
    for arrival_f, left in queue:  # never done today
        arrival = int(arrival_f)
        if arrival + window <= n:
            late[arrival] += left  # its deadline was today: missed
        else:
            on_time[arrival] += left  # due tomorrow: not judged here
    done = on_time + late
    with np.errstate(divide="ignore", invalid="ignore"):
        result: Array = np.where(done > 0, on_time / done, 1.0)
    return result
