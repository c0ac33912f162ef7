"""The router end to end: events trigger it, offers and assignments follow the rules."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from sportello.accounts.models import User
from sportello.conversations import actions as conversations_actions
from sportello.conversations.models import Conversation, Priority
from sportello.core import jobs
from sportello.core.db import utcnow
from sportello.core.dispatcher import Dispatcher
from sportello.core.errors import Conflict, InvalidInput, NotFound
from sportello.core.outbox import OutboxEvent
from sportello.routing import actions as routing_actions
from sportello.routing import capacity, presence, skills
from sportello.routing import handlers as routing_handlers
from sportello.routing import snapshot as routing_snapshot
from sportello.routing.models import AgentState, PresenceLog, Queue
from tests.routing.world import (
    add_agent,
    add_channel,
    assignee_of,
    check_invariants,
    new_conversation,
    offer_of,
    resolve,
    set_presence,
)


@pytest.fixture
def world(db, personas):
    """Sara (Assistenza) and Luca (Vendite) plus Anna (Assistenza); chat, voice, email channels
    into "Assistenza clienti" (auto mode) and a chat channel into "Vendite" (push mode)."""
    p = personas
    with db.transaction() as s:
        q_ass = s.get_one(Queue, p.queue_assistenza.id)
        q_ven = s.get_one(Queue, p.queue_vendite.id)
        routing_actions.do_set_queue_routing(s, queue=q_ass, mode="auto")
        routing_actions.do_set_queue_routing(s, queue=q_ven, mode="push", offer_timeout_seconds=20)
        from sportello.accounts.models import Team

        anna = add_agent(s, "Anna Riva", teams=[s.get_one(Team, p.assistenza.id)])
        chat = add_channel(s, brand_id=p.brand_id, kind="chat", queue=q_ass)
        voice = add_channel(s, brand_id=p.brand_id, kind="voice", queue=q_ass)
        email = add_channel(s, brand_id=p.brand_id, kind="email", queue=q_ass)
        sales_chat = add_channel(s, brand_id=p.brand_id, kind="chat", queue=q_ven)
        ids = {
            "anna": anna.id,
            "chat": chat.id,
            "voice": voice.id,
            "email": email.id,
            "sales_chat": sales_chat.id,
        }
    return p, ids


def drain(db):
    Dispatcher(db, name="test").drain()


def test_auto_mode_assigns_a_new_conversation_to_an_available_agent(db, world):
    p, ids = world
    set_presence(db, p.sara.id, "available")
    conv = new_conversation(db, ids["chat"])
    drain(db)
    assert assignee_of(db, conv) == p.sara.id
    with db.session() as s:
        assert s.get_one(Conversation, conv).status.value == "open"
        check_invariants(s)


def test_nobody_available_means_the_conversation_waits_and_is_routed_later(db, world):
    p, ids = world
    conv = new_conversation(db, ids["chat"])
    drain(db)
    assert assignee_of(db, conv) is None
    set_presence(db, p.sara.id, "break")
    drain(db)
    assert assignee_of(db, conv) is None
    set_presence(db, p.sara.id, "available")  # the presence change triggers routing
    drain(db)
    assert assignee_of(db, conv) == p.sara.id


def test_agents_of_other_teams_do_not_get_the_queue(db, world):
    p, ids = world
    set_presence(db, p.luca.id, "available")
    conv = new_conversation(db, ids["chat"])
    drain(db)
    assert assignee_of(db, conv) is None


def test_capacity_per_class_and_the_freed_agent_gets_the_next(db, world):
    p, ids = world
    with db.transaction() as s:
        capacity.do_set_agent_capacity(s, user=s.get_one(User, p.sara.id), capacity={"chat": 1})
    set_presence(db, p.sara.id, "available")
    first = new_conversation(db, ids["chat"])
    second = new_conversation(db, ids["chat"])
    mail = new_conversation(db, ids["email"])
    drain(db)
    assert assignee_of(db, first) == p.sara.id
    assert assignee_of(db, second) is None  # chat full
    assert assignee_of(db, mail) == p.sara.id  # email has room
    resolve(db, first)
    drain(db)  # the agent freed by the resolution gets the waiting chat
    assert assignee_of(db, second) == p.sara.id
    with db.session() as s:
        check_invariants(s)


def test_no_chat_while_on_a_call(db, world):
    p, ids = world
    set_presence(db, p.sara.id, "available")
    call = new_conversation(db, ids["voice"])
    drain(db)
    assert assignee_of(db, call) == p.sara.id
    chat = new_conversation(db, ids["chat"])
    mail = new_conversation(db, ids["email"])
    drain(db)
    assert assignee_of(db, chat) is None
    assert assignee_of(db, mail) == p.sara.id
    resolve(db, call)
    drain(db)
    assert assignee_of(db, chat) == p.sara.id


def test_team_capacity_defaults_and_validation(db, world):
    p, _ = world
    with db.transaction() as s:
        capacity.do_set_team_capacity(s, team_id=p.assistenza.id, capacity={"chat": 2})
        limits = capacity.limits_for(s, [p.sara.id])[p.sara.id]
        assert limits.per_class["chat"] == 2 and limits.per_class["email"] == 10
        with pytest.raises(InvalidInput):
            capacity.do_set_team_capacity(s, team_id=p.assistenza.id, capacity={"fax": 1})
        with pytest.raises(InvalidInput):
            capacity.do_set_team_capacity(s, team_id=p.assistenza.id, capacity={"chat": -1})
        with pytest.raises(InvalidInput):
            capacity.check_capacity_config({"blocks": {"voice": ["telex"]}})


def test_longest_idle_agent_first_then_proficiency(db, world):
    p, ids = world
    start = utcnow()
    set_presence(db, ids["anna"], "available")
    with db.transaction() as s:  # Anna has been idle longer
        s.get_one(AgentState, ids["anna"]).idle_since = start - timedelta(minutes=10)
    set_presence(db, p.sara.id, "available")
    first = new_conversation(db, ids["email"])
    drain(db)
    assert assignee_of(db, first) == ids["anna"]
    second = new_conversation(db, ids["email"])
    drain(db)
    assert assignee_of(db, second) == p.sara.id  # Anna just got one: Sara is now idle longest

    # Equal idle time: the more proficient agent wins.
    with db.transaction() as s:
        skill = skills.do_create_skill(s, brand_id=p.brand_id, name="Tedesco")
        queue = s.get_one(Queue, p.queue_assistenza.id)
        skills.do_set_queue_skill(s, queue=queue, skill=skill, min_level=2)
        skills.do_set_agent_skill(s, user=s.get_one(User, p.sara.id), skill=skill, level=2)
        skills.do_set_agent_skill(s, user=s.get_one(User, ids["anna"]), skill=skill, level=5)
        for uid in (p.sara.id, ids["anna"]):
            s.get_one(AgentState, uid).idle_since = start
    third = new_conversation(db, ids["email"])
    drain(db)
    assert assignee_of(db, third) == ids["anna"]


def test_required_skills_at_minimum_level(db, world):
    p, ids = world
    with db.transaction() as s:
        skill = skills.do_create_skill(s, brand_id=p.brand_id, name="Inglese")
        queue = s.get_one(Queue, p.queue_assistenza.id)
        skills.do_set_queue_skill(s, queue=queue, skill=skill, min_level=3)
        skills.do_set_agent_skill(s, user=s.get_one(User, p.sara.id), skill=skill, level=2)
        with pytest.raises(InvalidInput):
            skills.do_set_agent_skill(s, user=s.get_one(User, p.sara.id), skill=skill, level=6)
    set_presence(db, p.sara.id, "available")
    conv = new_conversation(db, ids["chat"])
    drain(db)
    assert assignee_of(db, conv) is None
    with db.transaction() as s:
        skills.do_set_agent_skill(s, user=s.get_one(User, p.sara.id), skill=skill, level=3)
        skills.request_routing(s, queue_ids=[p.queue_assistenza.id], reason="test")
    drain(db)
    assert assignee_of(db, conv) == p.sara.id


def test_order_queue_priority_then_conversation_priority_then_age(db, world):
    p, ids = world
    with db.transaction() as s:
        capacity.do_set_agent_capacity(s, user=s.get_one(User, p.sara.id), capacity={"chat": 1})
        # Sara serves both queues; Vendite has the higher priority.
        skills.do_set_queue_members(
            s, queue=s.get_one(Queue, p.queue_vendite.id), users=[s.get_one(User, p.sara.id)]
        )
        s.get_one(Queue, p.queue_vendite.id).priority = 5
    old = new_conversation(db, ids["chat"])
    urgent = new_conversation(db, ids["chat"])
    sales = new_conversation(db, ids["sales_chat"])
    with db.transaction() as s:
        conversations_actions.do_update_conversation(
            s, conversation=s.get_one(Conversation, urgent), by=None, priority=Priority.URGENT
        )
    drain(db)
    set_presence(db, p.sara.id, "available")
    drain(db)
    assert offer_of(db, sales) is not None and offer_of(db, sales).user_id == p.sara.id
    with db.transaction() as s:
        offer = offer_of(db, sales)
        routing_actions.do_decline_offer(s, offer_id=offer.id, user=s.get_one(User, p.sara.id))
    drain(db)
    assert assignee_of(db, urgent) == p.sara.id  # declined the offer: next the urgent one
    assert assignee_of(db, old) is None


def test_push_offer_accept_decline_and_timeout(db, world):
    p, ids = world
    with db.transaction() as s:
        from sportello.accounts.models import Team

        marta = add_agent(s, "Marta Neri", teams=[s.get_one(Team, p.vendite.id)])
    set_presence(db, p.luca.id, "available")
    set_presence(db, marta.id, "available")
    with db.transaction() as s:
        s.get_one(AgentState, p.luca.id).idle_since = utcnow() - timedelta(hours=1)
    conv = new_conversation(db, ids["sales_chat"])
    drain(db)
    offer = offer_of(db, conv)
    assert offer is not None and offer.user_id == p.luca.id
    assert assignee_of(db, conv) is None
    with db.session() as s:
        check_invariants(s)
        with pytest.raises(NotFound):  # not Marta's offer
            routing_actions.do_accept_offer(s, offer_id=offer.id, user=s.get_one(User, marta.id))

    # Luca declines: offered to Marta.
    with db.transaction() as s:
        routing_actions.do_decline_offer(s, offer_id=offer.id, user=s.get_one(User, p.luca.id))
    drain(db)
    offer = offer_of(db, conv)
    assert offer is not None and offer.user_id == marta.id

    # Marta does not answer: the timeout job withdraws it, marks her away, re-offers to Luca.
    with db.transaction() as s:
        s.execute(
            jobs.Job.__table__.update()
            .where(jobs.Job.kind == "routing.offer_timeout")
            .values(run_at=utcnow() - timedelta(seconds=1))
        )
        s.get_one(type(offer), offer.id).expires_at = utcnow() - timedelta(seconds=1)
    drain(db)
    with db.session() as s:
        assert s.get_one(AgentState, marta.id).presence == "away"
        log = s.scalars(
            select(PresenceLog).where(PresenceLog.user_id == marta.id).order_by(PresenceLog.id)
        ).all()
        assert [(r.presence, r.cause) for r in log][-1] == ("away", "offer_timeout")
    offer = offer_of(db, conv)
    # Luca declined less than DECLINE_MEMORY ago and Marta is away: nobody is offered it.
    assert offer is None
    set_presence(db, marta.id, "available")
    drain(db)
    offer = offer_of(db, conv)
    assert offer is None  # Marta let it expire: skipped for DECLINE_MEMORY
    later = utcnow() + routing_snapshot.DECLINE_MEMORY + timedelta(seconds=1)
    routing_actions.route(db, now=later)
    offer = offer_of(db, conv)
    assert offer is not None
    with db.transaction() as s:
        conversation = routing_actions.do_accept_offer(
            s, offer_id=offer.id, user=s.get_one(User, offer.user_id), now=later
        )
        assert conversation.assignee_id == offer.user_id
    assert offer_of(db, conv) is None
    with db.session() as s:
        check_invariants(s)


def test_accepting_an_expired_offer_fails(db, world):
    p, ids = world
    set_presence(db, p.luca.id, "available")
    conv = new_conversation(db, ids["sales_chat"])
    drain(db)
    offer = offer_of(db, conv)
    with db.transaction() as s, pytest.raises(Conflict):
        routing_actions.do_accept_offer(
            s, offer_id=offer.id, user=s.get_one(User, p.luca.id), now=utcnow() + timedelta(hours=1)
        )


def test_overflow_to_the_backup_queue_after_the_delay(db, world):
    p, ids = world
    with db.transaction() as s:
        routing_actions.do_set_queue_routing(
            s,
            queue=s.get_one(Queue, p.queue_vendite.id),
            mode="auto",
            overflow_queue_id=p.queue_assistenza.id,
            overflow_after_seconds=120,
        )
    set_presence(db, p.sara.id, "available")  # serves Assistenza only
    conv = new_conversation(db, ids["sales_chat"])
    drain(db)
    assert assignee_of(db, conv) is None
    routing_actions.route(db, now=utcnow() + timedelta(seconds=121))
    assert assignee_of(db, conv) == p.sara.id


def test_queue_routing_validation(db, world):
    p, _ = world
    with db.transaction() as s:
        queue = s.get_one(Queue, p.queue_vendite.id)
        with pytest.raises(InvalidInput):
            routing_actions.do_set_queue_routing(s, queue=queue, mode="telepathy")
        with pytest.raises(InvalidInput):
            routing_actions.do_set_queue_routing(s, queue=queue, offer_timeout_seconds=0)
        with pytest.raises(InvalidInput):
            routing_actions.do_set_queue_routing(s, queue=queue, overflow_queue_id=queue.id)
        with pytest.raises(InvalidInput):
            routing_actions.do_set_queue_routing(
                s, queue=queue, overflow_queue_id=p.queue_assistenza.id, overflow_after_seconds=None
            )


def test_supervisor_pin_reassign_and_move(db, world):
    p, ids = world
    set_presence(db, p.sara.id, "available")
    set_presence(db, ids["anna"], "available")
    with db.transaction() as s:
        s.get_one(AgentState, p.sara.id).idle_since = utcnow() - timedelta(hours=1)
    conv = new_conversation(db, ids["email"])
    with db.transaction() as s:  # pinned to Anna before routing
        routing_actions.do_pin(
            s,
            conversation=s.get_one(Conversation, conv),
            agent=s.get_one(User, ids["anna"]),
            by=s.get_one(User, p.supervisor.id),
        )
    drain(db)
    assert assignee_of(db, conv) == ids["anna"]
    with db.transaction() as s, pytest.raises(Exception, match="supervisors"):
        routing_actions.do_reassign(
            s,
            conversation=s.get_one(Conversation, conv),
            assignee=None,
            by=s.get_one(User, p.sara.id),
        )
    with db.transaction() as s:
        routing_actions.do_reassign(
            s,
            conversation=s.get_one(Conversation, conv),
            assignee=s.get_one(User, p.luca.id),
            by=s.get_one(User, p.supervisor.id),
        )
    assert assignee_of(db, conv) == p.luca.id
    other = new_conversation(db, ids["email"])
    set_presence(db, p.sara.id, "offline")
    set_presence(db, ids["anna"], "offline")
    drain(db)
    with db.transaction() as s:
        routing_actions.do_move_conversation(
            s,
            conversation=s.get_one(Conversation, other),
            queue=s.get_one(Queue, p.queue_vendite.id),
            by=s.get_one(User, p.supervisor.id),
        )
    set_presence(db, p.luca.id, "available")
    drain(db)
    assert offer_of(db, other).user_id == p.luca.id  # Vendite is a push queue


def test_manual_assignment_withdraws_a_live_offer(db, world):
    p, ids = world
    set_presence(db, p.luca.id, "available")
    conv = new_conversation(db, ids["sales_chat"])
    drain(db)
    assert offer_of(db, conv) is not None
    with db.transaction() as s:
        conversations_actions.do_assign(
            s,
            conversation=s.get_one(Conversation, conv),
            assignee=s.get_one(User, p.supervisor.id),
            by=s.get_one(User, p.supervisor.id),
        )
    drain(db)
    assert offer_of(db, conv) is None
    with db.session() as s:
        check_invariants(s)


def test_release_agent_requeues_their_conversations(db, world):
    p, ids = world
    set_presence(db, p.sara.id, "available")
    convs = [new_conversation(db, ids["email"]) for _ in range(3)]
    drain(db)
    assert {assignee_of(db, c) for c in convs} == {p.sara.id}
    set_presence(db, ids["anna"], "available")
    with db.transaction() as s:
        sara = s.get_one(User, p.sara.id)
        sara.is_active = False
        assert routing_actions.do_release_agent(s, user=sara, by=s.get_one(User, p.admin.id)) == 3
    drain(db)
    assert {assignee_of(db, c) for c in convs} == {ids["anna"]}
    with db.session() as s:
        assert s.get_one(AgentState, p.sara.id).presence == "offline"


def test_deleted_agent_conversations_are_routed_by_the_sweep(db, world):
    p, ids = world
    set_presence(db, ids["anna"], "available")
    conv = new_conversation(db, ids["email"])
    drain(db)
    assert assignee_of(db, conv) == ids["anna"]
    set_presence(db, p.sara.id, "available")
    with db.transaction() as s:
        s.delete(s.get_one(User, ids["anna"]))
    assert assignee_of(db, conv) is None  # the foreign key unassigned it
    stats = routing_actions.sweep(db)
    assert stats.assigned == 1
    assert assignee_of(db, conv) == p.sara.id


def test_deleting_a_queue_in_use(db, world):
    p, ids = world
    conv = new_conversation(db, ids["sales_chat"])
    with db.transaction() as s:
        queue = s.get_one(Queue, p.queue_vendite.id)
        with pytest.raises(Conflict, match="choose a queue"):
            routing_actions.do_delete_queue(s, queue=queue, move_to=None, by=None)
    with db.transaction() as s:
        queue = s.get_one(Queue, p.queue_vendite.id)
        target = s.get_one(Queue, p.queue_assistenza.id)
        assert routing_actions.do_delete_queue(s, queue=queue, move_to=target, by=None) == 1
    with db.session() as s:
        assert s.get_one(Conversation, conv).queue_id == p.queue_assistenza.id
        from sportello.channels.models import Channel

        assert s.get_one(Channel, ids["sales_chat"]).queue_id == p.queue_assistenza.id
    set_presence(db, p.sara.id, "available")
    drain(db)
    assert assignee_of(db, conv) == p.sara.id


def test_deleting_a_skill_in_use(db, world):
    p, ids = world
    with db.transaction() as s:
        skill = skills.do_create_skill(s, brand_id=p.brand_id, name="Francese")
        skills.do_set_queue_skill(
            s, queue=s.get_one(Queue, p.queue_assistenza.id), skill=skill, min_level=4
        )
        with pytest.raises(Conflict):
            skills.do_create_skill(s, brand_id=p.brand_id, name=" Francese ")
    set_presence(db, p.sara.id, "available")
    conv = new_conversation(db, ids["email"])
    drain(db)
    assert assignee_of(db, conv) is None
    with db.transaction() as s, pytest.raises(Conflict, match="Assistenza clienti"):
        skills.do_delete_skill(s, skill=s.get(type(skill), skill.id))
    with db.transaction() as s:
        skills.do_delete_skill(s, skill=s.get(type(skill), skill.id), force=True)
    drain(db)  # the requirement is gone: routed
    assert assignee_of(db, conv) == p.sara.id


def test_presence_is_logged_and_validated(db, world):
    p, _ = world
    with db.transaction() as s:
        reason = presence.do_create_pause_reason(s, brand_id=p.brand_id, name="Pranzo")
        sara = s.get_one(User, p.sara.id)
        presence.do_set_presence(s, user=sara, presence="available")
        presence.do_set_presence(s, user=sara, presence="available")  # no-op
        presence.do_set_presence(s, user=sara, presence="break", reason_id=reason.id)
        with pytest.raises(InvalidInput):
            presence.do_set_presence(s, user=sara, presence="sleeping")
        with pytest.raises(InvalidInput):
            presence.do_set_presence(s, user=sara, presence="busy", reason_id=reason.id)
    with db.session() as s:
        rows = s.scalars(select(PresenceLog).where(PresenceLog.user_id == p.sara.id)).all()
        assert [(r.previous, r.presence, r.reason) for r in rows] == [
            ("offline", "available", None),
            ("available", "break", "Pranzo"),
        ]
        events = s.scalar(
            select(func.count())
            .select_from(OutboxEvent)
            .where(OutboxEvent.name == "agent.presence_changed")
        )
        assert events == 2


def test_auto_away_after_inactivity(db, world):
    p, _ = world
    set_presence(db, p.sara.id, "available")
    assert presence.sweep_inactive(db) == 0
    later = utcnow() + presence.AUTO_AWAY_AFTER + timedelta(seconds=1)
    assert presence.sweep_inactive(db, now=later) == 1
    with db.session() as s:
        assert s.get_one(AgentState, p.sara.id).presence == "away"


def test_last_socket_closing_takes_the_agent_offline_after_a_grace(db, world):
    p, _ = world
    set_presence(db, p.sara.id, "available")
    presence.socket_opened(db, p.sara.id)
    presence.socket_opened(db, p.sara.id)
    presence.socket_closed(db, p.sara.id)
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(jobs.Job)) == 0
    presence.socket_closed(db, p.sara.id)
    with db.transaction() as s:  # fast-forward the grace period
        s.execute(jobs.Job.__table__.update().values(run_at=utcnow() - timedelta(seconds=1)))
    drain(db)
    with db.session() as s:
        state = s.get_one(AgentState, p.sara.id)
        assert state.presence == "offline"
        last = s.scalars(
            select(PresenceLog).where(PresenceLog.user_id == p.sara.id).order_by(PresenceLog.id)
        ).all()[-1]
        assert last.cause == "disconnected"


def test_a_reload_does_not_take_the_agent_offline(db, world):
    p, _ = world
    set_presence(db, p.sara.id, "available")
    presence.socket_opened(db, p.sara.id)
    presence.socket_closed(db, p.sara.id)
    presence.socket_opened(db, p.sara.id)  # the reloaded page reconnects
    with db.transaction() as s:
        s.execute(jobs.Job.__table__.update().values(run_at=utcnow() - timedelta(seconds=1)))
    drain(db)
    with db.session() as s:
        assert s.get_one(AgentState, p.sara.id).presence == "available"


def test_the_sweep_reschedules_itself(db, world):
    routing_handlers.ensure_sweep(db)
    routing_handlers.ensure_sweep(db)
    with db.session() as s:
        assert (
            s.scalar(
                select(func.count()).select_from(jobs.Job).where(jobs.Job.kind == "routing.sweep")
            )
            == 1
        )
    drain(db)
    with db.session() as s:
        pending = s.scalars(
            select(jobs.Job).where(jobs.Job.kind == "routing.sweep", jobs.Job.done_at.is_(None))
        ).all()
        assert len(pending) == 1 and pending[0].run_at > utcnow()


def test_a_large_batch_assignment_writes_what_a_batch_of_one_writes(db, world):
    """Every assignment goes through ``conversations.actions.do_assign_many``; from
    ``COPY_THRESHOLD`` rows on PostgreSQL it writes through ``COPY`` and ``unnest``: the same rows,
    system message and event as a batch of one."""
    from sportello.conversations.models import Message
    from sportello.core.events import COPY_THRESHOLD

    p, ids = world
    set_presence(db, p.sara.id, "available")
    with db.transaction() as s:
        capacity.do_set_agent_capacity(s, user=s.get_one(User, p.sara.id), capacity={"email": 50})
    small = new_conversation(db, ids["email"])
    drain(db)  # one conversation: the do_assign path
    big = [new_conversation(db, ids["email"]) for _ in range(COPY_THRESHOLD + 5)]
    stats = routing_actions.route(
        db, batch_size=100
    )  # one batch above the threshold: the bulk path
    assert stats.assigned == len(big)

    def written(cid: int) -> tuple:
        with db.session() as s:
            conv = s.get_one(Conversation, cid)
            message = s.scalars(
                select(Message).where(Message.conversation_id == cid, Message.direction == "system")
            ).one()
            event = s.scalars(
                select(OutboxEvent).where(OutboxEvent.name == "conversation.assigned")
            ).all()
            payload = next(e.payload for e in event if e.payload["conversation_id"] == cid)
            shape = {k: v for k, v in payload.items() if k not in ("conversation_id", "number")}
            return (
                conv.assignee_id,
                conv.status.value,
                message.text,
                message.meta,
                message.sender_name,
                message.channel_id,
                message.delivery_state,
                shape,
            )

    expected = written(small)
    for cid in big:
        assert written(cid) == expected
