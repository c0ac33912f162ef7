"""The NLP pages in a real browser (Chromium, the CSP on): the admin retrains triage and reads
its accuracy, the inbox and the conversation show the customer's mood, the supervisor reads the
sentiment trend in English. Screenshots into docs/screenshots/nlp-*.png."""

from __future__ import annotations

import time
from typing import Any

import pytest

from sportello.core.db import Database
from sportello.nlp.models import MessageSentiment
from tests.factories import inbound, receive
from tests.nlp.test_flow import _history, _switch_on
from tests.web.conftest import (  # noqa: F401  (fixtures)
    SCREENSHOTS,
    browser,
    console,
    live_server,
    new_page,
)

pytestmark = pytest.mark.browser


def _wait_analysed(db: Database, count: int) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        with db.session() as s:
            if s.query(MessageSentiment).count() >= count:
                return
        time.sleep(0.1)
    raise AssertionError("the dispatcher did not analyse the messages")


def test_admin_agent_and_supervisor(db: Database, personas: Any, new_page, console) -> None:  # noqa: F811
    _switch_on(db, personas)  # the priority rule and the language tags are opt-in
    _history(db, personas)
    angry = receive(
        db,
        personas.api_channel,
        inbound(
            "È la terza volta che scrivo: il divano è arrivato graffiato e nessuno risponde. "
            "Vergognoso, sono davvero stufo!",
            email="anna.bruno@example.it",
            name="Anna Bruno",
        ),
    )
    receive(
        db,
        personas.api_channel,
        inbound(
            "Thank you so much, the blanket is lovely and arrived early!",
            email="jane@example.co.uk",
            name="Jane Smith",
        ),
    )
    _wait_analysed(db, 16)

    admin = new_page(personas.admin)
    admin.goto("/admin/nlp")
    admin.click("#nlp-train")
    admin.wait_for_selector("#triage-accuracy")
    assert "%" in admin.inner_text("#triage-accuracy")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    admin.screenshot(path=str(SCREENSHOTS / "nlp-admin.png"), full_page=True)

    agent = new_page(personas.sara)
    agent.goto("/inbox/all")
    agent.wait_for_selector('.row [data-mood="negative"]')
    agent.wait_for_selector('.row [data-mood="positive"]')
    agent.screenshot(path=str(SCREENSHOTS / "nlp-inbox.png"))
    agent.goto(f"/c/{angry.conversation.number}")
    agent.wait_for_selector("#nlp-panel .facts")
    assert "Negativo" in agent.inner_text("#nlp-panel")
    assert "Alta" in agent.inner_text("#conv-head")  # the frustrated customer's priority
    agent.screenshot(path=str(SCREENSHOTS / "nlp-conversation.png"))

    supervisor = new_page(personas.supervisor, locale="en-GB")  # Marco reads English
    supervisor.goto("/reports/sentiment?days=7")
    supervisor.wait_for_selector("#sentiment-chart rect", state="attached")
    text = supervisor.inner_text("main")
    assert "Customer sentiment" in text and "Negative" in text
    supervisor.screenshot(path=str(SCREENSHOTS / "nlp-report.png"))
    assert console.errors == []
