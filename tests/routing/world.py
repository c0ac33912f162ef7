"""Routing test helpers: channels of every class, conversations through the one door, invariants."""

from __future__ import annotations

import itertools
import uuid
from collections import Counter
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sportello.accounts import actions as accounts_actions
from sportello.accounts.models import Role, User
from sportello.channels.models import Channel
from sportello.conversations import actions as conversations_actions
from sportello.conversations.models import ACTIVE_STATUSES, Conversation, Status
from sportello.core.db import Database
from sportello.core.security import new_token
from sportello.routing import capacity, presence
from sportello.routing.models import AgentState, Offer, Queue
from tests.factories import inbound

_seq = itertools.count(1)


def add_channel(session: Session, *, brand_id: int, kind: str, queue: Queue | None) -> Channel:
    """A channel row of any kind (voice and chat adapters arrive with their own issues)."""
    channel = Channel(
        brand_id=brand_id,
        kind=kind,
        name=f"{kind} {next(_seq)}",
        public_id=new_token()[:20],
        queue_id=queue.id if queue else None,
    )
    session.add(channel)
    session.flush()
    return channel


def add_agent(session: Session, name: str, *, teams: list[Any] | None = None) -> User:
    n = next(_seq)
    return accounts_actions.do_create_user(
        session,
        email=f"agent{n}@negozio.it",
        name=name,
        role=Role.AGENT,
        password=None,
        teams=teams or [],
    )


def new_conversation(db: Database, channel_id: int, *, text: str = "Buongiorno") -> int:
    n = next(_seq)
    with db.transaction() as s:
        channel = s.get_one(Channel, channel_id)
        result = conversations_actions.do_receive_message(
            s,
            channel=channel,
            inbound=inbound(text, email=f"cliente{n}.{uuid.uuid4().hex[:8]}@example.it"),
        )
        return result.conversation.id


def set_presence(db: Database, user_id: int, value: str) -> None:
    with db.transaction() as s:
        presence.do_set_presence(s, user=s.get_one(User, user_id), presence=value)


def resolve(db: Database, conversation_id: int) -> None:
    with db.transaction() as s:
        conversations_actions.do_change_status(
            s,
            conversation=s.get_one(Conversation, conversation_id),
            status=Status.RESOLVED,
            by=None,
        )


def assignee_of(db: Database, conversation_id: int) -> int | None:
    with db.session() as s:
        return s.scalar(select(Conversation.assignee_id).where(Conversation.id == conversation_id))


def offer_of(db: Database, conversation_id: int) -> Offer | None:
    with db.session() as s:
        return s.scalar(select(Offer).where(Offer.conversation_id == conversation_id))


def check_invariants(session: Session) -> dict[str, Any]:
    """No agent beyond capacity; no conversation both offered and assigned, or offered twice;
    offers only to existing agents. Returns the loads for further checks."""
    agent_ids = list(session.scalars(select(AgentState.user_id)))
    limits = capacity.limits_for(session, agent_ids)
    loads = capacity.loads_for(session, agent_ids)
    for uid in agent_ids:
        for cls, used in loads[uid].items():
            assert used <= limits[uid].per_class.get(cls, 0), (uid, cls, used, limits[uid])
    offered = Counter(session.scalars(select(Offer.conversation_id)))
    assert all(n == 1 for n in offered.values())
    if offered:
        both = session.scalar(
            select(func.count())
            .select_from(Conversation)
            .where(Conversation.id.in_(list(offered)), Conversation.assignee_id.is_not(None))
        )
        assert both == 0, "a conversation is both offered and assigned"
        inactive = session.scalar(
            select(func.count())
            .select_from(Offer)
            .join(Conversation, Conversation.id == Offer.conversation_id)
            .where(Conversation.status.not_in(ACTIVE_STATUSES))
        )
        assert inactive == 0, "an offer for a finished conversation"
    return {"loads": loads, "limits": limits}


# --------------------------------------------------------------------- multi-process workers
# (module level, so that spawned processes can import them)


def router_worker(url: str, seconds: float, seed: int) -> int:
    """A router process: routes again and again with random batch sizes for ``seconds``."""
    import random
    import time

    from sqlalchemy.pool import NullPool

    from sportello.routing import actions as routing_actions

    rng = random.Random(seed)
    db = Database(url, poolclass=NullPool)
    stop_at = time.time() + seconds
    applied = 0
    try:
        while time.time() < stop_at:
            stats = routing_actions.route(db, batch_size=rng.choice([1, 3, 20, 500]))
            applied += stats.applied
            time.sleep(rng.random() * 0.005)
    finally:
        db.dispose()
    return applied


def chaos_worker(
    url: str, seconds: float, seed: int, agent_ids: list[int], channel_ids: list[int]
) -> dict[str, int]:
    """Agents going on and off line, answering offers, resolving; customers writing in."""
    import random
    import time
    from datetime import timedelta

    from sqlalchemy.pool import NullPool

    from sportello.core.db import utcnow
    from sportello.core.errors import SportelloError
    from sportello.routing import actions as routing_actions

    rng = random.Random(seed)
    db = Database(url, poolclass=NullPool)
    stop_at = time.time() + seconds
    done: Counter[str] = Counter()
    try:
        while time.time() < stop_at:
            op = rng.choice(["presence", "presence", "new", "new", "resolve", "offer"])
            try:
                if op == "presence":
                    set_presence(
                        db, rng.choice(agent_ids), rng.choice(["available", "offline", "break"])
                    )
                elif op == "new":
                    new_conversation(db, rng.choice(channel_ids))
                elif op == "resolve":
                    with db.session() as s:
                        ids = list(
                            s.scalars(
                                select(Conversation.id)
                                .where(
                                    Conversation.assignee_id.is_not(None),
                                    Conversation.status.in_(ACTIVE_STATUSES),
                                )
                                .limit(20)
                            )
                        )
                    if ids:
                        resolve(db, rng.choice(ids))
                else:
                    with db.session() as s:
                        offers = list(s.scalars(select(Offer).limit(20)))
                    if offers:
                        offer = rng.choice(offers)
                        action = rng.choice(["accept", "decline", "expire"])
                        with db.transaction() as s:
                            user = s.get_one(User, offer.user_id)
                            if action == "accept":
                                routing_actions.do_accept_offer(s, offer_id=offer.id, user=user)
                            elif action == "decline":
                                routing_actions.do_decline_offer(s, offer_id=offer.id, user=user)
                            else:
                                routing_actions.expire_offer(
                                    s, offer_id=offer.id, now=utcnow() + timedelta(minutes=5)
                                )
                        op = f"offer_{action}"
                done[op] += 1
            except SportelloError:
                done["refused"] += 1
            time.sleep(rng.random() * 0.003)
    finally:
        db.dispose()
    return dict(done)
