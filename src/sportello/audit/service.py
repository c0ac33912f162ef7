"""Reads of the audit log: search by actor, action, target and date range, newest first, and
the CSV export of a search."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from sportello.audit.models import AuditEntry

EXPORT_LIMIT = 100_000
ID_PADDING = timedelta(minutes=5)


@dataclass(frozen=True)
class AuditFilter:
    actor: str = ""  # an email (or part of it), or a user id
    action: str = ""  # exact, or a prefix ending with "." (``user.``)
    target: str = ""  # "type", "type:id" or part of a label
    since: date | None = None
    until: date | None = None  # inclusive
    timezone: str = "Europe/Rome"


def _statement(f: AuditFilter) -> Select[Any]:
    stmt = select(AuditEntry)
    actor = f.actor.strip()
    if actor:
        if actor.isdigit():
            stmt = stmt.where(AuditEntry.actor_id == int(actor))
        else:
            stmt = stmt.where(AuditEntry.actor_label.contains(actor.lower(), autoescape=True))
    action = f.action.strip()
    if action:
        if action.endswith("."):
            stmt = stmt.where(AuditEntry.action.startswith(action, autoescape=True))
        else:
            stmt = stmt.where(AuditEntry.action == action)
    target = f.target.strip()
    if target:
        kind, colon, ident = target.partition(":")
        if colon:
            stmt = stmt.where(AuditEntry.target_type == kind, AuditEntry.target_id == ident)
        elif target.isidentifier() and target.islower():
            stmt = stmt.where(AuditEntry.target_type == target)
        else:
            stmt = stmt.where(AuditEntry.target_label.contains(target, autoescape=True))
    # Dates become id bounds too: entries are appended in time order, so the newest-first page
    # walks the primary key inside the range instead of sorting every row of the period (the
    # bounds are padded by a few minutes for entries committed out of order; ``at`` stays exact).
    zone = ZoneInfo(f.timezone)
    if f.since is not None:
        start = datetime.combine(f.since, time(), zone)
        first = select(func.min(AuditEntry.id)).where(AuditEntry.at >= start - ID_PADDING)
        stmt = stmt.where(AuditEntry.at >= start, AuditEntry.id >= first.scalar_subquery())
    if f.until is not None:
        end = datetime.combine(f.until + timedelta(days=1), time(), zone)
        last = select(func.max(AuditEntry.id)).where(AuditEntry.at < end + ID_PADDING)
        stmt = stmt.where(AuditEntry.at < end, AuditEntry.id <= last.scalar_subquery())
    return stmt


def search(
    session: Session, f: AuditFilter, *, before_id: int | None = None, limit: int = 100
) -> list[AuditEntry]:
    """A page of matching entries, newest first; ``before_id`` continues after a page."""
    stmt = _statement(f)
    if before_id is not None:
        stmt = stmt.where(AuditEntry.id < before_id)
    return list(session.scalars(stmt.order_by(AuditEntry.id.desc()).limit(limit)))


def actions(session: Session) -> list[str]:
    """The actions recorded so far (for the filter's list)."""
    return list(session.scalars(select(AuditEntry.action).distinct().order_by(AuditEntry.action)))


CSV_COLUMNS = [
    "id",
    "at",
    "actor_id",
    "actor",
    "action",
    "target_type",
    "target_id",
    "target",
    "ip",
    "user_agent",
    "details",
]


def to_csv(session: Session, f: AuditFilter) -> Iterator[str]:
    """The matching entries as CSV lines (UTF-8, oldest first), at most EXPORT_LIMIT."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    stmt = _statement(f).order_by(AuditEntry.id).limit(EXPORT_LIMIT)
    entries: Any = session.scalars(stmt.execution_options(yield_per=1000))
    for n, e in enumerate(entries):
        writer.writerow(
            [
                e.id,
                e.at.isoformat(),
                e.actor_id or "",
                e.actor_label,
                e.action,
                e.target_type,
                e.target_id,
                e.target_label,
                e.ip or "",
                e.user_agent or "",
                json.dumps(e.details, ensure_ascii=False, sort_keys=True),
            ]
        )
        if n % 500 == 0:
            yield out.getvalue()
            out.seek(0)
            out.truncate()
    yield out.getvalue()


def describe(details: dict[str, object]) -> list[str]:
    """The details as short readable lines: ``role: agent → supervisor``, ``method: password``."""
    lines: list[str] = []

    def show(value: object) -> str:
        if isinstance(value, list):
            return ", ".join(show(v) for v in value) or "—"
        if isinstance(value, dict):
            return ", ".join(f"{k}={show(v)}" for k, v in value.items()) or "—"
        return "—" if value is None or value == "" else str(value)

    def walk(prefix: str, value: object) -> None:
        if isinstance(value, dict) and set(value) == {"before", "after"}:
            lines.append(f"{prefix}: {show(value['before'])} → {show(value['after'])}")
        elif (isinstance(value, dict) and prefix in ("", "changes")) or (
            isinstance(value, dict) and value and all(isinstance(v, dict) for v in value.values())
        ):
            for key, inner in value.items():
                walk(key if prefix in ("", "changes") else f"{prefix}.{key}", inner)
        else:
            lines.append(f"{prefix}: {show(value)}")

    walk("", details)
    return lines[:30]
