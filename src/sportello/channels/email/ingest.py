"""Processing stored raw messages, one short transaction each; a failure quarantines one message
and never stops the others."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from sportello.channels.email import actions
from sportello.channels.email.models import EmailRaw, RawStatus
from sportello.channels.models import Channel
from sportello.core.db import Database

log = logging.getLogger(__name__)


@dataclass
class IngestReport:
    processed: int = 0
    quarantined: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def process_one(db: Database, raw_id: int, report: IngestReport | None = None) -> str:
    """Process one stored message in its own transaction; returns its status afterwards."""
    report = report if report is not None else IngestReport()
    try:
        with db.transaction() as session:
            loaded = actions.load_raw(session, raw_id)
            if loaded is None or loaded[1] != RawStatus.RECEIVED:
                return loaded[1].value if loaded is not None else "gone"
            raw = loaded[0]
            channel = session.get_one(Channel, raw.channel_id)
            result = actions.do_process_raw(session, channel=channel, raw=raw)
    except Exception as exc:
        error = _describe(exc)
        log.warning("email_raw #%s quarantined: %s", raw_id, error)
        with db.transaction() as session:
            actions.do_quarantine(session, raw_id=raw_id, error=error)
        report.quarantined += 1
        report.errors.append(error)
        return RawStatus.QUARANTINED.value
    report.processed += 1
    report.outcomes[result.outcome] = report.outcomes.get(result.outcome, 0) + 1
    return RawStatus.PROCESSED.value


BATCH_COUNT = 25
BATCH_BYTES = 8 * 1024 * 1024


def pending(db: Database, channel_id: int, limit: int = 500) -> list[tuple[int, int]]:
    """(id, size) of what is stored for this mailbox and not processed yet, oldest first."""
    with db.session() as session:
        rows = session.execute(
            select(EmailRaw.id, EmailRaw.size)
            .where(EmailRaw.channel_id == channel_id, EmailRaw.status == RawStatus.RECEIVED)
            .order_by(EmailRaw.id)
            .limit(limit)
        ).all()
    return [(int(r.id), int(r.size)) for r in rows]


def _batches(rows: list[tuple[int, int]]) -> list[list[int]]:
    batches: list[list[int]] = []
    current: list[int] = []
    size = 0
    for raw_id, raw_size in rows:
        if current and (len(current) >= BATCH_COUNT or size + raw_size > BATCH_BYTES):
            batches.append(current)
            current, size = [], 0
        current.append(raw_id)
        size += raw_size
    if current:
        batches.append(current)
    return batches


def process_batch(db: Database, raw_ids: list[int], report: IngestReport) -> None:
    """Several messages in one transaction, each in its own savepoint: one that fails is
    quarantined in the same transaction. Should the transaction itself fail (the database went
    away), each message is tried again on its own."""
    local = IngestReport()
    try:
        with db.transaction() as session:
            channels: dict[int, Channel] = {}
            for raw_id in raw_ids:
                loaded = actions.load_raw(session, raw_id)
                if loaded is None or loaded[1] != RawStatus.RECEIVED:
                    continue
                raw = loaded[0]
                channel = channels.get(raw.channel_id)
                if channel is None:
                    channel = channels[raw.channel_id] = session.get_one(Channel, raw.channel_id)
                try:
                    with session.begin_nested():
                        result = actions.do_process_raw(session, channel=channel, raw=raw)
                except Exception as exc:
                    error = _describe(exc)
                    log.warning("email_raw #%s quarantined: %s", raw_id, error)
                    actions.do_quarantine(session, raw_id=raw_id, error=error)
                    local.quarantined += 1
                    local.errors.append(error)
                else:
                    local.processed += 1
                    local.outcomes[result.outcome] = local.outcomes.get(result.outcome, 0) + 1
    except Exception:
        log.exception("email batch failed: processing its %s messages one by one", len(raw_ids))
        for raw_id in raw_ids:
            process_one(db, raw_id, report)
        return
    report.processed += local.processed
    report.quarantined += local.quarantined
    report.errors.extend(local.errors)
    for key, value in local.outcomes.items():
        report.outcomes[key] = report.outcomes.get(key, 0) + value


def process_pending(db: Database, channel_id: int) -> IngestReport:
    """Everything stored for this mailbox and not processed yet, oldest first."""
    report = IngestReport()
    while True:
        rows = pending(db, channel_id)
        if not rows:
            return report
        for batch in _batches(rows):
            process_batch(db, batch, report)


def reprocess(session: Session, *, raw: EmailRaw) -> str:
    """Process a quarantined message again in the caller's transaction (an admin, after a fix).

    Returns the new status; on a new failure the message stays quarantined with the new error."""
    actions.do_requeue(session, raw=raw)
    session.flush()
    record = actions.RawRecord(raw.id, raw.channel_id, actions.read_raw(session, raw.id))
    channel = session.get_one(Channel, raw.channel_id)
    try:
        with session.begin_nested():
            actions.do_process_raw(session, channel=channel, raw=record)
    except Exception as exc:
        actions.do_quarantine(session, raw_id=raw.id, error=_describe(exc))
    session.expire(raw)
    return raw.status.value
