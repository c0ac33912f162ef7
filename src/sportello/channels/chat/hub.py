"""The visitor hub: which widget sockets of this process listen for which visitor.

A socket listens on *keys*, one per identity of its visitor on its channel
(``"<public id>|visitor:<id>"``, ``"<public id>|external:<id>"``). A *poke* on a key tells the
sockets to read what is new from the timeline, the source of truth; the poke itself carries no
message, so a lost poke costs only latency (the socket catches up on its next resume).

Embedded mode: the adapter's ``send`` (in a dispatcher thread) pokes every hub of this process.
Scaled mode (``SPORTELLO_REDIS_URL``): pokes go through Redis and every web process relays them to
its own sockets, the way ``core.realtime`` does for the console.
"""

from __future__ import annotations

import asyncio
import json
import logging
import weakref
from collections.abc import Iterable
from typing import Any, Protocol

from sportello.core import realtime

log = logging.getLogger(__name__)


def redis_channel() -> str:
    """The pub/sub channel of the pokes: beside the console's events (``SPORTELLO_REDIS_CHANNEL``),
    so two installations (or test runs) sharing one Redis never poke each other's visitors."""
    from sportello.config import get_settings

    return f"{get_settings().redis_channel}:chat"


class Listener(Protocol):
    def poke(self, frame: dict[str, Any]) -> None: ...


def visitor_key(public_id: str, kind: str, value: str) -> str:
    return f"{public_id}|{kind}:{value}"


class VisitorHub:
    def __init__(self) -> None:
        self.listeners: dict[str, set[Listener]] = {}
        self.loop: asyncio.AbstractEventLoop | None = None
        self.pokes = 0

    def attach_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop

    def add(self, listener: Listener, keys: Iterable[str]) -> None:
        for key in keys:
            self.listeners.setdefault(key, set()).add(listener)

    def remove(self, listener: Listener, keys: Iterable[str]) -> None:
        for key in keys:
            found = self.listeners.get(key)
            if found is not None:
                found.discard(listener)
                if not found:
                    del self.listeners[key]

    def count(self) -> int:
        return len({id(x) for group in self.listeners.values() for x in group})

    def deliver(self, keys: Iterable[str], frame: dict[str, Any]) -> None:
        """On the hub's loop: poke every listener of any of the keys, once each."""
        seen: set[int] = set()
        for key in keys:
            for listener in list(self.listeners.get(key, ())):
                if id(listener) not in seen:
                    seen.add(id(listener))
                    self.pokes += 1
                    listener.poke(frame)

    def deliver_threadsafe(self, keys: list[str], frame: dict[str, Any]) -> None:
        loop = self.loop
        if loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self.deliver(keys, frame)
        else:
            loop.call_soon_threadsafe(self.deliver, keys, frame)


# The hubs of this process (one per app; tests may run several apps).
_HUBS: weakref.WeakSet[VisitorHub] = weakref.WeakSet()
_redis_clients: dict[str, Any] = {}


def register_hub(hub: VisitorHub) -> None:
    _HUBS.add(hub)


def unregister_hub(hub: VisitorHub) -> None:
    _HUBS.discard(hub)


def _redis(url: str) -> Any:
    client = _redis_clients.get(url)
    if client is None:
        import redis

        client = redis.Redis.from_url(url)
        _redis_clients[url] = client
    return client


def publish(keys: list[str], frame: dict[str, Any], *, redis_url: str | None) -> None:
    """Poke the sockets of these keys, in any process. Safe from any thread."""
    if not keys:
        return
    if redis_url:
        message = json.dumps({"keys": keys, "frame": frame}, separators=(",", ":"))
        _redis(redis_url).publish(redis_channel(), message)
        return
    for hub in list(_HUBS):
        hub.deliver_threadsafe(keys, frame)


async def relay_from_redis(hub: VisitorHub, redis_url: str, stop: asyncio.Event) -> None:
    """Forward pokes published by any process to this process's widget sockets."""

    def deliver(data: Any) -> None:
        hub.deliver([str(k) for k in data["keys"]], dict(data["frame"]))

    await realtime.relay(redis_url, redis_channel(), stop, deliver, what="chat")
