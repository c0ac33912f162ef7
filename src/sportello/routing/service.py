"""Reads about queues."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from sportello.accounts.models import User
from sportello.core import access
from sportello.core.errors import NotFound
from sportello.routing.models import Queue


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
