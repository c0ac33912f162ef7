"""The collision notice on the console's hub: only agents who may see the conversation hear it,
a frame about a conversation the sender may not see is dropped, a closed tab is announced gone."""

from __future__ import annotations

import asyncio
import json
import threading
from types import SimpleNamespace
from typing import Any

from sportello.core.realtime import Client, Hub
from sportello.replies import collision
from tests.factories import inbound, receive


class FakeSocket:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    async def send_text(self, text: str) -> None:
        self.sent.append(json.loads(text))


def client(hub: Hub, user, queue_ids=frozenset(), everything=False) -> Client:  # type: ignore[no-untyped-def]
    c = Client(FakeSocket(), user.id, everything, frozenset(queue_ids))  # type: ignore[arg-type]
    hub.add(c)
    return c


def test_collision_notices_follow_the_conversations_scope(db, personas, test_settings):
    conversation = receive(db, personas.api_channel, inbound(provider_id="c1")).conversation
    hub = Hub()
    app = SimpleNamespace(state=SimpleNamespace(db=db, hub=hub, settings=test_settings))
    sara = client(hub, personas.sara, {personas.queue_assistenza.id})
    marco = client(hub, personas.supervisor, everything=True)
    luca = client(hub, personas.luca, {personas.queue_vendite.id})

    def frame(state: str, echo: bool = False) -> str:
        return json.dumps(
            {"type": "collision", "conversation": conversation.id, "state": state, "echo": echo}
        )

    async def scenario() -> None:
        await collision.handle(app, sara, frame("viewing"))
        await collision.handle(app, sara, frame("typing"))
        await collision.handle(app, luca, frame("viewing"))  # not his queue: dropped
        await collision.handle(app, marco, "not json")
        await collision.disconnected(app, sara)

    # in a thread of its own: a browser test of the same run may hold this thread's loop
    worker = threading.Thread(target=asyncio.run, args=(scenario(),))
    worker.start()
    worker.join(30)
    heard = [(m["data"]["agent_name"], m["data"]["state"]) for m in marco.websocket.sent]
    assert heard == [("Sara Conti", "viewing"), ("Sara Conti", "typing"), ("Sara Conti", "left")]
    assert all(m["type"] == "agent.collision" for m in marco.websocket.sent)
    assert "conversation_id" not in marco.websocket.sent[0]["data"]  # no list refresh in app.js
    assert luca.websocket.sent == []  # Vendite's agent hears nothing of Assistenza
    assert collision._where == {}
