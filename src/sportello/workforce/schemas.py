"""API shapes of workforce management."""

from __future__ import annotations

from pydantic import BaseModel


class ErlangResult(BaseModel):
    mode: str  # "required" (agents found for the target) or "evaluate" (given agents)
    model: str  # "erlang_c" or "erlang_a"
    agents: int  # productive agents on the queue
    scheduled_agents: int  # agents to schedule, after shrinkage
    traffic_erlangs: float
    service_level: float
    answer_within_seconds: float
    asa_seconds: float
    occupancy: float
    wait_probability: float
    abandon_probability: float
    meets_target: bool
