"""The front line's wiring: the routing offer gate (a required briefing not yet acknowledged
holds the agent back), the e-mail job for absent agents' notifications, and the knowledge
article hook that drafts a "what changed" briefing.

Importing this module registers them (pages.py imports it for ``serve``; the worker imports it).
"""

from __future__ import annotations

from typing import Any

from sportello.core.db import Database
from sportello.core.dispatcher import subscribe
from sportello.frontline import actions, notify, service
from sportello.knowledge import actions as _kb_actions  # noqa: F401  (registers kb.article_updated)
from sportello.routing import gates

gates.register_offer_gate("frontline.required_briefing", service.offer_gate)
notify.register()


@subscribe("kb.article_updated")
def article_updated(db: Database, name: str, payload: dict[str, Any]) -> None:
    with db.transaction() as session:
        actions.do_propose_article_briefing(
            session,
            article_id=int(payload["article_id"]),
            version=int(payload["version"]),
            by_user_id=payload.get("by_user_id"),
        )
