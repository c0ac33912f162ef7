"""The assist draft in a real browser (Chromium, the CSP on): the agent asks the fake
OpenAI-compatible server for a draft, clicks "Usa la bozza", the draft lands in the reply box
after what she had typed (the box switched back to reply, the cited article as a public link),
and she sends it. Screenshot into docs/screenshots/nlp-assist-draft.png."""

from __future__ import annotations

import time
from typing import Any

import pytest

from sportello.conversations.models import Direction, Message
from sportello.core.db import Database
from sportello.knowledge import actions as kb_actions
from sportello.knowledge.bot import article_url
from sportello.knowledge.models import ArticleStatus
from tests.factories import inbound, receive
from tests.nlp.test_assist import TEXT, FakeOpenAI, _configure, fake_llm  # noqa: F401
from tests.web.conftest import (  # noqa: F401  (fixtures)
    SCREENSHOTS,
    browser,
    console,
    live_server,
    new_page,
)

pytestmark = pytest.mark.browser


def test_use_the_draft_then_send(
    db: Database,
    personas: Any,
    new_page,  # noqa: F811
    console,  # noqa: F811
    fake_llm: FakeOpenAI,  # noqa: F811
) -> None:
    _configure(db, personas, f"http://127.0.0.1:{fake_llm.server_address[1]}/v1")
    with db.transaction() as s:
        article = kb_actions.do_create_article(
            s, brand_id=personas.brand_id, by=None, title="Quando arriva il rimborso",
            body_md="Il rimborso arriva entro 5-7 giorni lavorativi dal rientro del reso.",
            status=ArticleStatus.PUBLISHED,
        )  # fmt: skip
        link = article_url(article.language, article.slug)
    conv = receive(db, personas.api_channel, inbound(TEXT))
    number = conv.conversation.number

    agent = new_page(personas.sara)
    agent.set_default_timeout(60_000)
    agent.goto(f"/c/{number}")
    agent.fill("#composer-text", "Buongiorno,")
    agent.click("#composer .mode-note")  # she was writing a note
    assert "is-note" in (agent.get_attribute("#composer", "class") or "")
    agent.click("#assist-draft")
    agent.wait_for_selector("#assist-use")
    agent.click("#assist-use")
    draft = "Gentile Mario Rossi, riassunto fatto [1]."  # the fake model's answer, name restored
    expected = f"Buongiorno,\n\n{draft}\n\n[1] Quando arriva il rimborso: {link}"
    assert agent.input_value("#composer-text") == expected
    assert agent.is_checked("#composer input[name=mode][value=reply]")
    assert "is-note" not in (agent.get_attribute("#composer", "class") or "")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    agent.screenshot(path=str(SCREENSHOTS / "nlp-assist-draft.png"), full_page=True)

    # An empty box is replaced, not appended to.
    agent.fill("#composer-text", "")
    agent.click("#assist-use")
    assert agent.input_value("#composer-text") == expected.removeprefix("Buongiorno,\n\n")
    agent.click("#composer-send")
    deadline = time.monotonic() + 60
    sent = None
    while sent is None and time.monotonic() < deadline:
        with db.session() as s:
            sent = (
                s.query(Message)
                .filter_by(conversation_id=conv.conversation.id, direction=Direction.OUTBOUND)
                .first()
            )
            text = sent.text if sent else ""
        time.sleep(0.2)
    assert sent is not None, "the reply was not sent"
    # A browser sends a textarea's line breaks as CRLF.
    assert text.replace("\r\n", "\n") == expected.removeprefix("Buongiorno,\n\n")
    assert console.errors == []
