"""The demo shop: promised counts, realistic dates, no live traffic, working logins, idempotence."""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import UTC, timedelta

import pytest
from sqlalchemy import func, select

from sportello import demo
from sportello.accounts.actions import do_login
from sportello.accounts.models import Team, User
from sportello.channels.models import Channel
from sportello.channels.voice.models import VoiceCall
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
        kinds = sorted(c.kind for c in s.scalars(select(Channel)))
        assert kinds == ["api", "chat", "email", "pbx", "voice", "webform"]
        # the shop's own customers, and the 40 of the old list the imports demo brought in
        imported = 40
        assert demo.CUSTOMERS - 10 <= _count(s, Customer) - imported <= demo.CUSTOMERS + 10
        # the shop's conversations, and one for each call of the voice demo (a call opens one)
        calls = _count(s, VoiceCall)
        assert calls >= 10
        assert _count(s, Conversation) - calls == demo.CONVERSATIONS == 1400
        assert _count(s, Message) > 3 * demo.CONVERSATIONS


def test_the_demo_calls_count_in_the_reports_call_kpis(loaded):
    """The voice demo's week of calls shows on the reports page (the phone channel's figures):
    answered, abandoned and the speed of answer as the call records give them, which needs the
    aggregates rebuilt after every domain demo ran."""
    from sportello.reports import service

    db, _, _ = loaded
    with db.session() as s:
        phone = s.scalar(select(Channel).where(Channel.kind == "voice"))
        admin = s.scalar(select(User).where(User.email.like("elena@%")))
        cfg = service.config(s)
        rows = list(s.scalars(select(VoiceCall).where(VoiceCall.channel_id == phone.id)))
        answered = [c for c in rows if c.outcome == "answered"]
        assert answered and any(c.outcome == "abandoned" for c in rows)
        today = utcnow().astimezone(service.kpis.ROME).date()
        f = service.parse_filters(
            {
                "start": (today - timedelta(days=8)).isoformat(),
                "end": today.isoformat(),
                "channel_id": str(phone.id),
            }
        )
        k = service.report(s, admin, f).totals.kpis
    waits = [(c.answered_at - c.started_at).total_seconds() for c in answered]
    assert k["answered"] == len(answered) > 0
    assert k["asa"] == pytest.approx(sum(waits) / len(waits), abs=1)
    short = cfg.short_abandons == "exclude"
    abandoned = [
        c
        for c in rows
        if c.outcome in ("abandoned", "short_abandon")
        and not (
            short
            and (
                c.outcome == "short_abandon"
                or (c.ended_at - c.started_at).total_seconds() < cfg.short_abandon_seconds
            )
        )
    ]
    assert k["abandoned"] == len(abandoned)
    assert k["volume"] >= len(answered) + len(abandoned)
    assert 0 < k["service_level"] <= 1


def test_dates_lie_in_the_last_90_days_in_order(loaded):
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
        assert last - first > timedelta(days=85)
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
    total = demo.CONVERSATIONS
    assert statuses[Status.RESOLVED] + statuses[Status.CLOSED] > 0.75 * total
    assert statuses[Status.NEW] + statuses[Status.OPEN] + statuses[Status.PENDING] >= 15
    assert set(priorities) == set(Priority)
    assert tags >= 8 and notes >= 50
    assert assigned >= 0.9 * total


def test_every_conversation_starts_with_a_customer_message(loaded):
    db, _, _ = loaded
    with db.session() as s:
        first_ids = select(func.min(Message.id)).group_by(Message.conversation_id)
        directions = Counter(s.scalars(select(Message.direction).where(Message.id.in_(first_ids))))
        assert directions == {Direction.INBOUND: _count(s, Conversation)}
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


def test_knowledge_base_is_on_the_help_center(loaded):
    from sportello.knowledge.models import Article, ArticleStatus, Category

    db, _, _ = loaded
    with db.session() as s:
        statuses = Counter(s.scalars(select(Article.status)))
        assert statuses[ArticleStatus.PUBLISHED] >= 40
        assert 1 <= statuses[ArticleStatus.INTERNAL] <= 8
        names = {c.name for c in s.scalars(select(Category))}
        assert {"Resi e rimborsi", "Spedizioni e consegne", "Pagamenti", "Fatture"} <= names
        # Every published article sits in a category, searchable, with a past behind it.
        for article in s.scalars(select(Article)):
            assert article.category_id is not None and article.search_body
            assert article.created_at < loaded[2] - timedelta(days=demo.DAYS)


