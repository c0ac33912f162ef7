"""The durable retention job: once a day (and when an admin asks), every active policy runs in
its own transaction; the job schedules its next day itself."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from sportello.core import jobs
from sportello.core.db import utcnow

if TYPE_CHECKING:
    from sportello.core.db import Database

JOB = "privacy.retention"
RUN_AT = time(3, 30)  # at night, Europe/Rome
TZ = ZoneInfo("Europe/Rome")


def _next_night(now: datetime) -> datetime:
    local = now.astimezone(TZ)
    run = datetime.combine(local.date(), RUN_AT, TZ)
    if run <= local:
        run = datetime.combine(local.date() + timedelta(days=1), RUN_AT, TZ)
    return run


def ensure_scheduled(session: Session, *, now: datetime | None = None) -> None:
    """The next nightly run (idempotent: one job a night)."""
    run = _next_night(now or utcnow())
    jobs.enqueue(session, JOB, {"scheduled": True}, run_at=run, unique_key=f"{JOB}:{run.date()}")


def enqueue_now(session: Session) -> None:
    jobs.enqueue(session, JOB, {"scheduled": False}, max_attempts=3)


def ensure_jobs(db: Database) -> None:
    """Called by ``serve`` and ``worker`` at start."""
    from sportello.privacy.models import RetentionPolicy

    with db.transaction() as session:
        if session.scalar(select(RetentionPolicy.id).limit(1)) is not None:
            ensure_scheduled(session)


def run_retention(db: Database, payload: dict[str, Any]) -> None:
    from sportello.privacy import actions
    from sportello.privacy.models import RetentionPolicy

    with db.transaction() as session:
        ids = list(
            session.scalars(
                select(RetentionPolicy.id)
                .where(RetentionPolicy.is_active.is_(True))
                .order_by(RetentionPolicy.id)
            )
        )
    for policy_id in ids:
        with db.transaction() as session:
            policy = session.get(RetentionPolicy, policy_id)
            if policy is not None and policy.is_active:
                actions.do_apply_policy(session, policy=policy)
    if payload.get("scheduled"):
        with db.transaction() as session:
            ensure_scheduled(session, now=utcnow() + timedelta(minutes=1))


jobs.register_job(JOB, jobs.JobKind(run=run_retention, base_delay=60.0))
