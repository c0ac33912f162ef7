"""The front line in a real browser: a supervisor publishes a required briefing with a quiz for
the Assistenza team; Sara (Assistenza) sees it on her next page, cannot go available until she
passes the quiz and acknowledges; the supervisor sees her read and acknowledge it live; then
Sara gets the waiting conversation, files a proposal linked to it from the top bar, and the
supervisor's answer reaches her bell live. Screenshots into docs/screenshots/frontline-*.png."""

from __future__ import annotations

import time

import pytest

from sportello.routing import actions as routing_actions
from sportello.routing.models import Queue
from tests.factories import inbound, receive
from tests.web.conftest import screenshot, wait_live

pytestmark = pytest.mark.browser


def _until(check, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out waiting for the page"
        time.sleep(0.1)


def test_required_briefing_quiz_gates_offers_and_a_proposal_gets_its_answer(
    db, personas, new_page, console
):
    with db.transaction() as s:
        queue = s.get_one(Queue, personas.queue_assistenza.id)
        routing_actions.do_set_queue_routing(s, queue=queue, mode="push", offer_timeout_seconds=60)
    waiting = receive(
        db, personas.api_channel, inbound("Il codice SALDI30 non funziona sui cuscini")
    )
    number = waiting.conversation.number

    # The supervisor (English console) writes and publishes the briefing for Assistenza.
    boss = new_page(personas.supervisor, locale="en-GB")
    boss.goto("/briefings/new")
    boss.fill("input[name=title]", "Saldi invernali")
    boss.fill("textarea[name=body_md]", "Dal 7 gennaio **30%** su tutta la biancheria.")
    boss.select_option("select[name=team_id]", str(personas.assistenza.id))
    boss.check("input[name=required]")
    boss.fill("input[name=campaign]", "Saldi invernali")
    boss.fill("input[name=q0]", "Quanto è lo sconto sulla biancheria?")
    boss.fill("input[name=q0_o0]", "20%")
    boss.fill("input[name=q0_o1]", "30%")
    boss.check("input[name=q0_answer][value='1']")
    screenshot(boss, "frontline-briefing-form.png")
    boss.click("#fl-publish")
    boss.wait_for_selector("#fl-receipts")
    wait_live(boss)
    row = f"#fl-receipt-{personas.sara.id}"
    assert boss.get_attribute(row, "data-state") == "unread"
    assert boss.locator(f"#fl-receipt-{personas.luca.id}").count() == 0  # another team

    # Sara's next page shows the briefing; she cannot go available before acknowledging it.
    sara = new_page(personas.sara)
    sara.wait_for_selector("#fl-required:not([hidden])")
    assert "Saldi invernali" in sara.inner_text("#fl-required")
    screenshot(sara, "frontline-required.png")
    sara.click("#fl-required-later")
    sara.click("#cl-status .cl-status-summary")
    sara.click("#cl-status .cl-menu-item[data-presence=available]")
    sara.wait_for_selector("#toast.is-error:not([hidden])")
    assert "briefing obbligatorio" in sara.inner_text("#toast")
    assert sara.locator("#cl-status .cl-status-summary .presence-available").count() == 0

    sara.goto("/briefings")  # any page: the overlay is back until she acknowledges
    sara.click("#fl-required-open")
    sara.wait_for_selector("#fl-ack-form")
    boss.wait_for_selector(f"{row}[data-state=read]")  # live, no reload
    sara.check("input[name=a0][value='0']")  # wrong
    sara.click("#fl-ack-button")
    sara.wait_for_selector("#fl-failed")
    sara.check("input[name=a0][value='1']")
    screenshot(sara, "frontline-quiz.png")
    sara.click("#fl-ack-button")
    sara.wait_for_selector("#fl-acknowledged")
    boss.wait_for_selector(f"{row}[data-state=acknowledged]")  # live
    screenshot(boss, "frontline-receipts.png")

    # Now she may go available: the waiting conversation is offered to her.
    wait_live(sara)
    sara.click("#cl-status .cl-status-summary")
    sara.click("#cl-status .cl-menu-item[data-presence=available]")
    sara.wait_for_selector("#cl-status .cl-status-summary .presence-available")
    offer = sara.wait_for_selector(".cl-offer")
    assert f"#{number}" in offer.inner_text()
    sara.click(".cl-offer button[type=submit]:not([data-action=cl-decline])")
    sara.wait_for_url(f"**/c/{number}")

    # From the conversation, the top bar's button files a proposal linked to it.
    sara.click("#fl-propose")
    sara.wait_for_selector("#fl-proposal-form")
    assert sara.input_value("input[name=conversations]") == str(number)
    sara.fill("input[name=title]", "Il codice SALDI30 non vale sui cuscini")
    sara.select_option("select[name=topic]", "promotion")
    sara.fill("textarea[name=body]", "Tre clienti oggi: il carrello rifiuta il codice.")
    sara.click("#fl-proposal-form button[type=submit]")
    sara.wait_for_selector(f"a[href='/c/{number}']")
    proposal_url = sara.url
    wait_live(sara)
    before = sara.inner_text("#fl-bell")

    boss.goto(proposal_url)
    boss.select_option("#fl-triage select[name=status]", "accepted")
    boss.fill("#fl-triage textarea[name=answer]", "Corretto il listino, grazie!")
    boss.click("#fl-triage button[type=submit]")
    boss.wait_for_selector("#fl-answer")

    _until(lambda: sara.inner_text("#fl-bell") != before)  # the bell, live
    sara.click("#fl-bell")
    sara.wait_for_selector("#fl-notifications")
    screenshot(sara, "frontline-notifications.png")
    sara.click("#fl-notifications button:has-text('SALDI30')")
    sara.wait_for_selector("#fl-answer")
    assert "Corretto il listino" in sara.inner_text("#fl-answer")
    screenshot(sara, "frontline-proposal.png")
    # the only errors: the status menu's refusal (the browser and htmx both log the 422)
    assert any("/routing/presence" in e for e in console.errors)
    assert [e for e in console.errors if "422" not in e] == []
