"""The pure half of the router: who gets what, decided in memory from a snapshot.

Order: queue priority, then conversation priority, then waiting time (since it entered its queue).
Candidates: agents who serve the queue (team or explicit membership; a queue with neither is served
by everyone), have every required skill at the minimum level and room for one more conversation of
the channel's class. After the queue's overflow delay, agents of the overflow queue are candidates
too. Best candidate: longest idle first, ties by proficiency (sum of levels on the required
skills), then by id. A conversation pinned to an agent waits for that agent only; agents who
declined or let an offer expire recently are skipped. Decisions for a whole snapshot, one per
conversation, in amortised O(log agents) each. No database here: snapshot.py loads the inputs,
actions.py commits the decisions.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sportello.routing.capacity import Limits


@dataclass(slots=True)
class QueueSnap:
    id: int
    priority: int
    mode: str = "push"
    offer_timeout: int = 30
    overflow_queue_id: int | None = None
    overflow_after: timedelta | None = None
    requirements: tuple[tuple[int, int], ...] = ()
    team_id: int | None = None
    members: frozenset[int] = frozenset()


@dataclass(slots=True)
class AgentSnap:
    id: int
    idle_key: float
    limits: Limits
    load: dict[str, int]
    skills: dict[int, int] = field(default_factory=dict)
    team_ids: frozenset[int] = frozenset()
    version: int = 0


@dataclass(slots=True)
class WaitingSnap:
    id: int
    queue_id: int
    priority_rank: int
    waiting_since: datetime
    cls: str
    pinned_user_id: int | None = None
    declined: frozenset[int] = frozenset()


@dataclass(frozen=True, slots=True)
class Decision:
    conversation_id: int
    user_id: int
    queue_id: int
    cls: str
    mode: str
    offer_timeout: int


def serves(queue: QueueSnap, agent: AgentSnap) -> bool:
    if queue.team_id is None and not queue.members:
        return True
    return agent.id in queue.members or (
        queue.team_id is not None and queue.team_id in agent.team_ids
    )


def proficiency(queue: QueueSnap, agent: AgentSnap) -> int | None:
    """Sum of the agent's levels on the queue's required skills; ``None`` if not eligible."""
    total = 0
    for skill_id, min_level in queue.requirements:
        level = agent.skills.get(skill_id, 0)
        if level < min_level:
            return None
        total += level
    return total


# ----------------------------------------------------------------------------- planner


class Planner:
    """Decides, in memory, who gets what. Capacity in a plan only shrinks, so an agent found full
    for a class is dropped from that class's heaps for the rest of the plan."""

    def __init__(self, queues: dict[int, QueueSnap], agents: dict[int, AgentSnap]) -> None:
        self.queues = queues
        self.agents = agents
        self._heaps: dict[tuple[int, str], list[tuple[float, int, int, int]]] = {}
        self._eligible: dict[int, list[tuple[int, int]]] = {}
        self._tick = 0.0

    def eligible(self, queue_id: int) -> list[tuple[int, int]]:
        found = self._eligible.get(queue_id)
        if found is None:
            queue = self.queues[queue_id]
            found = []
            for agent in self.agents.values():
                if serves(queue, agent):
                    prof = proficiency(queue, agent)
                    if prof is not None:
                        found.append((agent.id, prof))
            self._eligible[queue_id] = found
        return found

    def _heap(self, queue_id: int, cls: str) -> list[tuple[float, int, int, int]]:
        heap = self._heaps.get((queue_id, cls))
        if heap is None:
            heap = []
            for agent_id, prof in self.eligible(queue_id):
                agent = self.agents[agent_id]
                if agent.limits.has_room(agent.load, cls):
                    heap.append((agent.idle_key, -prof, agent_id, agent.version))
            heapq.heapify(heap)
            self._heaps[(queue_id, cls)] = heap
        return heap

    def _best(
        self, queue_id: int, cls: str, exclude: frozenset[int]
    ) -> tuple[float, int, int, int] | None:
        heap = self._heap(queue_id, cls)
        aside: list[tuple[float, int, int, int]] = []
        best: tuple[float, int, int, int] | None = None
        while heap:
            _idle, negprof, agent_id, version = heap[0]
            agent = self.agents[agent_id]
            if version != agent.version:
                heapq.heapreplace(heap, (agent.idle_key, negprof, agent_id, agent.version))
                continue
            if not agent.limits.has_room(agent.load, cls):
                heapq.heappop(heap)
                continue
            if agent_id in exclude:
                aside.append(heapq.heappop(heap))
                continue
            best = heap[0]
            break
        for entry in aside:
            heapq.heappush(heap, entry)
        return best

    def decide(self, item: WaitingSnap, now: datetime) -> int | None:
        """The agent for one conversation (and book the capacity), or ``None``."""
        queue = self.queues.get(item.queue_id)
        if queue is None:
            return None
        if item.pinned_user_id is not None:
            agent = self.agents.get(item.pinned_user_id)
            if (
                agent is None
                or agent.id in item.declined
                or not agent.limits.has_room(agent.load, item.cls)
            ):
                return None
            return self._book(agent, item.cls, now)
        best = self._best(queue.id, item.cls, item.declined)
        if (
            queue.overflow_queue_id is not None
            and queue.overflow_after is not None
            and queue.overflow_queue_id in self.queues
            and now - item.waiting_since >= queue.overflow_after
        ):
            other = self._best(queue.overflow_queue_id, item.cls, item.declined)
            if other is not None and (best is None or other[:3] < best[:3]):
                best = other
        if best is None:
            return None
        return self._book(self.agents[best[2]], item.cls, now)

    def _book(self, agent: AgentSnap, cls: str, now: datetime) -> int:
        agent.load[cls] = agent.load.get(cls, 0) + 1
        self._tick += 1e-6
        agent.idle_key = now.timestamp() + self._tick
        agent.version += 1
        return agent.id

    def plan(self, waiting: Iterable[WaitingSnap], now: datetime) -> list[Decision]:
        decisions = []
        for item in order_waiting(waiting, self.queues):
            agent_id = self.decide(item, now)
            if agent_id is not None:
                queue = self.queues[item.queue_id]
                decisions.append(
                    Decision(
                        item.id, agent_id, item.queue_id, item.cls, queue.mode, queue.offer_timeout
                    )
                )
        return decisions


def order_waiting(
    waiting: Iterable[WaitingSnap], queues: dict[int, QueueSnap]
) -> list[WaitingSnap]:
    def key(w: WaitingSnap) -> tuple[int, int, datetime, int]:
        queue = queues.get(w.queue_id)
        return (-(queue.priority if queue else 0), -w.priority_rank, w.waiting_since, w.id)

    return sorted(waiting, key=key)