def test_help_center_and_bot_answer_from_the_demo(loaded):
    from sportello.knowledge import bot
    from sportello.knowledge import service as kb_service

    db, _, _ = loaded
    with db.session() as s:
        chat = s.scalars(select(Channel).where(Channel.kind == "chat")).one()
        config = bot.BotConfig.from_settings(chat.settings)
        assert config.enabled and config.name == "Lavandina" and chat.is_active
        brand_id = chat.brand_id
        result = kb_service.search_articles(
            s, brand_id=brand_id, q="quanto costa la spedizione", language="it"
        )
        assert result.hits and "spedizione" in result.hits[0].article.title.lower()


def test_the_bot_has_a_history_worth_a_report(loaded):
    from sportello.knowledge.models import BotLog, BotSession, BotState

    db, _, before = loaded
    with db.session() as s:
        actions = Counter(s.scalars(select(BotLog.action)))
        assert actions["answer"] >= 60 and actions["feedback_yes"] >= 30
        assert actions["handover"] >= 10
        sessions = list(s.scalars(select(BotSession)))
        earliest = before - timedelta(days=demo.DAYS, hours=2)
        assert all(earliest <= b.created_at < before for b in sessions)
        for state in sessions:
            conversation = s.get_one(Conversation, state.conversation_id)
            assert conversation.channel.kind == "chat"
            if state.state == BotState.RESOLVED:  # the bot was enough: nobody took it
                assert conversation.assignee_id is None
                assert conversation.status in (Status.RESOLVED, Status.CLOSED)
            else:
                # Handed over: an agent took it, or it is in the last days' backlog still waiting
                # (the demo leaves some of the newest messages unlooked-at, by the hour it runs).
                assert state.state == BotState.HANDED_OVER
                assert conversation.assignee_id or conversation.status in (Status.NEW, Status.OPEN)


def test_mailbox_is_paused_and_sends_to_the_local_catcher(loaded):
    db, _, _ = loaded
    with db.session() as s:
        mailbox = s.scalars(select(Channel).where(Channel.kind == "email")).one()
        assert not mailbox.is_active  # no IMAP server in the demo: nothing to poll
        assert mailbox.settings["smtp_host"] == demo.CATCHER_HOST
        assert mailbox.settings["smtp_port"] == demo.CATCHER_PORT
        assert mailbox.settings["demo_catcher"] is True


def test_traffic_has_weekly_and_daily_patterns(loaded):
    from zoneinfo import ZoneInfo

    db, _, _ = loaded
    rome = ZoneInfo("Europe/Rome")
    with db.session() as s:
        rows = s.execute(
            select(Conversation.created_at, Channel.kind).join(
                Channel, Channel.id == Conversation.channel_id
            )
        ).all()
    local = [(at.replace(tzinfo=at.tzinfo or UTC).astimezone(rome), kind) for at, kind in rows]
    weekdays = Counter(at.weekday() for at, _ in local)
    assert weekdays[0] == max(weekdays.values())  # the Monday peak
    assert weekdays[6] == min(weekdays.values()) and weekdays[6] < weekdays[0] / 2.5
    kinds = Counter(kind for _, kind in local)
    assert set(kinds) == {"email", "chat", "webform", "api", "voice"}  # voice: a call opens one

    def share(kind: str, hours: range) -> float:
        mine = [at for at, k in local if k == kind]
        return sum(at.hour in hours for at in mine) / len(mine)

    evening, night = range(18, 23), range(0, 7)
    assert share("chat", evening) > 1.5 * share("email", evening)
    assert share("email", night) > 3 * share("chat", night)
    lunch = sum(at.hour == 13 for at, _ in local)
    assert lunch < sum(at.hour == 11 for at, _ in local) * 0.7  # the lunch dip


def test_messages_are_searchable_and_mail_quotes_are_kept_apart(loaded):
    from sportello.knowledge.models import MessageSearch

    db, _, _ = loaded
    with db.session() as s:
        words = s.scalar(
            select(func.count()).select_from(Message).where(Message.direction != Direction.SYSTEM)
        )
        assert _count(s, MessageSearch) == words
        replies = list(
            s.scalars(
                select(Message)
                .join(Conversation, Conversation.id == Message.conversation_id)
                .join(Channel, Channel.id == Conversation.channel_id)
                .where(Channel.kind == "email", Message.direction == Direction.INBOUND)
            )
        )
        quoted = [m for m in replies if m.meta.get("email", {}).get("visible_text")]
        assert len(quoted) > 50
        for message in quoted:
            visible = message.meta["email"]["visible_text"]
            assert message.text.startswith(visible) and "ha scritto:" in message.text
            assert "\n> " in message.text[len(visible) :]


