"""The outbox: events written in the same transaction as the change they announce."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Index, String, bindparam, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from sportello.core.db import Base, utcnow


class OutboxEvent(Base):
    __tablename__ = "outbox_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    payload: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    claimed_by: Mapped[str | None] = mapped_column(String(80))
    claimed_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(default=0)
    done_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(String(2000))

    __table_args__ = (Index("ix_outbox_event_pending", "done_at", "id"),)


# A claim is a lease the claiming dispatcher renews as its round goes on (every RENEW_AFTER, between
# handlers): the events of a dispatcher that died are claimed again by another after LEASE, and a
# live one's long round keeps its events. A single handler running past LEASE may see its events
# handled twice, which handlers allow (delivery is at least once).
LEASE = timedelta(seconds=15)
RENEW_AFTER = LEASE / 3


@dataclass(frozen=True, slots=True)
class ClaimedEvent:
    """An event leased to one worker (``token``) until it is marked done or the lease runs out."""

    id: int
    name: str
    payload: dict[str, Any]
    attempts: int
    token: str


# The statements are built once: the dispatcher runs them every round, and building SQLAlchemy
# expressions costs more than running them on SQLite.
_CLAIMABLE = (OutboxEvent.done_at.is_(None)) & (
    (OutboxEvent.claimed_at.is_(None)) | (OutboxEvent.claimed_at < bindparam("stale"))
)
_PROBE = select(OutboxEvent.id).where(_CLAIMABLE).limit(1)
_PENDING = select(OutboxEvent.id).where(_CLAIMABLE).order_by(OutboxEvent.id).limit(bindparam("n"))
_RETURNING = (
    OutboxEvent.id,
    OutboxEvent.name,
    OutboxEvent.payload,
    OutboxEvent.attempts,
)


def _claim_statement(pending: Any) -> Any:
    """One statement claims and returns: UPDATE .. WHERE id IN (oldest claimable) RETURNING."""
    return (
        update(OutboxEvent)
        .where(OutboxEvent.id.in_(pending.scalar_subquery()))
        .values(
            claimed_by=bindparam("token"),
            claimed_at=bindparam("now"),
            attempts=OutboxEvent.attempts + 1,
        )
        .returning(*_RETURNING)
        .execution_options(synchronize_session=False)
    )


_CLAIM = _claim_statement(_PENDING)
# PostgreSQL: rows another worker is claiming are skipped, not waited for.
_CLAIM_PG = _claim_statement(_PENDING.with_for_update(skip_locked=True))
_DONE = (
    update(OutboxEvent)
    .where(OutboxEvent.id.in_(bindparam("ids", expanding=True)))
    .where(OutboxEvent.claimed_by == bindparam("token"))
    .values(done_at=bindparam("now"))
    .execution_options(synchronize_session=False)
)
_DONE_WITH_ERROR = (
    update(OutboxEvent)
    .where(OutboxEvent.id == bindparam("event_id"))
    .where(OutboxEvent.claimed_by == bindparam("token"))
    .values(done_at=bindparam("now"), error=bindparam("error"))
    .execution_options(synchronize_session=False)
)


_RENEW = (
    update(OutboxEvent)
    .where(OutboxEvent.claimed_by == bindparam("token"))
    .where(OutboxEvent.done_at.is_(None))
    .values(claimed_at=bindparam("now"))
    .execution_options(synchronize_session=False)
)


def renew(session: Session, token: str) -> None:
    """Extend the lease of the events claimed under ``token`` that are not done yet."""
    session.connection().execute(_RENEW, {"token": token, "now": utcnow()})


def has_claimable(session: Session) -> bool:
    """A read-only look before claiming: on SQLite a claim takes the database's write lock, which
    the web process's writers are waiting for, so an idle round must not take it."""
    found = session.connection().execute(_PROBE, {"stale": utcnow() - LEASE}).first()
    return found is not None


def claim_events(session: Session, *, worker: str, limit: int = 200) -> list[ClaimedEvent]:
    """Claim pending events for one worker, oldest first, in one statement (SKIP LOCKED on
    PostgreSQL). A claim is a lease: events claimed by a worker that died are claimed again after
    LEASE."""
    now = utcnow()
    token = f"{worker}:{uuid.uuid4().hex[:12]}"
    connection = session.connection()
    statement = _CLAIM_PG if connection.dialect.name == "postgresql" else _CLAIM
    rows = connection.execute(
        statement, {"stale": now - LEASE, "n": limit, "token": token, "now": now}
    ).all()
    claimed = [ClaimedEvent(r.id, r.name, r.payload, r.attempts, token) for r in rows]
    claimed.sort(key=lambda event: event.id)  # RETURNING's order is not guaranteed
    return claimed


def mark_done(
    session: Session, events: list[ClaimedEvent], errors: dict[int, str] | None = None
) -> None:
    """Mark claimed events done (with the error that made us give up, if any), unless another
    worker re-claimed them after our lease ran out."""
    errors = errors or {}
    now = utcnow()
    connection = session.connection()
    by_token: dict[str, list[int]] = {}
    for event in events:
        if event.id in errors:
            connection.execute(
                _DONE_WITH_ERROR,
                {"event_id": event.id, "token": event.token, "now": now, "error": errors[event.id]},
            )
        else:
            by_token.setdefault(event.token, []).append(event.id)
    for token, ids in by_token.items():
        connection.execute(_DONE, {"ids": ids, "token": token, "now": now})


def purge_done(session: Session, *, older_than: timedelta = timedelta(days=7)) -> int:
    from sqlalchemy import delete

    result = session.execute(delete(OutboxEvent).where(OutboxEvent.done_at < utcnow() - older_than))
    return int(getattr(result, "rowcount", 0) or 0)
