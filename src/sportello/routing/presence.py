"""Agent presence: available, busy, break (with a pause reason), away, offline.

Only ``available`` agents are routed to. Every change is written to ``presence_log`` with its time
and announced as ``agent.presence_changed``. Automatic changes: ``away`` after inactivity
(:func:`sweep_inactive`, run by the routing sweep) or after an unanswered offer (actions.py), and
``offline`` when the agent's last console WebSocket has been closed for :data:`DISCONNECT_GRACE`
(:func:`socket_opened` / :func:`socket_closed`, called by web/ws.py), so that a page reload does
not log the agent out of routing.
"""

from __future__ import annotations

import enum
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from sportello.accounts.models import User
from sportello.core import jobs
from sportello.core.db import Database, utcnow
from sportello.core.errors import InvalidInput, NotFound
from sportello.core.events import EventPayload, emit, register_event
from sportello.routing import gates
from sportello.routing.models import AgentState, PauseReason, PresenceLog

#: Available agents with no console activity for this long become ``away``.
AUTO_AWAY_AFTER: Final = timedelta(minutes=15)
#: The last console tab closed this long ago (and none reopened): the agent goes ``offline``.
DISCONNECT_GRACE: Final = timedelta(seconds=30)


class Presence(enum.StrEnum):
    AVAILABLE = "available"
    BUSY = "busy"
    BREAK = "break"
    AWAY = "away"
    OFFLINE = "offline"


class PresenceChanged(EventPayload):
    user_id: int
    presence: str
    previous: str | None
    reason: str | None
    cause: str
    by_user_id: int | None
    at: datetime


register_event("agent.presence_changed", PresenceChanged)


def _ensure_row(session: Session, user_id: int) -> None:
    dialect = session.get_bind().dialect.name
    now = utcnow()
    values: dict[str, Any] = {
        "user_id": user_id,
        "presence": Presence.OFFLINE.value,
        "presence_since": now,
        "last_activity_at": now,
        "idle_since": now,
        "capacity": {},
        "open_sockets": 0,
    }
    if dialect == "postgresql":
        session.execute(pg_insert(AgentState).values(**values).on_conflict_do_nothing())
    else:
        session.execute(sqlite_insert(AgentState).values(**values).on_conflict_do_nothing())


