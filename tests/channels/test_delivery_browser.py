"""In a real browser: a mailbox's settings with a translated connection test, the bot switched on
for a channel, the composer's "Reply via" with its warning, a failed reply with its reason and
"Retry" that delivers it. Screenshots (Italian): docs/screenshots/admin-channel-email.png,
admin-channel-bot.png, composer-reply-via.png, delivery-failed-retry.png."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from sportello.channels import actions as channels_actions
from sportello.channels import demo as channels_demo
from sportello.channels.models import Channel
from sportello.conversations.models import DeliveryState, Direction, Message
from sportello.core.db import utcnow
from tests.factories import inbound, receive
from tests.web.conftest import (  # noqa: F401  (fixtures)
    browser,
    console,
    live_server,
    new_page,
    screenshot,
)

pytestmark = pytest.mark.browser


def wait_for_state(db, message_id, state, timeout=15.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with db.session() as s:
            message = s.get_one(Message, message_id)
            if message.delivery_state == state:
                return
        time.sleep(0.1)
    raise AssertionError(f"message {message_id} never became {state}")


def test_mailbox_settings_with_a_translated_connection_test(db, personas, new_page, console):  # noqa: F811
    page = new_page(personas.admin)
    page.goto("/admin/channels")
    page.click("a[data-kind=email]")
    page.wait_for_url("**/admin/email/mailboxes/new")
    page.fill("input[name=name]", "Assistenza Casa Lavanda")
    page.fill("input[name=address]", "assistenza@casalavanda.example")
    page.fill("input[name=display_name]", "Casa Lavanda · Assistenza")
    page.fill("input[name=imap_host]", "127.0.0.1")
    page.fill("input[name=imap_port]", "1")
    page.select_option("select[name=imap_security]", "none")
    page.fill("input[name=imap_password]", "password-imap")
    page.fill("input[name=smtp_host]", "127.0.0.1")
    page.fill("input[name=smtp_port]", "70000")  # out of range: refused next to the field
    page.select_option("select[name=smtp_security]", "none")
    page.uncheck("input[name=active]")  # starts paused
    page.click("form.grid-form button[type=submit]")
    error = page.wait_for_selector("#err-smtp_port")
    assert "indica un numero di porta da 1 a 65535" in error.inner_text()
    assert page.input_value("input[name=imap_password]") == ""  # never echoed
    console.errors.clear()  # the refused form answered 422, as it should
    page.fill("input[name=imap_password]", "password-imap")
    page.fill("input[name=smtp_port]", "2")
    page.click("form.grid-form button[type=submit]")
    page.wait_for_selector("#state")
    with db.session() as s:
        mailbox = s.scalar(select(Channel).where(Channel.kind == "email"))
        assert mailbox is not None and mailbox.is_active is False
    page.click("#state button[type=submit]")  # test connection
    checks = page.wait_for_selector("#checks")
    text = checks.inner_text()
    assert "Il server di posta ha rifiutato la connessione: la porta è corretta?" in text
    assert "refused" not in text
    page.goto("/admin/channels")
    assert page.is_visible("#quarantine-link")
    page.click(f"a[href='/admin/email/mailboxes/{mailbox.id}']")
    page.click("#checks button, #state button[type=submit]")
    page.wait_for_selector("#checks")
    screenshot(page, "admin-channel-email.png")
    assert not console.errors, console.errors


def test_the_bot_is_switched_on_for_a_channel(db, personas, new_page, console):  # noqa: F811
    page = new_page(personas.admin)
    page.goto("/admin/channels")
    screenshot(page, "admin-channels.png")
    page.goto(f"/admin/channels/{personas.api_channel.id}")
    page.fill("input[name=reply_url]", "https://app.casalavanda.example/sportello/risposte")
    page.click("#channel-settings button[type=submit]")
    page.wait_for_selector("#saved")
    screenshot(page, "admin-channel-api.png")
    page.check("#bot-form input[name=enabled]")
    page.fill("#bot-form input[name=name]", "Lavanda")
    page.fill("#bot-form input[name=threshold]", "cento")
    page.fill("#bot-form input[name=handover_words]", "avvocato, reclamo, danneggiato")
    page.fill("#bot-form textarea[name=greeting]", channels_demo.BOT_FORM["greeting"])
    page.click("#bot-form button[type=submit]")
    error = page.wait_for_selector("#bot-err-threshold")
    assert "la soglia di confidenza è un numero da 0 a 100" in error.inner_text()
    assert page.input_value("#bot-form input[name=handover_words]") == (
        "avvocato, reclamo, danneggiato"
    )  # nothing typed is lost
    console.errors.clear()  # the refused form answered 422, as it should
    page.fill("#bot-form input[name=threshold]", "55")
    page.click("#bot-form button[type=submit]")
    page.wait_for_selector("#bot .alert-ok")
    page.locator("#bot").scroll_into_view_if_needed()
    screenshot(page, "admin-channel-bot.png")
    with db.session() as s:
        bot = s.get_one(Channel, personas.api_channel.id).settings["bot"]
        assert bot["enabled"] and bot["threshold"] == 0.55
    assert not console.errors, console.errors


def test_reply_via_the_mailbox_and_the_warning_before_sending(db, personas, new_page, console):  # noqa: F811
    with db.transaction() as s:
        mailbox = channels_demo.create_mailbox(
            s, brand_id=personas.brand_id, queue=personas.queue_vendite, smtp_port=9, paused=False
        )
        mailbox_id = mailbox.id
    result = receive(
        db,
        personas.webform,
        inbound(
            "Buongiorno, vorrei sapere se il plaid in lana è disponibile in blu.",
            email="anna.neri@example.it",
            name="Anna Neri",
            subject="Plaid in lana",
        ),
    )
    page = new_page(personas.admin)
    page.goto(f"/c/{result.conversation.number}")
    select = page.wait_for_selector("#reply-via select[name=via]")
    assert select.input_value() == str(mailbox_id)
    assert "Questa risposta parte via Email da Email assistenza" in page.inner_text("#reply-via")
    page.fill("#composer-text", "Buongiorno Anna, sì: il plaid è disponibile anche in blu.")
    screenshot(page, "composer-reply-via.png")
    page.select_option("#reply-via select[name=via]", str(personas.webform.id))
    warning = page.wait_for_selector(".composer-warning")
    assert "non verrebbe consegnata" in warning.inner_text()
    assert "un modulo web non può portare risposte" in warning.inner_text()
    page.select_option("#reply-via select[name=via]", str(mailbox_id))
    page.wait_for_selector(".composer-warning", state="detached")
    assert not console.errors, console.errors


def test_a_failed_reply_shows_its_reason_and_retry_delivers_it(
    db,
    personas,
    new_page,  # noqa: F811
    console,  # noqa: F811
    live_server,  # noqa: F811
):
    result = receive(db, personas.api_channel, inbound("Il mio ordine 4521?", provider_id="b1"))
    page = new_page(personas.sara)
    page.goto(f"/c/{result.conversation.number}")
    page.wait_for_selector("#reply-via .composer-warning")  # warned before sending
    page.fill("#composer-text", "Buongiorno Mario, l'ordine 4521 parte oggi.")
    page.click("#composer-send")
    deadline = time.monotonic() + 10
    reply_id = None
    while reply_id is None and time.monotonic() < deadline:
        with db.session() as s:  # a new snapshot each time
            reply_id = s.scalar(select(Message.id).where(Message.direction == Direction.OUTBOUND))
        time.sleep(0.1)
    assert reply_id is not None
    wait_for_state(db, reply_id, DeliveryState.FAILED)
    page.reload()
    failed = page.wait_for_selector(f"#m{reply_id} .delivery-failed")
    assert "Non consegnato" in failed.inner_text()
    assert "Questo canale API non ha un URL di risposta" in failed.inner_text()
    screenshot(page, "delivery-failed-retry.png")
    # the admin sets the reply URL (here: the demo app inbox), the agent retries
    channels_demo.load(db, now=utcnow(), seed=1, base_url=live_server)
    with db.transaction() as s:
        channel = s.get_one(Channel, personas.api_channel.id)
        channels_actions.do_configure_bot(s, channel=channel, data={})  # bot off for this test
    page.click(f"button[data-retry='{reply_id}']")
    page.wait_for_url(f"**/c/{result.conversation.number}#m{reply_id}")
    wait_for_state(db, reply_id, DeliveryState.SENT)
    page.reload()
    assert "Inviato" in page.inner_text(f"#m{reply_id} .delivery")
    assert not console.errors, console.errors


def test_the_composer_speaks_english_to_an_english_user(db, personas, new_page):  # noqa: F811
    result = receive(db, personas.api_channel, inbound("Order 4521?", provider_id="e1"))
    page = new_page(personas.supervisor, locale="en-GB")
    page.goto(f"/c/{result.conversation.number}")
    warning = page.wait_for_selector("#reply-via .composer-warning")
    assert "This reply would not be delivered" in warning.inner_text()
    assert "this API channel has no reply URL" in warning.inner_text()
    screenshot(page, "composer-reply-via-en.png")
