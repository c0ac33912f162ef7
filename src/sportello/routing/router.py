"""The router (ACD): offers or assigns waiting conversations to the best available agent.

Waiting: status new or open, no assignee, in a queue, no live offer. Order: queue priority, then
conversation priority, then waiting time (since it entered its queue). Candidates: agents who are
``available``, serve the queue (team or explicit membership; a queue with neither is served by
everyone), have every required skill at the minimum level and room for one more conversation of
the channel's class (capacity.py). After the queue's overflow delay, agents of the overflow queue
are candidates too. Best candidate: longest idle first, ties by proficiency (sum of levels on the
required skills), then by id. A conversation pinned to an agent waits for that agent only; agents
who declined or let an offer expire are skipped for :data:`DECLINE_MEMORY`.

Two phases. **Plan** (pure, in memory, :class:`Planner`): decisions for a whole snapshot, one per
conversation, in amortised O(log agents) each. **Commit** (:func:`commit_batch`): one transaction a
batch that locks the agents' ``agent_state`` rows (``FOR UPDATE``, in id order, so routers never
deadlock) and the conversations (``FOR UPDATE SKIP LOCKED``; on SQLite ``BEGIN IMMEDIATE``
serialises writers), then re-reads presence, load and ownership under those locks and applies only
the decisions that are still valid. So whatever runs concurrently, no agent is routed beyond
capacity and no conversation gets two owners; a decision dropped at commit is retried by the next
run. Runs are triggered by events (new conversation or message, agent freed, presence change,
offer declined or expired, configuration change) and by a periodic sweep job; never by browsers.

Push mode: the decision becomes an :class:`~sportello.routing.models.Offer` (which reserves the
capacity) and a durable ``routing.offer_timeout`` job; accept assigns through
``conversations.actions.do_assign``, decline or timeout re-offers to the next agent, and a timeout
marks the agent ``away``. Auto mode: ``do_assign`` at once.
"""

from __future__ import annotations

import heapq
import json
import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import Integer, bindparam, delete, exists, func, insert, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, lazyload

from sportello.accounts.models import Role, User, team_member
from sportello.channels.models import Channel
from sportello.conversations import actions as conversations_actions
from sportello.conversations.models import (
    ACTIVE_STATUSES,
    PRIORITY_RANK,
    Conversation,
    Direction,
    Message,
    Priority,
    Status,
)
from sportello.core import jobs
from sportello.core.db import Database, utcnow
from sportello.core.dispatcher import subscribe, subscribe_batch
from sportello.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from sportello.core.events import ConversationAssigned, EventPayload, emit, register_event
from sportello.core.outbox import OutboxEvent
from sportello.routing import capacity, gates, presence, skills
from sportello.routing.capacity import ids_in
from sportello.routing.messages import _, conflict, invalid
from sportello.routing.models import (
    AgentSkill,
    AgentState,
    Offer,
    Queue,
    QueueMember,
    QueueRouting,
    QueueSkill,
    RoutingState,
    TeamRouting,
)

log = logging.getLogger(__name__)

MODES: Final = ("push", "auto")
WAITING_STATUSES: Final = (Status.NEW, Status.OPEN)
DECLINE_MEMORY: Final = timedelta(minutes=10)
DEFAULT_BATCH: Final = 500
#: Larger auto-mode batches are written with one statement each (``_assign_many``).
BULK_THRESHOLD: Final = 20
SWEEP_EVERY: Final = timedelta(seconds=15)
MIN_OFFER_TIMEOUT: Final = 5
MAX_OFFER_TIMEOUT: Final = 600


# ----------------------------------------------------------------------------- events


class OfferEvent(EventPayload):
    offer_id: int
    conversation_id: int
    number: int | None
    user_id: int
    queue_id: int | None
    expires_at: datetime | None


class ConversationRouted(EventPayload):
    conversation_id: int
    queue_id: int | None
    from_queue_id: int | None
    assignee_id: int | None
    pinned_user_id: int | None
    by_user_id: int | None
    action: str


register_event("routing.offered", OfferEvent)
register_event("routing.offer_accepted", OfferEvent)
register_event("routing.offer_declined", OfferEvent)
register_event("routing.offer_expired", OfferEvent)
register_event("routing.supervised", ConversationRouted)


# ----------------------------------------------------------------------------- snapshot


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
    limits: capacity.Limits
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


@dataclass
class Snapshot:
    now: datetime
    queues: dict[int, QueueSnap]
    agents: dict[int, AgentSnap]
    waiting: list[WaitingSnap]


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


# ----------------------------------------------------------------------------- loading


