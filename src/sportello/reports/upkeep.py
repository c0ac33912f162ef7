"""Keeping the aggregates current: the statements behind ``actions.do_refresh_conversations``,
``do_record_survey_answers`` and ``do_rebuild_in_chunks``.

A conversation's fact is recomputed from its raw rows (conversation, messages, SLA clocks, the
customer's other conversations) and its contribution to ``report_interval`` is replaced: the
upkeep is keyed by conversation, so an event delivered twice changes nothing the second time.
Survey answers are keyed by response id.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, delete, func, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from sportello.channels.voice.models import VoiceCall
from sportello.conversations.models import Conversation, Message
from sportello.core.db import Database, utcnow
from sportello.core.prepared import Prepared
from sportello.reports import kpis
from sportello.reports.models import (
    INTERVAL_MEASURES,
    ReportDay,
    ReportFact,
    ReportInterval,
    ReportSettings,
    ReportSurveyAnswer,
)
from sportello.routing.models import SlaClockRow

_DIMS = ("brand_id", "channel_id", "queue_id", "agent_id")
CHUNK = 500


#: A brand's settings as the upkeep last read them, and when (monotonic seconds). The upkeep
#: runs many times a second: it reads a brand's settings at most every CONFIG_TTL seconds (a
#: change made in this process is seen at once: ``forget_configs``). The settings it uses
#: (short-abandon threshold, FCR window) apply to facts computed afterwards anyway; the
#: history follows after ``sportello reports rebuild``.
_CONFIGS: dict[int, tuple[float, kpis.ReportConfig]] = {}
CONFIG_TTL = 10.0


def forget_configs() -> None:
    _CONFIGS.clear()


def config_for(session: Session, brand_id: int) -> kpis.ReportConfig:
    """A brand's settings (see _CONFIGS)."""
    now = time.monotonic()
    found = _CONFIGS.get(brand_id)
    if found is not None and now - found[0] < CONFIG_TTL:
        return found[1]
    row = session.connection().execute(_SETTINGS_OF, {"brand": brand_id}).first()
    config = kpis.ReportConfig.from_dict(row.settings if row else None)
    _CONFIGS[brand_id] = (now, config)
    return config


def apply_deltas(session: Session, deltas: Mapping[kpis.Key, Mapping[str, int]]) -> None:
    """Add ``deltas`` to report_interval and to report_day (the bucket's day in Rome), one
    upsert each. Rows go in key order: two dispatchers updating the same rows on PostgreSQL
    lock them in the same order and never deadlock."""
    if not deltas:
        return
    days: dict[tuple[date, int, int, int, int], dict[str, int]] = {}
    rows = []
    for key in sorted(deltas):
        bucket, brand, channel, queue, agent = key
        measures = deltas[key]
        at = datetime.fromisoformat(bucket)
        row: dict[str, Any] = {
            "bucket_at": at,
            "brand_id": brand,
            "channel_id": channel,
            "queue_id": queue,
            "agent_id": agent,
        }
        day = days.setdefault((kpis.local_day(at), brand, channel, queue, agent), {})
        for name in INTERVAL_MEASURES:
            value = int(measures.get(name, 0))
            row[name] = value
            day[name] = day.get(name, 0) + value
        rows.append(row)
    day_rows = [
        {"day": d, "brand_id": b, "channel_id": c, "queue_id": q, "agent_id": a, **m}
        for (d, b, c, q, a), m in sorted(days.items())
    ]
    _upsert(session, ReportInterval, ("bucket_at", *_DIMS), rows)
    _upsert(session, ReportDay, ("day", *_DIMS), day_rows)


_UPSERTS: dict[tuple[str, str], tuple[Any, Prepared]] = {}
#: From this many rows (a rebuild, a busy round) one executemany beats a statement a row.
MANY = 20


def _upsert(
    session: Session, model: Any, keys: tuple[str, ...], rows: list[dict[str, Any]]
) -> None:
    """``INSERT ... ON CONFLICT DO UPDATE SET m = m + excluded.m``, built once per dialect; a
    dispatcher round's rows go to the driver in one executemany, many rows (a rebuild) through
    SQLAlchemy's batched executemany."""
    dialect = session.get_bind().dialect.name
    found = _UPSERTS.get((dialect, model.__tablename__))
    if found is None:
        ins = pg_insert(model) if dialect == "postgresql" else sqlite_insert(model)
        stmt = ins.on_conflict_do_update(
            index_elements=list(keys),
            set_={name: getattr(model, name) + ins.excluded[name] for name in INTERVAL_MEASURES},
        )
        found = _UPSERTS[(dialect, model.__tablename__)] = (stmt, Prepared(stmt))
    stmt, prepared = found
    if len(rows) >= MANY:
        for start in range(0, len(rows), CHUNK):
            session.execute(stmt, rows[start : start + CHUNK])
        return
    _execute_many(session.connection(), prepared, rows)


