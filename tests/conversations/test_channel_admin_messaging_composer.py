"""The composer's WhatsApp template picker: offered once the 24-hour window has closed, sent
through the ordinary outbound path to a real local HTTP server playing the Cloud API."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import func, select

import sportello.channels.service  # noqa: F401  (registers the delivery job and its handler)
from sportello.channels import actions as channels_actions
from sportello.channels.models import Channel
from sportello.channels.whatsapp import templates
from sportello.conversations.models import Conversation, DeliveryState, Direction, Message
from sportello.core.dispatcher import Dispatcher
from sportello.core.outbox import OutboxEvent
from tests.channels import whatsapp_templates as wt
from tests.channels.messaging import FakeProvider, Reply, create_channel, whatsapp_text
from tests.factories import csrf_from, inbound, login, receive

PNID = "106540352242922"
APP_SECRET = "segreto-app-meta"
HTMX = {"HX-Request": "true"}
GRAPH_TEMPLATES = [
    {
        "name": "ordine_pronto",
        "language": "it",
        "status": "APPROVED",
        "components": [{"type": "BODY", "text": "Buongiorno {{1}}, l'ordine {{2}} è pronto."}],
    },
    {
        "name": "saluto",
        "language": "it",
        "status": "APPROVED",
        "components": [{"type": "BODY", "text": "Ciao {{nome}}, possiamo riprendere?"}],
    },
]


@pytest.fixture
def provider() -> Iterator[FakeProvider]:
    with FakeProvider() as p:
        yield p


@pytest.fixture
def channel(db, personas, provider):  # type: ignore[no-untyped-def]
    channel = create_channel(
        db,
        personas,
        "whatsapp",
        {
            "phone_number_id": PNID,
            "access_token": "EAAG-token",
            "app_secret": APP_SECRET,
            "api_base": provider.url,
        },
    )
    with db.transaction() as s:
        channels_actions.do_update_channel(
            s,
            channel=s.get_one(Channel, channel.id),
            settings={"templates": templates.parse(GRAPH_TEMPLATES).templates},
        )
    return channel


def customer_writes(client, channel, *, hours_ago: float, message_id: str) -> int:  # type: ignore[no-untyped-def]
    """A signed WhatsApp webhook with one text message; returns the conversation's number."""
    at = int(time.time() - hours_ago * 3600)
    payload = whatsapp_text(PNID, "Il mio ordine?", message_id=message_id, at=at)
    body = json.dumps(payload).encode()
    signature = hmac.new(APP_SECRET.encode(), body, hashlib.sha256).hexdigest()
    response = client.post(
        f"/hooks/{channel.public_id}",
        content=body,
        headers={"Content-Type": "application/json", "X-Hub-Signature-256": f"sha256={signature}"},
    )
    assert response.status_code == 200, response.text
    return int(response.json()["received"][0]["conversation_number"])


def test_after_the_window_the_agent_sends_a_template_with_its_parameters(
    client, db, personas, channel, provider
):
    provider.on("POST", f"/{PNID}/messages", Reply(json={"messages": [{"id": "wamid.TPL1"}]}))
    number = customer_writes(client, channel, hours_ago=30, message_id="wamid.OLD1")
    login(client, personas.sara)
    page = client.get(f"/c/{number}")
    assert page.status_code == 200
    assert 'id="template-picker"' in page.text
    assert "più di 24 ore" in page.text
    assert '<option value="ordine_pronto:it">ordine_pronto · it</option>' in page.text
    assert page.text.count('name="params"') == 2  # the first template's two parameters
    assert 'id="composer"' in page.text  # the ordinary composer stays (notes, for one)

    fields = client.get(f"/c/{number}/template-fields", params={"template": "saluto:it"})
    assert fields.status_code == 200
    assert "Ciao {{nome}}, possiamo riprendere?" in fields.text
    assert fields.text.count('name="params"') == 1 and "Parametro {{nome}}" in fields.text
    assert (
        client.get(f"/c/{number}/template-fields", params={"template": "nessuno:it"}).status_code
        == 404
    )

    response = client.post(
        f"/c/{number}/template",
        data={
            "template": "ordine_pronto:it",
            "params": ["Mario", "5521"],
            "csrf_token": csrf_from(page.text),
        },
        headers=HTMX,
    )
    assert response.status_code == 200, response.text
    assert "Buongiorno Mario, l&#x27;ordine 5521 è pronto." in response.text
    assert "Modello ordine_pronto" in response.text  # the timeline labels it
    Dispatcher(db).drain()
    (call,) = provider.calls("POST", f"/{PNID}/messages")
    assert call.json() == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "393331234567",
        "type": "template",
        "template": {
            "name": "ordine_pronto",
            "language": {"code": "it"},
            "components": [
                {
                    "type": "body",
                    "parameters": [
                        {"type": "text", "text": "Mario"},
                        {"type": "text", "text": "5521"},
                    ],
                }
            ],
        },
    }
    with db.session() as s:
        sent = s.scalars(select(Message).where(Message.direction == Direction.OUTBOUND)).one()
        assert sent.author_id == personas.sara.id
        assert (sent.delivery_state, sent.provider_message_id) == (
            DeliveryState.SENT,
            "wamid.TPL1",
        )


