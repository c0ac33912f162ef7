"""The reports' handlers and jobs, registered when this module is imported (by ``create_app``
and ``sportello worker``, after routing: the SLA clocks are updated earlier in the same round).

- aggregate upkeep: one batch handler for every event that changes a conversation's measures;
- phone calls: ``voice.call_changed`` (declared by the voice channel) refreshes the call's
  conversation, whose contact measures come from the call;
- survey answers: ``survey.answered`` (declared by the surveys package when installed; until
  then nothing emits it and the handler never runs);
- the alert check (every ALERT_EVERY) and the weekly e-mail (Mondays), both durable jobs.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy.exc import IntegrityError

from sportello.core import jobs
from sportello.core.db import Database, utcnow
from sportello.core.dispatcher import subscribe_batch, subscribe_batch_when_registered
from sportello.reports import actions, upkeep, weekly
from sportello.routing import sla  # noqa: F401  (its handlers first: SLA clocks before facts)

ALERT_EVERY: Final = timedelta(seconds=30)
#: The upkeep lags the events by at most UPKEEP_WAIT seconds (or until UPKEEP_BATCH are held):
#: its cost is mostly per call (a transaction, a few reads), so a busy chat's small dispatcher
#: rounds are counted together (bench/reports.py: the upkeep's share of the door's CPU).
UPKEEP_WAIT: Final = 0.5
UPKEEP_BATCH: Final = 500
UPKEEP_EVENTS: Final = (
    "conversation.created",
    "conversation.updated",
    "conversation.assigned",
    "message.received",
    "message.created",
    "customer.merged",
    "sla.breached",
)


@subscribe_batch(*UPKEEP_EVENTS, max_wait=UPKEEP_WAIT, min_batch=UPKEEP_BATCH)
def upkeep_handler(db: Database, batch: list[tuple[str, dict[str, Any]]]) -> None:
    ids: set[int] = set()  # recomputed from their rows
    created: set[int] = set()
    customers: set[int] = set()
    messages: list[tuple[int, int, str]] = []  # the fast path: counted by message id
    for name, payload in batch:
        if name == "customer.merged":
            customers.add(int(payload["target_id"]))
            continue
        cid = payload.get("conversation_id")
        if cid is None:
            continue
        if name in ("message.received", "message.created"):
            messages.append((int(cid), int(payload["message_id"]), str(payload["direction"])))
            continue
        ids.add(int(cid))
        if name == "conversation.created":
            created.add(int(cid))
    with db.transaction() as session:
        quick = [m for m in messages if m[0] not in ids]
        ids |= {m[0] for m in messages if m[0] in ids}
        if quick:
            ids |= upkeep.count_messages(session, quick)
        if created:  # a new contact can end an earlier conversation's first-contact resolution
            ids |= upkeep.related_to_new_contacts(session, created)
        if customers:
            ids |= upkeep.conversations_of_customers(session, customers)
        if ids:
            actions.do_refresh_conversations(session, conversation_ids=ids)


@subscribe_batch_when_registered("voice.call_changed")
def call_handler(db: Database, batch: list[tuple[str, dict[str, Any]]]) -> None:
    """A phone call queued, answered, abandoned, called back or closed: its conversation's
    contact measures come from the call (kpis._call_contact)."""
    ids = {int(p["conversation_id"]) for _, p in batch if p.get("conversation_id") is not None}
    if ids:
        with db.transaction() as session:
            actions.do_refresh_conversations(session, conversation_ids=ids)


@subscribe_batch_when_registered("survey.answered")
def survey_handler(db: Database, batch: list[tuple[str, dict[str, Any]]]) -> None:
    with db.transaction() as session:
        actions.do_record_survey_answers(session, answers=[payload for _, payload in batch])


def _alert_key(at: datetime) -> str:
    slot = int(at.timestamp() // ALERT_EVERY.total_seconds())
    return f"reports.alerts:{slot}"


def ensure_alert_check(db: Database, *, at: datetime | None = None) -> None:
    at = at or utcnow() + ALERT_EVERY
    try:
        with db.transaction() as session:
            jobs.enqueue(
                session, "reports.alerts", {}, run_at=at, unique_key=_alert_key(at), max_attempts=3
            )
    except IntegrityError:
        pass


def ensure_jobs(db: Database) -> None:
    """The periodic jobs (idempotent; ``serve`` and ``worker`` call it at start)."""
    ensure_alert_check(db, at=utcnow())
    weekly.ensure_scheduled(db)


jobs.register_job("reports.alerts", jobs.JobKind(run=actions._alerts_job, base_delay=5.0))
jobs.register_job(weekly.JOB, jobs.JobKind(run=actions._weekly_job, base_delay=300.0))
