"""Durable background jobs with retries and backoff, claimed like outbox rows.

A job runs outside any database transaction (it may call the network); its handler opens the short
transactions it needs. An exception with ``permanent = True`` (for example ``ChannelError``) or the
last allowed attempt ends the job as failed and calls the job kind's ``on_failure``.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Index, String, bindparam, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from sportello.core.db import Base, utcnow

if TYPE_CHECKING:
    from sportello.core.db import Database

log = logging.getLogger(__name__)


class Job(Base):
    __tablename__ = "job"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(80))
    payload: Mapped[dict[str, Any]]
    unique_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    run_at: Mapped[datetime] = mapped_column(default=utcnow)
    attempts: Mapped[int] = mapped_column(default=0)
    max_attempts: Mapped[int] = mapped_column(default=8)
    claimed_by: Mapped[str | None] = mapped_column(String(80))
    claimed_at: Mapped[datetime | None]
    done_at: Mapped[datetime | None]
    failed_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(String(2000))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index("ix_job_due", "done_at", "failed_at", "run_at"),)


@dataclass(frozen=True)
class JobKind:
    run: Callable[[Database, dict[str, Any]], None]
    on_failure: Callable[[Database, dict[str, Any], str], None] | None = None
    base_delay: float = 5.0
    max_delay: float = 3600.0


JOB_KINDS: dict[str, JobKind] = {}
# As for events (outbox.LEASE): the dispatcher renews its claim between jobs, so the jobs of a
# dispatcher that died run elsewhere a minute later; one job longer than LEASE may run twice.
LEASE = timedelta(seconds=60)
RENEW_AFTER = LEASE / 3


def register_job(kind: str, job: JobKind) -> None:
    JOB_KINDS[kind] = job


def enqueue(
    session: Session,
    kind: str,
    payload: dict[str, Any],
    *,
    run_at: datetime | None = None,
    unique_key: str | None = None,
    max_attempts: int = 8,
) -> Job:
    if unique_key is not None:
        existing = session.scalar(select(Job).where(Job.unique_key == unique_key))
        if existing is not None:
            return existing
    job = Job(
        kind=kind,
        payload=payload,
        run_at=run_at or utcnow(),
        unique_key=unique_key,
        max_attempts=max_attempts,
    )
    session.add(job)
    session.info["outbox_pending"] = True  # wakes the dispatcher after commit
    return job


def backoff(kind: JobKind, attempts: int) -> timedelta:
    return timedelta(seconds=min(kind.base_delay * 2 ** max(attempts - 1, 0), kind.max_delay))


# Due and not leased (or leased by a worker that died): one condition for the probe and the claim.
_DUE = (
    Job.done_at.is_(None)
    & Job.failed_at.is_(None)
    & (Job.run_at <= bindparam("now"))
    & ((Job.claimed_at.is_(None)) | (Job.claimed_at < bindparam("stale")))
)
_DUE_PROBE = select(Job.id).where(_DUE).limit(1)


def has_due(session: Session) -> bool:
    """A read-only look before claiming (see outbox.has_claimable); built once, run every
    dispatcher round."""
    now = utcnow()
    found = session.connection().execute(_DUE_PROBE, {"now": now, "stale": now - LEASE}).first()
    return found is not None


def claim_jobs(session: Session, *, worker: str, limit: int = 50) -> list[Job]:
    now = utcnow()
    token = f"{worker}:{uuid.uuid4().hex[:12]}"
    stale = now - LEASE
    due = select(Job.id).where(_DUE).order_by(Job.run_at, Job.id).limit(limit)
    if session.get_bind().dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    ids = list(session.scalars(due, {"now": now, "stale": stale}))
    if not ids:
        return []
    session.execute(
        update(Job)
        .where(Job.id.in_(ids))
        .where((Job.claimed_at.is_(None)) | (Job.claimed_at < stale))
        .values(claimed_by=token, claimed_at=now, attempts=Job.attempts + 1)
        .execution_options(synchronize_session=False)
    )
    return list(session.scalars(select(Job).where(Job.id.in_(ids), Job.claimed_by == token)))


def next_run_at(session: Session) -> datetime | None:
    return session.scalar(
        select(Job.run_at)
        .where(Job.done_at.is_(None), Job.failed_at.is_(None))
        .order_by(Job.run_at)
        .limit(1)
    )


def renew(session: Session, token: str) -> None:
    """Extend the lease of the jobs claimed under ``token`` that have not finished."""
    session.execute(
        update(Job)
        .where(Job.claimed_by == token, Job.done_at.is_(None), Job.failed_at.is_(None))
        .values(claimed_at=utcnow())
        .execution_options(synchronize_session=False)
    )


def run_job(db: Database, job: Job) -> str:
    """Run one claimed job; returns 'done', 'retry' or 'failed'."""
    kind = JOB_KINDS.get(job.kind)
    error: str
    permanent: bool
    if kind is None:
        error, permanent = f"unknown job kind {job.kind!r}", True
    else:
        try:
            kind.run(db, job.payload)
        except Exception as exc:
            error = str(exc) or type(exc).__name__
            permanent = bool(getattr(exc, "permanent", False))
            log.warning("job %s #%s attempt %s failed: %s", job.kind, job.id, job.attempts, error)
        else:
            with db.transaction() as session:
                session.execute(
                    update(Job)
                    .where(Job.id == job.id, Job.claimed_by == job.claimed_by)
                    .values(done_at=utcnow(), error=None)
                )
            return "done"
    final = permanent or job.attempts >= job.max_attempts
    with db.transaction() as session:
        values: dict[str, Any] = {"error": error[:2000], "claimed_at": None}
        if final:
            values["failed_at"] = utcnow()
        else:
            assert kind is not None
            values["run_at"] = utcnow() + backoff(kind, job.attempts)
        session.execute(
            update(Job).where(Job.id == job.id, Job.claimed_by == job.claimed_by).values(**values)
        )
    if final and kind is not None and kind.on_failure is not None:
        kind.on_failure(db, job.payload, error)
    return "failed" if final else "retry"
