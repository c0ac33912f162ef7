"""Hot-path SQL of the conversations' actions, kept apart so an action reads as its rule.

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

from sqlalchemy import Integer, String, bindparam, func, insert, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from sportello.conversations.models import Conversation, Message, Status
from sportello.core.events import COPY_THRESHOLD


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
