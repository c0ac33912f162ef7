"""A channel kind is a plug-in: an adapter registered under a new kind, defined here and nowhere
in Sportello, is created over the REST API, receives a provider's webhook through the one door
(messages and delivery reports parsed once), replies through its own ``send``, and counts in the
capacity class it declares. Nothing shared names it."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import ClassVar

import pytest
from sqlalchemy import select

from sportello.channels import registry
from sportello.channels.base import (
    ChannelConfig,
    ChannelSetup,
    ExternalRef,
    Identity,
    InboundMessage,
    OutboundMessage,
    Parsed,
    StatusUpdate,
    WebhookRejected,
    WebhookRequest,
)
from sportello.channels.models import Channel
from sportello.conversations.models import Conversation, DeliveryState, Message
from sportello.core.dispatcher import Dispatcher
from sportello.routing import capacity
from tests.api.helpers import make_token

KIND = "piccione"  # a carrier-pigeon gateway: no such provider, and no code of ours knows it


class PigeonAdapter:
    kind: ClassVar[str] = KIND
    label: ClassVar[str] = "Piccione viaggiatore"
    capacity_class: ClassVar[str] = "chat"
    form_fields: ClassVar[tuple[str, ...]] = ("loft",)
    secret_fields: ClassVar[tuple[str, ...]] = ()

    def __init__(self) -> None:
        self.sent: list[OutboundMessage] = []

    def configure(self, data: Mapping[str, str]) -> ChannelSetup:
        return ChannelSetup(settings={"loft": data.get("loft", "")}, token="colombaia-segreta")

    def verify(self, channel: ChannelConfig, request: WebhookRequest) -> None:
        from sportello.channels.service import token_matches

        if not token_matches(channel, request.headers.get("x-loft-token", "")):
            raise WebhookRejected("bad loft token")

    def parse(self, channel: ChannelConfig, request: WebhookRequest) -> Parsed:
        body = json.loads(request.body)
        return Parsed(
            [
                InboundMessage(
                    identity=Identity("phone", m["from"]),
                    text=m["text"],
                    provider_message_id=m["id"],
                )
                for m in body.get("messages", [])
            ],
            [StatusUpdate(s["id"], s["state"]) for s in body.get("statuses", [])],
        )

    def send(self, channel: ChannelConfig, message: OutboundMessage) -> ExternalRef:
        self.sent.append(message)
        return ExternalRef(f"volo-{message.message_id}")


@pytest.fixture
def pigeon(monkeypatch: pytest.MonkeyPatch) -> Iterator[PigeonAdapter]:
    registry.load_builtin()
    adapter = PigeonAdapter()
    monkeypatch.setitem(registry._ADAPTERS, KIND, adapter)
    monkeypatch.setattr(capacity, "_kind_cache", {})
    yield adapter


def test_a_kind_defined_outside_sportello_works_end_to_end(client, db, personas, pigeon):  # type: ignore[no-untyped-def]
    admin = {
        "Authorization": f"Bearer {make_token(db, personas.admin, ('read', 'write', 'admin'))}"
    }
    created = client.post(
        "/api/v1/channels",
        json={"kind": KIND, "name": "Colombaia di Bari", "settings": {"loft": "Bari"}},
        headers=admin,
    )
    assert created.status_code == 201, created.text
    channel_id = created.json()["channel"]["id"]
    with db.session() as s:
        public_id = s.get_one(Channel, channel_id).public_id

    hook = f"/hooks/{public_id}"
    payload = {"messages": [{"id": "p-1", "from": "+393331112222", "text": "Arrivato?"}]}
    assert client.post(hook, json=payload).status_code == 401  # its own verification ran
    token = {"x-loft-token": "colombaia-segreta"}
    first = client.post(hook, json=payload, headers=token)
    assert first.status_code == 200, first.text
    again = client.post(hook, json=payload, headers=token)
    assert again.json()["received"][0]["duplicate"] is True  # the door's replay guard
    received = first.json()["received"][0]
    number, conversation_id = received["conversation_number"], received["conversation_id"]

    with db.session() as s:
        conversation = s.scalars(select(Conversation).where(Conversation.number == number)).one()
        assert conversation.channel_id == channel_id
        texts = s.scalars(select(Message.text).where(Message.conversation_id == conversation.id))
        assert list(texts) == ["Arrivato?"]
    assert capacity.class_of_kind(KIND) == "chat"

    # A reply goes out through the adapter's send; the provider's report comes back in a
    # webhook of its own and moves the delivery state.
    reply = client.post(
        f"/api/v1/conversations/{conversation_id}/replies",
        json={"text": "Sì, è arrivato ieri."},
        headers=admin,
    )
    assert reply.status_code == 201, reply.text
    Dispatcher(db).drain()
    assert [m.text for m in pigeon.sent] == ["Sì, è arrivato ieri."]
    provider_id = f"volo-{pigeon.sent[0].message_id}"
    report = {"statuses": [{"id": provider_id, "state": "delivered"}]}
    assert client.post(hook, json=report, headers=token).status_code == 200
    with db.session() as s:
        sent = s.get_one(Message, pigeon.sent[0].message_id)
        assert sent.delivery_state == DeliveryState.DELIVERED
