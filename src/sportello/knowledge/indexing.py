"""Keeps the conversation search index (kb_message_search) current from message events."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import lazyload, load_only

from sportello.conversations.models import Message
from sportello.core.db import Database
from sportello.core.dispatcher import subscribe_batch
from sportello.knowledge import actions
from sportello.knowledge.models import MessageSearch


@subscribe_batch("message.received", "message.created")
def index_messages(db: Database, batch: list[tuple[str, dict[str, Any]]]) -> None:
    """One transaction for a round's messages. Idempotent: indexing a message twice leaves one
    row with the same terms."""
    ids = sorted({int(payload["message_id"]) for _name, payload in batch})
    with db.transaction() as session:
        existing = {
            row.message_id: row
            for row in session.scalars(
                select(MessageSearch).where(MessageSearch.message_id.in_(ids))
            )
        }
        messages = (
            select(Message)
            .options(  # no author join, no attachments query: the words are what is indexed
                load_only(Message.id, Message.conversation_id, Message.direction, Message.text),
                lazyload("*"),
            )
            .where(Message.id.in_(ids))
        )
        for message in session.scalars(messages):
            actions.do_index_message(session, message=message, existing=existing)