def _ids(name: str = "ids") -> Any:
    return bindparam(name, expanding=True)


# The upkeep's reads, built once (an IN list as an expanding parameter: no statement is
# constructed, nor its cache key computed, per round).
_C = Conversation.__table__.c
_M = Message.__table__.c
_S = SlaClockRow.__table__.c
_CONVERSATIONS_OF = select(
    _C.id,
    _C.brand_id,
    _C.channel_id,
    _C.queue_id,
    _C.assignee_id,
    _C.customer_id,
    _C.status,
    _C.created_at,
    _C.resolved_at,
    _C.closed_at,
).where(_C.id.in_(_ids()))
_MESSAGES_OF = (
    select(_M.id, _M.conversation_id, _M.direction, _M.author_id, _M.created_at, _M.meta)
    .where(_M.conversation_id.in_(_ids()))
    .order_by(_M.conversation_id, _M.created_at, _M.id)
)
_CLOCKS_OF = select(_S.conversation_id, _S.met, _S.breached_at).where(
    _S.conversation_id.in_(_ids()), (_S.met.is_not(None)) | (_S.breached_at.is_not(None))
)
_V = VoiceCall.__table__.c
_CALLS_OF = (
    select(_V.conversation_id, _V.started_at, _V.answered_at, _V.ended_at, _V.outcome, _V.agent_id)
    .where(_V.conversation_id.in_(_ids()), _V.direction == "inbound")
    .order_by(_V.conversation_id, _V.started_at, _V.id)
)
_CONTACTS_OF = select(_C.customer_id, _C.created_at).where(_C.customer_id.in_(_ids()))
_IDS_OF_CUSTOMERS = select(_C.id).where(_C.customer_id.in_(_ids()))
_NEW_CONTACTS = select(_C.customer_id, _C.created_at, _C.brand_id).where(_C.id.in_(_ids()))
_SETTINGS_OF = select(ReportSettings.__table__.c.settings).where(
    ReportSettings.__table__.c.brand_id == bindparam("brand")
)


def _load_raw(session: Session, ids: Sequence[int]) -> dict[int, kpis.RawConversation]:
    conn = session.connection()
    convs: dict[int, kpis.RawConversation] = {}
    for r in conn.execute(_CONVERSATIONS_OF, {"ids": list(ids)}):
        convs[r.id] = kpis.RawConversation(
            id=r.id,
            brand_id=r.brand_id,
            channel_id=r.channel_id,
            queue_id=r.queue_id,
            assignee_id=r.assignee_id,
            customer_id=r.customer_id,
            status=str(r.status.value if hasattr(r.status, "value") else r.status),
            created_at=r.created_at,
            resolved_at=r.resolved_at,
            closed_at=r.closed_at,
        )
    if not convs:
        return convs
    found = list(convs)
    for mr in conn.execute(_MESSAGES_OF, {"ids": found}):
        direction = mr.direction.value if hasattr(mr.direction, "value") else str(mr.direction)
        conv = convs[mr.conversation_id]
        conv.messages.append(kpis.RawMessage(direction, mr.author_id, mr.created_at, mr.meta or {}))
        conv.last_message_id = max(conv.last_message_id, mr.id)
    for sr in conn.execute(_CLOCKS_OF, {"ids": found}):
        convs[sr.conversation_id].sla.append(bool(sr.met))
    # A conversation a phone call opened (its first message says so): its contact is the call.
    calls = [
        cid
        for cid, conv in convs.items()
        if conv.messages and conv.messages[0].meta.get("call") is True
    ]
    if calls:
        for vr in conn.execute(_CALLS_OF, {"ids": calls}):
            conv = convs[vr.conversation_id]
            if conv.call is None:  # the first call: one conversation per call
                conv.call = kpis.RawCall(
                    started_at=vr.started_at,
                    answered_at=vr.answered_at,
                    ended_at=vr.ended_at,
                    outcome=vr.outcome,
                    agent_id=vr.agent_id,
                )
    return convs


