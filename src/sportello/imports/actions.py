"""Writes for imports: take an uploaded file, check it (a dry run: counts and the first problems,
nothing written), run it in bulk, and keep the map of external ids that makes a second run of the
same file create nothing twice.

Imported history is history: it is written with events silenced (as the demo writes its own),
so no router offer, outgoing message, survey, rule or webhook reacts to a years-old ticket;
messages carry ``meta["imported"]`` and replies are stored as delivered long ago.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from sportello.accounts.models import User
from sportello.audit import actions as audit
from sportello.config import get_settings
from sportello.conversations.models import DeliveryState, Direction, Priority, Status
from sportello.core.db import Database, utcnow
from sportello.core.errors import Conflict, InvalidInput
from sportello.core.events import SILENCE_EVENTS
from sportello.core.html import preview, sanitize_html
from sportello.core.jobs import enqueue
from sportello.customers.identities import normalize_email, normalize_phone
from sportello.customers.models import IdentityKind
from sportello.imports import readers, statements
from sportello.imports.models import ImportFormat, ImportJob, ImportStatus
from sportello.imports.readers import MAX_ERRORS, ConversationRecord, CustomerRecord, Parsed

log = logging.getLogger(__name__)

RUN_JOB = "imports.run"
MAX_IMPORT_BYTES = 100 * 1024 * 1024  # an upload through the page or the API
CUSTOMER_CHUNK = 2000
CONVERSATION_CHUNK = 1000
EXTENSIONS = {
    ImportFormat.CSV_CUSTOMERS: (".csv", ".txt"),
    ImportFormat.CSV_CONVERSATIONS: (".csv", ".txt"),
    ImportFormat.ZENDESK: (".json", ".ndjson", ".jsonl"),
    ImportFormat.FRESHDESK: (".json", ".ndjson", ".jsonl"),
    ImportFormat.ZAMMAD: (".json", ".ndjson", ".jsonl"),
}
_BINARY_MAGIC = (b"PK\x03\x04", b"%PDF", b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"\xd0\xcf\x11\xe0")


def imports_dir() -> Path:
    path = get_settings().data_dir / "imports"
    path.mkdir(parents=True, exist_ok=True)
    return path


def check_upload(
    *, fmt: str, filename: str, data: bytes, limit: int | None = MAX_IMPORT_BYTES
) -> ImportFormat:
    try:
        kind = ImportFormat(fmt)
    except ValueError:
        raise InvalidInput("unknown import format", field="format") from None
    if not data:
        raise InvalidInput("the file is empty", field="file")
    if limit is not None and len(data) > limit:
        raise InvalidInput("the file is too large (at most 100 MB)", field="file")
    if not filename.lower().endswith(EXTENSIONS[kind]):
        raise InvalidInput("the file's type does not match the chosen format", field="file")
    head = data[:4096]
    if head.startswith(_BINARY_MAGIC) or head.count(b"\x00") > len(head) // 10:
        # a spreadsheet or an archive: ask for the CSV or the JSON itself
        raise InvalidInput("this is not a text file: export it as CSV or JSON", field="file")
    return kind


def do_create_import(
    session: Session,
    *,
    brand_id: int,
    user: User | None,
    fmt: str,
    filename: str,
    data: bytes,
    start: bool = False,
    mapping: dict[str, str] | None = None,
    limit: int | None = MAX_IMPORT_BYTES,
    queue: bool = True,
) -> ImportJob:
    """Keep the file and queue its dry run (or, with ``start``, the import itself)."""
    kind = check_upload(fmt=fmt, filename=filename, data=data, limit=limit)
    digest = hashlib.sha256(data).hexdigest()
    path = imports_dir() / digest
    if not path.exists():
        path.write_bytes(data)
    job = ImportJob(
        brand_id=brand_id,
        format=kind.value,
        filename=filename.replace("\x00", "")[-300:],
        size=len(data),
        sha256=digest,
        mapping=mapping or None,
        status=(ImportStatus.QUEUED if start else ImportStatus.CHECKING).value,
        created_by_id=user.id if user else None,
    )
    session.add(job)
    session.flush()
    if queue:
        enqueue(session, RUN_JOB, {"import_id": job.id, "dry_run": not start}, max_attempts=2)
    audit.record(
        session, "import.created", target=job, actor=user, format=kind.value, file=job.filename
    )
    return job


def do_start_import(
    session: Session, *, job: ImportJob, user: User | None, queue: bool = True
) -> ImportJob:
    """Run a checked import for real."""
    if job.status != ImportStatus.CHECKED:
        raise Conflict("this import cannot be started now")
    job.status = ImportStatus.QUEUED.value
    job.processed = 0
    if queue:
        enqueue(session, RUN_JOB, {"import_id": job.id, "dry_run": False}, max_attempts=2)
    audit.record(session, "import.started", target=job, actor=user, file=job.filename)
    return job


# -- the engine ------------------------------------------------------------------------------


@dataclass
class Report:
    created: dict[str, int] = field(default_factory=dict)
    updated: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)
    errors: list[dict[str, Any]] = field(default_factory=list)
    error_count: int = 0
    columns: dict[str, str] = field(default_factory=dict)

    def add(self, bucket: str, what: str, count: int = 1) -> None:
        counts: dict[str, int] = getattr(self, bucket)
        counts[what] = counts.get(what, 0) + count

    def problem(self, line: int, message: str, **args: Any) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_ERRORS:
            self.errors.append({"line": line, "message": message, "args": args})

    def as_dict(self) -> dict[str, Any]:
        return {
            "created": self.created,
            "updated": self.updated,
            "skipped": self.skipped,
            "errors": sorted(self.errors, key=lambda e: e["line"]),
            "error_count": self.error_count,
            "columns": self.columns,
        }


@dataclass
class Context:
    source: str
    import_id: int
    brand_id: int
    report: Report
    customer_ids: dict[str, int] = field(default_factory=dict)  # external id -> ours
    customer_names: dict[int, str] = field(default_factory=dict)
    agents: dict[str, tuple[int | None, str]] = field(default_factory=dict)
    seen_conversations: dict[str, int] = field(default_factory=dict)  # external id -> line


def _identities(record: CustomerRecord, report: Report) -> list[tuple[IdentityKind, str]]:
    out: list[tuple[IdentityKind, str]] = []
    if record.email:
        try:
            out.append((IdentityKind.EMAIL, normalize_email(record.email)))
        except InvalidInput:
            report.problem(
                record.line, "the e-mail address %(value)s is not valid", value=record.email
            )
    if record.phone:
        try:
            out.append((IdentityKind.PHONE, normalize_phone(record.phone)))
        except InvalidInput:
            report.problem(
                record.line, "the phone number %(value)s is not valid", value=record.phone
            )
    return out


def _notes(record: CustomerRecord) -> str:
    return "\n".join(p for p in (record.company, record.notes) if p)[:4000]


def _write_customers(session: Session, records: list[CustomerRecord], ctx: Context) -> None:
    report = ctx.report
    conn = session.connection()
    mapped = statements.mapped_ids(conn, ctx.source, "customer", [r.external_id for r in records])
    wanted = {r.external_id: _identities(r, report) for r in records}
    owners = statements.identity_owners(conn, [i for ids in wanted.values() for i in ids])
    new: list[CustomerRecord] = []
    new_keys: dict[tuple[IdentityKind, str], CustomerRecord] = {}
    changes: dict[int, dict[str, Any]] = {}
    identities: list[dict[str, Any]] = []
    now = utcnow()
    for record in records:
        ids = wanted[record.external_id]
        if not ids and record.external_id not in mapped:
            report.add("skipped", "customers")
            continue
        target = mapped.get(record.external_id) or next(
            (owners[i] for i in ids if i in owners), None
        )
        if target is None:
            twin = next((new_keys[i] for i in ids if i in new_keys), None)
            if twin is not None:  # the same person twice in one file: the first row wins
                report.add("skipped", "customers")
                report.problem(record.line, "a duplicate of line %(other)s", other=twin.line)
                ctx.customer_ids[record.external_id] = -twin.line
                continue
            new.append(record)
            for i in ids:
                new_keys[i] = record
            continue
        ctx.customer_ids[record.external_id] = target
        current = statements.customer_row(conn, target)
        change: dict[str, Any] = {}
        if record.name and not current["name"]:
            change["name"] = record.name
        if record.language and not current["language"]:
            change["language"] = record.language
        notes = _notes(record)
        if notes and notes not in (current["notes"] or ""):
            change["notes"] = ((current["notes"] or "") + "\n" + notes).strip()[:4000]
        for kind, value in ids:
            if (kind, value) not in owners:
                identities.append(
                    {"customer_id": target, "kind": kind, "value": value, "created_at": now}
                )
                owners[(kind, value)] = target
                change.setdefault("updated_at", now)
        if change:
            changes[target] = change
            report.add("updated", "customers")
        else:
            report.add("skipped", "customers")
        if record.external_id not in mapped:
            statements.add_map(
                conn, ctx.source, "customer", record.external_id, target, ctx.import_id
            )
            mapped[record.external_id] = target
    for customer_id, change in changes.items():
        conn.execute(
            statements.UPDATE_CUSTOMER.where(statements.customer_c.id == customer_id).values(
                **change
            )
        )
    if new:
        created_ids = statements.insert_customers(
            conn,
            [
                {
                    "name": r.name,
                    "language": r.language or None,
                    "notes": _notes(r),
                    "created_at": now,
                    "updated_at": now,
                }
                for r in new
            ],
        )
        maps = []
        for record, customer_id in zip(new, created_ids, strict=True):
            ctx.customer_ids[record.external_id] = customer_id
            ctx.customer_names[customer_id] = record.name or record.email or record.phone
            maps.append((record.external_id, customer_id))
            for kind, value in wanted[record.external_id]:
                identities.append(
                    {"customer_id": customer_id, "kind": kind, "value": value, "created_at": now}
                )
        statements.insert_maps(conn, ctx.source, "customer", maps, ctx.import_id)
        report.add("created", "customers", len(new))
    if identities:
        statements.insert_identities(conn, identities)
    # a duplicate row points at its first row's customer
    for ref, local in list(ctx.customer_ids.items()):
        if local < 0:
            first = next(r for r in records if r.line == -local)
            ctx.customer_ids[ref] = ctx.customer_ids.get(first.external_id, 0)


def _agents(session: Session, parsed: Parsed, ctx: Context) -> None:
    by_email = statements.users_by_email(
        session.connection(), [a.email.lower() for a in parsed.agents.values() if a.email]
    )
    for ref, agent in parsed.agents.items():
        user = by_email.get(agent.email.lower()) if agent.email else None
        if user is not None:
            ctx.agents[ref] = user
        else:
            ctx.agents[ref] = (None, agent.name or agent.email)


def _customer_for(conn: Any, ref: str, ctx: Context) -> int:
    """The customer of a ticket whose requester the file does not list: found by an earlier
    import, else created with the source's id as an external identity."""
    if ref in ctx.customer_ids and ctx.customer_ids[ref] > 0:
        return ctx.customer_ids[ref]
    found = statements.mapped_ids(conn, ctx.source, "customer", [ref]).get(ref)
    if found is None:
        value = f"{ctx.source}:{ref}"[:320]
        owner = statements.identity_owners(conn, [(IdentityKind.EXTERNAL, value)])
        found = owner.get((IdentityKind.EXTERNAL, value))
        if found is None:
            now = utcnow()
            found = statements.insert_customers(
                conn,
                [{"name": "", "language": None, "notes": "", "created_at": now, "updated_at": now}],
            )[0]
            statements.insert_identities(
                conn,
                [
                    {
                        "customer_id": found,
                        "kind": IdentityKind.EXTERNAL,
                        "value": value,
                        "created_at": now,
                    }
                ],
            )
            ctx.report.add("created", "customers")
        statements.insert_maps(conn, ctx.source, "customer", [(ref, found)], ctx.import_id)
    ctx.customer_ids[ref] = found
    return found


