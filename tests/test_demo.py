"""The demo shop: promised counts, realistic dates, no live traffic, working logins, idempotence."""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from sportello import demo
from sportello.accounts.actions import do_login
from sportello.accounts.models import Team, User
from sportello.channels.models import Channel
from sportello.conversations.models import (
    Conversation,
    DeliveryState,
    Direction,
    Message,
    Priority,
    Status,
    Tag,
)
from sportello.core.db import utcnow
from sportello.core.jobs import Job
from sportello.core.outbox import OutboxEvent
from sportello.customers.models import Customer
from sportello.routing.models import Queue


def _count(session, model) -> int:
    return session.scalar(select(func.count()).select_from(model))


@pytest.fixture(scope="module")
def loaded(migrated_db):
    """One full load for the module (a few seconds), on an emptied test database."""
    from sportello.cli import ensure_defaults
    from tests.conftest import _empty

    _empty(migrated_db)
    ensure_defaults(migrated_db)
    before = utcnow()
    logins = demo.load(migrated_db, seed=42)
    return migrated_db, logins, before


def test_promised_counts(loaded):
    db, logins, _ = loaded
    assert logins == demo.LOGINS
    with db.session() as s:
        roles = Counter(u.role.value for u in s.scalars(select(User)))
        assert roles == {"admin": 1, "supervisor": 1, "agent": 3}
        assert {t.name for t in s.scalars(select(Team))} == {"Assistenza", "Vendite"}
        assert _count(s, Queue) == 2
        assert sorted(c.kind for c in s.scalars(select(Channel))) == ["api", "webform"]
        assert 190 <= _count(s, Customer) <= 210
        assert _count(s, Conversation) == demo.CONVERSATIONS == 500
        assert _count(s, Message) > 3 * 500


def test_dates_lie_in_the_last_60_days_in_order(loaded):
    db, _, before = loaded
    earliest = before - timedelta(days=demo.DAYS, hours=2)
    with db.session() as s:
        for column in (
            Conversation.created_at,
            Conversation.updated_at,
            Conversation.last_message_at,
            Conversation.resolved_at,
            Conversation.closed_at,
            Message.created_at,
            Customer.created_at,
            Customer.updated_at,
        ):
            low, high = s.execute(select(func.min(column), func.max(column))).one()
            assert low is not None and high is not None
            assert earliest <= low and high < before, f"{column.class_.__name__}.{column.key}"
        # The whole span is used, not one afternoon.
        first, last = s.execute(
            select(func.min(Conversation.created_at), func.max(Conversation.created_at))
        ).one()
        assert last - first > timedelta(days=50)
        # Within a conversation, a later row is never older (the UI lists messages by id).
        rows = s.execute(
            select(Message.conversation_id, Message.id, Message.created_at).order_by(
                Message.conversation_id, Message.id
            )
        ).all()
    for previous, row in itertools.pairwise(rows):
        if previous.conversation_id == row.conversation_id:
            assert previous.created_at <= row.created_at


def test_statuses_priorities_tags_and_assignments_are_varied(loaded):
    db, _, _ = loaded
    with db.session() as s:
        statuses = Counter(s.scalars(select(Conversation.status)))
        priorities = Counter(s.scalars(select(Conversation.priority)))
        assigned = s.scalar(select(func.count()).where(Conversation.assignee_id.is_not(None)))
        tags = _count(s, Tag)
        notes = s.scalar(select(func.count()).where(Message.direction == Direction.NOTE))
    assert set(statuses) == set(Status)
    assert statuses[Status.RESOLVED] + statuses[Status.CLOSED] > 0.75 * 500
    assert statuses[Status.NEW] + statuses[Status.OPEN] + statuses[Status.PENDING] >= 15
    assert set(priorities) == set(Priority)
    assert tags >= 8 and notes >= 50
    assert assigned >= 0.9 * 500


def test_every_conversation_starts_with_a_customer_message(loaded):
    db, _, _ = loaded
    with db.session() as s:
        first_ids = select(func.min(Message.id)).group_by(Message.conversation_id)
        directions = Counter(s.scalars(select(Message.direction).where(Message.id.in_(first_ids))))
        assert directions == {Direction.INBOUND: 500}
        # message_count counts customer messages and replies, as the actions keep it.
        counted = dict(
            s.execute(
                select(Message.conversation_id, func.count())
                .where(Message.direction.in_([Direction.INBOUND, Direction.OUTBOUND]))
                .group_by(Message.conversation_id)
            ).all()
        )
        for conversation_id, message_count in s.execute(
            select(Conversation.id, Conversation.message_count)
        ):
            assert counted[conversation_id] == message_count


