"""An admin creates a WhatsApp channel in a real browser: a server-side error next to its field,
the secrets not put back, then the page with what to paste at Meta; the template sync against a
local HTTP server playing the Graph API. Screenshot: docs/screenshots/admin-channel-whatsapp.png."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select

from sportello.channels.models import Channel
from tests.channels.messaging import FakeProvider, Reply
from tests.web.conftest import screenshot

pytestmark = pytest.mark.browser

PNID = "106540352242922"
WABA = "102290129340398"


@pytest.fixture
def graph() -> Iterator[FakeProvider]:
    with FakeProvider() as provider:
        provider.on(
            "GET",
            f"/{WABA}/message_templates",
            Reply(
                json={
                    "data": [
                        {
                            "name": "ordine_pronto",
                            "language": "it",
                            "status": "APPROVED",
                            "components": [
                                {
                                    "type": "BODY",
                                    "text": "Buongiorno {{1}}, il suo ordine {{2}} è pronto.",
                                }
                            ],
                        }
                    ],
                    "paging": {"cursors": {"before": "a", "after": "b"}},
                }
            ),
        )
        yield provider


def test_admin_creates_a_whatsapp_channel(db, personas, new_page, console, live_server, graph):
    page = new_page(personas.admin)
    page.goto("/admin/channels")
    page.click("a[href='/admin/channels/new?kind=whatsapp']")
    page.wait_for_url("**/admin/channels/new?kind=whatsapp")

    page.fill("input[name=name]", "WhatsApp assistenza")
    page.select_option("select[name=queue_id]", label="Assistenza clienti")
    page.fill("input[name=phone_number_id]", "+39 333 1234567")  # the number, not its ID
    page.fill("input[name=business_account_id]", WABA)
    page.fill("input[name=display_phone_number]", "+39 02 1234 5678")
    page.fill("input[name=access_token]", "EAAG-token-di-prova")
    page.fill("input[name=app_secret]", "segreto-app")
    page.click("summary")
    page.fill("input[name=api_base]", graph.url)
    page.click("form.grid-form button[type=submit]")

    error = page.wait_for_selector("#err-phone_number_id")
    assert "ID del numero di telefono" in error.inner_text()
    assert page.get_attribute("input[name=phone_number_id]", "aria-invalid") == "true"
    assert page.input_value("input[name=phone_number_id]") == "+39 333 1234567"
    assert page.input_value("input[name=access_token]") == ""  # typed again, never echoed
    assert "EAAG-token-di-prova" not in page.content()

    page.fill("input[name=phone_number_id]", PNID)
    page.fill("input[name=access_token]", "EAAG-token-di-prova")
    page.fill("input[name=app_secret]", "segreto-app")
    page.click("form.grid-form button[type=submit]")
    page.wait_for_selector("#secrets")

    with db.session() as s:
        channel = s.scalar(select(Channel).where(Channel.name == "WhatsApp assistenza"))
        assert channel is not None and channel.queue_id == personas.queue_assistenza.id
        public_id, channel_id = channel.public_id, channel.id
    assert page.input_value("[data-secret=verify_token]").startswith("wav_")
    assert page.input_value("[data-url=webhook]") == f"{live_server}/hooks/{public_id}"
    assert "segreto-app" not in page.content()
    screenshot(page, "admin-channel-whatsapp.png")

    # The approved templates, from the Graph API, for the agents' composer.
    page.click("#sync-templates")
    page.wait_for_selector("#provider-answer.alert-ok")
    assert page.url.endswith(f"/admin/channels/{channel_id}/whatsapp-templates")
    assert "ordine_pronto" in page.inner_text("#template-list")
    (call,) = graph.calls("GET", f"/{WABA}/message_templates")
    assert call.headers["authorization"] == "Bearer EAAG-token-di-prova"
    # The only console message is the browser noting the refused first try (a 422 page).
    assert [e for e in console.errors if "422" not in e] == []


def test_agent_sends_a_template_after_the_window(db, personas, new_page, graph):
    """The composer's picker: choose a template (its fields swap in), fill it, send it; when the
    customer writes again, the picker goes without a reload."""
    from datetime import timedelta

    from sportello.channels import actions as channels_actions
    from sportello.channels.base import Identity, InboundMessage
    from sportello.channels.whatsapp import templates
    from sportello.core.db import utcnow
    from tests.channels.messaging import create_channel
    from tests.factories import receive

    graph.on("POST", f"/{PNID}/messages", Reply(json={"messages": [{"id": "wamid.T1"}]}))
    channel = create_channel(
        db,
        personas,
        "whatsapp",
        {"phone_number_id": PNID, "access_token": "t", "app_secret": "s", "api_base": graph.url},
    )
    approved = [
        {
            "name": name,
            "language": "it",
            "status": "APPROVED",
            "components": [{"type": "BODY", "text": text}],
        }
        for name, text in (("ordine_pronto", "Ordine {{1}} pronto"), ("saluto", "Ciao {{nome}}!"))
    ]
    with db.transaction() as s:
        channels_actions.do_update_channel(
            s,
            channel=s.get_one(Channel, channel.id),
            settings={"templates": templates.parse(approved).templates},
        )
    received = receive(
        db,
        channel,
        InboundMessage(
            identity=Identity("whatsapp", "+393331234567"),
            text="Il mio ordine?",
            sender_name="Mario Rossi",
            provider_message_id="wamid.OLD",
            received_at=utcnow() - timedelta(hours=30),
        ),
    )
    page = new_page(personas.sara)
    page.goto(f"/c/{received.conversation_number}")
    page.click("#template-choose summary")
    page.select_option("#template-select", "saluto:it")
    page.fill("input[data-param=nome]", "Mario")
    page.click("#template-send")
    page.wait_for_selector(".msg-outbound >> text=Ciao Mario!")
    page.wait_for_selector(".msg-outbound .delivery-sent", timeout=15_000)
    (call,) = graph.calls("POST", f"/{PNID}/messages")
    assert call.json()["template"]["name"] == "saluto"

    # The customer answers: with the conversation open, the picker goes and free text is back.
    receive(
        db,
        channel,
        InboundMessage(
            identity=Identity("whatsapp", "+393331234567"),
            text="Grazie!",
            provider_message_id="wamid.NEW",
            received_at=utcnow(),
        ),
    )
    page.wait_for_selector(".msg-inbound >> text=Grazie!")
    page.wait_for_selector("#template-picker", state="detached")
    assert "shown=0" in (page.get_attribute("#template-slot", "data-live-url") or "")
