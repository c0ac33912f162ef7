"""Several router processes on PostgreSQL at once, with agents going on and off line, offers
answered or left to expire, conversations resolved and arriving: the invariants hold at every
observed instant, and when the dust settles nothing waiting is forgotten and no conversation ever
had two owners."""

from __future__ import annotations

import multiprocessing
import os
import time
from collections import defaultdict

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from sportello.accounts import actions as accounts_actions
from sportello.accounts.models import Brand, User
from sportello.conversations.models import Conversation, Status
from sportello.core.outbox import OutboxEvent
from sportello.routing import actions as routing_actions
from sportello.routing import capacity, skills
from sportello.routing.models import Offer, Queue
from tests.routing.test_invariants import oracle_candidates
from tests.routing.world import (
    add_agent,
    add_channel,
    chaos_worker,
    check_invariants,
    new_conversation,
    router_worker,
    set_presence,
)

pytestmark = [
    pytest.mark.skipif(
        not os.environ.get("SPORTELLO_TEST_DATABASE_URL"),
        reason="several router processes need PostgreSQL (run by the PostgreSQL pass)",
    ),
    pytest.mark.slow,
]

ROUTERS = 3
SECONDS = 10.0


def _snapshot_check(db) -> None:
    """The invariants on one consistent snapshot (REPEATABLE READ)."""
    with db.engine.connect() as conn:
        conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with Session(bind=conn) as s:
            check_invariants(s)
            s.rollback()


def test_parallel_routers_keep_the_invariants(db, database_url):
    with db.transaction() as s:
        brand = s.scalars(select(Brand)).first()
        team = accounts_actions.do_create_team(s, name="Tutti")
        agents = [add_agent(s, f"Agente {i}", teams=[team]) for i in range(12)]
        q_push = Queue(brand_id=brand.id, name="Push", team_id=team.id, priority=2)
        q_auto = Queue(brand_id=brand.id, name="Auto", team_id=team.id)
        q_skill = Queue(brand_id=brand.id, name="Inglese", team_id=team.id)
        s.add_all([q_push, q_auto, q_skill])
        s.flush()
        routing_actions.do_set_queue_routing(s, queue=q_push, mode="push", offer_timeout_seconds=60)
        routing_actions.do_set_queue_routing(s, queue=q_auto, mode="auto")
        routing_actions.do_set_queue_routing(s, queue=q_skill, mode="auto")
        english = skills.do_create_skill(s, brand_id=brand.id, name="Inglese")
        skills.do_set_queue_skill(s, queue=q_skill, skill=english, min_level=3)
        for i, agent in enumerate(agents):
            skills.do_set_agent_skill(s, user=agent, skill=english, level=1 + i % 5)
            capacity.do_set_agent_capacity(
                s, user=agent, capacity={"chat": 1 + i % 3, "voice": 1, "email": 2, "messaging": 1}
            )
        channels = [
            add_channel(s, brand_id=brand.id, kind=kind, queue=q).id
            for q in (q_push, q_auto, q_skill)
            for kind in ("chat", "voice", "email", "whatsapp")
        ]
        agent_ids = [a.id for a in agents]
    for i, cid in enumerate(channels * 10):
        new_conversation(db, cid)
    for uid in agent_ids[::2]:
        set_presence(db, uid, "available")

    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(ROUTERS + 2) as pool:
        routers = [
            pool.apply_async(router_worker, (database_url, SECONDS, seed))
            for seed in range(ROUTERS)
        ]
        chaos = [
            pool.apply_async(chaos_worker, (database_url, SECONDS, 100 + k, agent_ids, channels))
            for k in range(2)
        ]
        checks = 0
        while not all(r.ready() for r in routers + chaos):
            _snapshot_check(db)
            checks += 1
            time.sleep(0.02)
        applied = sum(r.get() for r in routers)
        done = [c.get() for c in chaos]
    assert checks > 5
    assert applied > 10, (applied, done)

    # Settle: every agent available, one more routing run; nothing routable may be left waiting.
    for uid in agent_ids:
        set_presence(db, uid, "available")
    routing_actions.route(db)
    _snapshot_check(db)
    with db.session() as s:
        now = routing_actions.utcnow()
        waiting = s.scalars(
            select(Conversation).where(
                Conversation.status.in_([Status.NEW, Status.OPEN]),
                Conversation.assignee_id.is_(None),
                Conversation.id.not_in(select(Offer.conversation_id)),
            )
        ).all()
        for conversation in waiting:
            assert oracle_candidates(s, conversation, now) == [], conversation.id

        # No two owners: replaying every assignment event, each one's "previous assignee" is the
        # owner the previous event gave (a lost update would break the chain).
        owner: dict[int, int | None] = defaultdict(lambda: None)
        assignments = 0
        for payload in s.scalars(
            select(OutboxEvent.payload)
            .where(OutboxEvent.name == "conversation.assigned")
            .order_by(OutboxEvent.id)
        ):
            cid = payload["conversation_id"]
            assert payload["previous_assignee_id"] == owner[cid], payload
            owner[cid] = payload["assignee_id"]
            assignments += 1
        assert assignments > 10
        for cid, uid in owner.items():
            assert s.get_one(Conversation, cid).assignee_id == uid
        assert s.scalar(select(User.id).limit(1)) is not None
