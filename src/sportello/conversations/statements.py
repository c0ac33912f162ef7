"""Hot-path SQL of the conversations' actions, kept apart so an action reads as its rule: the
one door's statements (``Door``), an agent's reply (``Reply``), delivery marks (``Delivery``),
the conversation counter, and the batch assignment.

The prepared ones are built once (core/prepared.py): compiling a fresh statement costs ~10x
executing a cached one, and these paths run for every message of every channel.

``assign_rows`` and ``insert_system_messages`` write a batch of assignments (``do_assign_many``):
on PostgreSQL, from :data:`~sportello.core.events.COPY_THRESHOLD` rows on, one
``UPDATE ... FROM unnest(arrays)`` and a ``COPY`` in the session's transaction (the rows PostgreSQL
takes in a batch: ~88,000/s, COPY ~230,000/s); below it, or on SQLite, one executemany each.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, String, bindparam, case, func, insert, literal, or_, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from sportello.conversations.models import ACTIVE_STATUSES, Conversation, Counter, Message, Status
from sportello.core.db import table_of
from sportello.core.events import COPY_THRESHOLD
from sportello.core.prepared import Prepared


def _bulk_on_postgresql(session: Session, rows: int) -> bool:
    return rows >= COPY_THRESHOLD and session.get_bind().dialect.name == "postgresql"


def assign_rows(
    session: Session, rows: Sequence[tuple[int, int | None, Status]], now: datetime
) -> None:
    """Set (conversation id, assignee id, status) on each conversation; ``updated_at`` = now."""
    if _bulk_on_postgresql(session, len(rows)):
        pairs = select(
            func.unnest(bindparam("cids", [r[0] for r in rows], type_=ARRAY(Integer))).label("cid"),
            func.unnest(bindparam("aids", [r[1] for r in rows], type_=ARRAY(Integer))).label("aid"),
            func.unnest(bindparam("sts", [r[2].value for r in rows], type_=ARRAY(String))).label(
                "st"
            ),
        ).subquery()
        session.execute(
            update(Conversation)
            .where(Conversation.id == pairs.c.cid)
            .values(assignee_id=pairs.c.aid, status=pairs.c.st, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        return
    session.execute(
        update(Conversation),
        [
            {"id": cid, "assignee_id": aid, "status": status, "updated_at": now}
            for cid, aid, status in rows
        ],
    )


def insert_system_messages(
    session: Session, messages: Sequence[tuple[int, str, dict[str, Any]]], now: datetime
) -> None:
    """One system line (conversation id, text, meta) in each conversation's timeline."""
    if _bulk_on_postgresql(session, len(messages)):
        raw = session.connection().connection.driver_connection
        assert raw is not None
        columns = "conversation_id, direction, sender_name, text, meta, created_at, updated_at"
        sql = f"COPY conversation_message ({columns}) FROM STDIN"
        with raw.cursor() as cursor, cursor.copy(sql) as copy:
            for cid, text, meta in messages:
                copy.write_row((cid, "system", "", text, json.dumps(meta), now, now))
        return
    session.execute(
        insert(Message),
        [
            {
                "conversation_id": cid,
                "channel_id": None,
                "direction": "system",
                "sender_name": "",
                "text": text,
                "meta": meta,
                "created_at": now,
                "updated_at": now,
            }
            for cid, text, meta in messages
        ],
    )


NEXT_NUMBER = (
    table_of(Counter)
    .update()
    .where(Counter.__table__.c.name == bindparam("counter"))
    .values(value=Counter.__table__.c.value + 1)
    .returning(Counter.__table__.c.value)
)