def _contacts(session: Session, customer_ids: Iterable[int]) -> dict[int, list[datetime]]:
    ids = sorted(set(customer_ids))
    out: dict[int, list[datetime]] = defaultdict(list)
    for start in range(0, len(ids), CHUNK):
        for r in session.connection().execute(_CONTACTS_OF, {"ids": ids[start : start + CHUNK]}):
            out[r.customer_id].append(r.created_at)
    return out


def _effective(contribution: list[Any], messages_in: int, messages_out: int) -> list[Any]:
    """A stored contribution as report_interval holds it: the per-message fast path counts
    messages into the fact's columns and the interval table without rewriting the JSON, so
    the contact part's message counts are the columns'."""
    if not contribution:
        return contribution
    contact = list(contribution[0])
    measures = {k: v for k, v in contact[5].items() if k not in ("messages_in", "messages_out")}
    if messages_in:
        measures["messages_in"] = messages_in
    if messages_out:
        measures["messages_out"] = messages_out
    contact[5] = measures
    return [contact, *contribution[1:]]


def refresh_conversations(session: Session, conversation_ids: Iterable[int]) -> int:
    """Recompute the facts of these conversations and replace their contributions. A
    conversation that no longer exists has its contribution taken out. Returns facts changed."""
    ids = sorted(set(conversation_ids))
    changed = 0
    configs: dict[int, kpis.ReportConfig] = {}
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        raw = _load_raw(session, chunk)
        # Other contacts matter only to an ended conversation's first-contact resolution.
        contacts = _contacts(
            session,
            (
                r.customer_id
                for r in raw.values()
                if r.resolved_at is not None or (r.status == "closed" and r.closed_at is not None)
            ),
        )
        old = {
            r.conversation_id: _effective(r.contribution or [], r.messages_in, r.messages_out)
            for r in session.connection().execute(_OLD_FACTS, {"ids": chunk})
        }
        deltas: dict[kpis.Key, dict[str, int]] = {}
        new_rows: list[dict[str, Any]] = []
        for cid in chunk:
            conv = raw.get(cid)
            new_part: list[Any] = []
            if conv is not None:
                config = configs.get(conv.brand_id)
                if config is None:
                    config = configs[conv.brand_id] = config_for(session, conv.brand_id)
                fact = kpis.derive_fact(
                    conv, config=config, later_contacts=contacts.get(conv.customer_id, ())
                )
                new_part = kpis.contribution(fact)
                row = fact.row()
                row["contribution"] = new_part
                row["updated_at"] = utcnow()
                new_rows.append(row)
            old_part = old.get(cid) or []
            if cid in old and old_part == new_part:
                continue
            changed += 1
            for key, measures in kpis.diff(old_part, new_part).items():
                slot = deltas.setdefault(key, {})
                for name, value in measures.items():
                    slot[name] = slot.get(name, 0) + value
        apply_deltas(session, deltas)
        gone = [cid for cid in chunk if cid in old and cid not in raw]
        stale = [row["conversation_id"] for row in new_rows if row["conversation_id"] in old]
        conn = session.connection()
        if gone or stale:
            conn.execute(_DELETE_FACTS, {"ids": gone + stale})
        if new_rows:
            conn.execute(_FACT.insert(), new_rows)  # type: ignore[attr-defined]
    return changed


def count_messages(session: Session, messages: Sequence[tuple[int, int, str]]) -> set[int]:
    """The per-message fast path, for the busiest events: a message added to a conversation
    whose fact is up to date and not resolved changes only its message counts. Each
    ``(conversation_id, message_id, direction)`` newer than the fact's ``last_message_id`` is
    counted once (keyed by message id: a replayed event adds nothing), into the fact's columns
    and report_interval/report_day (the stored contribution's counts are left as they were:
    see ``_effective``). Returns the conversations it cannot settle so (no fact yet, resolved,
    or a first outbound message that may be the first response): the caller recomputes those."""
    by_conv: dict[int, list[tuple[int, str]]] = defaultdict(list)
    for cid, mid, direction in messages:
        by_conv[cid].append((mid, direction))
    query = _FACTS_OF
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()  # the rows the UPDATE below changes, in id order
    conn = session.connection()
    facts = {r.conversation_id: r for r in conn.execute(query, {"ids": sorted(by_conv)})}
    slow: set[int] = set()
    deltas: dict[kpis.Key, dict[str, int]] = {}
    updates: list[dict[str, Any]] = []
    for cid, items in sorted(by_conv.items()):
        fact = facts.get(cid)
        if fact is None or fact.resolved_at is not None or not fact.contribution:
            slow.add(cid)
            continue
        new = [(mid, d) for mid, d in items if mid > fact.last_message_id]
        if not new:
            continue
        if fact.first_response_at is None and any(d == "outbound" for _, d in new):
            slow.add(cid)
            continue
        n_in = sum(1 for _, d in new if d == "inbound")
        n_out = sum(1 for _, d in new if d == "outbound")
        contact = fact.contribution[0]
        updates.append(
            {"cid": cid, "last": max(mid for mid, _ in new), "n_in": n_in, "n_out": n_out}
        )
        if not (n_in or n_out):
            continue
        key: kpis.Key = (str(contact[0]), *(int(x) for x in contact[1:5]))  # type: ignore[assignment]
        slot = deltas.setdefault(key, {})
        slot["messages_in"] = slot.get("messages_in", 0) + n_in
        slot["messages_out"] = slot.get("messages_out", 0) + n_out
    if updates:
        _execute_many(conn, _COUNT_MESSAGES, updates)
        apply_deltas(session, deltas)
    return slow


