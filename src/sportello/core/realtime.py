"""The realtime hub: pushes events to the consoles' WebSockets.

Embedded mode: the dispatcher and the hub live in one process and publish directly.
Scaled mode (``SPORTELLO_REDIS_URL`` set): whoever dispatches an event publishes it on a Redis
channel, and every web process forwards what it hears to its own sockets. Each socket sees only
what its user may see.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.websockets import WebSocket

log = logging.getLogger(__name__)

REDIS_CHANNEL = "sportello:events"


@dataclass(eq=False)
class Client:
    websocket: WebSocket
    user_id: int
    sees_everything: bool
    queue_ids: frozenset[int] = field(default_factory=frozenset)

    def may_see(self, message: dict[str, Any]) -> bool:
        if self.sees_everything:
            return True
        data = message.get("data", {})
        if data.get("assignee_id") == self.user_id or data.get("user_id") == self.user_id:
            return True
        queue_id = data.get("queue_id")
        return queue_id is None or queue_id in self.queue_ids


class Hub:
    def __init__(self) -> None:
        self.clients: set[Client] = set()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.sent = 0

    def attach_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop

    def add(self, client: Client) -> None:
        self.clients.add(client)

    def remove(self, client: Client) -> None:
        self.clients.discard(client)

    async def broadcast(self, message: dict[str, Any]) -> None:
        text = json.dumps(message, separators=(",", ":"))
        targets = [c for c in self.clients if c.may_see(message)]
        if not targets:
            return
        results = await asyncio.gather(
            *(c.websocket.send_text(text) for c in targets), return_exceptions=True
        )
        for client, result in zip(targets, results, strict=True):
            if isinstance(result, Exception):
                self.clients.discard(client)
            else:
                self.sent += 1

    def publish_threadsafe(self, message: dict[str, Any]) -> None:
        """Called from dispatcher threads in this process."""
        loop = self.loop
        if loop is None or loop.is_closed():
            return
        asyncio.run_coroutine_threadsafe(self.broadcast(message), loop)


def event_message(name: str, payload: dict[str, Any]) -> dict[str, Any]:
    return {"type": name, "data": payload}


def local_publisher(hub: Hub) -> Callable[[Any, str, dict[str, Any]], None]:
    def publish(_db: Any, name: str, payload: dict[str, Any]) -> None:
        hub.publish_threadsafe(event_message(name, payload))

    return publish


def redis_publisher(
    redis_url: str, channel: str = REDIS_CHANNEL
) -> Callable[[Any, str, dict[str, Any]], None]:
    import redis

    client = redis.Redis.from_url(redis_url)

    def publish(_db: Any, name: str, payload: dict[str, Any]) -> None:
        client.publish(channel, json.dumps(event_message(name, payload)))

    return publish


async def relay_from_redis(
    hub: Hub, redis_url: str, stop: asyncio.Event, channel: str = REDIS_CHANNEL
) -> None:
    """Forward events published by any process to this process's sockets."""
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(redis_url)
    pubsub = client.pubsub()
    await pubsub.subscribe(channel)
    try:
        while not stop.is_set():
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            if message is None:
                continue
            try:
                data = json.loads(message["data"])
            except (ValueError, TypeError):
                log.warning("ignored a malformed realtime message")
                continue
            await hub.broadcast(data)
    finally:
        with contextlib.suppress(Exception):
            await pubsub.unsubscribe(channel)
        await client.aclose()