class Door:
    """The one door's statements, built once: compiling a fresh statement costs ~10x executing a
    cached one, and this path runs for every message of every channel."""

    c = Conversation.__table__.c
    m = Message.__table__.c
    thread_columns = (
        c.id, c.number, c.status, c.queue_id, c.assignee_id, c.priority, c.last_message_at,
    )  # fmt: skip
    duplicate = Prepared(
        select(m.id, m.conversation_id, c.number, c.customer_id)
        .select_from(Message.__table__.join(Conversation.__table__, c.id == m.conversation_id))
        .where(m.channel_id == bindparam("channel_id"), m.provider_message_id == bindparam("pid"))
    )
    by_reference = (
        select(*thread_columns)
        .select_from(Conversation.__table__.join(Message.__table__, m.conversation_id == c.id))
        .where(
            m.channel_id == bindparam("channel_id"),
            m.provider_message_id.in_(bindparam("refs", expanding=True)),
            # Knowing a message id is not being its customer: a stranger starts their own case.
            c.customer_id == bindparam("customer_id"),
        )
        .order_by(m.id.desc())
        .limit(1)
    )
    by_number = Prepared(
        select(*thread_columns).where(
            c.number == bindparam("number"),
            c.brand_id == bindparam("brand_id"),
            c.customer_id == bindparam("customer_id"),
        )
    )
    open_thread = Prepared(
        select(*thread_columns, c.subject)
        .where(
            c.customer_id == bindparam("customer_id"),
            c.channel_id == bindparam("channel_id"),
            or_(*[Conversation.__table__.c.status == s.value for s in ACTIVE_STATUSES]),
        )
        .order_by(c.last_message_at.desc())
        .limit(1)
    )
    insert_conversation = Prepared(table_of(Conversation).insert().returning(c.id))
    touch_conversation = Prepared(
        table_of(Conversation)
        .update()
        .where(c.id == bindparam("conversation_id"))
        .values(
            last_message_at=bindparam("last_message_at"),
            last_inbound_at=bindparam("last_inbound_at"),
            updated_at=bindparam("updated_at"),
            message_count=c.message_count + 1,
            preview=bindparam("preview"),
        )
    )
    insert_message = Prepared(table_of(Message).insert().returning(m.id))


class Reply:
    c = Conversation.__table__.c
    conversation = Prepared(
        select(c.id, c.status, c.channel_id, c.queue_id, c.assignee_id).where(
            c.id == bindparam("conversation_id")
        )
    )
    touch = Prepared(
        table_of(Conversation)
        .update()
        .where(c.id == bindparam("conversation_id"))
        .values(
            # NULL for the bot's and surveys' messages: only a person's answer counts.
            first_response_at=func.coalesce(
                c.first_response_at, bindparam("first_response", type_=c.updated_at.type)
            ),
            status=case(
                (c.status == Status.NEW, literal(Status.OPEN, c.status.type)), else_=c.status
            ),
            assignee_id=func.coalesce(
                c.assignee_id, bindparam("author_id", type_=c.assignee_id.type)
            ),
            last_message_at=bindparam("now"),
            updated_at=bindparam("now"),
            message_count=c.message_count + 1,
            preview=bindparam("new_preview", type_=c.preview.type),
        )
    )


class Delivery:
    """Delivery marks by id, with no Message object: replies pushed to the widget and their
    receipts come several per reply, and loading the ORM row costs more than the update."""

    m, c = Message.__table__.c, Conversation.__table__.c
    refs = Prepared(select(c.queue_id, c.assignee_id).where(c.id == bindparam("conversation_id")))
    # Guarded by the state read: if another writer moved it meanwhile, nothing changes here.
    advance = Prepared(
        table_of(Message)
        .update()
        .where(m.id == bindparam("message_id"), m.delivery_state == bindparam("current"))
        .values(
            delivery_state=bindparam("new_state", type_=m.delivery_state.type),
            error=bindparam("new_error", type_=m.error.type),
            provider_message_id=func.coalesce(
                m.provider_message_id, bindparam("new_pid", type_=m.provider_message_id.type)
            ),
            updated_at=bindparam("at", type_=m.updated_at.type),
        )
    )
