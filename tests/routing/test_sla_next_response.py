"""The next-response target: after the first reply, each time the customer writes again a clock
runs from their first new message until the next reply."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from sportello.accounts.models import User
from sportello.channels.models import Channel
from sportello.conversations import actions as conversations_actions
from sportello.conversations.models import Conversation, Status
from sportello.core.dispatcher import Dispatcher
from sportello.core.errors import InvalidInput
from sportello.routing import sla
from sportello.routing.models import Queue, SlaClockRow
from tests.factories import inbound
from tests.routing.world import add_channel


@pytest.fixture
def chat(db, personas):
    with db.transaction() as s:
        queue = s.get_one(Queue, personas.queue_assistenza.id)
        return add_channel(s, brand_id=personas.brand_id, kind="chat", queue=queue).id


def write(db, channel_id: int, text: str) -> int:
    with db.transaction() as s:
        result = conversations_actions.do_receive_message(
            s,
            channel=s.get_one(Channel, channel_id),
            inbound=inbound(text, email="anna@example.it"),
        )
        return result.conversation.id


def reply(db, personas, cid: int) -> None:
    with db.transaction() as s:
        conversations_actions.do_send_reply(
            s,
            conversation=s.get_one(Conversation, cid),
            author=s.get_one(User, personas.sara.id),
            text="Certo, verifico subito.",
        )


def next_clock(db, cid: int) -> SlaClockRow | None:
    Dispatcher(db, name="test").drain()
    with db.session() as s:
        return s.scalar(
            select(SlaClockRow).where(
                SlaClockRow.conversation_id == cid, SlaClockRow.kind == "next_response"
            )
        )


def test_a_zero_next_response_target_is_refused(db, personas):
    with db.transaction() as s:
        with pytest.raises(InvalidInput) as err:
            sla.do_create_sla_policy(
                s,
                brand_id=personas.brand_id,
                name="Chat",
                first_response_seconds=600,
                next_response_seconds=0,
            )
        assert err.value.field == "next_response_seconds"


def test_next_response_clock_runs_from_the_customer_to_the_next_reply(db, personas, chat):
    with db.transaction() as s:
        sla.do_create_sla_policy(
            s,
            brand_id=personas.brand_id,
            name="Chat",
            first_response_seconds=3600,
            next_response_seconds=600,
        )
    cid = write(db, chat, "Buongiorno, il mio ordine?")
    assert next_clock(db, cid) is None  # the first answer is the first-response clock's
    reply(db, personas, cid)
    assert next_clock(db, cid) is None  # nobody waits

    assert write(db, chat, "Ancora niente, mi aiutate?") == cid
    running = next_clock(db, cid)
    assert running is not None and running.stopped_at is None
    with db.session() as s:
        asked = s.get_one(Conversation, cid).last_inbound_at
    assert running.due_at == asked + timedelta(seconds=600)

    write(db, chat, "Vi ho scritto anche per email.")  # still the same wait
    assert next_clock(db, cid).due_at == running.due_at

    reply(db, personas, cid)
    answered = next_clock(db, cid)
    assert answered.stopped_at is not None and answered.met is True

    write(db, chat, "Grazie! Un'ultima domanda.")
    again = next_clock(db, cid)
    assert again.stopped_at is None and again.due_at > running.due_at

    with db.transaction() as s:
        conversations_actions.do_change_status(
            s, conversation=s.get_one(Conversation, cid), status=Status.RESOLVED, by=None
        )
    assert next_clock(db, cid).stopped_at is not None
