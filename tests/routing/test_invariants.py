"""Stateful property test of the router in one process (SQLite and PostgreSQL runs).

Hypothesis drives random sequences of: new conversations (any queue, channel class, priority),
presence changes, capacity changes, pins, routing runs at a moving clock (overflow, decline
memory), offers accepted, declined or left to expire, resolutions. After every step: no agent is
beyond capacity, no conversation is both offered and assigned or offered twice. After every
routing run: no waiting conversation is left while an agent who could take it (checked by a
brute-force oracle written independently of the planner) has room.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)
from sqlalchemy import select

from sportello.accounts import actions as accounts_actions
from sportello.accounts.models import Brand, User
from sportello.conversations import actions as conversations_actions
from sportello.conversations.models import Conversation, Priority, Status
from sportello.core.db import Database, utcnow
from sportello.core.errors import Conflict
from sportello.models import metadata
from sportello.routing import actions as routing_actions
from sportello.routing import capacity, skills
from sportello.routing import snapshot as routing_snapshot
from sportello.routing.models import (
    AgentSkill,
    AgentState,
    Offer,
    Queue,
    QueueMember,
    QueueRouting,
    QueueSkill,
    RoutingState,
)
from tests.routing.world import add_agent, add_channel, check_invariants, new_conversation
from tests.routing.world import set_presence as _set_presence

KINDS = ("chat", "voice", "email", "whatsapp")
PRESENCES = ("available", "available", "busy", "break", "away", "offline")


def empty(db: Database) -> None:
    from sportello.cli import ensure_defaults

    tables = [t.name for t in reversed(metadata.sorted_tables)]
    with db.engine.begin() as conn:
        if db.is_sqlite:
            conn.exec_driver_sql("PRAGMA defer_foreign_keys=ON")
            for name in tables:
                conn.exec_driver_sql(f'DELETE FROM "{name}"')
        else:
            quoted = ", ".join(f'"{name}"' for name in tables)
            conn.exec_driver_sql(f"TRUNCATE {quoted} RESTART IDENTITY CASCADE")
    ensure_defaults(db)


def oracle_candidates(session, conversation: Conversation, now) -> list[int]:
    """Agents who could take this waiting conversation right now, by brute force."""
    queue = session.get_one(Queue, conversation.queue_id)
    routing = session.get(QueueRouting, queue.id)
    state = session.get(RoutingState, conversation.id)
    queued_at = (state.queued_at if state else None) or conversation.created_at
    queues = [queue]
    if (
        routing is not None
        and routing.overflow_queue_id is not None
        and routing.overflow_after_seconds is not None
        and now - queued_at >= timedelta(seconds=routing.overflow_after_seconds)
    ):
        queues.append(session.get_one(Queue, routing.overflow_queue_id))
    declined = set()
    if state is not None:
        for uid, at in state.declined or []:
            from datetime import datetime

            if now - datetime.fromisoformat(at) < routing_snapshot.DECLINE_MEMORY:
                declined.add(uid)
    cls = capacity.class_of_kind(conversation.channel.kind if conversation.channel else None)
    available = [
        s.user_id
        for s in session.scalars(select(AgentState).where(AgentState.presence == "available"))
    ]
    limits = capacity.limits_for(session, available)
    loads = capacity.loads_for(session, available)
    found = []
    for uid in available:
        user = session.get_one(User, uid)
        if not user.is_active or uid in declined:
            continue
        if state is not None and state.pinned_user_id is not None and state.pinned_user_id != uid:
            continue
        if not limits[uid].has_room(loads[uid], cls):
            continue
        levels = dict(
            session.execute(
                select(AgentSkill.skill_id, AgentSkill.level).where(AgentSkill.user_id == uid)
            ).all()
        )
        for q in queues:
            members = set(
                session.scalars(select(QueueMember.user_id).where(QueueMember.queue_id == q.id))
            )
            team_ids = {t.id for t in user.teams}
            serves = (q.team_id is None and not members) or uid in members or q.team_id in team_ids
            pinned = state is not None and state.pinned_user_id == uid
            reqs = session.execute(
                select(QueueSkill.skill_id, QueueSkill.min_level).where(QueueSkill.queue_id == q.id)
            ).all()
            skilled = all(levels.get(sid, 0) >= lvl for sid, lvl in reqs)
            if pinned or (serves and skilled):
                found.append(uid)
                break
    return found


class RouterMachine(RuleBasedStateMachine):
    db: Database

    def __init__(self) -> None:
        super().__init__()
        db = self.db
        empty(db)
        self.offset = timedelta(0)
        with db.transaction() as s:
            brand = s.scalars(select(Brand)).first()
            t1 = accounts_actions.do_create_team(s, name="Uno")
            t2 = accounts_actions.do_create_team(s, name="Due")
            self.agents = [
                add_agent(s, "A0", teams=[t1]).id,
                add_agent(s, "A1", teams=[t1, t2]).id,
                add_agent(s, "A2", teams=[t2]).id,
                add_agent(s, "A3", teams=[]).id,
            ]
            q0 = Queue(brand_id=brand.id, name="Q0", team_id=t1.id, priority=1)
            q1 = Queue(brand_id=brand.id, name="Q1", team_id=t2.id)
            q2 = Queue(brand_id=brand.id, name="Q2", team_id=None)
            s.add_all([q0, q1, q2])
            s.flush()
            routing_actions.do_set_queue_routing(s, queue=q0, mode="push", offer_timeout_seconds=30)
            routing_actions.do_set_queue_routing(
                s, queue=q1, mode="auto", overflow_queue_id=q2.id, overflow_after_seconds=60
            )
            routing_actions.do_set_queue_routing(s, queue=q2, mode="auto")
            skill = skills.do_create_skill(s, brand_id=brand.id, name="Inglese")
            skills.do_set_queue_skill(s, queue=q1, skill=skill, min_level=3)
            for uid, level in zip(self.agents, (5, 2, 3, 4), strict=True):
                skills.do_set_agent_skill(s, user=s.get_one(User, uid), skill=skill, level=level)
            skills.do_set_queue_members(s, queue=q2, users=[s.get_one(User, self.agents[3])])
            self.queues = [q0.id, q1.id, q2.id]
            self.channels = {
                (qid, kind): add_channel(s, brand_id=brand.id, kind=kind, queue=q).id
                for q, qid in ((q0, q0.id), (q1, q1.id), (q2, q2.id))
                for kind in KINDS
            }
            for uid in self.agents:
                capacity.do_set_agent_capacity(
                    s, user=s.get_one(User, uid), capacity={"chat": 2, "email": 2, "messaging": 1}
                )
        self.conversations: list[int] = []
        self.routed = 0

    @initialize(
        present=st.lists(st.booleans(), min_size=4, max_size=4),
        work=st.lists(
            st.tuples(st.integers(0, 2), st.sampled_from(KINDS)), min_size=2, max_size=10
        ),
    )
    def start(self, present, work):
        for uid, on in zip(self.agents, present, strict=True):
            if on:
                _set_presence(self.db, uid, "available")
        for q, kind in work:
            self.conversations.append(
                new_conversation(self.db, self.channels[(self.queues[q], kind)])
            )

    def now(self):
        return utcnow() + self.offset

    @rule(
        q=st.integers(0, 2),
        kind=st.sampled_from(KINDS),
        prio=st.sampled_from(list(Priority)),
        n=st.integers(1, 4),
    )
    def new_conversation(self, q, kind, prio, n):
        for _ in range(n):
            cid = new_conversation(self.db, self.channels[(self.queues[q], kind)])
            if prio != Priority.NORMAL:
                with self.db.transaction() as s:
                    conversations_actions.do_update_conversation(
                        s, conversation=s.get_one(Conversation, cid), by=None, priority=prio
                    )
            self.conversations.append(cid)

    @rule(a=st.integers(0, 3), value=st.sampled_from(PRESENCES))
    def set_presence(self, a, value):
        _set_presence(self.db, self.agents[a], value)

    @rule(a=st.integers(0, 3), cls=st.sampled_from(capacity.CLASSES), n=st.integers(0, 3))
    def set_capacity(self, a, cls, n):
        with self.db.transaction() as s:
            state = s.get(AgentState, self.agents[a])
            current = dict(state.capacity) if state else {}
            # Never below what the agent holds now: a lowered limit is an admin's decision, the
            # invariant is that routing never goes beyond it.
            held = capacity.loads_for(s, [self.agents[a]])[self.agents[a]].get(cls, 0)
            current[cls] = max(n, held)
            capacity.do_set_agent_capacity(
                s, user=s.get_one(User, self.agents[a]), capacity=current
            )

    @precondition(lambda self: self.conversations)
    @rule(data=st.data(), a=st.one_of(st.none(), st.integers(0, 3)))
    def pin(self, data, a):
        cid = data.draw(st.sampled_from(self.conversations))
        with self.db.transaction() as s:
            conv = s.get_one(Conversation, cid)
            if conv.status == Status.CLOSED:
                return
            boss = s.scalar(select(User).where(User.email == "capo@negozio.it"))
            if boss is None:
                from sportello.accounts.models import Role

                boss = accounts_actions.do_create_user(
                    s, email="capo@negozio.it", name="Capo", role=Role.SUPERVISOR, password=None
                )
            agent = s.get_one(User, self.agents[a]) if a is not None else None
            routing_actions.do_pin(s, conversation=conv, agent=agent, by=boss)

    @rule(advance=st.sampled_from([0, 0, 45, 90, 700]))
    def route(self, advance):
        self.offset += timedelta(seconds=advance)
        now = self.now()
        stats = routing_actions.route(self.db, now=now, batch_size=3)
        self.routed += stats.applied
        with self.db.session() as s:
            waiting = s.scalars(
                select(Conversation).where(
                    Conversation.status.in_([Status.NEW, Status.OPEN]),
                    Conversation.assignee_id.is_(None),
                    Conversation.queue_id.is_not(None),
                    Conversation.id.not_in(select(Offer.conversation_id)),
                )
            ).all()
            for conversation in waiting:
                assert oracle_candidates(s, conversation, now) == [], (
                    f"conversation {conversation.id} forgotten"
                )

    @precondition(lambda self: self.conversations)
    @rule(data=st.data(), action=st.sampled_from(["accept", "decline", "expire"]))
    def answer_offer(self, data, action):
        with self.db.session() as s:
            offers = s.scalars(select(Offer).order_by(Offer.id)).all()
        if not offers:
            return
        offer = data.draw(st.sampled_from(offers))
        with self.db.transaction() as s:
            user = s.get_one(User, offer.user_id)
            if action == "accept" and offer.expires_at <= self.now():
                with pytest.raises(Conflict, match="expired"):
                    routing_actions.do_accept_offer(s, offer_id=offer.id, user=user, now=self.now())
            elif action == "accept":
                routing_actions.do_accept_offer(s, offer_id=offer.id, user=user, now=self.now())
            elif action == "decline":
                routing_actions.do_decline_offer(s, offer_id=offer.id, user=user, now=self.now())
            else:
                self.offset += timedelta(seconds=31)
                assert routing_actions.expire_offer(s, offer_id=offer.id, now=self.now())

    @precondition(lambda self: self.conversations)
    @rule(data=st.data(), status=st.sampled_from([Status.RESOLVED, Status.CLOSED, Status.PENDING]))
    def change_status(self, data, status):
        cid = data.draw(st.sampled_from(self.conversations))
        with self.db.transaction() as s:
            conv = s.get_one(Conversation, cid)
            if status in conversations_actions.TRANSITIONS[conv.status]:
                conversations_actions.do_change_status(s, conversation=conv, status=status, by=None)
                if status != Status.PENDING:
                    s.execute(Offer.__table__.delete().where(Offer.conversation_id == cid))

    @invariant()
    def invariants_hold(self):
        with self.db.session() as s:
            check_invariants(s)


@pytest.mark.slow
def test_router_state_machine(db):
    RouterMachine.db = db
    runner = RouterMachine.TestCase
    runner.settings = settings(
        max_examples=20,
        stateful_step_count=40,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    runner().runTest()