def _execute_many(conn: Connection, prepared: Prepared, rows: Sequence[Mapping[str, Any]]) -> None:
    """One driver ``executemany`` of a prepared statement (every row with the same keys): a
    round's rows in one call, without SQLAlchemy's per-statement machinery."""
    compiled = prepared._compiled(conn.dialect, frozenset(rows[0]))
    binds = compiled.binds
    if compiled.named:
        values: list[Any] = [{n: (p(r[n]) if p else r[n]) for n, p in binds} for r in rows]
    else:
        values = [[p(r[n]) if p else r[n] for n, p in binds] for r in rows]
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        if conn._has_events or conn.engine._has_events:
            for listener in conn.dispatch.before_cursor_execute:
                listener(conn, cursor, compiled.sql, values, None, True)
        cursor.executemany(compiled.sql, values)
    finally:
        cursor.close()


_FACT = ReportFact.__table__
_COUNT_MESSAGES = Prepared(
    _FACT.update()  # type: ignore[attr-defined]
    .where(_FACT.c.conversation_id == bindparam("cid"))
    .values(
        last_message_id=bindparam("last"),
        messages_in=_FACT.c.messages_in + bindparam("n_in"),
        messages_out=_FACT.c.messages_out + bindparam("n_out"),
    )
)
_DELETE_FACTS = _FACT.delete().where(_FACT.c.conversation_id.in_(_ids()))  # type: ignore[attr-defined]
_OLD_FACTS = select(
    _FACT.c.conversation_id, _FACT.c.contribution, _FACT.c.messages_in, _FACT.c.messages_out
).where(_FACT.c.conversation_id.in_(_ids()))
_RESOLVED_OF_CUSTOMERS = select(
    _FACT.c.conversation_id, _FACT.c.customer_id, _FACT.c.resolved_at
).where(_FACT.c.customer_id.in_(_ids()), _FACT.c.resolved_at >= bindparam("since"))
_FACTS_OF = (
    select(
        _FACT.c.conversation_id,
        _FACT.c.last_message_id,
        _FACT.c.contribution,
        _FACT.c.resolved_at,
        _FACT.c.first_response_at,
    )
    .where(_FACT.c.conversation_id.in_(bindparam("ids", expanding=True)))
    .order_by(_FACT.c.conversation_id)
)


def related_to_new_contacts(session: Session, conversation_ids: Iterable[int]) -> set[int]:
    """Conversations whose first-contact resolution a new conversation may change: the same
    customer's, resolved within the FCR window before it."""
    ids = sorted(set(conversation_ids))
    if not ids:
        return set()
    conn = session.connection()
    new = conn.execute(_NEW_CONTACTS, {"ids": ids}).all()
    if not new:
        return set()
    window = {
        brand: timedelta(days=config_for(session, brand).fcr_days)
        for brand in {r.brand_id for r in new}
    }
    since = {r.customer_id: r.created_at - window[r.brand_id] for r in new}
    found = conn.execute(
        _RESOLVED_OF_CUSTOMERS, {"ids": sorted(since), "since": min(since.values())}
    )
    return {
        r.conversation_id
        for r in found
        if r.resolved_at >= since[r.customer_id] and r.conversation_id not in ids
    }


def conversations_of_customers(session: Session, customer_ids: Iterable[int]) -> set[int]:
    ids = sorted(set(customer_ids))
    return set(session.connection().scalars(_IDS_OF_CUSTOMERS, {"ids": ids}))


