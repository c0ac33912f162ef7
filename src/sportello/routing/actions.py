"""Writes on queues: create, rename, and their routing settings as one form (members, skills,
mode, overflow, calendar). The engine's own writes live beside it (skills.py, capacity.py,
presence.py, router.py, sla.py)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sportello.accounts.models import Team, User, team_member
from sportello.audit import actions as audit
from sportello.core.errors import Conflict, InvalidInput
from sportello.routing.messages import _, invalid
from sportello.routing.models import BusinessCalendarRow, Queue, Skill


def check_queue_name(session: Session, *, brand_id: int, name: str, queue_id: int | None) -> str:
    name = name.strip()
    if not name:
        raise InvalidInput("a queue needs a name", field="name")
    clash = session.scalar(
        select(Queue.id).where(Queue.brand_id == brand_id, Queue.name == name[:200])
    )
    if clash is not None and clash != queue_id:
        raise Conflict(f"a queue named {name!r} already exists")
    return name[:200]


def do_create_queue(
    session: Session, *, brand_id: int, name: str, team: Team | None, priority: int = 0
) -> Queue:
    name = check_queue_name(session, brand_id=brand_id, name=name, queue_id=None)
    queue = Queue(
        brand_id=brand_id, name=name, team_id=team.id if team else None, priority=priority
    )
    session.add(queue)
    session.flush()
    return queue


def do_update_queue(
    session: Session,
    *,
    queue: Queue,
    name: str | None = None,
    team: Team | bool | None = False,
    priority: int | None = None,
) -> Queue:
    """Rename, move to another team (``None`` removes it; ``False`` leaves it), reprioritise."""
    if name is not None:
        queue.name = check_queue_name(
            session, brand_id=queue.brand_id, name=name, queue_id=queue.id
        )
    if team is not False:
        queue.team_id = team.id if isinstance(team, Team) else None
        queue.team = team if isinstance(team, Team) else None
    if priority is not None:
        queue.priority = priority
    audit.record(
        session,
        "routing.queue_updated",
        target=queue,
        team_id=queue.team_id,
        priority=queue.priority,
    )
    return queue


# ----------------------------------------------------------------------------- queue settings


def check_queue_settings(
    session: Session,
    *,
    queue: Queue,
    mode: str,
    members: Sequence[User],
    calendar_id: int | None,
) -> None:
    """What would leave a queue unable to route: a push queue nobody serves, a foreign calendar."""
    if mode == "push" and not members:
        team_agents = 0
        if queue.team_id is not None:
            team_agents = int(
                session.scalar(
                    select(func.count())
                    .select_from(team_member)
                    .join(User, User.id == team_member.c.user_id)
                    .where(team_member.c.team_id == queue.team_id, User.is_active.is_(True))
                )
                or 0
            )
        if not team_agents:
            raise invalid(
                _(
                    "a push queue offers conversations to its members: add at least one member "
                    "(or give the queue a team with agents)"
                ),
                field="member_ids",
            )
    if calendar_id is not None:
        calendar = session.get(BusinessCalendarRow, calendar_id)
        if calendar is None or calendar.brand_id != queue.brand_id:
            raise InvalidInput("unknown calendar", field="calendar_id")


def do_configure_queue(
    session: Session,
    *,
    queue: Queue,
    mode: str,
    offer_timeout_seconds: int,
    overflow_queue_id: int | None,
    overflow_after_seconds: int | None,
    calendar_id: int | None,
    members: Sequence[User],
    requirements: Mapping[int, int | None],
) -> None:
    """Everything about how a queue routes, in one go (the settings page and the API):
    mode, offer timeout, overflow, calendar, explicit members, required skills (skill id ->
    minimum level, ``None`` for not required; skills left out keep their requirement)."""
    from sportello.routing import router, skills

    check_queue_settings(session, queue=queue, mode=mode, members=members, calendar_id=calendar_id)
    wanted = {}
    for skill_id, level in requirements.items():
        skill = session.get(Skill, skill_id)
        if skill is None or skill.brand_id != queue.brand_id:
            raise InvalidInput("unknown skill", field="skills")
        if level is not None:
            skills.check_level(level, "min_level")
        wanted[skill_id] = (skill, level)
    router.do_set_queue_routing(
        session,
        queue=queue,
        mode=mode,
        offer_timeout_seconds=offer_timeout_seconds,
        overflow_queue_id=overflow_queue_id,
        overflow_after_seconds=overflow_after_seconds,
        calendar_id=calendar_id,
    )
    skills.do_set_queue_members(session, queue=queue, users=members)
    for skill, level in wanted.values():
        skills.do_set_queue_skill(session, queue=queue, skill=skill, min_level=level)
    audit.record(
        session,
        "routing.queue_configured",
        target=queue,
        mode=mode,
        offer_timeout_seconds=offer_timeout_seconds,
        overflow_queue_id=overflow_queue_id,
        overflow_after_seconds=overflow_after_seconds,
        calendar_id=calendar_id,
        members=sorted(u.email for u in members),
        skills={str(k): v for k, v in requirements.items()},
    )
