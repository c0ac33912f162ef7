"""Status transitions, assignment, tags, replies and delivery states."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from sportello.conversations import actions
from sportello.conversations.models import (
    TRANSITIONS,
    Conversation,
    DeliveryState,
    Direction,
    Message,
    Priority,
    Status,
)
from sportello.core.errors import InvalidInput, InvalidTransition
from sportello.core.outbox import OutboxEvent
from tests.factories import inbound, receive


def _conversation(db, personas):
    return receive(db, personas.api_channel, inbound(provider_id="m1")).conversation


@pytest.mark.parametrize("start", list(Status))
@pytest.mark.parametrize("target", list(Status))
def test_only_allowed_transitions_pass(db, personas, start, target):
    conv = _conversation(db, personas)
    with db.transaction() as s:
        c = s.get(Conversation, conv.id)
        c.status = start
    with db.transaction() as s:
        c = s.get(Conversation, conv.id)
        if target == start or target in TRANSITIONS[start]:
            actions.do_change_status(s, conversation=c, status=target, by=personas.sara)
            assert c.status == target
        else:
            with pytest.raises(InvalidTransition):
                actions.do_change_status(s, conversation=c, status=target, by=personas.sara)


def test_reply_records_queued_message_first_response_and_events(db, personas):
    conv = _conversation(db, personas)
    with db.transaction() as s:
        c = s.get(Conversation, conv.id)
        message = actions.do_send_reply(s, conversation=c, author=personas.sara, text="Ciao Mario")
        assert message.delivery_state == DeliveryState.QUEUED
        assert c.status == Status.OPEN
        assert c.assignee_id == personas.sara.id
        assert c.first_response_at is not None
    with db.session() as s:
        names = list(s.scalars(select(OutboxEvent.name).order_by(OutboxEvent.id)))
        assert names[-2:] == ["message.created", "message.outbound_queued"]


def test_an_automatic_reply_is_not_the_first_response(db, personas):
    """The bot's answer (no author) is sent, but the first response is a person's."""
    conv = _conversation(db, personas)
    with db.transaction() as s:
        c = s.get(Conversation, conv.id)
        actions.do_send_reply(s, conversation=c, author=None, text="Ti passo a un operatore")
        assert c.first_response_at is None and c.assignee_id is None
        actions.do_send_reply(s, conversation=c, author=personas.sara, text="Eccomi")
        assert c.first_response_at is not None


def test_reply_to_closed_conversation_is_refused(db, personas):
    conv = _conversation(db, personas)
    with db.transaction() as s:
        c = s.get(Conversation, conv.id)
        actions.do_change_status(s, conversation=c, status=Status.CLOSED, by=None)
        with pytest.raises(InvalidTransition):
            actions.do_send_reply(s, conversation=c, author=personas.sara, text="troppo tardi")
        with pytest.raises(InvalidInput):
            actions.do_add_note(s, conversation=c, author=personas.sara, text="  ")


def test_assign_writes_system_message_and_event(db, personas):
    conv = _conversation(db, personas)
    with db.transaction() as s:
        c = s.get(Conversation, conv.id)
        actions.do_assign(s, conversation=c, assignee=personas.luca, by=personas.supervisor)
    with db.session() as s:
        c = s.get(Conversation, conv.id)
        assert c.assignee_id == personas.luca.id and c.status == Status.OPEN
        system = s.scalars(select(Message).where(Message.direction == Direction.SYSTEM)).all()
        assert system[-1].meta == {"event": "assign", "to": "Luca Ferri", "by": "Marco Rossi"}
        assert "conversation.assigned" in s.scalars(select(OutboxEvent.name)).all()


def test_tags_priority_and_queue_update(db, personas):
    conv = _conversation(db, personas)
    with db.transaction() as s:
        c = s.get(Conversation, conv.id)
        actions.do_update_conversation(
            s,
            conversation=c,
            by=personas.sara,
            priority=Priority.URGENT,
            tags=["Reso", "reso ", "Fattura"],
            queue=personas.queue_vendite,
        )
    with db.session() as s:
        c = s.get(Conversation, conv.id)
        assert [t.name for t in c.tags] == ["fattura", "reso"]
        assert c.priority == Priority.URGENT and c.queue_id == personas.queue_vendite.id
        event = s.scalars(
            select(OutboxEvent).where(OutboxEvent.name == "conversation.updated")
        ).one()
        assert set(event.payload["changes"]) == {"priority", "tags", "queue_id"}


def test_delivery_state_moves_forward_only(db, personas):
    conv = _conversation(db, personas)
    with db.transaction() as s:
        c = s.get(Conversation, conv.id)
        m = actions.do_send_reply(s, conversation=c, author=personas.sara, text="ok")
        assert actions.do_mark_delivery(
            s, message=m, state=DeliveryState.SENT, provider_message_id="p1"
        )
        assert actions.do_mark_delivery(s, message=m, state=DeliveryState.READ)
        assert not actions.do_mark_delivery(s, message=m, state=DeliveryState.DELIVERED)
        assert not actions.do_mark_delivery(s, message=m, state=DeliveryState.FAILED, error="x")
        assert m.delivery_state == DeliveryState.READ and m.provider_message_id == "p1"


@pytest.mark.parametrize("current", [None, *DeliveryState])
@pytest.mark.parametrize("state", list(DeliveryState))
def test_delivery_rule_is_the_same_with_and_without_the_orm(db, personas, current, state):
    """advance_delivery (Core, for replies and receipts by the hundred) follows do_mark_delivery."""
    conv = _conversation(db, personas)
    with db.transaction() as s:
        c = s.get(Conversation, conv.id)
        orm = actions.do_send_reply(s, conversation=c, author=personas.sara, text="a")
        core = actions.do_send_reply(s, conversation=c, author=personas.sara, text="b")
        orm.delivery_state = core.delivery_state = current
    with db.transaction() as s:
        s.execute(OutboxEvent.__table__.delete())
        expected = actions.do_mark_delivery(
            s, message=s.get_one(Message, orm.id), state=state, provider_message_id="p1"
        )
        assert expected == actions.delivery_advances(current, state)
        changed = actions.advance_delivery(
            s,
            message_id=core.id,
            conversation_id=conv.id,
            current=current,
            state=state,
            provider_message_id="p2",
        )
        assert changed == expected
    with db.session() as s:
        a, b = s.get_one(Message, orm.id), s.get_one(Message, core.id)
        assert a.delivery_state == b.delivery_state
        assert (a.provider_message_id is None) == (b.provider_message_id is None)
        assert a.error == b.error
        events = s.scalars(
            select(OutboxEvent).where(OutboxEvent.name == "message.delivery_updated")
        ).all()
        assert len(events) == (2 if expected else 0)
        if expected:
            assert {**events[0].payload, "message_id": 0} == {**events[1].payload, "message_id": 0}


def test_advance_delivery_is_guarded_by_the_state_it_read(db, personas):
    conv = _conversation(db, personas)
    with db.transaction() as s:
        c = s.get(Conversation, conv.id)
        m = actions.do_send_reply(s, conversation=c, author=personas.sara, text="ok")
    with db.transaction() as s:  # someone else moved it after our read
        actions.do_mark_delivery(s, message=s.get_one(Message, m.id), state=DeliveryState.READ)
    with db.transaction() as s:
        assert not actions.advance_delivery(
            s,
            message_id=m.id,
            conversation_id=conv.id,
            current=DeliveryState.QUEUED,  # stale
            state=DeliveryState.SENT,
        )
    with db.session() as s:
        assert s.get_one(Message, m.id).delivery_state == DeliveryState.READ


@pytest.mark.parametrize("status", [Status.NEW, Status.OPEN, Status.PENDING])
@pytest.mark.parametrize("assigned", [False, True])
def test_reply_by_id_does_what_do_send_reply_does(db, personas, status, assigned):
    """The agents' hot path (REST and composer replies, in Core) and the ORM action leave the
    conversation, the message and the events alike."""
    convs = [
        receive(
            db, personas.api_channel, inbound(email=f"c{i}@example.it", provider_id=f"m{i}")
        ).conversation.id
        for i in (1, 2)
    ]
    with db.transaction() as s:
        s.execute(OutboxEvent.__table__.delete())
        for cid in convs:
            c = s.get_one(Conversation, cid)
            c.status = status
            c.assignee_id = personas.luca.id if assigned else None
    with db.transaction() as s:
        sara = s.get_one(type(personas.sara), personas.sara.id)
        orm = actions.do_send_reply(
            s, conversation=s.get_one(Conversation, convs[0]), author=sara, text="Eccomi <b>"
        )
        orm_id = orm.id
        core = actions.do_send_reply_by_id(
            s, conversation_id=convs[1], author_id=sara.id, author_name=sara.name, text="Eccomi <b>"
        )
    with db.session() as s:
        a, b = (s.get_one(Conversation, cid) for cid in convs)
        for field in ("status", "assignee_id", "message_count", "preview", "queue_id"):
            assert getattr(a, field) == getattr(b, field), field
        assert a.first_response_at is not None and b.first_response_at is not None
        ma, mb = s.get_one(Message, orm_id), s.get_one(Message, core.id)
        for field in ("direction", "author_id", "sender_name", "text", "delivery_state", "meta"):
            assert getattr(ma, field) == getattr(mb, field), field
        assert mb.created_at == core.created_at and mb.channel_id == personas.api_channel.id
        events = s.scalars(select(OutboxEvent).order_by(OutboxEvent.id)).all()
        by = {
            cid: [(e.name, {**e.payload, "message_id": 0, "conversation_id": 0}) for e in events
                  if e.payload.get("conversation_id") == cid]
            for cid in convs
        }  # fmt: skip
        assert by[convs[0]] == by[convs[1]] and len(by[convs[0]]) == 2


def test_a_reply_without_author_is_no_first_response_and_takes_no_owner(db, personas):
    """The bot's and surveys' messages go through the same reply action, as nobody's answer."""
    conv = _conversation(db, personas)
    with db.transaction() as s:
        conversation = s.get_one(Conversation, conv.id)
        message = actions.do_send_reply(
            s, conversation=conversation, author=None, text="Risposta automatica", meta={"bot": 1}
        )
        assert conversation.status == Status.OPEN  # reloaded after the Core update
        message_id = message.id
    with db.session() as s:
        after = s.get_one(Conversation, conv.id)
        assert after.first_response_at is None and after.assignee_id is None
        stored = s.get_one(Message, message_id)
        assert (stored.author_id, stored.sender_name, stored.meta) == (None, "", {"bot": 1})
        assert stored.delivery_state == DeliveryState.QUEUED


def test_reply_by_id_refuses_what_do_send_reply_refuses(db, personas):
    conv = _conversation(db, personas)
    with db.transaction() as s, pytest.raises(InvalidInput):
        actions.do_send_reply_by_id(
            s, conversation_id=conv.id, author_id=personas.sara.id, author_name="S", text=" "
        )
    with db.transaction() as s:
        s.get_one(Conversation, conv.id).status = Status.CLOSED
    with db.transaction() as s, pytest.raises(InvalidTransition):
        actions.do_send_reply_by_id(
            s, conversation_id=conv.id, author_id=personas.sara.id, author_name="S", text="x"
        )
    from sportello.core.errors import NotFound

    with db.transaction() as s, pytest.raises(NotFound):
        actions.do_send_reply_by_id(
            s, conversation_id=10**9, author_id=personas.sara.id, author_name="S", text="x"
        )
