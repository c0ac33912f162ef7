"""Reads about queues and their routing settings (skills, capacity, calendars, SLA), the offers
an agent holds, and the live views of queues and agents."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sportello.accounts.models import Role, User
from sportello.channels.models import Channel
from sportello.conversations.models import ACTIVE_STATUSES, Conversation
from sportello.core import access
from sportello.core.db import utcnow
from sportello.core.errors import NotFound
from sportello.routing import capacity
from sportello.routing.capacity import ids_in
from sportello.routing.models import (
    AgentSkill,
    AgentState,
    BusinessCalendarRow,
    Offer,
    PauseReason,
    Queue,
    QueueMember,
    QueueRouting,
    QueueSkill,
    Skill,
    SlaPolicy,
    TeamRouting,
)
from sportello.routing.planner import WaitingSnap, proficiency, serves
from sportello.routing.snapshot import load_agents, load_queues, load_waiting


def get_all(session: Session) -> list[Queue]:
    return list(session.scalars(select(Queue).order_by(Queue.name)))


def get(session: Session, queue_id: int) -> Queue:
    queue = session.get(Queue, queue_id)
    if queue is None:
        raise NotFound("queue not found")
    return queue


def visible_to(session: Session, user: User) -> list[Queue]:
    """The queues whose conversations the user sees (all, for supervisors)."""
    if user.is_supervisor:
        return get_all(session)
    ids = access.visible_queue_ids(session, user)
    if not ids:
        return []
    return list(session.scalars(select(Queue).where(Queue.id.in_(ids)).order_by(Queue.name)))


# ----------------------------------------------------------------------------- settings (reads)


@dataclass(frozen=True)
class QueueSettings:
    """Everything the queue settings page and ``GET /api/v1/queues/{id}/routing`` show."""

    queue: Queue
    mode: str
    offer_timeout_seconds: int
    overflow_queue_id: int | None
    overflow_after_seconds: int | None
    calendar_id: int | None
    member_ids: list[int]
    requirements: dict[int, int]  # skill id -> minimum level
    open_conversations: int
    channels: list[Channel]


def queue_settings(session: Session, queue: Queue) -> QueueSettings:
    row = session.get(QueueRouting, queue.id)
    return QueueSettings(
        queue=queue,
        mode=row.mode if row else "push",
        offer_timeout_seconds=row.offer_timeout_seconds if row else 30,
        overflow_queue_id=row.overflow_queue_id if row else None,
        overflow_after_seconds=row.overflow_after_seconds if row else None,
        calendar_id=row.calendar_id if row else None,
        member_ids=list(
            session.scalars(
                select(QueueMember.user_id)
                .where(QueueMember.queue_id == queue.id)
                .order_by(QueueMember.user_id)
            )
        ),
        requirements=dict(
            session.execute(
                select(QueueSkill.skill_id, QueueSkill.min_level).where(
                    QueueSkill.queue_id == queue.id
                )
            ).all()
        ),
        open_conversations=int(
            session.scalar(
                select(func.count())
                .select_from(Conversation)
                .where(Conversation.queue_id == queue.id, Conversation.status.in_(ACTIVE_STATUSES))
            )
            or 0
        ),
        channels=list(
            session.scalars(
                select(Channel).where(Channel.queue_id == queue.id).order_by(Channel.name)
            )
        ),
    )


def routing_modes(session: Session) -> dict[int, str]:
    """Each queue's routing mode (``push`` for a queue never configured)."""
    return dict(session.execute(select(QueueRouting.queue_id, QueueRouting.mode)).all())


def people(session: Session) -> list[User]:
    """The active users who take conversations (agents first, then supervisors and admins)."""
    users = list(session.scalars(select(User).where(User.is_active.is_(True)).order_by(User.name)))
    return sorted(users, key=lambda u: (u.role != Role.AGENT, u.name.casefold()))


def skills(session: Session, brand_id: int) -> list[Skill]:
    return list(
        session.scalars(select(Skill).where(Skill.brand_id == brand_id).order_by(Skill.name))
    )