def load_queues(session: Session) -> dict[int, QueueSnap]:
    queues: dict[int, QueueSnap] = {}
    rows = session.execute(
        select(
            Queue.id,
            Queue.priority,
            Queue.team_id,
            QueueRouting.mode,
            QueueRouting.offer_timeout_seconds,
            QueueRouting.overflow_queue_id,
            QueueRouting.overflow_after_seconds,
        ).outerjoin(QueueRouting, QueueRouting.queue_id == Queue.id)
    )
    for qid, prio, team_id, mode, timeout, overflow_id, overflow_after in rows:
        queues[qid] = QueueSnap(
            id=qid,
            priority=prio,
            team_id=team_id,
            mode=mode or "push",
            offer_timeout=timeout or 30,
            overflow_queue_id=overflow_id,
            overflow_after=timedelta(seconds=overflow_after)
            if overflow_after is not None
            else None,
        )
    reqs: dict[int, list[tuple[int, int]]] = {}
    for qid, skill_id, min_level in session.execute(
        select(QueueSkill.queue_id, QueueSkill.skill_id, QueueSkill.min_level)
    ):
        reqs.setdefault(qid, []).append((skill_id, min_level))
    members: dict[int, set[int]] = {}
    for qid, uid in session.execute(select(QueueMember.queue_id, QueueMember.user_id)):
        members.setdefault(qid, set()).add(uid)
    for qid, queue in queues.items():
        queue.requirements = tuple(sorted(reqs.get(qid, ())))
        queue.members = frozenset(members.get(qid, ()))
    return queues


def load_agents(session: Session, agent_ids: Iterable[int] | None = None) -> dict[int, AgentSnap]:
    """Available, active agents with their limits, load, skills and teams."""
    stmt = (
        select(AgentState.user_id, AgentState.idle_since, AgentState.capacity)
        .join(User, User.id == AgentState.user_id)
        .where(AgentState.presence == presence.Presence.AVAILABLE.value, User.is_active.is_(True))
    )
    if agent_ids is not None:
        stmt = stmt.where(ids_in(session, AgentState.user_id, agent_ids))
    rows = list(session.execute(stmt))
    if rows:  # offer gates (a required briefing not yet acknowledged...) hold agents back
        held = gates.held_back(session, [r[0] for r in rows])
        rows = [r for r in rows if r[0] not in held]
    if not rows:
        return {}
    ids = [r[0] for r in rows]
    teams: dict[int, set[int]] = {}
    for uid, tid in session.execute(
        select(team_member.c.user_id, team_member.c.team_id).where(
            ids_in(session, team_member.c.user_id, ids)
        )
    ):
        teams.setdefault(uid, set()).add(tid)
    team_caps: dict[int, dict[str, Any]] = dict(
        session.execute(select(TeamRouting.team_id, TeamRouting.capacity)).all()
    )
    agent_skills: dict[int, dict[int, int]] = {}
    for uid, sid, level in session.execute(
        select(AgentSkill.user_id, AgentSkill.skill_id, AgentSkill.level).where(
            ids_in(session, AgentSkill.user_id, ids)
        )
    ):
        agent_skills.setdefault(uid, {})[sid] = level
    loads = capacity.loads_for(session, ids)
    agents = {}
    for uid, idle_since, own in rows:
        tids = frozenset(teams.get(uid, ()))
        limits = capacity.effective_limits(
            own or {}, [team_caps[t] or {} for t in sorted(tids) if t in team_caps]
        )
        agents[uid] = AgentSnap(
            id=uid,
            idle_key=idle_since.timestamp(),
            limits=limits,
            load=loads.get(uid, {}),
            skills=agent_skills.get(uid, {}),
            team_ids=tids,
        )
    return agents


def _declined(raw: Any, now: datetime) -> frozenset[int]:
    out = set()
    if isinstance(raw, list):
        for item in raw:
            try:
                uid, at = int(item[0]), datetime.fromisoformat(str(item[1]))
            except (TypeError, ValueError, IndexError):
                continue
            if now - at < DECLINE_MEMORY:
                out.add(uid)
    return frozenset(out)


def load_waiting(
    session: Session, queue_ids: Iterable[int] | None, now: datetime
) -> list[WaitingSnap]:
    stmt = (
        select(
            Conversation.id,
            Conversation.queue_id,
            Conversation.priority,
            Conversation.created_at,
            Channel.kind,
            RoutingState.queued_at,
            RoutingState.pinned_user_id,
            RoutingState.declined,
        )
        .select_from(Conversation)
        .outerjoin(Channel, Channel.id == Conversation.channel_id)
        .outerjoin(RoutingState, RoutingState.conversation_id == Conversation.id)
        .where(
            Conversation.status.in_(WAITING_STATUSES),
            Conversation.assignee_id.is_(None),
            Conversation.queue_id.is_not(None),
            ~exists().where(Offer.conversation_id == Conversation.id),
        )
    )
    if queue_ids is not None:
        stmt = stmt.where(ids_in(session, Conversation.queue_id, queue_ids))
    out = []
    for cid, qid, prio, created, kind, queued_at, pinned, declined in session.execute(stmt):
        assert qid is not None
        out.append(
            WaitingSnap(
                id=cid,
                queue_id=qid,
                priority_rank=PRIORITY_RANK[Priority(prio)],
                waiting_since=queued_at or created,
                cls=capacity.cached_class_of_kind(kind),
                pinned_user_id=pinned,
                declined=_declined(declined, now) if declined else frozenset(),
            )
        )
    return out


def load_snapshot(
    session: Session,
    *,
    queue_ids: Iterable[int] | None = None,
    agent_ids: Iterable[int] | None = None,
    now: datetime | None = None,
) -> Snapshot:
    now = now or utcnow()
    agents = load_agents(session, agent_ids)
    if not agents:  # nobody can take work: the common case of a queue filling up at night
        return Snapshot(now, {}, agents, [])
    queues = load_queues(session)
    scope: set[int] | None = set(queue_ids) if queue_ids is not None else None
    if agent_ids is not None:
        # The queues these agents serve, and the queues overflowing into those.
        served = {
            q.id
            for q in queues.values()
            if any(serves(q, a) and proficiency(q, a) is not None for a in agents.values())
        }
        served |= {q.id for q in queues.values() if q.overflow_queue_id in served}
        scope = served if scope is None else scope & served
    return Snapshot(now, queues, agents, load_waiting(session, scope, now))


