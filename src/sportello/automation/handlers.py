"""The rules' wiring: one batch handler runs the event rules for the trigger events, and a
periodic durable job (``automation.sweep``, every SWEEP_EVERY) runs the time-based ones; no
in-memory timers. Importing this module registers them (pages.py imports it for ``serve``; the
worker imports it and calls ``ensure_sweep``)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy.exc import IntegrityError

from sportello.automation import actions
from sportello.automation.models import RuleKind
from sportello.core import jobs
from sportello.core.db import Database, utcnow
from sportello.core.dispatcher import subscribe_batch_when_registered

SWEEP_JOB: Final = "automation.sweep"
SWEEP_EVERY: Final = timedelta(seconds=60)


@subscribe_batch_when_registered(*actions.TRIGGER_EVENTS)
def on_events(db: Database, batch: list[tuple[str, dict[str, Any]]]) -> None:
    # A read first: without a rule for these events, no write transaction (SQLite's one lock).
    with db.session() as session:
        wanted = {e for r in actions.active_rules(session, RuleKind.EVENT) for e in r.events}
    if not any(name in wanted for name, _ in batch):
        return
    with db.transaction() as session:
        rules = actions.active_rules(session, RuleKind.EVENT)
        for name, payload in batch:
            actions.do_run_event(session, name=name, payload=payload, rules=rules)


def _key(at: datetime) -> str:
    return f"{SWEEP_JOB}:{int(at.timestamp() // SWEEP_EVERY.total_seconds())}"


def ensure_sweep(db: Database, *, at: datetime | None = None) -> None:
    at = at or utcnow()
    try:
        with db.transaction() as session:
            jobs.enqueue(session, SWEEP_JOB, {}, run_at=at, unique_key=_key(at), max_attempts=3)
    except IntegrityError:
        pass


def sweep(db: Database, payload: dict[str, Any]) -> None:
    try:
        with db.session() as session:
            candidates = actions.sweep_candidates(session)
        if candidates:
            with db.transaction() as session:
                actions.do_sweep(session, conversation_ids=candidates)
    finally:
        ensure_sweep(db, at=utcnow() + SWEEP_EVERY)


jobs.register_job(SWEEP_JOB, jobs.JobKind(run=sweep, base_delay=30.0))
