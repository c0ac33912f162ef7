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
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from sportello.conversations.models import Conversation, Message
from sportello.core.db import utcnow
from sportello.reports import kpis
from sportello.reports.models import (
    INTERVAL_MEASURES,
    ReportFact,
    ReportInterval,
    ReportSettings,
    ReportSurveyAnswer,
)
from sportello.routing.models import SlaClockRow

_KEYS = ("bucket_at", "brand_id", "channel_id", "queue_id", "agent_id")
CHUNK = 500


def config_for(session: Session, brand_id: int) -> kpis.ReportConfig:
    row = session.get(ReportSettings, brand_id)
    return kpis.ReportConfig.from_dict(row.settings if row else None)


def apply_deltas(session: Session, deltas: Mapping[kpis.Key, Mapping[str, int]]) -> None:
    """Add ``deltas`` to report_interval, one upsert for all (rows in key order: two dispatchers
    updating the same rows on PostgreSQL lock them in the same order and never deadlock)."""
    if not deltas:
        return
    rows = []
    for key in sorted(deltas):
        bucket, brand, channel, queue, agent = key
        measures = deltas[key]
        row: dict[str, Any] = {
            "bucket_at": datetime.fromisoformat(bucket),
            "brand_id": brand,
            "channel_id": channel,
            "queue_id": queue,
            "agent_id": agent,
        }
        for name in INTERVAL_MEASURES:
            row[name] = int(measures.get(name, 0))
        rows.append(row)
    dialect = session.get_bind().dialect.name
    ins = pg_insert(ReportInterval) if dialect == "postgresql" else sqlite_insert(ReportInterval)
    stmt = ins.on_conflict_do_update(
        index_elements=list(_KEYS),
        set_={
            name: getattr(ReportInterval, name) + ins.excluded[name] for name in INTERVAL_MEASURES
        },
    )
    for start in range(0, len(rows), CHUNK):
        session.execute(stmt, rows[start : start + CHUNK])


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
        select(m.conversation_id, m.direction, m.author_id, m.created_at, m.meta)
        .where(m.conversation_id.in_(list(convs)))
        .order_by(m.conversation_id, m.created_at, m.id)
    ):
        direction = mr.direction.value if hasattr(mr.direction, "value") else str(mr.direction)
        convs[mr.conversation_id].messages.append(
            kpis.RawMessage(direction, mr.author_id, mr.created_at, mr.meta or {})
        )
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
            session.execute(insert(ReportFact), new_rows)
    return changed


def related_to_new_contacts(session: Session, conversation_ids: Iterable[int]) -> set[int]:
    """Conversations whose first-contact resolution a new conversation may change: the same
    customer's, resolved within the FCR window before it."""
    ids = list(set(conversation_ids))
    if not ids:
        return set()
    c = Conversation.__table__.c
    rows = (
        session.connection()
        .execute(select(c.customer_id, c.created_at, c.brand_id).where(c.id.in_(ids)))
        .all()
    )
    out: set[int] = set()
    f = ReportFact.__table__.c
    for r in rows:
        window = timedelta(days=config_for(session, r.brand_id).fcr_days)
        out.update(
            session.connection().scalars(
                select(f.conversation_id).where(
                    f.customer_id == r.customer_id,
                    f.resolved_at >= r.created_at - window,
                    f.conversation_id.not_in(ids),
                )
            )
        )
    return out


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
