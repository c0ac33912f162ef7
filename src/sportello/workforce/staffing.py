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
    """Expected service level per interval with the agents on shift (shrinkage applied)."""
    productive = np.floor(np.maximum(scheduled_agents, 0) * (1 - plan.shrinkage) + 1e-9)
    model = model_for(channel_class, plan)
    if model == "backlog":
        sla = float(plan.backlog_sla_seconds or plan.answer_within_seconds or 8 * 3600)
        need = _backlog_need(contacts * aht, interval_seconds, sla)
        with np.errstate(divide="ignore", invalid="ignore"):
            result: Array = np.where(need > 0, np.minimum(productive / need, 1.0), 1.0)
        return result
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
