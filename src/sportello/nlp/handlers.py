"""The language tools' wiring: every customer message is analysed after commit (sentiment,
language, triage), and a nightly durable job retrains triage and recalibrates sentiment.

Importing this module registers them (pages.py imports it for ``serve``; the worker imports it).
"""

from __future__ import annotations

import contextlib
import logging
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from sportello.accounts.models import Brand
from sportello.automation.engine import register_condition
from sportello.core import jobs
from sportello.core.db import Database, utcnow
from sportello.core.dispatcher import subscribe_batch
from sportello.core.errors import InvalidInput
from sportello.nlp import actions, service

log = logging.getLogger(__name__)

NIGHTLY_JOB = "nlp.nightly"
NIGHTLY_AT = time(3, 15)  # Europe/Rome
ROME = ZoneInfo("Europe/Rome")


@subscribe_batch("message.received")
def messages_received(db: Database, events: list[tuple[str, dict[str, Any]]]) -> None:
    ids = [int(p["message_id"]) for _name, p in events if p.get("direction") == "inbound"]
    if not ids:
        return
    _warm()  # load the models before taking SQLite's write lock, not while holding it
    with db.transaction() as session:
        actions.do_analyse_messages(session, message_ids=ids)


def _warm() -> None:
    """The first analysis in a process loads the language identifier, the VADER lexicon and
    scikit-learn (seconds on a busy machine). Inside the write transaction that would hold
    every other writer (an agent's reply) that long."""
    from sportello.nlp import intent, language, sentiment

    language.detect("buongiorno")
    sentiment.score("ok", "en")
    intent.warm()


def next_nightly(now: datetime) -> datetime:
    local = now.astimezone(ROME)
    at = datetime.combine(local.date(), NIGHTLY_AT, tzinfo=ROME)
    if at <= local:
        at = datetime.combine(local.date() + timedelta(days=1), NIGHTLY_AT, tzinfo=ROME)
    return at.astimezone(UTC)


def ensure_jobs(db: Database, *, now: datetime | None = None) -> None:
    """Schedule the next nightly run (idempotent: one job a night, whoever asks)."""
    at = next_nightly(now or utcnow())
    try:
        with db.transaction() as session:
            jobs.enqueue(
                session,
                NIGHTLY_JOB,
                {},
                run_at=at,
                unique_key=f"{NIGHTLY_JOB}:{at.date().isoformat()}",
                max_attempts=3,
            )
    except IntegrityError:
        pass


def nightly(db: Database, _payload: dict[str, Any]) -> None:
    """Retrain each brand's triage from its history and recalibrate sentiment from CSAT, where
    the settings ask for it and there is enough data; then schedule the next night."""
    try:
        with db.transaction() as session:
            brand_ids = list(session.scalars(select(Brand.id)))
        for brand_id in brand_ids:
            with db.transaction() as session:
                settings = service.settings_for(session, brand_id)
                if not settings.nightly_retrain:
                    continue
                try:
                    actions.do_train_intents(session, brand_id=brand_id)
                except InvalidInput:
                    log.info("nlp nightly: not enough history to train brand %s", brand_id)
            with db.transaction() as session, contextlib.suppress(InvalidInput):
                actions.do_calibrate_sentiment(session, brand_id=brand_id)
    finally:
        ensure_jobs(db, now=utcnow() + timedelta(minutes=1))


jobs.register_job(NIGHTLY_JOB, jobs.JobKind(run=nightly, base_delay=300.0))


# --- conditions for the rules (automation): the mood and the language -------------------------


def _mood_score(ctx: Any) -> float | None:
    found = service.insight(ctx.session, ctx.conversation.id)
    return None if found is None or not found.messages else float(found.score)


def _language(ctx: Any) -> str:
    found = service.insight(ctx.session, ctx.conversation.id)
    return (found.language or "") if found is not None else ""


register_condition(
    "sentiment_score",
    _mood_score,
    ops=("lt", "gt"),
    label="Customer's mood (from -1, angry, to 1, happy)",
    kind="number",
)
register_condition(
    "language", _language, ops=("is", "is_not"), label="Language of the conversation (it, en…)"
)
