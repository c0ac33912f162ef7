"""The outbox: events written in the same transaction as the change they announce."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Index, String, select, update
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


LEASE = timedelta(seconds=60)


def claim_events(session: Session, *, worker: str, limit: int = 200) -> list[OutboxEvent]:
    """Claim pending events for one worker: conditional UPDATE on SQLite, SKIP LOCKED on PostgreSQL.

    A claim is a lease: events claimed by a worker that died are claimed again after LEASE.
    """
    now = utcnow()
    stale = now - LEASE
    token = f"{worker}:{uuid.uuid4().hex[:12]}"
    pending = (
        select(OutboxEvent.id)
        .where(OutboxEvent.done_at.is_(None))
        .where((OutboxEvent.claimed_at.is_(None)) | (OutboxEvent.claimed_at < stale))
        .order_by(OutboxEvent.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        pending = pending.with_for_update(skip_locked=True)
    ids = list(session.scalars(pending))
    if not ids:
        return []
    session.execute(
        update(OutboxEvent)
        .where(OutboxEvent.id.in_(ids))
        .where((OutboxEvent.claimed_at.is_(None)) | (OutboxEvent.claimed_at < stale))
        .values(claimed_by=token, claimed_at=now, attempts=OutboxEvent.attempts + 1)
        .execution_options(synchronize_session=False)
    )
    return list(
        session.scalars(
            select(OutboxEvent)
            .where(OutboxEvent.id.in_(ids), OutboxEvent.claimed_by == token)
            .order_by(OutboxEvent.id)
        )
    )


def mark_done(session: Session, events: list[OutboxEvent]) -> None:
    """Mark claimed events done, unless another worker re-claimed them after our lease ran out."""
    by_token: dict[str | None, list[int]] = {}
    for event in events:
        by_token.setdefault(event.claimed_by, []).append(event.id)
    for token, ids in by_token.items():
        session.execute(
            update(OutboxEvent)
            .where(OutboxEvent.id.in_(ids), OutboxEvent.claimed_by == token)
            .values(done_at=utcnow())
            .execution_options(synchronize_session=False)
        )


def purge_done(session: Session, *, older_than: timedelta = timedelta(days=7)) -> int:
    from sqlalchemy import delete

    result = session.execute(delete(OutboxEvent).where(OutboxEvent.done_at < utcnow() - older_than))
    return int(getattr(result, "rowcount", 0) or 0)
