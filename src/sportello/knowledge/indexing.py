"""Keeps the conversation search index (kb_message_search) current from message events."""

from __future__ import annotations

from typing import Any

from sportello.conversations.models import Message
from sportello.core.db import Database
from sportello.core.dispatcher import subscribe
from sportello.knowledge import actions


@subscribe("message.received", "message.created")
def index_message(db: Database, _name: str, payload: dict[str, Any]) -> None:
    """Idempotent: indexing a message twice leaves one row with the same terms."""
    with db.transaction() as session:
        message = session.get(Message, int(payload["message_id"]))
        if message is not None:
            actions.do_index_message(session, message=message)
