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
from collections.abc import Awaitable, Callable
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

    def publish_many_threadsafe(self, messages: list[dict[str, Any]]) -> None:
        """A dispatcher round's events in one hop to the loop (one wake-up, not one per event)."""
        loop = self.loop
        if loop is None or loop.is_closed() or not messages:
            return
        asyncio.run_coroutine_threadsafe(self._broadcast_all(messages), loop)

    async def _broadcast_all(self, messages: list[dict[str, Any]]) -> None:
        for message in messages:
            await self.broadcast(message)


def event_message(name: str, payload: dict[str, Any]) -> dict[str, Any]:
    return {"type": name, "data": payload}


def local_publisher(hub: Hub) -> Callable[[Any, list[tuple[str, dict[str, Any]]]], None]:
    """A dispatcher batch handler: a round's events to this process's console sockets."""

    def publish(_db: Any, batch: list[tuple[str, dict[str, Any]]]) -> None:
        hub.publish_many_threadsafe([event_message(name, payload) for name, payload in batch])

    return publish


def redis_publisher(
    redis_url: str, channel: str = REDIS_CHANNEL
) -> Callable[[Any, list[tuple[str, dict[str, Any]]]], None]:
    """A dispatcher batch handler: a round's events to every web process, in one pipeline."""
    import redis

    client = redis.Redis.from_url(redis_url)

    def publish(_db: Any, batch: list[tuple[str, dict[str, Any]]]) -> None:
        pipe = client.pipeline(transaction=False)
        for name, payload in batch:
            pipe.publish(channel, json.dumps(event_message(name, payload)))
        pipe.execute()

    return publish


async def relay_from_redis(
    hub: Hub, redis_url: str, stop: asyncio.Event, channel: str = REDIS_CHANNEL
) -> None:
    """Forward events published by any process to this process's console sockets."""
    await relay(redis_url, channel, stop, hub.broadcast, what="realtime")


async def relay(
    redis_url: str,
    channel: str,
    stop: asyncio.Event,
    handle: Callable[[Any], Awaitable[None] | None],
    *,
    what: str,
) -> None:
    """The one relay between processes: every JSON message published on ``channel`` by any
    process goes to ``handle`` in this one, until ``stop``. A message that is not JSON, or that
    ``handle`` refuses with ValueError, TypeError or KeyError, is logged (as ``what``) and
    skipped. The console's hub and the chat widget's hub each run one."""
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
                done = handle(json.loads(message["data"]))
                if done is not None:
                    await done
            except (ValueError, TypeError, KeyError):
                log.warning("ignored a malformed %s relay message", what)
    finally:
        with contextlib.suppress(Exception):
            await pubsub.unsubscribe(channel)
        await client.aclose()


# --- wake-ups across processes -------------------------------------------------------------------
# In scaled mode the web process commits events that a `sportello worker` handles. Polling alone
# would add up to the poll period to every live update and reply; instead the web process says
# "there is work" on Redis after each commit that wrote events or jobs, and workers wake at once.


def wake_channel(channel: str = REDIS_CHANNEL) -> str:
    return f"{channel}:wake"


def wake_publisher(redis_url: str, channel: str = REDIS_CHANNEL) -> Callable[[], None]:
    """A commit listener (``events.on_outbox_commit``) that wakes the workers, at most once per
    ``WAKE_EVERY`` seconds: a worker woken up takes everything committed by then."""
    import time

    import redis

    client = redis.Redis.from_url(redis_url)
    name = wake_channel(channel)
    last = [0.0]

    def wake() -> None:
        now = time.monotonic()
        if now - last[0] < WAKE_EVERY:
            return
        last[0] = now
        try:
            client.publish(name, b"1")
        except Exception:  # Redis away: the workers still poll
            log.warning("could not wake the workers through Redis", exc_info=True)

    return wake


WAKE_EVERY = 0.002


async def relay_wakeups(
    redis_url: str, stop: asyncio.Event, wake: Callable[[], None], channel: str = REDIS_CHANNEL
) -> None:
    """In a worker: call ``wake`` whenever a web process committed events or jobs."""
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(redis_url)
    pubsub = client.pubsub()
    name = wake_channel(channel)
    await pubsub.subscribe(name)
    try:
        while not stop.is_set():
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            if message is not None:
                wake()
    finally:
        with contextlib.suppress(Exception):
            await pubsub.unsubscribe(name)
        await client.aclose()