def record_survey_answers(session: Session, answers: Sequence[Mapping[str, Any]]) -> int:
    """Count survey answers (payloads of ``survey.answered``) once each, by response id.
    Returns how many were new."""
    if not answers:
        return 0
    ids = {int(a["response_id"]) for a in answers}
    t = ReportSurveyAnswer.__table__.c
    seen = set(session.connection().scalars(select(t.response_id).where(t.response_id.in_(ids))))
    deltas: dict[kpis.Key, dict[str, int]] = {}
    rows = []
    for a in answers:
        rid = int(a["response_id"])
        if rid in seen:
            continue
        seen.add(rid)
        kind = str(a["survey_kind"])
        score = int(a["score"])
        low, high = kpis.SURVEY_RANGES[kind]
        if not low <= score <= high:
            raise ValueError(f"{kind} score {score} outside {low}-{high}")
        at = a["answered_at"]
        answered_at = datetime.fromisoformat(at) if isinstance(at, str) else at
        dims = [int(a.get(k) or 0) for k in ("brand_id", "channel_id", "queue_id", "agent_id")]
        row: dict[str, Any] = {
            "response_id": rid,
            "survey_kind": kind,
            "score": score,
            "conversation_id": a.get("conversation_id"),
            "customer_id": a.get("customer_id"),
            "brand_id": dims[0],
            "channel_id": dims[1],
            "queue_id": dims[2],
            "agent_id": dims[3],
            "answered_at": answered_at,
        }
        rows.append(row)
        key: kpis.Key = (
            kpis.bucket_of(answered_at).isoformat(),
            dims[0],
            dims[1],
            dims[2],
            dims[3],
        )
        slot = deltas.setdefault(key, {})
        for name, value in kpis.survey_contribution(kind, score).items():
            slot[name] = slot.get(name, 0) + value
    if rows:
        session.execute(insert(ReportSurveyAnswer), rows)
        apply_deltas(session, deltas)
    return len(rows)


def _clear_and_count_surveys(session: Session) -> None:
    """Empty the aggregates, then count the recorded survey answers back in."""
    session.execute(delete(ReportInterval))
    session.execute(delete(ReportDay))
    session.execute(delete(ReportFact))
    t = ReportSurveyAnswer.__table__.c
    deltas: dict[kpis.Key, dict[str, int]] = {}
    for r in session.connection().execute(
        select(
            t.survey_kind, t.score, t.answered_at, t.brand_id, t.channel_id, t.queue_id, t.agent_id
        )
    ):
        key: kpis.Key = (
            kpis.bucket_of(r.answered_at).isoformat(),
            r.brand_id,
            r.channel_id,
            r.queue_id,
            r.agent_id,
        )
        slot = deltas.setdefault(key, {})
        for name, value in kpis.survey_contribution(r.survey_kind, r.score).items():
            slot[name] = slot.get(name, 0) + value
    apply_deltas(session, deltas)


def _next_ids(session: Session, after: int, batch: int) -> list[int]:
    c = Conversation.__table__.c
    return list(
        session.connection().scalars(select(c.id).where(c.id > after).order_by(c.id).limit(batch))
    )


def rebuild(session: Session, *, batch: int = 5000) -> int:
    """Recompute every aggregate from the raw tables, in the caller's transaction: facts for
    every conversation, the interval table from the facts and the recorded survey answers."""
    _clear_and_count_surveys(session)
    total = last = 0
    while ids := _next_ids(session, last, batch):
        refresh_conversations(session, ids)
        total += len(ids)
        last = ids[-1]
    return total


def rebuild_in_chunks(
    db: Database, *, batch: int = 2000, on_chunk: Callable[[int], None] | None = None
) -> int:
    """``rebuild`` in short transactions: one to empty the aggregates and count the survey
    answers back, then one per ``batch`` conversations, so that other writers (SQLite has one
    at a time) get in between. Reports show partial figures meanwhile. Writes that happen
    during the rebuild stay counted once: the upkeep replaces a conversation's contribution
    (a conversation refreshed before its chunk is replaced again by the chunk, one after it
    finds the chunk's fact), and survey answers recorded after the first transaction are
    added by their own handler, not counted again here. ``on_chunk`` gets the running total."""
    with db.transaction() as session:
        _clear_and_count_surveys(session)
    total = last = 0
    while True:
        with db.transaction() as session:
            ids = _next_ids(session, last, batch)
            if not ids:
                break
            refresh_conversations(session, ids)
        total += len(ids)
        last = ids[-1]
        if on_chunk is not None:
            on_chunk(total)
    return total


def interval_count(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(ReportInterval)) or 0)