def get_skill(session: Session, skill_id: int) -> Skill:
    skill = session.get(Skill, skill_id)
    if skill is None:
        raise NotFound("skill not found")
    return skill


def skill_levels(session: Session) -> dict[tuple[int, int], int]:
    """(user id, skill id) -> level, for the skills matrix."""
    return {
        (uid, sid): level
        for uid, sid, level in session.execute(
            select(AgentSkill.user_id, AgentSkill.skill_id, AgentSkill.level)
        )
    }


def skill_use(session: Session) -> dict[int, list[str]]:
    """Skill id -> names of the queues that require it."""
    use: dict[int, list[str]] = {}
    for skill_id, name in session.execute(
        select(QueueSkill.skill_id, Queue.name)
        .join(Queue, Queue.id == QueueSkill.queue_id)
        .order_by(Queue.name)
    ):
        use.setdefault(skill_id, []).append(name)
    return use


def pause_reasons(session: Session, brand_id: int) -> list[PauseReason]:
    """Active reasons first, then the retired ones."""
    return list(
        session.scalars(
            select(PauseReason)
            .where(PauseReason.brand_id == brand_id)
            .order_by(PauseReason.is_active.desc(), PauseReason.name)
        )
    )


def get_pause_reason(session: Session, reason_id: int) -> PauseReason:
    reason = session.get(PauseReason, reason_id)
    if reason is None:
        raise NotFound("pause reason not found")
    return reason


def team_routing(session: Session) -> dict[int, TeamRouting]:
    return {row.team_id: row for row in session.scalars(select(TeamRouting))}


def agent_capacities(session: Session) -> dict[int, dict[str, Any]]:
    return {
        uid: cap or {}
        for uid, cap in session.execute(select(AgentState.user_id, AgentState.capacity))
    }


def active_counts(session: Session) -> dict[int, int]:
    """User id -> open conversations assigned to them."""
    return {
        int(uid or 0): int(n)
        for uid, n in session.execute(
            select(Conversation.assignee_id, func.count())
            .where(Conversation.assignee_id.is_not(None), Conversation.status.in_(ACTIVE_STATUSES))
            .group_by(Conversation.assignee_id)
        )
    }


def calendars(session: Session, brand_id: int) -> list[BusinessCalendarRow]:
    return list(
        session.scalars(
            select(BusinessCalendarRow)
            .where(BusinessCalendarRow.brand_id == brand_id)
            .order_by(BusinessCalendarRow.name)
        )
    )


def get_calendar(session: Session, calendar_id: int) -> BusinessCalendarRow:
    row = session.get(BusinessCalendarRow, calendar_id)
    if row is None:
        raise NotFound("calendar not found")
    return row


def sla_policies(session: Session, brand_id: int) -> list[SlaPolicy]:
    """Active policies first, each group by priority of matching (position, then name)."""
    return list(
        session.scalars(
            select(SlaPolicy)
            .where(SlaPolicy.brand_id == brand_id)
            .order_by(SlaPolicy.is_active.desc(), SlaPolicy.position, SlaPolicy.name)
        )
    )


def get_sla_policy(session: Session, policy_id: int) -> SlaPolicy:
    policy = session.get(SlaPolicy, policy_id)
    if policy is None:
        raise NotFound("SLA policy not found")
    return policy


def channels(session: Session, brand_id: int) -> list[Channel]:
    return list(
        session.scalars(select(Channel).where(Channel.brand_id == brand_id).order_by(Channel.name))
    )


def agent_states(session: Session) -> dict[int, AgentState]:
    """User id -> routing state (presence, pause reason) of everyone who has one."""
    return {row.user_id: row for row in session.scalars(select(AgentState))}


# ----------------------------------------------------------------------------- offers, live views


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


def agents_of_role(session: Session) -> list[User]:
    return list(
        session.scalars(
            select(User)
            .where(User.is_active.is_(True), User.role == Role.AGENT)
            .order_by(User.name)
        )
    )


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