def test_history_is_not_live_traffic(loaded):
    """Replies are delivered history: no events, no delivery jobs, nothing queued to send."""
    db, _, _ = loaded
    with db.session() as s:
        states = Counter(
            s.scalars(select(Message.delivery_state).where(Message.direction == Direction.OUTBOUND))
        )
        assert states == {DeliveryState.DELIVERED: states[DeliveryState.DELIVERED]}
        assert states[DeliveryState.DELIVERED] > 300
        assert _count(s, OutboxEvent) == 0
        assert _count(s, Job) == 0


def test_second_load_without_force_adds_nothing(loaded):
    db, _, _ = loaded
    with db.session() as s:
        before = (_count(s, User), _count(s, Customer), _count(s, Conversation), _count(s, Message))
    assert demo.load(db, seed=42) is None
    assert demo.load(db, seed=7) is None
    with db.session() as s:
        after = (_count(s, User), _count(s, Customer), _count(s, Conversation), _count(s, Message))
    assert after == before


def test_demo_logins_log_in(loaded):
    db, _, _ = loaded
    for email, password, role in demo.LOGINS:
        assert len(password) >= 10
        with db.transaction() as s:
            user, token = do_login(s, email=email, password=password, ip=None, user_agent="test")
            assert user.role.value == role and token


def test_force_reloads_from_empty_and_is_deterministic(db, monkeypatch):
    """Runs last: it replaces the module's data (small sizes keep it quick)."""
    monkeypatch.setattr(demo, "CONVERSATIONS", 40)
    monkeypatch.setattr(demo, "CUSTOMERS", 15)
    monkeypatch.setattr(demo, "BATCH", 15)
    now = utcnow().replace(microsecond=0) - timedelta(hours=1)
    domains: list[tuple] = []
    monkeypatch.setattr(demo, "load_domains", lambda d, *, now, seed: domains.append((now, seed)))

    def snapshot() -> list[tuple]:
        with db.session() as s:
            return [
                (c.subject, c.status, c.priority, c.customer.name, c.message_count, c.created_at)
                for c in s.scalars(select(Conversation).order_by(Conversation.created_at))
            ]

    assert demo.load(db, seed=3, now=now) is not None
    first = snapshot()
    assert len(first) == 40
    assert domains == [(now, 3)]  # the domain loaders run after the core load
    assert demo.load(db, seed=3, now=now) is None
    assert domains == [(now, 3)]  # and not when nothing was loaded
    assert demo.load(db, seed=3, now=now, force=True) == demo.LOGINS
    assert snapshot() == first
    with db.session() as s:
        assert _count(s, User) == 5 and _count(s, Conversation) == 40
    assert demo.load(db, seed=4, now=now, force=True) is not None
    assert snapshot() != first


def test_domain_loaders_run_in_order_and_missing_ones_are_skipped(tmp_path, monkeypatch):
    """Each present ``<package>.demo`` gets ``load(db, now=, seed=)``, in DOMAIN_DEMOS order."""
    import sys

    package = tmp_path / "fakedomains"
    for name in ("alpha", "beta", "nodemo"):
        (package / name).mkdir(parents=True)
        (package / name / "__init__.py").write_text("")
    (package / "__init__.py").write_text("CALLS = []\n")
    for name in ("alpha", "beta"):
        (package / name / "demo.py").write_text(
            "import fakedomains\n"
            "def load(db, *, now, seed):\n"
            f"    fakedomains.CALLS.append(({name!r}, db, now, seed))\n"
        )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(
        demo,
        "DOMAIN_DEMOS",
        (
            "fakedomains.beta.demo",
            "fakedomains.missing.demo",  # the package is not there
            "fakedomains.nodemo.demo",  # the package has no demo
            "fakedomains.alpha.demo",
        ),
    )
    now = utcnow()
    db = object()
    called = demo.load_domains(db, now=now, seed=9)  # type: ignore[arg-type]
    assert called == ["fakedomains.beta.demo", "fakedomains.alpha.demo"]
    calls = sys.modules["fakedomains"].CALLS
    assert calls == [("beta", db, now, 9), ("alpha", db, now, 9)]


def test_domain_demos_list_the_six_domains():
    assert demo.DOMAIN_DEMOS == (
        "sportello.routing.demo",
        "sportello.replies.demo",
        "sportello.channels.demo",
        "sportello.surveys.demo",
        "sportello.reports.demo",
        "sportello.workforce.demo",
    )