_DIRECTION = {"inbound": Direction.INBOUND, "outbound": Direction.OUTBOUND, "note": Direction.NOTE}


def _write_conversations(
    session: Session, records: list[ConversationRecord], ctx: Context
) -> list[int]:
    """Insert the conversations not imported before; the new messages' ids."""
    report = ctx.report
    conn = session.connection()
    mapped = statements.mapped_ids(
        conn, ctx.source, "conversation", [r.external_id for r in records]
    )
    todo: list[ConversationRecord] = []
    for record in records:
        if record.external_id in mapped:
            report.add("skipped", "conversations")
            continue
        if record.external_id in ctx.seen_conversations:
            report.add("skipped", "conversations")
            report.problem(
                record.line,
                "a duplicate of line %(other)s",
                other=ctx.seen_conversations[record.external_id],
            )
            continue
        ctx.seen_conversations[record.external_id] = record.line
        if not record.messages:
            report.add("skipped", "conversations")
            report.problem(
                record.line, "conversation %(id)s has no messages: left out", id=record.external_id
            )
            continue
        todo.append(record)
    if not todo:
        return []
    numbers = statements.reserve_numbers(conn, len(todo))
    rows = []
    for record, number in zip(todo, numbers, strict=True):
        customer_id = _customer_for(conn, record.customer_ref, ctx)
        messages = sorted(record.messages, key=lambda m: m.created_at)
        first_in = next((m.created_at for m in messages if m.kind == "inbound"), None)
        last_in = max((m.created_at for m in messages if m.kind == "inbound"), default=None)
        first_out = next(
            (
                m.created_at
                for m in messages
                if m.kind == "outbound" and (first_in is None or m.created_at >= first_in)
            ),
            None,
        )
        created = min(record.created_at or messages[0].created_at, messages[0].created_at)
        last = messages[-1].created_at
        updated = max(record.updated_at or last, last)
        status = Status(record.status)
        shown = next((m for m in reversed(messages) if m.kind != "note"), messages[-1])
        assignee = (
            ctx.agents.get(record.assignee_ref, (None, ""))[0] if record.assignee_ref else None
        )
        rows.append(
            {
                "number": number,
                "brand_id": ctx.brand_id,
                "channel_id": None,
                "customer_id": customer_id,
                "queue_id": None,
                "assignee_id": assignee,
                "status": status,
                "priority": Priority(record.priority),
                "subject": record.subject or preview(messages[0].text, 120),
                "created_at": created,
                "updated_at": updated,
                "last_message_at": last,
                "last_inbound_at": last_in,
                "first_response_at": first_out,
                "resolved_at": updated if status in (Status.RESOLVED, Status.CLOSED) else None,
                "closed_at": updated if status == Status.CLOSED else None,
                "message_count": len(messages),
                "preview": preview(shown.text, 200),
            }
        )
    conversation_ids = statements.insert_conversations(conn, rows)
    message_rows = []
    tag_rows: list[tuple[int, list[str]]] = []
    maps = []
    for record, conversation_id, row in zip(todo, conversation_ids, rows, strict=True):
        maps.append((record.external_id, conversation_id))
        if record.tags:
            tag_rows.append((conversation_id, record.tags))
        customer_name = statements.customer_name(
            conn, int(str(row["customer_id"])), ctx.customer_names
        )
        for message in sorted(record.messages, key=lambda m: m.created_at):
            author_id, author_name = (None, "")
            if message.kind != "inbound":
                author_id, author_name = ctx.agents.get(
                    message.author_ref, (None, message.author_name)
                )
            meta: dict[str, Any] = {"imported": ctx.source, "external_id": message.external_id}
            if message.attachments:
                meta["attachments"] = [
                    {
                        "filename": a.filename,
                        "content_type": a.content_type,
                        "size": a.size,
                        "url": a.url,
                    }
                    for a in message.attachments[:50]
                ]
            if message.kind != "inbound" and author_id is None:
                meta["imported_author"] = True
            message_rows.append(
                {
                    "conversation_id": conversation_id,
                    "channel_id": None,
                    "direction": _DIRECTION[message.kind],
                    "author_id": author_id,
                    "sender_name": (customer_name if message.kind == "inbound" else author_name)[
                        :200
                    ],
                    "text": message.text,
                    "html": sanitize_html(message.html) if message.html else None,
                    "provider_message_id": None,
                    "client_id": None,
                    "delivery_state": (
                        DeliveryState.RECEIVED
                        if message.kind == "inbound"
                        else DeliveryState.DELIVERED
                        if message.kind == "outbound"
                        else None
                    ),
                    "error": None,
                    "meta": meta,
                    "created_at": message.created_at,
                    "updated_at": message.created_at,
                }
            )
    message_ids = statements.insert_messages(conn, message_rows)
    statements.tag_conversations(conn, tag_rows)
    statements.insert_maps(conn, ctx.source, "conversation", maps, ctx.import_id)
    report.add("created", "conversations", len(todo))
    report.add("created", "messages", len(message_rows))
    return message_ids


