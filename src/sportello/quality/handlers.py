"""The quality wiring: the daily sampling job (a durable job that runs every active sampling
rule and schedules its next run). Importing this module registers it; ``serve`` (the pages'
lifespan) and ``worker`` call ``ensure_scheduled``."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError

from sportello.core import jobs
from sportello.core.db import Database, utcnow
from sportello.quality import actions

RUN_HOUR_UTC = 4  # early morning in Italy, before the first shift


def next_run(now: datetime) -> datetime:
    at = now.replace(hour=RUN_HOUR_UTC, minute=0, second=0, microsecond=0)
    return at if at > now else at + timedelta(days=1)


def ensure_scheduled(db: Database, *, now: datetime | None = None) -> None:
    """Schedule the next sampling run (idempotent: one job a day, whoever asks)."""
    run_at = next_run(now or utcnow())
    try:
        with db.transaction() as session:
            jobs.enqueue(
                session,
                actions.SAMPLE_JOB,
                {},
                run_at=run_at,
                unique_key=f"{actions.SAMPLE_JOB}:{run_at.date().isoformat()}",
                max_attempts=5,
            )
    except IntegrityError:
        pass


jobs.register_job(actions.SAMPLE_JOB, jobs.JobKind(run=actions._sample_job, base_delay=60.0))