def test_demo_shop_page_shows_the_chat_widget(loaded):
    from fastapi.testclient import TestClient

    from sportello.main import create_app

    db, _, _ = loaded
    with TestClient(create_app(db=db, run_workers=False)) as client:
        page = client.get("/demo/shop")
        assert page.status_code == 200
        with db.session() as s:
            chat = s.scalars(select(Channel).where(Channel.kind == "chat")).one()
        assert f'data-channel="{chat.public_id}"' in page.text
        assert "Casa Lavanda" in page.text and "/static/widget/widget.js" in page.text
        assert client.get("/static/demo/shop.css").status_code == 200
        assert "Linen sheet set" in client.get("/demo/shop?lang=en").text


def test_a_reply_on_the_demo_mailbox_reaches_the_catcher(loaded, tmp_path):
    """The real send path (adapter, SMTP) into the catcher `serve` runs for the demo."""
    import socket
    from email import message_from_bytes
    from email.policy import default

    from sportello.channels import registry
    from sportello.channels import service as channels_service
    from sportello.conversations import actions as conversations_actions
    from sportello.demo_pages import start_catcher

    db, _, _ = loaded
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = start_catcher("127.0.0.1", port, tmp_path)
    assert controller is not None
    try:
        with db.transaction() as s:
            mailbox = s.scalars(select(Channel).where(Channel.kind == "email")).one()
            mailbox.settings = {**mailbox.settings, "smtp_port": port}
            conversation = s.scalars(
                select(Conversation)
                .where(Conversation.channel_id == mailbox.id, Conversation.status != Status.CLOSED)
                .limit(1)
            ).one()
            agent = s.scalars(select(User).where(User.email.startswith("chiara@"))).one()
            reply = conversations_actions.do_send_reply(
                s, conversation=conversation, author=agent, text="Gentile cliente, eccoci."
            )
            reply_id = reply.id
        registry.load_builtin()
        assert channels_service.deliver_messages(db, [reply_id]) == []
        with db.session() as s:
            assert s.get_one(Message, reply_id).delivery_state == DeliveryState.SENT
        caught = list(tmp_path.glob("*.eml"))
        assert len(caught) == 1
        mail = message_from_bytes(caught[0].read_bytes(), policy=default)
        assert mail["From"].endswith(f"<{demo.MAILBOX}>")
        assert "eccoci" in mail.get_body().get_content()
    finally:
        controller.stop()
        with db.transaction() as s:
            mailbox = s.scalars(select(Channel).where(Channel.kind == "email")).one()
            mailbox.settings = {**mailbox.settings, "smtp_port": demo.CATCHER_PORT}


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


def test_every_domain_demo_is_listed_once_and_loadable():
    """A domain's ``demo.py`` that DOMAIN_DEMOS forgets would never run; a listed one must load."""
    import importlib
    from pathlib import Path

    root = Path(demo.__file__).parent
    found = {
        "sportello." + ".".join(p.relative_to(root).with_suffix("").parts)
        for p in root.rglob("demo.py")
        if p.parent != root
    }
    assert len(set(demo.DOMAIN_DEMOS)) == len(demo.DOMAIN_DEMOS)
    assert set(demo.DOMAIN_DEMOS) == found
    for name in demo.DOMAIN_DEMOS:
        assert callable(importlib.import_module(name).load), name
    # Loaders that read what others wrote come after them.
    order = demo.DOMAIN_DEMOS.index
    assert order("sportello.routing.demo") < order("sportello.reports.demo")
    assert order("sportello.reports.demo") < order("sportello.quality.demo")


def test_a_busy_catcher_port_is_reported_not_raised(tmp_path, caplog):
    """Another process (a second `serve`) has the port: no catcher, a warning, serve goes on."""
    import socket

    from sportello.demo_pages import start_catcher

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert start_catcher("127.0.0.1", port, tmp_path) is None
    assert f"demo mail catcher not started on 127.0.0.1:{port}" in caplog.text
