"""Inbox filters and orders on SLA clocks: breached, at risk, on time; SLA due soonest first."""

from __future__ import annotations

from datetime import timedelta

from sportello.accounts.models import User
from sportello.conversations import actions as conv_actions
from sportello.conversations import service
from sportello.conversations.models import Conversation
from sportello.routing import sla
from tests.factories import inbound, receive


def test_sla_filters_and_sla_order(db, personas):
    slow = receive(db, personas.api_channel, inbound(provider_id="s1")).conversation
    fast = receive(
        db, personas.api_channel, inbound(provider_id="s2", email="b@example.it", name="Bea")
    ).conversation
    none = receive(
        db, personas.api_channel, inbound(provider_id="s3", email="c@example.it", name="Ciro")
    ).conversation
    with db.transaction() as s:
        sla.do_create_sla_policy(
            s, brand_id=personas.brand_id, name="Std", first_response_seconds=3600
        )
        sla.do_create_sla_policy(
            s, brand_id=personas.brand_id, name="Urg", tag="urgente", first_response_seconds=600
        )
        conv_actions.do_update_conversation(
            s, conversation=s.get_one(Conversation, fast.id), by=None, tags=["urgente"]
        )
        for c in (slow, fast):
            sla.start_clocks(s, conversation=s.get_one(Conversation, c.id))
        t0 = s.get_one(Conversation, slow.id).created_at

    def numbers(sla_state="", sort="newest", at=t0):
        with db.session() as s:
            boss = s.get_one(User, personas.supervisor.id)
            inbox = service.InboxFilter(
                "open", filters=service.Filters.parse({"sla": sla_state, "sort": sort})
            )
            return [c.number for c in service.list_inbox(s, boss, inbox, now=at).rows]

    minute = timedelta(minutes=1)
    assert set(numbers("running", at=t0 + minute)) == {slow.number, fast.number}
    assert numbers("warning", at=t0 + 9 * minute) == [fast.number]  # 80% of 10 minutes
    assert numbers("breached", at=t0 + 11 * minute) == [fast.number]
    assert set(numbers("breached", at=t0 + 2 * 60 * minute)) == {slow.number, fast.number}
    assert numbers("running", at=t0 + 11 * minute) == [slow.number]
    assert numbers(sort="sla") == [fast.number, slow.number, none.number]  # no clock: last