def state_for_update(session: Session, user_id: int) -> AgentState:
    """The agent's state row, created if missing, locked (FOR UPDATE) until the commit."""
    stmt = (
        select(AgentState)
        .where(AgentState.user_id == user_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    state = session.scalar(stmt)
    if state is None:
        _ensure_row(session, user_id)
        state = session.scalar(stmt)
    assert state is not None
    return state


def get_state(session: Session, user_id: int) -> AgentState | None:
    return session.get(AgentState, user_id)


def check_presence(
    session: Session, *, user: User, presence: str, reason_id: int | None
) -> tuple[Presence, PauseReason | None]:
    try:
        value = Presence(presence)
    except ValueError:
        raise InvalidInput(
            f"unknown presence {presence!r}: use one of {', '.join(p.value for p in Presence)}",
            field="presence",
        ) from None
    if value == Presence.AVAILABLE and not user.is_active:
        raise InvalidInput("a deactivated user cannot take conversations", field="presence")
    if value == Presence.AVAILABLE:
        held = gates.held_back(session, [user.id])
        if user.id in held:
            raise InvalidInput(held[user.id], field="presence")
    reason: PauseReason | None = None
    if reason_id is not None:
        if value != Presence.BREAK:
            raise InvalidInput("a pause reason goes with the break state", field="reason_id")
        reason = session.get(PauseReason, reason_id)
        if reason is None or not reason.is_active:
            raise InvalidInput("unknown pause reason", field="reason_id")
    return value, reason


def do_set_presence(
    session: Session,
    *,
    user: User,
    presence: Presence | str,
    reason_id: int | None = None,
    by: User | None = None,
    cause: str = "manual",
    now: datetime | None = None,
) -> AgentState:
    """Change an agent's presence (locks the agent's row); no-op when nothing changes."""
    value, reason = check_presence(session, user=user, presence=str(presence), reason_id=reason_id)
    now = now or utcnow()
    state = state_for_update(session, user.id)
    previous = state.presence
    new_reason_id = reason.id if reason else None
    if previous == value.value and state.pause_reason_id == new_reason_id:
        return state
    state.presence = value.value
    state.pause_reason_id = new_reason_id
    state.presence_since = now
    if value == Presence.AVAILABLE:
        state.idle_since = now
        state.last_activity_at = now
    session.add(
        PresenceLog(
            user_id=user.id,
            presence=value.value,
            previous=previous,
            reason=reason.name if reason else None,
            cause=cause[:40],
            by_user_id=by.id if by else None,
            at=now,
        )
    )
    emit(
        session,
        "agent.presence_changed",
        PresenceChanged(
            user_id=user.id,
            presence=value.value,
            previous=previous,
            reason=reason.name if reason else None,
            cause=cause,
            by_user_id=by.id if by else None,
            at=now,
        ),
    )
    return state


def record_activity(session: Session, *, user_id: int, now: datetime | None = None) -> None:
    """The agent did something in the console (keeps auto-away at bay)."""
    session.execute(
        update(AgentState)
        .where(AgentState.user_id == user_id)
        .values(last_activity_at=now or utcnow())
    )


# ------------------------------------------------------------------ pause reasons


def do_create_pause_reason(session: Session, *, brand_id: int, name: str) -> PauseReason:
    name = " ".join(name.split())[:100]
    if not name:
        raise InvalidInput("a pause reason needs a name", field="name")
    existing = session.scalar(
        select(PauseReason).where(PauseReason.brand_id == brand_id, PauseReason.name == name)
    )
    if existing is not None:
        existing.is_active = True
        return existing
    reason = PauseReason(brand_id=brand_id, name=name)
    session.add(reason)
    session.flush()
    return reason


def do_retire_pause_reason(session: Session, *, reason: PauseReason) -> None:
    """Retire (not delete: the log keeps its name); agents on that break keep it until they
    change state."""
    reason.is_active = False


def pause_reasons(session: Session, brand_id: int | None = None) -> list[PauseReason]:
    stmt = select(PauseReason).where(PauseReason.is_active.is_(True)).order_by(PauseReason.name)
    if brand_id is not None:
        stmt = stmt.where(PauseReason.brand_id == brand_id)
    return list(session.scalars(stmt))


# ------------------------------------------------------------------ automatic changes


def sweep_inactive(db: Database, *, now: datetime | None = None) -> int:
    """Available agents idle in the console for AUTO_AWAY_AFTER become away."""
    now = now or utcnow()
    with db.session() as session:
        ids = list(
            session.scalars(
                select(AgentState.user_id).where(
                    AgentState.presence == Presence.AVAILABLE.value,
                    AgentState.last_activity_at < now - AUTO_AWAY_AFTER,
                )
            )
        )
    changed = 0
    for user_id in ids:
        with db.transaction() as session:
            state = state_for_update(session, user_id)
            user = session.get(User, user_id)
            if (
                user is None
                or state.presence != Presence.AVAILABLE.value
                or state.last_activity_at >= now - AUTO_AWAY_AFTER
            ):
                continue
            do_set_presence(session, user=user, presence=Presence.AWAY, cause="inactivity", now=now)
            changed += 1
    return changed


def socket_opened(db: Database, user_id: int) -> None:
    """A console tab connected (call from a worker thread, not the event loop)."""
    with db.transaction() as session:
        state = state_for_update(session, user_id)
        state.open_sockets += 1
        state.last_activity_at = utcnow()


def socket_closed(db: Database, user_id: int) -> None:
    """A console tab went away; the last one schedules going offline after the grace period."""
    with db.transaction() as session:
        state = state_for_update(session, user_id)
        state.open_sockets = max(0, state.open_sockets - 1)
        if state.open_sockets == 0 and state.presence != Presence.OFFLINE.value:
            at = utcnow()
            jobs.enqueue(
                session,
                "presence.disconnect",
                {"user_id": user_id, "closed_at": at.isoformat()},
                run_at=at + DISCONNECT_GRACE,
                max_attempts=3,
            )


def _disconnect(db: Database, payload: dict[str, Any]) -> None:
    closed_at = datetime.fromisoformat(str(payload["closed_at"]))
    with db.transaction() as session:
        state = state_for_update(session, int(payload["user_id"]))
        user = session.get(User, state.user_id)
        if user is None or state.open_sockets > 0 or state.presence == Presence.OFFLINE.value:
            return
        if state.last_activity_at > closed_at:
            return  # reconnected (and maybe closed again: that close scheduled its own job)
        do_set_presence(session, user=user, presence=Presence.OFFLINE, cause="disconnected")


jobs.register_job("presence.disconnect", jobs.JobKind(run=_disconnect, base_delay=5.0))


def user_or_404(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound("user not found")
    return user