def test_bad_parameters_are_refused_with_a_reason(client, db, personas, channel, provider):
    number = customer_writes(client, channel, hours_ago=48, message_id="wamid.OLD2")
    login(client, personas.sara)
    token = csrf_from(client.get(f"/c/{number}").text)
    url = f"/c/{number}/template"
    missing = client.post(
        url,
        data={"template": "ordine_pronto:it", "params": ["Mario"], "csrf_token": token},
        headers=HTMX,
    )
    assert missing.status_code == 422
    assert "parametro" in missing.json()["detail"]
    unknown = client.post(url, data={"template": "inventato:it", "csrf_token": token}, headers=HTMX)
    assert unknown.status_code == 422
    newline = client.post(
        url,
        data={"template": "saluto:it", "params": ["Ma\nrio"], "csrf_token": token},
        headers=HTMX,
    )
    assert newline.status_code == 422
    with db.session() as s:
        assert s.scalars(select(Message).where(Message.direction == Direction.OUTBOUND)).all() == []
    assert provider.requests == []


def test_inside_the_window_no_picker_is_offered(client, personas, channel):
    number = customer_writes(client, channel, hours_ago=2, message_id="wamid.NEW")
    login(client, personas.sara)
    page = client.get(f"/c/{number}")
    assert page.status_code == 200
    assert 'id="template-picker"' not in page.text


def test_a_closed_window_without_templates_says_how_to_get_them(client, db, personas, channel):
    with db.transaction() as s:
        channels_actions.do_update_channel(
            s, channel=s.get_one(Channel, channel.id), settings={"templates": []}
        )
    number = customer_writes(client, channel, hours_ago=25, message_id="wamid.OLD3")
    login(client, personas.sara)
    page = client.get(f"/c/{number}").text
    assert 'id="template-picker"' in page and 'id="template-form"' not in page
    assert "sincronizzarli" in page


def test_other_channels_have_no_templates(client, db, personas):
    number = receive(db, personas.api_channel, inbound("Ciao")).conversation_number
    login(client, personas.sara)
    page = client.get(f"/c/{number}")
    assert 'id="template-picker"' not in page.text
    response = client.post(
        f"/c/{number}/template",
        data={"template": "ordine_pronto:it", "csrf_token": csrf_from(page.text)},
        headers=HTMX,
    )
    assert response.status_code == 422
    assert client.get(f"/c/{number}/template-fields?template=x").status_code == 404


def test_templates_respect_the_agents_scope(client, db, personas, channel):
    number = customer_writes(client, channel, hours_ago=30, message_id="wamid.OLD4")
    login(client, personas.luca)  # Vendite: not his queue
    assert client.get(f"/c/{number}/template-fields?template=saluto:it").status_code in (403, 404)
    token = csrf_from(client.get("/inbox/mine").text)
    response = client.post(
        f"/c/{number}/template",
        data={"template": "saluto:it", "params": ["Anna"], "csrf_token": token},
        headers=HTMX,
    )
    assert response.status_code in (403, 404)
    with db.session() as s:
        assert s.scalars(select(Conversation)).one().message_count == 1


# ---- headers and buttons ---------------------------------------------------------------------


def _use_templates(db, channel, *items) -> None:  # type: ignore[no-untyped-def]
    with db.transaction() as s:
        channels_actions.do_update_channel(
            s,
            channel=s.get_one(Channel, channel.id),
            settings={"templates": templates.parse(items).templates},
        )