# ----------------------------------------------------------------------------- commit


@dataclass
class RouteStats:
    planned: int = 0
    assigned: int = 0
    offered: int = 0
    dropped: int = 0
    waiting: int = 0
    agents: int = 0
    decision_seconds: list[float] = field(default_factory=list)

    @property
    def applied(self) -> int:
        return self.assigned + self.offered


def _is_pg(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def commit_batch(
    session: Session, decisions: Sequence[Decision], *, now: datetime | None = None
) -> tuple[int, int]:
    """Apply planned decisions that are still valid, under locks; returns (assigned, offered).

    The caller owns the transaction (begun as a writer: ``Database.transaction()``)."""
    if not decisions:
        return (0, 0)
    now = now or utcnow()
    agent_ids = sorted({d.user_id for d in decisions})
    conv_ids = sorted({d.conversation_id for d in decisions})
    # 1. The agents' capacity rows, in id order (no deadlock between routers).
    rows = session.execute(
        select(AgentState.user_id, AgentState.presence, AgentState.capacity)
        .where(ids_in(session, AgentState.user_id, agent_ids))
        .order_by(AgentState.user_id)
        .with_for_update()
    ).all()
    own = {uid: cap for uid, state, cap in rows if state == presence.Presence.AVAILABLE.value}
    if not own:
        return (0, 0)
    # 2. The conversations: skip those another router holds (it is deciding them right now).
    # A row locked FOR UPDATE is returned in its latest committed version (PostgreSQL re-checks
    # the conditions on it), so what this returns is current.
    lock = select(
        Conversation.id, Conversation.queue_id, Conversation.number, Conversation.priority
    ).where(
        ids_in(session, Conversation.id, conv_ids),
        Conversation.assignee_id.is_(None),
        Conversation.status.in_(WAITING_STATUSES),
    )
    if _is_pg(session):
        lock = lock.with_for_update(skip_locked=True)
    current = {cid: (qid, number, prio) for cid, qid, number, prio in session.execute(lock)}
    if not current:
        return (0, 0)
    # 3. Offers, users and loads in fresh statements (READ COMMITTED sees every commit made by
    # whoever held these locks before us).
    offered_already = set(
        session.scalars(
            select(Offer.conversation_id).where(
                ids_in(session, Offer.conversation_id, list(current))
            )
        )
    )
    names = {
        uid: name
        for uid, name, active in session.execute(
            select(User.id, User.name, User.is_active).where(ids_in(session, User.id, own))
        )
        if active
    }
    limits = capacity.limits_for(session, sorted(names), own=own)
    loads = capacity.loads_for(session, sorted(names))
    accepted: list[Decision] = []
    for d in decisions:
        state = current.get(d.conversation_id)
        if (
            state is None
            or state[0] != d.queue_id
            or d.conversation_id in offered_already
            or d.user_id not in names
        ):
            continue
        load = loads[d.user_id]
        if not limits[d.user_id].has_room(load, d.cls):
            continue
        load[d.cls] = load.get(d.cls, 0) + 1
        offered_already.add(d.conversation_id)
        accepted.append(d)
    if not accepted:
        return (0, 0)
    assigned = offered = 0
    auto = [d for d in accepted if d.mode == "auto"]
    push = [d for d in accepted if d.mode != "auto"]
    if len(auto) > BULK_THRESHOLD:
        refs = {cid: (number, qid, prio) for cid, (qid, number, prio) in current.items()}
        assigned += _assign_many(session, auto, names, refs, now)
    elif auto:
        users = {
            u.id: u
            for u in session.scalars(
                select(User)
                .where(ids_in(session, User.id, {d.user_id for d in auto}))
                .options(lazyload("*"))
            )
        }
        convs = {
            c.id: c
            for c in session.scalars(
                select(Conversation)
                .where(ids_in(session, Conversation.id, [d.conversation_id for d in auto]))
                .options(lazyload("*"))
            )
        }
        for d in auto:
            conversations_actions.do_assign(
                session, conversation=convs[d.conversation_id], assignee=users[d.user_id], by=None
            )
            assigned += 1
    if push:
        numbers = {cid: number for cid, (_, number, _) in current.items()}
        offers = [
            Offer(
                conversation_id=d.conversation_id,
                user_id=d.user_id,
                queue_id=d.queue_id,
                channel_class=d.cls,
                offered_at=now,
                expires_at=now + timedelta(seconds=d.offer_timeout),
            )
            for d in push
        ]
        session.add_all(offers)
        session.flush()
        for offer in offers:
            jobs.enqueue(
                session,
                "routing.offer_timeout",
                {"offer_id": offer.id, "conversation_id": offer.conversation_id},
                run_at=offer.expires_at,
                max_attempts=5,
            )
            emit(
                session, "routing.offered", _offer_event(offer, numbers.get(offer.conversation_id))
            )
            offered += 1
    touched = sorted({d.user_id for d in accepted})
    session.execute(
        update(AgentState)
        .where(ids_in(session, AgentState.user_id, touched))
        .values(idle_since=now)
    )
    return (assigned, offered)


def _assign_many(
    session: Session,
    decisions: Sequence[Decision],
    names: dict[int, str],
    refs: dict[int, tuple[int, int | None, Priority]],
    now: datetime,
) -> int:
    """The batch form of ``conversations.actions.do_assign`` for conversations the caller has
    locked and checked (unassigned, new or open): the same row changes, system message and
    ``conversation.assigned`` event, written with one statement each instead of one ORM flush
    per conversation. tests/routing/test_router.py checks that both write the same thing."""
    messages = [
        {
            "conversation_id": d.conversation_id,
            "channel_id": None,
            "direction": Direction.SYSTEM.value,
            "sender_name": "",
            "text": f"Assigned to {names[d.user_id]}",
            "meta": {"event": "assign", "to": names[d.user_id], "by": None},
            "created_at": now,
            "updated_at": now,
        }
        for d in decisions
    ]
    events = []
    for d in decisions:
        number, queue_id, priority = refs[d.conversation_id]
        payload = ConversationAssigned(
            conversation_id=d.conversation_id,
            number=number,
            queue_id=queue_id,
            assignee_id=d.user_id,
            status=Status.OPEN.value,
            priority=priority.value,
            previous_assignee_id=None,
            by_user_id=None,
        )
        events.append(
            {
                "name": "conversation.assigned",
                "payload": payload.model_dump(mode="json"),
                "created_at": now,
                "attempts": 0,
            }
        )
    if _is_pg(session):
        _pg_assign_rows(session, decisions, messages, events, now)
    else:
        session.execute(
            update(Conversation),
            [
                {
                    "id": d.conversation_id,
                    "assignee_id": d.user_id,
                    "status": Status.OPEN,
                    "updated_at": now,
                }
                for d in decisions
            ],
        )
        session.execute(insert(Message), messages)
        session.execute(insert(OutboxEvent), events)
    session.info["outbox_pending"] = True  # as emit() does: wake the dispatcher after commit
    # Objects of these conversations already in this session would be stale now.
    for obj in list(session.identity_map.values()):
        if isinstance(obj, Conversation) and obj.id in refs:
            session.expire(obj)
    return len(decisions)


def _pg_assign_rows(
    session: Session,
    decisions: Sequence[Decision],
    messages: list[dict[str, Any]],
    events: list[dict[str, Any]],
    now: datetime,
) -> None:
    """PostgreSQL: one UPDATE ... FROM unnest(arrays) and two COPYs, in the session's
    transaction (the rows PostgreSQL can take in a batch: ~88,000/s, COPY ~230,000/s)."""
    pairs = select(
        func.unnest(
            bindparam("cids", [d.conversation_id for d in decisions], type_=ARRAY(Integer))
        ).label("cid"),
        func.unnest(bindparam("aids", [d.user_id for d in decisions], type_=ARRAY(Integer))).label(
            "aid"
        ),
    ).subquery()
    session.execute(
        update(Conversation)
        .where(Conversation.id == pairs.c.cid)
        .values(assignee_id=pairs.c.aid, status=Status.OPEN, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    raw = session.connection().connection.driver_connection
    assert raw is not None
    with raw.cursor() as cursor:
        columns = (
            "conversation_id",
            "direction",
            "sender_name",
            "text",
            "meta",
            "created_at",
            "updated_at",
        )
        with cursor.copy(f"COPY conversation_message ({', '.join(columns)}) FROM STDIN") as copy:
            for m in messages:
                copy.write_row(
                    (
                        m["conversation_id"],
                        m["direction"],
                        "",
                        m["text"],
                        json.dumps(m["meta"]),
                        now,
                        now,
                    )
                )
        with cursor.copy(
            "COPY outbox_event (name, payload, created_at, attempts) FROM STDIN"
        ) as copy:
            for e in events:
                copy.write_row((e["name"], json.dumps(e["payload"]), now, 0))


def _offer_event(offer: Offer, number: int | None) -> OfferEvent:
    return OfferEvent(
        offer_id=offer.id,
        conversation_id=offer.conversation_id,
        number=number,
        user_id=offer.user_id,
        queue_id=offer.queue_id,
        expires_at=offer.expires_at,
    )


def _chunks(items: Sequence[Decision], size: int) -> Iterator[Sequence[Decision]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def route(
    db: Database,
    *,
    queue_ids: Iterable[int] | None = None,
    agent_ids: Iterable[int] | None = None,
    now: datetime | None = None,
    batch_size: int = DEFAULT_BATCH,
) -> RouteStats:
    """One routing run: snapshot, plan in memory, commit in batches under locks."""
    now = now or utcnow()
    with db.session() as session:
        snapshot = load_snapshot(session, queue_ids=queue_ids, agent_ids=agent_ids, now=now)
        session.rollback()
    stats = RouteStats(waiting=len(snapshot.waiting), agents=len(snapshot.agents))
    if not snapshot.waiting or not snapshot.agents:
        return stats
    planner = Planner(snapshot.queues, snapshot.agents)
    decisions = planner.plan(snapshot.waiting, now)
    stats.planned = len(decisions)
    for batch in _chunks(decisions, batch_size):
        try:
            with db.transaction() as session:
                assigned, offered = commit_batch(session, batch, now=now)
        except IntegrityError:  # a racing writer made the same offer first: next run re-plans
            log.info("routing batch lost a race; it will be re-planned")
            continue
        stats.assigned += assigned
        stats.offered += offered
    stats.dropped = stats.planned - stats.applied
    return stats


# ----------------------------------------------------------------------------- offers


def _routing_state(session: Session, conversation_id: int) -> RoutingState:
    state = session.get(RoutingState, conversation_id)
    if state is None:
        state = RoutingState(conversation_id=conversation_id, declined=[])
        session.add(state)
    return state


def _remember_decline(session: Session, conversation_id: int, user_id: int, now: datetime) -> None:
    state = _routing_state(session, conversation_id)
    kept = [
        item
        for item in (state.declined or [])
        if isinstance(item, list) and len(item) == 2 and item[0] != user_id
    ]
    state.declined = [*kept[-19:], [user_id, now.isoformat()]]


def _offer_for_update(session: Session, offer_id: int) -> Offer | None:
    return session.scalar(
        select(Offer)
        .where(Offer.id == offer_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


def do_accept_offer(
    session: Session, *, offer_id: int, user: User, now: datetime | None = None
) -> Conversation:
    """The agent takes the offered conversation: assigned through ``do_assign``."""
    now = now or utcnow()
    offer = _offer_for_update(session, offer_id)
    if offer is None or offer.user_id != user.id:
        raise NotFound("this offer is no longer available")
    if offer.expires_at <= now:
        raise Conflict("this offer has expired")
    conversation = session.scalar(
        select(Conversation)
        .where(Conversation.id == offer.conversation_id)
        .with_for_update(of=Conversation)
        .execution_options(populate_existing=True)
    )
    event = _offer_event(offer, conversation.number if conversation else None)
    session.delete(offer)
    if conversation is None or conversation.assignee_id not in (None, user.id):
        session.flush()
        raise Conflict("someone else has taken this conversation")
    conversations_actions.do_assign(session, conversation=conversation, assignee=user, by=user)
    session.execute(
        update(AgentState).where(AgentState.user_id == user.id).values(last_activity_at=now)
    )
    emit(session, "routing.offer_accepted", event)
    return conversation


def do_decline_offer(
    session: Session, *, offer_id: int, user: User, now: datetime | None = None
) -> None:
    """The agent passes; the conversation is offered to the next agent."""
    now = now or utcnow()
    offer = _offer_for_update(session, offer_id)
    if offer is None or offer.user_id != user.id:
        raise NotFound("this offer is no longer available")
    _remember_decline(session, offer.conversation_id, user.id, now)
    event = _offer_event(offer, None)
    session.delete(offer)
    session.execute(
        update(AgentState).where(AgentState.user_id == user.id).values(last_activity_at=now)
    )
    emit(session, "routing.offer_declined", event)


def expire_offer(session: Session, *, offer_id: int, now: datetime | None = None) -> bool:
    """An unanswered offer: withdrawn, the agent marked away, the conversation re-offered."""
    now = now or utcnow()
    offer = _offer_for_update(session, offer_id)
    if offer is None or offer.expires_at > now:
        return False
    _remember_decline(session, offer.conversation_id, offer.user_id, now)
    event = _offer_event(offer, None)
    user = session.get(User, offer.user_id)
    session.delete(offer)
    session.flush()
    if user is not None:
        state = presence.state_for_update(session, user.id)
        if state.presence == presence.Presence.AVAILABLE.value:
            presence.do_set_presence(
                session, user=user, presence=presence.Presence.AWAY, cause="offer_timeout", now=now
            )
    emit(session, "routing.offer_expired", event)
    return True


def _offer_timeout_job(db: Database, payload: dict[str, Any]) -> None:
    with db.transaction() as session:
        expire_offer(session, offer_id=int(payload["offer_id"]))


jobs.register_job("routing.offer_timeout", jobs.JobKind(run=_offer_timeout_job, base_delay=2.0))


def expire_overdue_offers(db: Database, *, now: datetime | None = None) -> int:
    """Safety net for timeout jobs that could not run (the sweep calls it)."""
    now = now or utcnow()
    with db.session() as session:
        ids = list(session.scalars(select(Offer.id).where(Offer.expires_at <= now)))
    count = 0
    for offer_id in ids:
        with db.transaction() as session:
            count += expire_offer(session, offer_id=offer_id, now=now)
    return count


def offers_for(session: Session, user_id: int) -> list[tuple[Offer, Conversation]]:
    return [
        (o, c)
        for o, c in session.execute(
            select(Offer, Conversation)
            .join(Conversation, Conversation.id == Offer.conversation_id)
            .where(Offer.user_id == user_id)
            .order_by(Offer.expires_at)
        )
    ]


# ----------------------------------------------------------------------------- supervisors


def check_queue_routing(
    session: Session,
    *,
    queue: Queue,
    mode: str,
    offer_timeout_seconds: int,
    overflow_queue_id: int | None,
    overflow_after_seconds: int | None,
) -> None:
    if mode not in MODES:
        raise InvalidInput("mode is push or auto", field="mode")
    if not MIN_OFFER_TIMEOUT <= offer_timeout_seconds <= MAX_OFFER_TIMEOUT:
        raise invalid(
            _("the offer timeout is from %(min)s to %(max)s seconds"),
            field="offer_timeout_seconds",
            min=MIN_OFFER_TIMEOUT,
            max=MAX_OFFER_TIMEOUT,
        )
    if overflow_queue_id is not None:
        if overflow_queue_id == queue.id:
            raise InvalidInput("a queue cannot overflow into itself", field="overflow_queue_id")
        other = session.get(Queue, overflow_queue_id)
        if other is None or other.brand_id != queue.brand_id:
            raise InvalidInput("unknown overflow queue", field="overflow_queue_id")
        if overflow_after_seconds is None or overflow_after_seconds < 0:
            raise InvalidInput(
                "say after how many seconds the queue overflows", field="overflow_after_seconds"
            )


def do_set_queue_routing(
    session: Session,
    *,
    queue: Queue,
    mode: str = "push",
    offer_timeout_seconds: int = 30,
    overflow_queue_id: int | None = None,
    overflow_after_seconds: int | None = None,
    calendar_id: int | None = None,
) -> QueueRouting:
    check_queue_routing(
        session,
        queue=queue,
        mode=mode,
        offer_timeout_seconds=offer_timeout_seconds,
        overflow_queue_id=overflow_queue_id,
        overflow_after_seconds=overflow_after_seconds,
    )
    row = session.get(QueueRouting, queue.id)
    if row is None:
        row = QueueRouting(queue_id=queue.id)
        session.add(row)
    row.mode = mode
    row.offer_timeout_seconds = offer_timeout_seconds
    row.overflow_queue_id = overflow_queue_id
    row.overflow_after_seconds = overflow_after_seconds if overflow_queue_id is not None else None
    row.calendar_id = calendar_id
    session.flush()
    skills.request_routing(session, queue_ids=[queue.id], reason="queue_routing_changed")
    return row


def _withdraw_offer(session: Session, conversation_id: int) -> None:
    session.execute(delete(Offer).where(Offer.conversation_id == conversation_id))


def do_move_conversation(
    session: Session, *, conversation: Conversation, queue: Queue, by: User
) -> Conversation:
    """Supervisor: move to another queue (the waiting time restarts there; the pin is kept)."""
    _require_supervisor(by)
    if conversation.status == Status.CLOSED:
        raise Conflict("a closed conversation cannot be moved")
    previous = conversation.queue_id
    _withdraw_offer(session, conversation.id)
    conversations_actions.do_update_conversation(
        session, conversation=conversation, by=by, queue=queue
    )
    _routing_state(session, conversation.id).queued_at = utcnow()
    emit(
        session,
        "routing.supervised",
        ConversationRouted(
            conversation_id=conversation.id,
            queue_id=queue.id,
            from_queue_id=previous,
            assignee_id=conversation.assignee_id,
            pinned_user_id=None,
            by_user_id=by.id,
            action="move",
        ),
    )
    return conversation


def do_reassign(
    session: Session, *, conversation: Conversation, assignee: User | None, by: User
) -> Conversation:
    """Supervisor: assign now to an agent (an override: capacity is not checked), or unassign
    (the conversation waits in its queue again)."""
    _require_supervisor(by)
    _withdraw_offer(session, conversation.id)
    conversations_actions.do_assign(session, conversation=conversation, assignee=assignee, by=by)
    if assignee is None:
        _routing_state(session, conversation.id).queued_at = utcnow()
    emit(
        session,
        "routing.supervised",
        ConversationRouted(
            conversation_id=conversation.id,
            queue_id=conversation.queue_id,
            from_queue_id=conversation.queue_id,
            assignee_id=conversation.assignee_id,
            pinned_user_id=None,
            by_user_id=by.id,
            action="reassign",
        ),
    )
    return conversation


def do_pin(
    session: Session, *, conversation: Conversation, agent: User | None, by: User
) -> Conversation:
    """Supervisor: route this conversation only to ``agent`` (when they are available and have
    room); ``None`` removes the pin."""
    _require_supervisor(by)
    if agent is not None and not agent.is_active:
        raise InvalidInput("that user is not active", field="agent_id")
    if conversation.status == Status.CLOSED:
        raise Conflict("a closed conversation cannot be pinned")
    state = _routing_state(session, conversation.id)
    state.pinned_user_id = agent.id if agent else None
    offer = session.scalar(select(Offer).where(Offer.conversation_id == conversation.id))
    if offer is not None and (agent is None or offer.user_id != agent.id):
        session.delete(offer)
    emit(
        session,
        "routing.supervised",
        ConversationRouted(
            conversation_id=conversation.id,
            queue_id=conversation.queue_id,
            from_queue_id=conversation.queue_id,
            assignee_id=conversation.assignee_id,
            pinned_user_id=state.pinned_user_id,
            by_user_id=by.id,
            action="pin",
        ),
    )
    return conversation


def _require_supervisor(user: User) -> None:
    if not user.is_supervisor:
        raise PermissionDenied("supervisors and admins only")


def do_release_agent(session: Session, *, user: User, by: User | None) -> int:
    """An agent leaves (deactivated or about to be deleted): their active conversations and offers
    go back to their queues, the agent goes offline. Returns how many conversations were released.
    (A user row deleted outright has the same outcome: the foreign key unassigns the conversations
    and the sweep routes them again.)"""
    convs = list(
        session.scalars(
            select(Conversation).where(
                Conversation.assignee_id == user.id, Conversation.status.in_(ACTIVE_STATUSES)
            )
        )
    )
    now = utcnow()
    for conversation in convs:
        conversations_actions.do_assign(session, conversation=conversation, assignee=None, by=by)
        _routing_state(session, conversation.id).queued_at = now
    session.execute(delete(Offer).where(Offer.user_id == user.id))
    state = presence.state_for_update(session, user.id)
    if state.presence != presence.Presence.OFFLINE.value:
        state.presence = presence.Presence.OFFLINE.value
        state.presence_since = now
        from sportello.routing.models import PresenceLog

        session.add(
            PresenceLog(
                user_id=user.id,
                presence="offline",
                previous=None,
                reason=None,
                cause="released",
                by_user_id=by.id if by else None,
                at=now,
            )
        )
    return len(convs)


def do_delete_queue(
    session: Session, *, queue: Queue, move_to: Queue | None, by: User | None
) -> int:
    """Delete a queue in use: its active conversations and its channels move to ``move_to``.
    Without ``move_to`` a queue that still holds active conversations or receives from a channel
    is refused (``Conflict``): no conversation is ever left without a queue."""
    if move_to is not None and move_to.id == queue.id:
        raise InvalidInput("move the conversations to another queue", field="move_to")
    convs = list(
        session.scalars(
            select(Conversation).where(
                Conversation.queue_id == queue.id, Conversation.status.in_(ACTIVE_STATUSES)
            )
        )
    )
    channels = list(session.scalars(select(Channel).where(Channel.queue_id == queue.id)))
    if move_to is None and (convs or channels):
        exc = conflict(
            _(
                "the queue %(name)s holds %(conversations)s open conversation(s) and receives "
                "from %(channels)s channel(s): choose a queue to move them to"
            ),
            field="move_to",
            name=queue.name,
            conversations=len(convs),
            channels=len(channels),
        )
        exc.extra.update(conversations=len(convs), channels=len(channels))
        raise exc
    now = utcnow()
    for conversation in convs:
        _withdraw_offer(session, conversation.id)
        conversations_actions.do_update_conversation(
            session, conversation=conversation, by=by, queue=move_to
        )
        _routing_state(session, conversation.id).queued_at = now
    for channel in channels:
        channel.queue_id = move_to.id if move_to else None
    session.flush()
    session.execute(
        update(QueueRouting)
        .where(QueueRouting.overflow_queue_id == queue.id)
        .values(overflow_queue_id=None, overflow_after_seconds=None)
    )
    session.delete(queue)
    session.flush()
    if move_to is not None and convs:
        skills.request_routing(session, queue_ids=[move_to.id], reason="queue_deleted")
    return len(convs)


# ----------------------------------------------------------------------------- triggers


def _route_safely(db: Database, **kwargs: Any) -> None:
    route(db, **kwargs)


@subscribe_batch("conversation.created", "message.received")
def on_new_work(db: Database, batch: list[tuple[str, dict[str, Any]]]) -> None:
    """One routing run for every queue that got unassigned work in this round (a busy chat
    queue gets hundreds of messages a second; one run places them all)."""
    queue_ids: set[int] = set()
    for name, payload in batch:
        if payload.get("assignee_id") is not None or payload.get("queue_id") is None:
            continue
        if name == "message.received" and payload.get("direction") != "inbound":
            continue
        queue_ids.add(int(payload["queue_id"]))
    if queue_ids:
        _route_safely(db, queue_ids=sorted(queue_ids))


@subscribe("conversation.assigned")
def on_assigned(db: Database, _name: str, payload: dict[str, Any]) -> None:
    conversation_id = int(payload["conversation_id"])
    assignee = payload.get("assignee_id")
    if assignee is not None:
        # Assigned by hand while offered to someone else: withdraw that offer.
        with db.transaction() as session:
            session.execute(
                delete(Offer).where(
                    Offer.conversation_id == conversation_id, Offer.user_id != assignee
                )
            )
    previous = payload.get("previous_assignee_id")
    if previous is not None:
        _route_safely(db, agent_ids=[int(previous)])
    if assignee is None and payload.get("queue_id") is not None:
        _route_safely(db, queue_ids=[int(payload["queue_id"])])


@subscribe("conversation.updated")
def on_updated(db: Database, _name: str, payload: dict[str, Any]) -> None:
    changes = payload.get("changes") or {}
    status = payload.get("status")
    assignee = payload.get("assignee_id")
    finished = "status" in changes and status in (Status.RESOLVED.value, Status.CLOSED.value)
    if finished:
        with db.transaction() as session:
            _withdraw_offer(session, int(payload["conversation_id"]))
        if assignee is not None:
            _route_safely(db, agent_ids=[int(assignee)])
    requeued = "queue_id" in changes or (
        "status" in changes and status in (Status.NEW.value, Status.OPEN.value)
    )
    if requeued and assignee is None and payload.get("queue_id") is not None:
        _route_safely(db, queue_ids=[int(payload["queue_id"])])


@subscribe("agent.presence_changed")
def on_presence(db: Database, _name: str, payload: dict[str, Any]) -> None:
    if payload.get("presence") == presence.Presence.AVAILABLE.value:
        _route_safely(db, agent_ids=[int(payload["user_id"])])


@subscribe("routing.offer_declined", "routing.offer_expired", "routing.supervised")
def on_offer_returned(db: Database, _name: str, payload: dict[str, Any]) -> None:
    if payload.get("queue_id") is not None:
        _route_safely(db, queue_ids=[int(payload["queue_id"])])
    if _name == "routing.offer_declined":  # the capacity the offer held is free again
        _route_safely(db, agent_ids=[int(payload["user_id"])])


@subscribe("routing.requested")
def on_requested(db: Database, _name: str, payload: dict[str, Any]) -> None:
    _route_safely(db, queue_ids=[int(q) for q in payload.get("queue_ids", [])])


# ----------------------------------------------------------------------------- sweep


def sweep(db: Database, *, now: datetime | None = None) -> RouteStats:
    """The periodic safety net: expire overdue offers, auto-away idle agents, route everything."""
    now = now or utcnow()
    expire_overdue_offers(db, now=now)
    presence.sweep_inactive(db, now=now)
    return route(db, now=now)


def _sweep_key(at: datetime) -> str:
    return f"routing.sweep:{int(at.timestamp() // SWEEP_EVERY.total_seconds())}"


def ensure_sweep(db: Database, *, at: datetime | None = None) -> None:
    """Schedule the next sweep (idempotent: one job a period, whoever asks)."""
    at = at or utcnow()
    try:
        with db.transaction() as session:
            jobs.enqueue(
                session, "routing.sweep", {}, run_at=at, unique_key=_sweep_key(at), max_attempts=3
            )
    except IntegrityError:
        pass  # another process scheduled it first


def _sweep_job(db: Database, _payload: dict[str, Any]) -> None:
    try:
        sweep(db)
        from sportello.routing import sla

        sla.sweep(db)
    finally:
        ensure_sweep(db, at=utcnow() + SWEEP_EVERY)


jobs.register_job("routing.sweep", jobs.JobKind(run=_sweep_job, base_delay=5.0))


def agents_of_role(session: Session) -> list[User]:
    return list(
        session.scalars(
            select(User)
            .where(User.is_active.is_(True), User.role == Role.AGENT)
            .order_by(User.name)
        )
    )


# ----------------------------------------------------------------------------- live views


@dataclass
class QueueLine:
    queue_id: int
    name: str
    priority: int
    mode: str
    waiting: int
    offered: int
    longest_wait_seconds: int | None
    agents_available: int


def queue_overview(session: Session, *, now: datetime | None = None) -> list[QueueLine]:
    """Each queue: waiting conversations, live offers, longest wait, agents available for it."""
    now = now or utcnow()
    queues = load_queues(session)
    agents = load_agents(session)
    names = dict(session.execute(select(Queue.id, Queue.name)).all())
    waiting = load_waiting(session, None, now)
    offered: dict[int, int] = {}
    for qid, count in session.execute(
        select(Offer.queue_id, func.count()).group_by(Offer.queue_id)
    ).all():
        if qid is not None:
            offered[qid] = int(count)
    by_queue: dict[int, list[WaitingSnap]] = {}
    for w in waiting:
        by_queue.setdefault(w.queue_id, []).append(w)
    lines = []
    for qid, queue in queues.items():
        items = by_queue.get(qid, [])
        oldest = min((w.waiting_since for w in items), default=None)
        lines.append(
            QueueLine(
                queue_id=qid,
                name=names.get(qid, "?"),
                priority=queue.priority,
                mode=queue.mode,
                waiting=len(items),
                offered=offered.get(qid, 0),
                longest_wait_seconds=int((now - oldest).total_seconds()) if oldest else None,
                agents_available=sum(
                    1
                    for a in agents.values()
                    if serves(queue, a) and proficiency(queue, a) is not None
                ),
            )
        )
    return sorted(lines, key=lambda q: (-q.priority, q.name))


@dataclass
class AgentLine:
    user_id: int
    name: str
    presence: str
    reason: str | None
    since: datetime
    load: dict[str, int]
    limits: dict[str, int]
    offers: int


def agent_overview(session: Session, *, user_ids: Sequence[int] | None = None) -> list[AgentLine]:
    """Each agent with a routing state: presence, time in state, load against capacity."""
    from sportello.routing.models import PauseReason

    stmt = (
        select(AgentState, User.name, PauseReason.name)
        .join(User, User.id == AgentState.user_id)
        .outerjoin(PauseReason, PauseReason.id == AgentState.pause_reason_id)
        .where(User.is_active.is_(True))
        .order_by(User.name)
    )
    if user_ids is not None:
        stmt = stmt.where(ids_in(session, AgentState.user_id, user_ids))
    rows = session.execute(stmt).all()
    ids = [state.user_id for state, _, _ in rows]
    limits = capacity.limits_for(session, ids)
    loads = capacity.loads_for(session, ids)
    offers = dict(
        session.execute(
            select(Offer.user_id, func.count())
            .where(ids_in(session, Offer.user_id, ids))
            .group_by(Offer.user_id)
        ).all()
    )
    return [
        AgentLine(
            user_id=state.user_id,
            name=name,
            presence=state.presence,
            reason=reason,
            since=state.presence_since,
            load=loads[state.user_id],
            limits=dict(limits[state.user_id].per_class),
            offers=int(offers.get(state.user_id, 0)),
        )
        for state, name, reason in rows
    ]
