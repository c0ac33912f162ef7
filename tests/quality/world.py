"""Quality test data, set up through the real actions."""

from __future__ import annotations

import itertools
from typing import Any

from sportello.accounts.models import User
from sportello.conversations import actions as conversations_actions
from sportello.conversations.models import Conversation, Status
from sportello.core.db import Database
from sportello.quality import actions
from sportello.quality.models import Scorecard
from sportello.reports import actions as reports_actions
from tests.factories import inbound, receive

_n = itertools.count(1)


def resolved_by(db: Database, personas: Any, agent: User, *, text: str = "") -> int:
    """A customer writes, ``agent`` answers and resolves; the reports' facts are refreshed."""
    n = next(_n)
    result = receive(
        db,
        personas.api_channel,
        inbound(
            text or f"Buongiorno, ho un problema con l'ordine {n}.",
            email=f"cliente{n}@example.it",
            name=f"Cliente {n}",
            provider_id=f"q-{n}-{id(personas)}",
        ),
    )
    conversation_id = int(result.conversation.id)
    with db.transaction() as s:
        conversation = s.get_one(Conversation, conversation_id)
        me = s.get_one(User, agent.id)
        conversations_actions.do_send_reply(
            s, conversation=conversation, author=me, text="Ecco la soluzione, buona giornata!"
        )
        conversations_actions.do_change_status(
            s, conversation=conversation, status=Status.RESOLVED, by=me
        )
    with db.transaction() as s:
        reports_actions.do_refresh_conversations(s, conversation_ids=[conversation_id])
    return conversation_id


def default_scorecard(db: Database, personas: Any) -> int:
    with db.transaction() as s:
        card = actions.do_save_scorecard(
            s,
            brand_id=personas.brand_id,
            data=actions.default_scorecard_data("Scheda qualità standard"),
        )
        return card.id


def criteria(db: Database, scorecard_id: int) -> list[dict[str, Any]]:
    with db.transaction() as s:
        card = s.get_one(Scorecard, scorecard_id)
        return [
            {"id": c.id, "name": c.name, "scale": c.scale.value, "critical": c.critical}
            for c in card.criteria
            if c.is_active
        ]
