"""Writes on queues."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from sportello.accounts.models import Team
from sportello.core.errors import Conflict, InvalidInput
from sportello.routing.models import Queue


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
    return queue
