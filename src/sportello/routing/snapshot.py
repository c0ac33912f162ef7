"""What the router decides on: queues, available agents and waiting conversations, loaded in a
few statements into the planner's dataclasses (planner.py).

Waiting: status new or open, no assignee, in a queue, no live offer. Agents: ``available``,
active, not held back by an offer gate (gates.py), with their limits, load, skills and teams.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from sportello.accounts.models import User, team_member
from sportello.channels.models import Channel
from sportello.conversations.models import (
    PRIORITY_RANK,
    Conversation,
    Priority,
    Status,
)
from sportello.core.db import utcnow
from sportello.routing import capacity, gates, presence
from sportello.routing.capacity import ids_in
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
from sportello.routing.planner import AgentSnap, QueueSnap, WaitingSnap, proficiency, serves

WAITING_STATUSES: Final = (Status.NEW, Status.OPEN)
#: Agents who declined a conversation or let its offer expire are skipped for this long.
DECLINE_MEMORY: Final = timedelta(minutes=10)


@dataclass
class Snapshot:
    now: datetime
    queues: dict[int, QueueSnap]
    agents: dict[int, AgentSnap]
    waiting: list[WaitingSnap]


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
