"""Keeping the aggregates current: the statements behind ``actions.do_refresh_conversations``,
``do_record_survey_answers`` and ``do_rebuild``.

A conversation's fact is recomputed from its raw rows (conversation, messages, SLA clocks, the
customer's other conversations) and its contribution to ``report_interval`` is replaced: the
upkeep is keyed by conversation, so an event delivered twice changes nothing the second time.
Survey answers are keyed by response id.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import JSON, bindparam, delete, func, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from sportello.conversations.models import Conversation, Message
from sportello.core.db import utcnow
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


def config_for(session: Session, brand_id: int) -> kpis.ReportConfig:
    """A brand's settings, read once per transaction."""
    cache = session.info.setdefault("report_configs", {})
    found = cache.get(brand_id)
    if found is None:
        row = session.get(ReportSettings, brand_id)
        found = cache[brand_id] = kpis.ReportConfig.from_dict(row.settings if row else None)
    return found  # type: ignore[no-any-return]


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
    few rows (a dispatcher round) run on the driver, many as one executemany."""
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
    conn = session.connection()
    for row in rows:
        prepared.execute(conn, **row)


def _load_raw(session: Session, ids: Sequence[int]) -> dict[int, kpis.RawConversation]:
    conn = session.connection()
    c = Conversation.__table__.c
    convs: dict[int, kpis.RawConversation] = {}
    for r in conn.execute(
        select(
            c.id,
            c.brand_id,
            c.channel_id,
            c.queue_id,
            c.assignee_id,
            c.customer_id,
            c.status,
            c.created_at,
            c.resolved_at,
            c.closed_at,
        ).where(c.id.in_(ids))
    ):
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
    m = Message.__table__.c
    for mr in conn.execute(
        select(m.id, m.conversation_id, m.direction, m.author_id, m.created_at, m.meta)
        .where(m.conversation_id.in_(list(convs)))
        .order_by(m.conversation_id, m.created_at, m.id)
    ):
        direction = mr.direction.value if hasattr(mr.direction, "value") else str(mr.direction)
        conv = convs[mr.conversation_id]
        conv.messages.append(kpis.RawMessage(direction, mr.author_id, mr.created_at, mr.meta or {}))
        conv.last_message_id = max(conv.last_message_id, mr.id)
    s = SlaClockRow.__table__.c
    for sr in conn.execute(
        select(s.conversation_id, s.met, s.breached_at).where(
            s.conversation_id.in_(list(convs)),
            (s.met.is_not(None)) | (s.breached_at.is_not(None)),
        )
    ):
        convs[sr.conversation_id].sla.append(bool(sr.met))
    return convs


def _contacts(session: Session, customer_ids: Iterable[int]) -> dict[int, list[datetime]]:
    ids = sorted(set(customer_ids))
    out: dict[int, list[datetime]] = defaultdict(list)
    c = Conversation.__table__.c
    for start in range(0, len(ids), CHUNK):
        for r in session.connection().execute(
            select(c.customer_id, c.created_at).where(c.customer_id.in_(ids[start : start + CHUNK]))
        ):
            out[r.customer_id].append(r.created_at)
    return out


def refresh_conversations(session: Session, conversation_ids: Iterable[int]) -> int:
    """Recompute the facts of these conversations and replace their contributions. A
    conversation that no longer exists has its contribution taken out. Returns facts changed."""
    ids = sorted(set(conversation_ids))
    changed = 0
    configs: dict[int, kpis.ReportConfig] = {}
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        raw = _load_raw(session, chunk)
        contacts = _contacts(session, (r.customer_id for r in raw.values()))
        f = ReportFact.__table__.c
        old = {
            r.conversation_id: r.contribution
            for r in session.connection().execute(
                select(f.conversation_id, f.contribution).where(f.conversation_id.in_(chunk))
            )
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
            if old_part == new_part and cid in old:
                continue
            changed += 1
            for key, measures in kpis.diff(old_part, new_part).items():
                slot = deltas.setdefault(key, {})
                for name, value in measures.items():
                    slot[name] = slot.get(name, 0) + value
        apply_deltas(session, deltas)
        gone = [cid for cid in chunk if cid in old and cid not in raw]
        stale = [row["conversation_id"] for row in new_rows if row["conversation_id"] in old]
        if gone or stale:
            session.execute(delete(ReportFact).where(ReportFact.conversation_id.in_(gone + stale)))
        if new_rows:
            session.execute(_FACT.insert(), new_rows)  # type: ignore[attr-defined]
    return changed


def count_messages(session: Session, messages: Sequence[tuple[int, int, str]]) -> set[int]:
    """The per-message fast path, for the busiest events: a message added to a conversation
    whose fact is up to date and not resolved changes only its message counts. Each
    ``(conversation_id, message_id, direction)`` newer than the fact's ``last_message_id`` is
    counted once (keyed by message id: a replayed event adds nothing). Returns the
    conversations it cannot settle so (no fact yet, resolved, or a first outbound message that
    may be the first response): the caller recomputes those."""
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
    for cid, items in by_conv.items():
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
        contribution = [list(part) for part in fact.contribution]
        contact = contribution[0]
        measures = dict(contact[5])
        for name, n in (("messages_in", n_in), ("messages_out", n_out)):
            if n:
                measures[name] = measures.get(name, 0) + n
        contact[5] = measures
        key: kpis.Key = (str(contact[0]), *(int(x) for x in contact[1:5]))  # type: ignore[assignment]
        slot = deltas.setdefault(key, {})
        slot["messages_in"] = slot.get("messages_in", 0) + n_in
        slot["messages_out"] = slot.get("messages_out", 0) + n_out
        updates.append(
            {
                "cid": cid,
                "last": max(mid for mid, _ in new),
                "contribution": contribution,
                "n_in": n_in,
                "n_out": n_out,
            }
        )
    if updates:
        for update in updates:
            _COUNT_MESSAGES.execute(conn, **update)
        apply_deltas(session, {k: v for k, v in deltas.items() if any(v.values())})
    return slow


_FACT = ReportFact.__table__
_COUNT_MESSAGES = Prepared(
    _FACT.update()  # type: ignore[attr-defined]
    .where(_FACT.c.conversation_id == bindparam("cid"))
    .values(
        last_message_id=bindparam("last"),
        contribution=bindparam("contribution", type_=JSON),
        messages_in=_FACT.c.messages_in + bindparam("n_in"),
        messages_out=_FACT.c.messages_out + bindparam("n_out"),
    )
)
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
    c = Conversation.__table__.c
    conn = session.connection()
    new = conn.execute(select(c.customer_id, c.created_at, c.brand_id).where(c.id.in_(ids))).all()
    if not new:
        return set()
    window = {r.brand_id: timedelta(days=config_for(session, r.brand_id).fcr_days) for r in new}
    since = {r.customer_id: r.created_at - window[r.brand_id] for r in new}
    f = ReportFact.__table__.c
    found = conn.execute(
        select(f.conversation_id, f.customer_id, f.resolved_at).where(
            f.customer_id.in_(sorted(since)),
            f.resolved_at >= min(since.values()),
        )
    )
    return {
        r.conversation_id
        for r in found
        if r.resolved_at >= since[r.customer_id] and r.conversation_id not in ids
    }


def conversations_of_customers(session: Session, customer_ids: Iterable[int]) -> set[int]:
    ids = list(set(customer_ids))
    c = Conversation.__table__.c
    return set(session.connection().scalars(select(c.id).where(c.customer_id.in_(ids))))


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


def rebuild(session: Session, *, batch: int = 5000) -> int:
    """Recompute every aggregate from the raw tables: facts for every conversation, the
    interval table from the facts and the recorded survey answers."""
    session.execute(delete(ReportInterval))
    session.execute(delete(ReportDay))
    session.execute(delete(ReportFact))
    c = Conversation.__table__.c
    total = 0
    last = 0
    while True:
        ids = list(
            session.connection().scalars(
                select(c.id).where(c.id > last).order_by(c.id).limit(batch)
            )
        )
        if not ids:
            break
        refresh_conversations(session, ids)
        total += len(ids)
        last = ids[-1]
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
    return total


def interval_count(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(ReportInterval)) or 0)
