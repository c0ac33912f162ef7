"""Skills with a proficiency 1-5 per agent; queue requirements (minimum level); queue membership.

An agent serves a queue when they are a member of the queue's team or an explicit member of the
queue; a queue with neither is served by every agent. They are eligible for its conversations when
they have every required skill at the minimum level. Their proficiency for the queue (the tie
breaker after longest idle) is the sum of their levels on the required skills.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from sportello.accounts.models import User
from sportello.core.errors import InvalidInput
from sportello.core.events import EventPayload, emit, register_event
from sportello.routing.messages import _, conflict, invalid
from sportello.routing.models import AgentSkill, Queue, QueueMember, QueueSkill, Skill

MIN_LEVEL: Final = 1
MAX_LEVEL: Final = 5


class RoutingRequested(EventPayload):
    """Something changed that may let waiting conversations be routed (config, requirements)."""

    queue_ids: list[int]
    reason: str


register_event("routing.requested", RoutingRequested)


def request_routing(session: Session, *, queue_ids: Sequence[int], reason: str) -> None:
    emit(
        session,
        "routing.requested",
        RoutingRequested(queue_ids=sorted(set(queue_ids)), reason=reason),
    )


def check_level(level: int, field: str = "level") -> int:
    if isinstance(level, bool) or not isinstance(level, int) or not MIN_LEVEL <= level <= MAX_LEVEL:
        raise invalid(
            _("a level is a whole number from %(min)s to %(max)s"),
            field=field,
            min=MIN_LEVEL,
            max=MAX_LEVEL,
        )
    return level


def check_skill_name(session: Session, *, brand_id: int, name: str, skill_id: int | None) -> str:
    name = " ".join(name.split())[:100]
    if not name:
        raise InvalidInput("a skill needs a name", field="name")
    clash = session.scalar(select(Skill.id).where(Skill.brand_id == brand_id, Skill.name == name))
    if clash is not None and clash != skill_id:
        raise conflict(_("a skill named %(name)s already exists"), field="name", name=name)
    return name


def do_create_skill(session: Session, *, brand_id: int, name: str) -> Skill:
    skill = Skill(
        brand_id=brand_id,
        name=check_skill_name(session, brand_id=brand_id, name=name, skill_id=None),
    )
    session.add(skill)
    session.flush()
    return skill


def do_rename_skill(session: Session, *, skill: Skill, name: str) -> Skill:
    skill.name = check_skill_name(session, brand_id=skill.brand_id, name=name, skill_id=skill.id)
    return skill


def queues_requiring(session: Session, skill_id: int) -> list[Queue]:
    return list(
        session.scalars(
            select(Queue)
            .join(QueueSkill, QueueSkill.queue_id == Queue.id)
            .where(QueueSkill.skill_id == skill_id)
            .order_by(Queue.name)
        )
    )


def do_delete_skill(session: Session, *, skill: Skill, force: bool = False) -> None:
    """Delete a skill. Required by a queue: ``Conflict`` naming the queues, unless ``force``, in
    which case the requirement is dropped from those queues (they get easier to serve) and they are
    routed again. Agents' levels on the skill go with it."""
    queues = queues_requiring(session, skill.id)
    if queues and not force:
        exc = conflict(
            _("the skill %(name)s is required by these queues: %(queues)s"),
            name=skill.name,
            queues=", ".join(q.name for q in queues),
        )
        exc.extra["queue_ids"] = [q.id for q in queues]
        raise exc
    session.execute(delete(QueueSkill).where(QueueSkill.skill_id == skill.id))
    session.execute(delete(AgentSkill).where(AgentSkill.skill_id == skill.id))
    session.delete(skill)
    session.flush()
    if queues:
        request_routing(session, queue_ids=[q.id for q in queues], reason="skill_deleted")


def do_set_agent_skill(session: Session, *, user: User, skill: Skill, level: int | None) -> None:
    """Give (or with ``None`` take away) a skill at a level."""
    row = session.get(AgentSkill, (user.id, skill.id))
    if level is None:
        if row is not None:
            session.delete(row)
        return
    check_level(level)
    if row is None:
        session.add(AgentSkill(user_id=user.id, skill_id=skill.id, level=level))
    else:
        row.level = level
    session.flush()


def do_set_queue_skill(
    session: Session, *, queue: Queue, skill: Skill, min_level: int | None
) -> None:
    """Require (or with ``None`` stop requiring) a skill at a minimum level on a queue."""
    if skill.brand_id != queue.brand_id:
        raise InvalidInput("that skill belongs to another brand", field="skill_id")
    row = session.get(QueueSkill, (queue.id, skill.id))
    if min_level is None:
        if row is not None:
            session.delete(row)
            session.flush()
            request_routing(session, queue_ids=[queue.id], reason="requirement_removed")
        return
    check_level(min_level, "min_level")
    if row is None:
        session.add(QueueSkill(queue_id=queue.id, skill_id=skill.id, min_level=min_level))
    else:
        lowered = min_level < row.min_level
        row.min_level = min_level
        if lowered:
            request_routing(session, queue_ids=[queue.id], reason="requirement_lowered")
    session.flush()


def do_set_queue_members(session: Session, *, queue: Queue, users: Sequence[User]) -> None:
    """Replace the explicit members of a queue (team members serve it anyway)."""
    session.execute(delete(QueueMember).where(QueueMember.queue_id == queue.id))
    for user_id in sorted({u.id for u in users}):
        session.add(QueueMember(queue_id=queue.id, user_id=user_id))
    session.flush()
    request_routing(session, queue_ids=[queue.id], reason="members_changed")


def skills_of(session: Session, user_id: int) -> dict[int, int]:
    return dict(
        session.execute(
            select(AgentSkill.skill_id, AgentSkill.level).where(AgentSkill.user_id == user_id)
        ).all()
    )


def all_skills(session: Session) -> list[tuple[Skill, int]]:
    """Every skill with the number of agents who have it."""
    counts = dict(
        session.execute(
            select(AgentSkill.skill_id, func.count()).group_by(AgentSkill.skill_id)
        ).all()
    )
    return [
        (s, int(counts.get(s.id, 0))) for s in session.scalars(select(Skill).order_by(Skill.name))
    ]
