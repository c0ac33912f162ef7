"""Chat fixtures: a chat channel on the Assistenza queue and a widget socket helper. (The browser
test uses the live server of tests/web/conftest.py.)"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import anyio
import pytest

from sportello.channels import actions as channels_actions
from sportello.channels.models import Channel
from sportello.core.db import Database
from sportello.core.dispatcher import Dispatcher

ORIGIN = "https://negozio.example.it"


@dataclass
class ChatChannel:
    channel: Channel
    public_id: str
    identity_secret: str


def make_chat_channel(db: Database, personas: Any, **data: str) -> ChatChannel:
    with db.transaction() as s:
        queue_row = s.merge(personas.queue_assistenza)
        channel, shown = channels_actions.do_create_channel(
            s,
            brand_id=personas.brand_id,
            kind="chat",
            name="Chat sito",
            queue=queue_row,
            data={"allowed_origins": ORIGIN, "color": "#8b3a1a", **data},
        )
    return ChatChannel(channel, channel.public_id, shown["identity_secret"])


@pytest.fixture
def chat(db, personas) -> ChatChannel:  # type: ignore[no-untyped-def]
    return make_chat_channel(db, personas)


class Widget:
    """A widget socket in a test: JSON frames in and out, skipping frames a test is not after."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.frames: list[dict[str, Any]] = []

    def send(self, **frame: Any) -> None:
        self.ws.send_text(json.dumps(frame))

    def recv(self, timeout: float = 10.0) -> dict[str, Any]:
        """The next frame, or a test failure after ``timeout`` (TestClient's own receive waits
        forever: a handler that breaks would hang the suite instead of failing a test)."""

        async def within() -> Any:
            with anyio.fail_after(timeout):
                return await self.ws._send_rx.receive()  # what receive() awaits, with a limit

        try:
            message = self.ws.portal.call(within)
        except TimeoutError:
            raise AssertionError(f"no frame in {timeout} s; last: {self.frames[-3:]}") from None
        self.ws._raise_on_close(message)
        frame: dict[str, Any] = json.loads(message["text"])
        self.frames.append(frame)
        return frame

    def until(self, kind: str, limit: int = 20) -> dict[str, Any]:
        for _ in range(limit):
            frame = self.recv()
            if frame["t"] == kind:
                return frame
        raise AssertionError(f"no {kind!r} frame in {limit}: {self.frames[-limit:]}")

    def hello(self, **extra: Any) -> dict[str, Any]:
        self.send(t="hello", page="https://negozio.example.it/prodotti", title="Prodotti", **extra)
        return self.until("welcome")


def drain(db: Database) -> None:
    """Run the dispatcher until idle: events, delivery jobs (the adapter's send), transcripts."""
    Dispatcher(db).drain()
