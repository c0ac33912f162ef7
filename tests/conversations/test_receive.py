"""The one door: customers by identity, dedupe, threading, events, rollback."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from sportello.channels.base import InboundAttachment
from sportello.conversations import actions
from sportello.conversations.models import Conversation, Message, Status
from sportello.core.errors import InvalidInput
from sportello.core.outbox import OutboxEvent
from sportello.customers.models import Customer, CustomerIdentity
from tests.factories import inbound, receive


def count(db, model) -> int:
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(model))


def event_names(db) -> list[str]:
    with db.session() as s:
        return list(s.scalars(select(OutboxEvent.name).order_by(OutboxEvent.id)))


def test_first_message_creates_customer_conversation_and_events(db, personas):
    result = receive(db, personas.api_channel, inbound(provider_id="m-1", subject="Ordine 5521"))
    assert not result.duplicate and result.new_conversation
    assert result.conversation.number >= 1001
    assert result.conversation.status == Status.NEW
    assert result.conversation.queue_id == personas.queue_assistenza.id
    assert result.conversation.subject == "Ordine 5521"
    assert result.customer.name == "Mario Rossi"
    with db.session() as s:
        identity = s.scalars(select(CustomerIdentity)).one()
        assert (identity.kind.value, identity.value) == ("email", "mario.rossi@example.it")
    assert event_names(db)[-2:] == ["conversation.created", "message.received"]


def test_replayed_delivery_returns_the_stored_message(db, personas):
    first = receive(db, personas.api_channel, inbound(provider_id="m-1"))
    again = receive(db, personas.api_channel, inbound(provider_id="m-1"))
    assert again.duplicate
    assert again.message.id == first.message.id
    assert count(db, Message) == 1
    assert event_names(db).count("message.received") == 1


def test_same_provider_id_on_another_channel_is_not_a_duplicate(db, personas):
    receive(db, personas.api_channel, inbound(provider_id="m-1"))
    other = receive(db, personas.webform, inbound(provider_id="m-1"))
    assert not other.duplicate
    assert count(db, Message) == 2


def test_next_message_threads_into_the_open_conversation(db, personas):
    first = receive(db, personas.api_channel, inbound("Primo", provider_id="a"))
    second = receive(db, personas.api_channel, inbound("Secondo", provider_id="b"))
    assert second.conversation.id == first.conversation.id
    assert not second.new_conversation
    with db.session() as s:
        conv = s.get(Conversation, first.conversation.id)
        assert conv.message_count == 2
        assert conv.preview == "Secondo"


def test_identity_is_normalised_so_case_does_not_split_a_customer(db, personas):
    receive(db, personas.api_channel, inbound(email="Mario.Rossi@Example.IT", provider_id="a"))
    receive(db, personas.api_channel, inbound(email="mario.rossi@example.it", provider_id="b"))
    assert count(db, Customer) == 1
    assert count(db, Conversation) == 1


def test_other_channel_starts_its_own_conversation_for_the_same_customer(db, personas):
    a = receive(db, personas.api_channel, inbound(provider_id="a"))
    b = receive(db, personas.webform, inbound(provider_id="b"))
    assert a.customer.id == b.customer.id
    assert a.conversation.id != b.conversation.id


def test_in_reply_to_threads_into_that_conversation_even_if_resolved(db, personas):
    first = receive(db, personas.api_channel, inbound(provider_id="<x1@mail>"))
    with db.transaction() as s:
        conv = s.get(Conversation, first.conversation.id)
        actions.do_change_status(s, conversation=conv, status=Status.RESOLVED, by=personas.sara)
    reply = receive(
        db,
        personas.api_channel,
        inbound("Ancora io", provider_id="<x2@mail>", in_reply_to=["<x1@mail>"]),
    )
    assert reply.conversation.id == first.conversation.id
    assert reply.conversation.status == Status.OPEN


def test_closed_conversation_is_final_new_message_opens_a_new_one(db, personas):
    first = receive(db, personas.api_channel, inbound(provider_id="a"))
    with db.transaction() as s:
        conv = s.get(Conversation, first.conversation.id)
        actions.do_change_status(s, conversation=conv, status=Status.CLOSED, by=personas.sara)
    again = receive(db, personas.api_channel, inbound(provider_id="b", in_reply_to=["a"]))
    assert again.new_conversation
    assert again.conversation.number == first.conversation.number + 1


def test_conversation_number_threads_only_for_the_same_customer(db, personas):
    first = receive(db, personas.api_channel, inbound(provider_id="a"))
    with db.transaction() as s:
        conv = s.get(Conversation, first.conversation.id)
        actions.do_change_status(s, conversation=conv, status=Status.RESOLVED, by=None)
    mine = receive(
        db,
        personas.api_channel,
        inbound(provider_id="b", conversation_number=first.conversation.number),
    )
    assert mine.conversation.id == first.conversation.id
    stranger = receive(
        db,
        personas.api_channel,
        inbound(
            email="eve@example.com", provider_id="c", conversation_number=first.conversation.number
        ),
    )
    assert stranger.conversation.id != first.conversation.id


def test_attachments_are_stored_by_content_hash(db, personas, test_settings):
    data = b"%PDF-1.4 fattura"
    result = receive(
        db,
        personas.api_channel,
        inbound(
            provider_id="a",
            attachments=[InboundAttachment("../../fattura 1.pdf", "application/pdf", data)],
        ),
    )
    with db.session() as s:
        message = s.get(Message, result.message.id)
        (att,) = message.attachments
        assert att.filename == "fattura 1.pdf"
        assert att.size == len(data)
        from sportello.conversations.storage import path_for

        assert path_for(test_settings.attachments_dir, att.sha256).read_bytes() == data


def test_empty_message_is_refused_and_nothing_is_written(db, personas):
    with pytest.raises(InvalidInput):
        receive(db, personas.api_channel, inbound("   ", provider_id="a"))
    assert count(db, Message) == 0
    assert count(db, Customer) == 0
    assert event_names(db) == []


def test_error_mid_transaction_rolls_back_everything(db, personas):
    from sportello.channels import service
    from sportello.channels.models import Channel

    with pytest.raises(RuntimeError), db.transaction() as s:
        channel = s.get(Channel, personas.api_channel.id)
        service.receive(s, channel=channel, inbound=inbound(provider_id="a"))
        raise RuntimeError("database went away")
    assert count(db, Message) == 0
    assert count(db, Conversation) == 0
    assert count(db, OutboxEvent) == 0
