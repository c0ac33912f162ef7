"""A visitor on the demo shop page chats with an agent in the console, both live, in two browser
contexts; the visitor's network drops and comes back, and nothing is lost or doubled."""

from __future__ import annotations

import time
from typing import Any

import pytest
from sqlalchemy import select

from sportello.conversations.models import Conversation, DeliveryState, Direction, Message
from sportello.core.db import Database
from tests.channels.chat.conftest import make_chat_channel
from tests.web.conftest import VIEWPORT, screenshot, send_reply, wait_live

pytestmark = pytest.mark.browser


def wait_for(predicate: Any, timeout: float = 10.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def stored(db: Database, direction: Direction) -> list[Message]:
    with db.session() as s:
        return list(
            s.scalars(
                select(Message).where(Message.direction == direction).order_by(Message.id)
            ).unique()
        )


def bubbles(page: Any, kind: str) -> list[str]:
    texts: list[str] = page.locator(f"#sportello-chat li.m.{kind} .text").all_inner_texts()
    return texts


def agent_reply(agent: Any, text: str) -> None:
    send_reply(agent, text)
    agent.wait_for_selector(f"#timeline .msg-outbound:has-text('{text}')")


def test_visitor_and_agent_chat_live_through_a_network_drop(
    db, personas, browser, live_server, new_page, console
):
    chat = make_chat_channel(db, personas, allowed_origins="", greeting_it="Ciao! Sono Sara.")

    # The agent is in the console: the widget sees someone online for the queue.
    agent = new_page(personas.sara)

    visitor_context = browser.new_context(viewport=VIEWPORT, locale="it-IT", base_url=live_server)
    visitor_context.set_default_timeout(10_000)
    visitor = visitor_context.new_page()
    console.attach(visitor)
    try:
        visitor.goto(f"/chat-demo/{chat.public_id}")
        launcher = visitor.locator("#sportello-chat button.launch")
        launcher.wait_for()
        assert launcher.get_attribute("aria-label") == "Apri la chat"
        assert launcher.get_attribute("aria-expanded") == "false"
        launcher.click()
        dialog = visitor.locator("#sportello-chat [role=dialog]")
        dialog.wait_for()
        assert launcher.get_attribute("aria-expanded") == "true"
        visitor.wait_for_selector("#sportello-chat #sp-status:has-text('Online')")
        # Focus moved into the dialog, on the message box.
        assert (
            visitor.evaluate(
                "document.getElementById('sportello-chat').shadowRoot.activeElement.id"
            )
            == "sp-input"
        )
        visitor.keyboard.type("Buongiorno, il piatto blu è disponibile?")
        visitor.keyboard.press("Enter")
        visitor.wait_for_selector("#sportello-chat li.m.visitor[data-state=sent]")

        (first,) = wait_for(lambda: stored(db, Direction.INBOUND), what="the first message")
        assert first.meta["page"].endswith(f"/chat-demo/{chat.public_id}")
        with db.session() as s:
            number = s.get_one(Conversation, first.conversation_id).number

        # The agent opens the conversation and answers; the visitor sees it live.
        agent.goto(f"/c/{number}")
        wait_live(agent)
        agent.wait_for_selector("#timeline :text('il piatto blu è disponibile?')")
        # The side panel shows the page the visitor is on, and that they are online.
        agent.wait_for_selector(
            f"#chat-visitor [data-field=page] a[href*='/chat-demo/{chat.public_id}']"
        )
        agent.wait_for_selector("#chat-visitor .chat-presence.is-online")
        agent_reply(agent, "Sì, ne abbiamo ancora tre.")
        visitor.wait_for_selector("#sportello-chat li.m.agent:has-text('ne abbiamo ancora tre')")
        assert visitor.locator("#sportello-chat li.m.agent .who").first.inner_text() == "Sara Conti"
        visitor.wait_for_selector("#sportello-chat li.m.visitor[data-state=read]")  # seen by Sara
        screenshot(visitor, "chat-widget.png")
        # The widget displayed it with the panel open: the agent's message is read.
        wait_for(
            lambda: stored(db, Direction.OUTBOUND)[0].delivery_state == DeliveryState.READ,
            what="the read receipt",
        )

        # The visitor starts writing: the agent sees it, and it goes when the message arrives.
        visitor.locator("#sportello-chat textarea").press_sequentially("Perfetto")
        agent.wait_for_selector("#visitor-typing", state="visible")
        # The visitor writes again: the agent's timeline updates without a reload.
        visitor.fill("#sportello-chat textarea", "Perfetto, lo ordino.")
        visitor.keyboard.press("Enter")
        agent.wait_for_selector("#timeline :text('Perfetto, lo ordino.')")
        agent.wait_for_selector("#visitor-typing", state="hidden")
        assert agent.locator("#chat-visitor [data-field=page] a").count() == 1  # kept as it was

        # The network drops. The visitor writes twice; the agent answers meanwhile.
        visitor_context.set_offline(True)
        visitor.wait_for_selector("#sportello-chat .banner:not([hidden])")
        for text in ("Scusi, ho perso la linea", "Posso pagare alla consegna?"):
            visitor.fill("#sportello-chat textarea", text)
            visitor.keyboard.press("Enter")
        assert visitor.locator("#sportello-chat li.m.visitor[data-state=pending]").count() == 2
        agent_reply(agent, "Certo, anche in contrassegno.")
        time.sleep(1.0)
        assert "Certo, anche in contrassegno." not in bubbles(visitor, "agent")

        # Back online: the widget reconnects, resends, and catches up.
        visitor_context.set_offline(False)
        visitor.wait_for_selector("#sportello-chat li.m.agent:has-text('contrassegno')")
        agent.wait_for_selector("#timeline :text('Posso pagare alla consegna?')")
        wait_for(
            lambda: (
                visitor.locator("#sportello-chat li.m.visitor[data-state=pending]").count() == 0
            ),
            what="the pending messages to be acknowledged",
        )

        expected_in = [
            "Buongiorno, il piatto blu è disponibile?",
            "Perfetto, lo ordino.",
            "Scusi, ho perso la linea",
            "Posso pagare alla consegna?",
        ]
        expected_out = ["Sì, ne abbiamo ancora tre.", "Certo, anche in contrassegno."]
        assert [m.text for m in stored(db, Direction.INBOUND)] == expected_in
        assert [m.text for m in stored(db, Direction.OUTBOUND)] == expected_out
        assert bubbles(visitor, "visitor") == expected_in
        assert bubbles(visitor, "agent") == expected_out
        timeline = agent.locator("#timeline").inner_text()
        for text in expected_in + expected_out:
            assert timeline.count(text) == 1, text

        # A reload keeps the conversation, once.
        visitor.reload()
        visitor.wait_for_selector("#sportello-chat li.m.agent:has-text('contrassegno')")
        assert bubbles(visitor, "visitor") == expected_in
        assert bubbles(visitor, "agent") == expected_out

        # Esc closes the dialog and gives focus back to the launcher.
        visitor.locator("#sportello-chat textarea").focus()
        visitor.keyboard.press("Escape")
        dialog.wait_for(state="hidden")
        assert (
            visitor.evaluate(
                "document.getElementById('sportello-chat').shadowRoot.activeElement.className"
            )
            == "launch"
        )
    finally:
        visitor_context.close()
    assert not [e for e in console.errors if "WebSocket" not in e and "ERR_INTERNET" not in e], (
        console.errors
    )
