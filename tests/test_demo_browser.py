"""The demo in a real browser: the shop page where the bot answers in the chat, the console's
search over the demo's data, an email conversation with its quoted history folded.
Screenshots: docs/screenshots/demo-shop.png, search.png, search-en.png, email-folded.png."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from sportello import demo
from sportello.accounts.models import User
from sportello.channels.models import Channel
from sportello.conversations.models import Conversation, Direction, Message
from tests.web.conftest import (  # noqa: F401  (fixtures)
    SCREENSHOTS,
    VIEWPORT,
    Console,
    browser,
    console,
    live_server,
    login,
    new_page,
    screenshot,
)

pytestmark = pytest.mark.browser


@pytest.fixture
def small_demo(db, monkeypatch):
    monkeypatch.setattr(demo, "CONVERSATIONS", 160)
    monkeypatch.setattr(demo, "CUSTOMERS", 80)
    monkeypatch.setattr(demo, "BATCH", 80)
    assert demo.load(db, seed=42) is not None
    return db


def _user(db, email: str) -> User:
    with db.session() as s:
        return s.scalars(select(User).where(User.email == email)).one()


def _password(email: str) -> str:
    return next(p for e, p, _ in demo.LOGINS if e == email)


def test_demo_shop_bot_answers_in_the_widget(small_demo, browser, live_server, console):  # noqa: F811
    context = browser.new_context(viewport=VIEWPORT, locale="it-IT", base_url=live_server)
    context.set_default_timeout(20_000)
    page = context.new_page()
    console.attach(page)
    try:
        page.goto("/demo/shop")
        assert "Casa Lavanda" in page.title()
        page.locator("#sportello-chat button.launch").click()
        page.locator("#sportello-chat [role=dialog]").wait_for()
        page.fill("#sportello-chat textarea", "Quanto costa la spedizione?")
        page.keyboard.press("Enter")
        answer = page.locator("#sportello-chat li.m.agent").last
        answer.wait_for()
        page.wait_for_function(
            "() => document.getElementById('sportello-chat').shadowRoot"
            ".querySelectorAll('li.m.agent').length >= 1"
        )
        text = answer.inner_text()
        assert "4,90" in text or "spedizione" in text.lower(), text
        page.wait_for_timeout(400)
        screenshot(page, "demo-shop.png")
        assert not console.errors, console.errors
    finally:
        context.close()
    with small_demo.session() as s:
        # The bot answered as the shop, from the help center, not an agent.
        bot_replies = s.scalars(
            select(Message).where(
                Message.direction == Direction.OUTBOUND, Message.author_id.is_(None)
            )
        ).all()
        assert any("spedizion" in m.text.lower() for m in bot_replies)


@pytest.mark.parametrize("locale", ["it-IT", "en-US"])
def test_search_over_the_demo(small_demo, new_page, locale):  # noqa: F811
    email = f"paolo@{demo.DOMAIN}"
    if locale == "en-US":  # the console speaks the user's language
        with small_demo.transaction() as s:
            s.scalars(select(User).where(User.email == email)).one().language = "en"
    page = new_page(None, locale=locale)
    login(page, _user(small_demo, email), _password(email))
    page.fill("#search-input", "rimborzo")
    page.keyboard.press("Enter")
    page.wait_for_url("**/search?q=rimborzo")
    conversations = page.locator("#result-conversations li[data-row]")
    assert conversations.count() == 10
    assert page.locator("#result-messages li[data-row]").count() >= 5
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(
        path=str(SCREENSHOTS / ("search.png" if locale == "it-IT" else "search-en.png")),
        full_page=True,
    )
    page.locator("[data-more=conversations]").click()
    page.wait_for_url("**group=conversations**")
    assert page.locator("#result-conversations li[data-row]").count() > 10


def test_email_conversation_folds_the_quote(small_demo, new_page):  # noqa: F811
    email = f"elena@{demo.DOMAIN}"
    with small_demo.session() as s:
        mailbox = s.scalars(select(Channel).where(Channel.kind == "email")).one()
        number = next(
            c.number
            for c in s.scalars(
                select(Conversation)
                .where(Conversation.channel_id == mailbox.id)
                .order_by(Conversation.message_count.desc())
            ).unique()
            if any(
                (m.meta or {}).get("email", {}).get("visible_text")
                for m in s.scalars(select(Message).where(Message.conversation_id == c.id))
            )
        )
    page = new_page(None)
    login(page, _user(small_demo, email), _password(email))
    page.goto(f"/c/{number}")
    quoted = page.locator("details.msg-quoted").first
    quoted.wait_for()
    assert quoted.locator(".msg-body").is_hidden()
    screenshot(page, "email-folded.png")
    quoted.locator("summary").click()
    assert "ha scritto:" in quoted.locator(".msg-body").inner_text()