def _chunks(items: list[Any], size: int) -> list[list[Any]]:
    return [items[at : at + size] for at in range(0, len(items), size)]


def _silenced(session: Session) -> Session:
    session.info[SILENCE_EVENTS] = True
    return session


def _finish(db: Database, import_id: int, **values: Any) -> None:
    with db.transaction() as session:
        session.execute(update(ImportJob).where(ImportJob.id == import_id).values(**values))


def run_import(
    db: Database,
    import_id: int,
    *,
    dry_run: bool,
    on_messages: Callable[[list[int]], None] | None = None,
) -> dict[str, Any]:
    """Read the kept file and write it (or, ``dry_run``, write it in a transaction that is then
    rolled back: exact counts, nothing kept). Chunks commit one by one, so a big file shows its
    progress and an interrupted run, started again, carries on where it stopped.
    ``on_messages`` gets each chunk's new message ids after its commit (the search index)."""
    with db.transaction() as session:
        job = session.get_one(ImportJob, import_id)
        if job.status in (ImportStatus.DONE, ImportStatus.RUNNING) and not dry_run:
            return job.report or {}
        job.status = (ImportStatus.CHECKING if dry_run else ImportStatus.RUNNING).value
        job.started_at = job.started_at or utcnow()
        fmt, sha, mapping, brand_id = job.format, job.sha256, job.mapping, job.brand_id
    report = Report()
    column = "preview" if dry_run else "report"
    try:
        data = (imports_dir() / sha).read_bytes()
        parsed = readers.read(fmt, data, mapping)
    except (InvalidInput, OSError) as exc:
        message = exc.message if isinstance(exc, InvalidInput) else "the uploaded file is missing"
        detail = exc.extra.get("detail") if isinstance(exc, InvalidInput) else None
        report.problem(
            int((exc.extra if isinstance(exc, InvalidInput) else {}).get("line") or 0),
            message,
            detail=detail or "",
        )
        _finish(
            db,
            import_id,
            status=ImportStatus.FAILED.value,
            failure=message,
            finished_at=utcnow(),
            **{column: report.as_dict()},
        )
        return report.as_dict()
    for problem in parsed.problems:
        report.problem(problem.line, problem.message, **problem.args)
    report.columns = parsed.columns
    ctx = Context(source=parsed.source, import_id=import_id, brand_id=brand_id, report=report)
    total = parsed.total
    _finish(db, import_id, total=total, processed=0)
    started = utcnow()
    try:
        if dry_run:
            session = _silenced(db.session(write=True))
            try:
                _agents(session, parsed, ctx)
                for chunk in _chunks(parsed.customers, CUSTOMER_CHUNK):
                    _write_customers(session, chunk, ctx)
                for chunk in _chunks(parsed.conversations, CONVERSATION_CHUNK):
                    _write_conversations(session, chunk, ctx)
            finally:
                session.rollback()
                session.close()
        else:
            with db.session() as session:
                _agents(session, parsed, ctx)
            done = 0
            for chunk in _chunks(parsed.customers, CUSTOMER_CHUNK):
                with db.transaction() as session:
                    _write_customers(_silenced(session), chunk, ctx)
                    done += len(chunk)
                    session.execute(
                        update(ImportJob).where(ImportJob.id == import_id).values(processed=done)
                    )
            for chunk in _chunks(parsed.conversations, CONVERSATION_CHUNK):
                with db.transaction() as session:
                    message_ids = _write_conversations(_silenced(session), chunk, ctx)
                    done += len(chunk)
                    session.execute(
                        update(ImportJob).where(ImportJob.id == import_id).values(processed=done)
                    )
                if on_messages is not None and message_ids:
                    on_messages(message_ids)
    except Exception as exc:
        log.exception("import %s failed", import_id)
        report.problem(
            0, "the import stopped on an unexpected error: %(detail)s", detail=type(exc).__name__
        )
        _finish(
            db,
            import_id,
            status=ImportStatus.FAILED.value,
            failure="the import stopped on an unexpected error",
            finished_at=utcnow(),
            **{column: report.as_dict()},
        )
        raise
    seconds = max((utcnow() - started).total_seconds(), 1e-6)
    result = report.as_dict()
    result["seconds"] = round(seconds, 3)
    _finish(
        db,
        import_id,
        status=(ImportStatus.CHECKED if dry_run else ImportStatus.DONE).value,
        processed=total,
        finished_at=None if dry_run else utcnow(),
        **{column: result},
    )
    log.info("import %s %s: %s", import_id, "checked" if dry_run else "done", result["created"])
    return result


def mark_failed(db: Database, import_id: int, error: str) -> None:
    _finish(
        db,
        import_id,
        status=ImportStatus.FAILED.value,
        failure="the import stopped on an unexpected error",
        finished_at=utcnow(),
    )
