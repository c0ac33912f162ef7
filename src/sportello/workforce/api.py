"""REST API v1: workforce maths (Erlang C / A staffing)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query

from sportello.web.api import ReadCaller, api_router
from sportello.workforce.schemas import ErlangResult

router = api_router("workforce")


@router.get(
    "/wfm/erlang",
    summary="Agents required for a service level, or the service level of a staffing",
    response_model=ErlangResult,
)
def erlang_view(
    caller: ReadCaller,
    calls: Annotated[float, Query(ge=0, le=1e7, description="Contacts in the interval")],
    aht: Annotated[float, Query(ge=1, le=86400, description="Average handle time, seconds")],
    interval: Annotated[float, Query(ge=60, le=86400, description="Interval, seconds")] = 900,
    target: Annotated[float, Query(gt=0, lt=1, description="Service-level target")] = 0.8,
    answer_within: Annotated[float, Query(ge=0, le=86400, description="Threshold, s")] = 20,
    agents: Annotated[int | None, Query(ge=0, le=100_000, description="Evaluate this")] = None,
    patience: Annotated[
        float | None, Query(ge=1, le=86400, description="Mean patience: Erlang A")
    ] = None,
    shrinkage: Annotated[float, Query(ge=0, lt=1)] = 0.0,
    max_occupancy: Annotated[float, Query(gt=0, le=1)] = 1.0,
    concurrency: Annotated[int, Query(ge=1, le=50)] = 1,
    target_asa: Annotated[float | None, Query(ge=1, le=86400)] = None,
) -> dict[str, Any]:
    """Erlang C (or Erlang A when `patience` is given), exact. Without `agents` it finds the
    fewest productive agents meeting `target` within `answer_within` seconds (and `target_asa`,
    `max_occupancy`); with `agents` (scheduled, before shrinkage) it evaluates that staffing.
    An unstable queue (traffic at or above the agents, no patience) is a 422."""
    from sportello.workforce import erlang

    return erlang.answer(
        calls=calls,
        aht=aht,
        interval=interval,
        answer_within=answer_within,
        target=target,
        agents=agents,
        patience=patience,
        shrinkage=shrinkage,
        max_occupancy=max_occupancy,
        concurrency=concurrency,
        target_asa=target_asa,
    )
