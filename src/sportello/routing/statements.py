"""The SQL of the router's commit (``actions.commit_batch``), kept apart so the commit reads as
its rule: lock the agents, lock the conversations still waiting, re-read offers and users under
those locks, mark the agents busy."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from sportello.accounts.models import User
from sportello.conversations.models import Conversation, Priority, Status
from sportello.routing.capacity import ids_in
from sportello.routing.models import AgentState, Offer
from sportello.routing.snapshot import WAITING_STATUSES


class Waiting(NamedTuple):
    """A conversation locked for a commit, as it is now."""

    queue_id: int | None
    number: int
    priority: Priority
    status: Status


def lock_agents(session: Session, agent_ids: Sequence[int]) -> dict[int, tuple[str, Any]]:
    """The agents' state rows (presence, own capacity), locked in id order: routers never
    deadlock on them."""
    rows = session.execute(
        select(AgentState.user_id, AgentState.presence, AgentState.capacity)
        .where(ids_in(session, AgentState.user_id, agent_ids))
        .order_by(AgentState.user_id)
        .with_for_update()
    )
    return {uid: (state, cap) for uid, state, cap in rows}


def lock_waiting(session: Session, conversation_ids: Sequence[int]) -> dict[int, Waiting]:
    """The conversations still unassigned and waiting. On PostgreSQL those another router holds
    are skipped (it is deciding them right now); a row locked FOR UPDATE is returned in its latest
    committed version (PostgreSQL re-checks the conditions on it), so what this returns is
    current. On SQLite the writer lock (``BEGIN IMMEDIATE``) serialises routers."""
    lock = select(
        Conversation.id,
        Conversation.queue_id,
        Conversation.number,
        Conversation.priority,
        Conversation.status,
    ).where(
        ids_in(session, Conversation.id, conversation_ids),
        Conversation.assignee_id.is_(None),
        Conversation.status.in_(WAITING_STATUSES),
    )
    if session.get_bind().dialect.name == "postgresql":
        lock = lock.with_for_update(skip_locked=True)
    return {
        cid: Waiting(qid, number, prio, st) for cid, qid, number, prio, st in session.execute(lock)
    }


def offered(session: Session, conversation_ids: Iterable[int]) -> set[int]:
    """Which of these conversations have a live offer."""
    return set(
        session.scalars(
            select(Offer.conversation_id).where(
                ids_in(session, Offer.conversation_id, list(conversation_ids))
            )
        )
    )


def active_names(session: Session, user_ids: Iterable[int]) -> dict[int, str]:
    """Names of the users among these that are still active."""
    return {
        uid: name
        for uid, name, active in session.execute(
            select(User.id, User.name, User.is_active).where(ids_in(session, User.id, user_ids))
        )
        if active
    }


def mark_busy(session: Session, user_ids: Sequence[int], now: datetime) -> None:
    """Agents who just got work: their idle time restarts now (longest idle goes first)."""
    session.execute(
        update(AgentState)
        .where(ids_in(session, AgentState.user_id, user_ids))
        .values(idle_since=now)
    )