def test_the_picker_asks_for_the_header_and_the_buttons_and_sends_them(
    client, db, personas, channel, provider
):
    provider.on("POST", f"/{PNID}/messages", Reply(json={"messages": [{"id": "wamid.TPL2"}]}))
    _use_templates(db, channel, wt.SHIPPED, wt.SALE)
    number = customer_writes(client, channel, hours_ago=26, message_id="wamid.OLD5")
    login(client, personas.sara)
    page = client.get(f"/c/{number}").text
    # The first template (saldi): its image's link, its parameter, its quick replies shown.
    assert page.count('name="header_media"') == 1 and "Immagine dell'intestazione" in page
    assert "Risposta rapida: Mi interessa" in page

    fields = client.get(f"/c/{number}/template-fields", params={"template": "spedizione:it"}).text
    assert fields.count('name="header_params"') == 1
    assert "Parametro dell'intestazione {{1}}" in fields
    assert fields.count('name="params"') == 2
    assert fields.count('name="button_params"') == 1
    assert "https://negozio.example/traccia/{{1}}" in fields
    assert "Pulsante: Chiamaci" in fields
    token = csrf_from(page)

    missing = client.post(
        f"/c/{number}/template",
        data={
            "template": "spedizione:it",
            "params": ["Mario", "domani"],
            "header_params": ["5521"],
            "csrf_token": token,
        },
        headers=HTMX,
    )
    assert missing.status_code == 422
    assert "pulsante" in missing.json()["detail"]
    bad_link = client.post(
        f"/c/{number}/template",
        data={
            "template": "saldi:it",
            "params": ["31 agosto"],
            "header_media": "file:///etc/passwd",
            "csrf_token": token,
        },
        headers=HTMX,
    )
    assert bad_link.status_code == 422
    assert "link http(s)" in bad_link.json()["detail"]
    assert provider.requests == []

    response = client.post(
        f"/c/{number}/template",
        data={
            "template": "spedizione:it",
            "params": ["Mario", "domani"],
            "header_params": ["5521"],
            "button_params": ["AB123"],
            "csrf_token": token,
        },
        headers=HTMX,
    )
    assert response.status_code == 200, response.text
    assert "Ordine 5521 spedito" in response.text
    assert "https://negozio.example/traccia/AB123" in response.text
    Dispatcher(db).drain()
    (call,) = provider.calls("POST", f"/{PNID}/messages")
    assert call.json()["template"] == wt.SHIPPED_SENT


# ---- the picker follows the window, live -------------------------------------------------------


def _slot(page: str) -> str:
    start = page.index('<div id="template-slot"')
    return page[start : page.index(">", start) + 1]


def test_the_composer_offers_free_text_again_when_the_customer_writes(
    client, db, personas, channel
):
    number = customer_writes(client, channel, hours_ago=30, message_id="wamid.OLD6")
    login(client, personas.sara)
    page = client.get(f"/c/{number}").text
    with db.session() as s:
        conversation_id = s.scalars(select(Conversation.id)).one()
    slot = _slot(page)
    assert f'data-live-url="/c/{number}/composer?shown=1"' in slot
    assert f'data-live-conversation="{conversation_id}"' in slot
    assert "data-refresh-at" not in slot  # closed: nothing to wait for
    assert 'id="template-picker"' in page
    # An event of the conversation that does not change the window: nothing to swap, so a
    # half-filled template stays as it is.
    assert client.get(f"/c/{number}/composer?shown=1").status_code == 204

    # The customer writes again: the event the console gets is the conversation's, and the
    # slot it refreshes now offers free text.
    customer_writes(client, channel, hours_ago=0, message_id="wamid.NEW6")
    with db.session() as s:
        events = s.scalars(select(OutboxEvent).where(OutboxEvent.name == "message.received"))
        assert [e.payload["conversation_id"] for e in events] == [conversation_id] * 2
    refreshed = client.get(f"/c/{number}/composer?shown=1")
    assert refreshed.status_code == 200
    assert 'id="template-picker"' not in refreshed.text
    assert f'data-live-url="/c/{number}/composer?shown=0"' in _slot(refreshed.text)
    assert client.get(f"/c/{number}/composer?shown=0").status_code == 204

    # And the page renders the same: free text, and the moment the window closes again.
    page = client.get(f"/c/{number}").text
    assert 'id="template-picker"' not in page
    with db.session() as s:
        last = s.scalar(
            select(func.max(Message.created_at)).where(Message.direction == Direction.INBOUND)
        )
    closes = int((last + timedelta(hours=24)).timestamp() * 1000)
    assert f'data-refresh-at="{closes}"' in _slot(page)
    assert 'data-live-url="/c/' in _slot(page)


def test_the_slot_opens_the_picker_when_the_window_has_closed(client, db, personas, channel):
    number = customer_writes(client, channel, hours_ago=23.99, message_id="wamid.OLD7")
    login(client, personas.sara)
    assert 'id="template-picker"' not in client.get(f"/c/{number}").text
    with db.transaction() as s:  # a day later, as the page's one-shot refresh would see it
        for message in s.scalars(select(Message)):
            message.created_at -= timedelta(hours=1)
    opened = client.get(f"/c/{number}/composer?shown=0")
    assert opened.status_code == 200
    assert 'id="template-picker"' in opened.text and 'id="template-form"' in opened.text
    assert "shown=1" in _slot(opened.text)


def test_only_template_channels_have_a_live_slot(client, db, personas):
    number = receive(db, personas.api_channel, inbound("Ciao")).conversation_number
    login(client, personas.sara)
    assert 'id="template-slot"' not in client.get(f"/c/{number}").text
    assert client.get(f"/c/{number}/composer?shown=0").status_code == 204
