"""The survey pages in a real browser: the public survey on a phone (Italian and English, one
tap, no console errors under the CSP), the follow-ups page and a customer's score history.
Screenshots into docs/screenshots/."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from sqlalchemy import select

from sportello.conversations.models import Conversation
from sportello.core.db import utcnow
from sportello.customers.models import Customer
from sportello.surveys import actions
from sportello.surveys.models import ResponseStatus, SurveyResponse
from tests.factories import inbound
from tests.surveys.helpers import configure, conversation_from, link_in, resolve, survey_message
from tests.web.conftest import SCREENSHOTS, screenshot

pytestmark = pytest.mark.browser
PHONE = {"width": 390, "height": 844}


def wait_sent(db, conversation_id: int) -> SurveyResponse:
    """The live server's dispatcher schedules and sends the survey of a resolved conversation."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        with db.session() as s:
            found = s.scalar(
                select(SurveyResponse).where(
                    SurveyResponse.conversation_id == conversation_id,
                    SurveyResponse.status == ResponseStatus.SENT,
                )
            )
            if found is not None:
                s.expunge(found)
                return found
        time.sleep(0.1)
    raise AssertionError("the survey was not sent")


def wait_scheduled(db, conversation_id: int) -> int:
    """The live server's dispatcher saw the resolution and scheduled the survey."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        with db.session() as s:
            found = s.scalar(
                select(SurveyResponse.id).where(SurveyResponse.conversation_id == conversation_id)
            )
        if found is not None:
            return int(found)
        time.sleep(0.1)
    raise AssertionError("the survey was not scheduled")


def phone(browser, live_server, console, locale: str):  # type: ignore[no-untyped-def]
    context = browser.new_context(
        viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True, locale=locale,
        base_url=live_server,
    )  # fmt: skip
    page = context.new_page()
    console.attach(page)
    return context, page


def test_public_survey_on_a_phone_in_italian_and_english(
    db, personas, browser, live_server, console
):
    extra = [{"it": "Cosa possiamo migliorare?", "en": "What could we improve?"}]
    configure(db, personas, kind="nps", extra_questions=extra)
    conversation_id = conversation_from(
        db, personas.api_channel, inbound("Il divano è arrivato graffiato.")
    )
    resolve(db, conversation_id, personas.sara)
    response = wait_sent(db, conversation_id)
    token = link_in(survey_message(db, response.id).text)

    context, page = phone(browser, live_server, console, "it-IT")
    page.goto(f"/s/{token}")
    assert page.locator("html").get_attribute("lang") == "it"
    assert "consiglieresti" in page.locator("h1").inner_text()
    buttons = page.locator("button.sv-score")
    assert buttons.count() == 11
    box = buttons.first.bounding_box()
    assert box["height"] >= 44 and box["width"] >= 44  # a thumb's target
    screenshot(page, "survey-page.png")
    buttons.nth(9).tap()  # one tap: the score is recorded
    page.wait_for_selector(".sv-ok")
    assert "Grazie" in page.locator(".sv-ok").inner_text()
    page.fill("#sv-comment", "Consegna veloce, ma il divano era graffiato: ottima la sostituzione.")
    page.fill("#sv-extra-1", "Imballaggio più robusto.")
    screenshot(page, "survey-page-thanks.png")
    page.click("button.sv-button")
    page.wait_for_selector("text=Abbiamo ricevuto il tuo commento")
    context.close()
    with db.session() as s:
        stored = s.get(SurveyResponse, response.id)
        assert (stored.score, stored.answered_via) == (9, "link")
        assert stored.comment.startswith("Consegna veloce") and stored.extra_answers == [
            "Imballaggio più robusto."
        ]

    # An English-speaking customer gets it in English, whatever the browser says.
    other = conversation_from(
        db, personas.api_channel, inbound("Hello", email="john@example.com", name="John Smith")
    )
    with db.transaction() as s:
        conversation = s.get(Conversation, other)
        s.get(Customer, conversation.customer_id).language = "en"
    resolve(db, other, personas.sara)
    token = link_in(survey_message(db, wait_sent(db, other).id).text)
    context, page = phone(browser, live_server, console, "it-IT")
    page.goto(f"/s/{token}")
    assert page.locator("html").get_attribute("lang") == "en"
    assert "recommend" in page.locator("h1").inner_text()
    screenshot(page, "survey-page-en.png")
    # The link is single-use: going back and tapping again does not change the answer.
    page.locator("button.sv-score").nth(3).tap()
    page.wait_for_selector(".sv-ok")
    page.go_back()
    page.reload()
    assert "already answered" in page.locator(".sv-ok").inner_text()
    context.close()
    assert console.errors == []


def test_follow_ups_page_and_customer_scores(db, personas, new_page, console):
    # A long delay: the test sends the surveys itself, at the dates of a customer's history.
    configure(db, personas, kind="csat", followup_rule="agent", delay_minutes=600, period_days=0)
    now = utcnow()
    mario = conversation_from(db, personas.api_channel, inbound("Primo ordine"))
    with db.session() as s:
        customer_id = s.get(Conversation, mario).customer_id
    # Mario's history: five surveys over two months, a bad one, a call back, then happy again.
    history = [(60, 5), (45, 4), (30, 2), (8, 4), (2, 5)]
    for i, (days_ago, score) in enumerate(history):
        conversation_id = (
            mario
            if i == 0
            else conversation_from(
                db, personas.api_channel, inbound(f"Richiesta {i}", provider_id=f"mario-{i}")
            )
        )
        resolve(db, conversation_id, personas.sara)
        at = now - timedelta(days=days_ago)
        response_id = wait_scheduled(db, conversation_id)
        with db.transaction() as s:
            response = s.get(SurveyResponse, response_id)
            actions.do_send_survey(s, response=response, now=at)
            followup = actions.do_answer_survey(
                s, response=response, score=score, via="link", now=at + timedelta(hours=2),
                comment="Il rimborso non è ancora arrivato." if score == 2 else None,
            )  # fmt: skip
            if followup is not None:
                from sportello.accounts.models import User

                actions.do_update_followup(
                    s, followup=followup, by=s.get(User, personas.sara.id), status="done",
                    outcome="Richiamato: rimborso emesso, si scusa per l'attesa.", resurvey=False,
                    now=at + timedelta(hours=5),
                )  # fmt: skip
    # Two customers still to call back (one overdue).
    for name, email, hours in (
        ("Anna Verdi", "anna@example.it", -30),
        ("Luigi Neri", "luigi@example.it", 3),
    ):
        conversation_id = conversation_from(
            db, personas.api_channel, inbound("Reso", email=email, name=name)
        )
        resolve(db, conversation_id, personas.sara)
        response_id = wait_scheduled(db, conversation_id)
        with db.transaction() as s:
            response = s.get(SurveyResponse, response_id)
            actions.do_send_survey(s, response=response, now=now - timedelta(hours=30))
            actions.do_answer_survey(
                s, response=response, score=1, via="button", now=now + timedelta(hours=hours - 24),
                comment="Ho aspettato due settimane per il reso.",
            )  # fmt: skip

    page = new_page(personas.sara)
    page.goto("/surveys/followups")
    rows = page.locator("#followups tbody tr")
    assert rows.count() == 2
    assert "In ritardo" in page.locator("#followups").inner_text()
    screenshot(page, "survey-followups.png")
    page.locator("#followups tbody tr").first.locator("button:has-text('Chiamo io')").click()
    page.wait_for_selector("#followups")
    assert "In corso" in page.locator("#followups").inner_text()

    page.goto(f"/customers/{customer_id}")
    page.wait_for_selector("#score-history")
    history_text = page.locator("#customer-scores").inner_text()
    assert "CSAT 2" in history_text and "Richiamato: rimborso emesso" in history_text
    assert page.locator("#customer-scores svg circle").count() == 5
    page.locator("#customer-scores").scroll_into_view_if_needed()
    screenshot(page, "customer-scores.png")
    assert (SCREENSHOTS / "customer-scores.png").exists()

    admin = new_page(personas.admin)
    admin.goto("/surveys")
    assert "Clienti recuperati" in admin.locator("#recovered").inner_text()
    screenshot(admin, "survey-results.png")
    admin.goto("/admin/surveys")
    admin.fill("#survey-form input[name=name]", "NPS dal modulo contatti")
    admin.select_option("#survey-form select[name=kind]", "nps")
    admin.select_option("#survey-form select[name=channel_id]", str(personas.webform.id))
    admin.click("#survey-form button[type=submit]")
    admin.wait_for_selector(".alert-ok")
    assert "NPS dal modulo contatti" in admin.locator("#survey-configs").inner_text()
    screenshot(admin, "survey-admin.png")
    assert console.errors == []


def test_chat_survey_buttons_in_the_widget_and_the_link(
    db, personas, browser, live_server, new_page, console, monkeypatch, test_settings
):
    from sportello.surveys import links
    from tests.channels.chat.conftest import make_chat_channel
    from tests.web.conftest import VIEWPORT

    # Links point at this live server (the installation's SPORTELLO_BASE_URL).
    served = test_settings.model_copy(update={"base_url": live_server})
    monkeypatch.setattr(links, "get_settings", lambda: served)
    chat = make_chat_channel(db, personas, allowed_origins="")
    configure(db, personas, kind="csat", period_days=0)
    new_page(personas.sara)  # an agent online: the widget offers the chat
    context = browser.new_context(viewport=VIEWPORT, locale="it-IT", base_url=live_server)
    context.set_default_timeout(10_000)
    visitor = context.new_page()
    console.attach(visitor)
    visitor.goto(f"/chat-demo/{chat.public_id}")
    visitor.locator("#sportello-chat button.launch").click()
    visitor.wait_for_selector("#sportello-chat #sp-status:has-text('Online')")

    def ask(text: str) -> int:
        visitor.locator("#sportello-chat textarea").fill(text)
        visitor.keyboard.press("Enter")
        visitor.wait_for_selector(f"#sportello-chat li.m.visitor:has-text('{text}')")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with db.session() as s:
                found = s.scalar(
                    select(Conversation.id).where(Conversation.preview.contains(text[:20]))
                )
            if found is not None:
                return int(found)
            time.sleep(0.1)
        raise AssertionError("the message did not arrive")

    # The scores as buttons under the survey: one tap answers.
    conversation_id = ask("Il vaso è arrivato rotto")
    resolve(db, conversation_id, personas.sara)
    first = wait_sent(db, conversation_id)
    stars = visitor.locator("#sportello-chat li.m.agent .choices button")
    stars.first.wait_for()
    assert stars.count() == 5
    stars.nth(3).click()
    visitor.wait_for_selector("#sportello-chat li.m.agent:has-text('Grazie per la tua risposta')")
    assert stars.nth(3).get_attribute("aria-pressed") == "true"
    screenshot(visitor, "survey-chat-widget.png")
    with db.session() as s:
        stored = s.get(SurveyResponse, first.id)
        assert (stored.score, stored.answered_via, stored.channel_id) == (
            4,
            "button",
            chat.channel.id,
        )
        # Not a message in the conversation: only the survey and the thank-you went out.
        assert s.get(Conversation, conversation_id).status == "resolved"

    # Or the link, which opens the survey page with one tap.
    second = ask("Ancora una domanda sul reso")
    resolve(db, second, personas.sara)
    token = link_in(survey_message(db, wait_sent(db, second).id).text)
    link = visitor.locator(f"#sportello-chat li.m.agent a[href$='/s/{token}']")
    link.wait_for()
    assert link.get_attribute("rel") == "noopener noreferrer"
    with context.expect_page() as opened:
        link.click()
    survey = opened.value
    survey.wait_for_selector("button.sv-score")
    survey.locator("button.sv-score").nth(4).click()
    survey.wait_for_selector(".sv-ok")
    with db.session() as s:
        scores = [r.score for r in s.scalars(select(SurveyResponse).order_by(SurveyResponse.id))]
        assert scores == [4, 5]
    context.close()
    assert console.errors == []
