"""Collision notice: "Chiara is looking at this conversation / is writing a reply".

A console tab says over its WebSocket which conversation it shows and whether its agent is
typing (``{"type": "collision", "conversation": 12, "state": "viewing" | "typing" | "left"}``).
The hub checks once per conversation that the agent may see it, then passes the notice to the
sockets that may see that conversation (the same rule as every live event: its queue and
assignee), through Redis in scaled mode. A tab that receives a newcomer's notice answers with
its own state (``echo``), so both sides know of each other; a tab that closes is announced as
gone. Nothing is stored and nothing polls.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from sportello.core import access
from sportello.core.db import Database
from sportello.core.realtime import Client, Hub

log = logging.getLogger(__name__)

EVENT = "agent.collision"
STATES = ("viewing", "typing", "idle", "left")

# client -> (conversation id, the notice's routing data) of the conversation it last announced
_where: dict[Client, tuple[int, dict[str, Any]]] = {}


def _routing_data(db: Database, user_id: int, conversation_id: int) -> dict[str, Any] | None:
    """The conversation's queue and assignee (what sockets may see the notice) and the agent's
    name, if the agent may see the conversation; else None."""
    from sportello.accounts.models import User

    with db.session() as session:
        user = session.get(User, user_id)
        if user is None or not user.is_active:
            return None
        try:
            conversation = access.access_conversation_by_id(session, user, conversation_id)
        except Exception:
            return None
        return {
            "conversation": conversation.id,
            "queue_id": conversation.queue_id,
            "assignee_id": conversation.assignee_id,
            "agent_id": user.id,
            "agent_name": user.name,
        }


async def handle(app: Any, client: Client, text: str) -> None:
    """One frame from a console tab."""
    try:
        frame = json.loads(text)
    except ValueError:
        return
    if not isinstance(frame, dict) or frame.get("type") != "collision":
        return
    state = frame.get("state")
    conversation_id = frame.get("conversation")
    if state not in STATES or not isinstance(conversation_id, int):
        return
    known = _where.get(client)
    if known is not None and known[0] == conversation_id:
        data = known[1]
    else:
        if known is not None:  # the tab moved on: the old conversation loses its viewer
            await _announce(app, {**known[1], "state": "left", "echo": True})
        found = await asyncio.to_thread(
            _routing_data, app.state.db, client.user_id, conversation_id
        )
        if found is None:
            _where.pop(client, None)
            return
        data = found
        _where[client] = (conversation_id, data)
    if state == "left":
        _where.pop(client, None)
    await _announce(app, {**data, "state": state, "echo": bool(frame.get("echo"))})


async def disconnected(app: Any, client: Client) -> None:
    known = _where.pop(client, None)
    if known is not None:
        await _announce(app, {**known[1], "state": "left", "echo": True})


async def _announce(app: Any, data: dict[str, Any]) -> None:
    message = {"type": EVENT, "data": data}
    settings = app.state.settings
    if settings.redis_url:
        redis = getattr(app.state, "collision_redis", None)
        if redis is None:
            import redis.asyncio as aioredis

            redis = app.state.collision_redis = aioredis.Redis.from_url(settings.redis_url)
        with contextlib.suppress(Exception):
            await redis.publish(settings.redis_channel, json.dumps(message))
        return
    hub: Hub = app.state.hub
    await hub.broadcast(message)
