"""Progressive pacing: a number is dialed only for an agent who is ready and has no call of the
campaign in progress, so there are never more calls than ready agents (no abandoned calls by
design). Pure functions over a snapshot, so the rule can be checked on any state."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class AgentSnapshot:
    user_id: int
    presence: str  # routing's Presence value
    in_call: bool  # a campaign attempt of this agent is open (dialing or talking)
    on_campaign: bool = True  # the agent has the campaign's work page open


def ready_agents(agents: Sequence[AgentSnapshot]) -> list[int]:
    return [
        a.user_id for a in agents if a.presence == "available" and a.on_campaign and not a.in_call
    ]


def plan_dials(
    agents: Sequence[AgentSnapshot], callable_contacts: Sequence[int]
) -> list[tuple[int, int]]:
    """(agent, contact) pairs to dial now: one contact for each ready agent, at most as many as
    there are contacts; longest-waiting contacts first, agents in the order given (the caller
    orders them longest idle first)."""
    return list(zip(ready_agents(agents), callable_contacts, strict=False))
