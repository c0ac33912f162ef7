"""Keeps the conversation search index (kb_message_search) current from message events."""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, insert, select, update

from sportello.conversations.models import Direction, Message
from sportello.core.db import Database
from sportello.core.dispatcher import subscribe_batch
from sportello.knowledge import text
from sportello.knowledge.models import MessageSearch

_INSERT = insert(MessageSearch)
_UPDATE = (
    update(MessageSearch)
    .where(MessageSearch.message_id == bindparam("mid"))
    .values(terms=bindparam("new_terms"))
)


@subscribe_batch("message.received", "message.created")
def index_messages(db: Database, batch: list[tuple[str, dict[str, Any]]]) -> None:
    """A round's messages: read, analyse with no lock held, then one short write.

    On SQLite the write lock is what the chat sockets' writer waits for, so the stemming (the
    slow part) happens before it is taken. Idempotent: indexing a message twice leaves one row
    with the same terms (a row written meanwhile by another worker is updated, not duplicated).
    """
    ids = sorted({int(payload["message_id"]) for _name, payload in batch})
    with db.session() as session:
        rows = session.execute(
            select(Message.id, Message.conversation_id, Message.text).where(
                Message.id.in_(ids), Message.direction != Direction.SYSTEM
            )
        ).all()
        existing: dict[int, str] = {
            message_id: terms
            for message_id, terms in session.execute(
                select(MessageSearch.message_id, MessageSearch.terms).where(
                    MessageSearch.message_id.in_(ids)
                )
            )
        }
    new: list[dict[str, Any]] = []
    changed: list[dict[str, Any]] = []
    for message_id, conversation_id, body in rows:
        if not body.strip():
            continue
        terms = text.index_text(body[:50_000], text.guess_language(body))
        if message_id not in existing:
            new.append(
                {"message_id": message_id, "conversation_id": conversation_id, "terms": terms}
            )
        elif existing[message_id] != terms:
            changed.append({"mid": message_id, "new_terms": terms})
    if not new and not changed:
        return
    with db.transaction() as session:
        connection = session.connection()
        if new:
            present = set(
                connection.execute(
                    select(MessageSearch.message_id).where(
                        MessageSearch.message_id.in_([row["message_id"] for row in new])
                    )
                ).scalars()
            )
            changed += [
                {"mid": row["message_id"], "new_terms": row["terms"]}
                for row in new
                if row["message_id"] in present
            ]
            new = [row for row in new if row["message_id"] not in present]
            if new:
                connection.execute(_INSERT, new)
        if changed:
            connection.execute(_UPDATE, changed)
