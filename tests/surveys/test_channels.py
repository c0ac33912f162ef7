"""Surveys on the messaging channels, through the app and a real local HTTP server playing the
provider (the fakes of tests/channels): the scores go out as buttons where the channel offers
them, and a tapped button comes back through the webhook as the answer, not as a message."""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Iterator

import pytest

from sportello.conversations.models import Direction
from sportello.surveys.models import ResponseStatus
from tests.channels.messaging import (
    FakeProvider,
    Reply,
    conversations,
    create_channel,
    fixture_json,
    messages,
    whatsapp_text,
)
from tests.channels.test_telegram import BOT, private_message, sent
from tests.channels.test_whatsapp import APP_SECRET, PNID, TOKEN, sign
from tests.factories import csrf_from
from tests.surveys.helpers import configure, drain, followups, link_in, resolve, responses


@pytest.fixture
def provider() -> Iterator[FakeProvider]:
    with FakeProvider() as p:
        yield p


# ---- Telegram --------------------------------------------------------------------------------


def telegram_post(client, channel, update):  # type: ignore[no-untyped-def]
    return client.post(
        f"/hooks/{channel.public_id}",
        content=json.dumps(update).encode(),
        headers={
            "Content-Type": "application/json",
            "X-Telegram-Bot-Api-Secret-Token": channel.shown_once["secret_token"],
        },
    )


def test_telegram_survey_has_an_inline_keyboard_and_the_tap_is_the_answer(
    db, personas, provider, client
):
    channel = create_channel(db, personas, "telegram", {"bot_token": BOT, "api_base": provider.url})
    provider.on("POST", f"/bot{BOT}/sendMessage", sent(1400), sent(1401), sent(1402))
    provider.on("POST", f"/bot{BOT}/answerCallbackQuery", Reply(json={"ok": True, "result": True}))
    configure(db, personas, kind="csat", followup_rule="agent")
    assert (
        telegram_post(client, channel, private_message(text="Dov'è il mio ordine?")).status_code
        == 200
    )
    [conversation] = conversations(db)
    resolve(db, conversation.id, personas.sara)
    drain(db)

    [response] = responses(db)
    assert response.status == ResponseStatus.SENT
    survey = provider.calls("POST", f"/bot{BOT}/sendMessage")[-1].json()
    keyboard = survey["reply_markup"]["inline_keyboard"]
    buttons = [b for row in keyboard for b in row]
    assert [b["text"] for b in buttons] == [f"{n} ★" for n in range(1, 6)]
    assert buttons[0]["callback_data"] == f"sv:{response.code}:1"
    assert "/s/" in survey["text"]  # the link too (for a comment, or another device)

    # Telegram's own example callback_query, from our customer, carrying the tapped button.
    update = copy.deepcopy(fixture_json("telegram/13_callback_query.json"))
    update["callback_query"]["from"]["id"] = 5550001
    update["callback_query"]["data"] = buttons[1]["callback_data"]
    before = len(messages(db))
    assert telegram_post(client, channel, update).status_code == 200
    [response] = responses(db)
    assert (response.status, response.score, response.answered_via) == ("answered", 2, "button")
    # No new conversation and no inbound message; the tap was acknowledged to Telegram.
    assert len(conversations(db)) == 1
    new = messages(db)[before:]
    assert [m.direction for m in new] == [Direction.OUTBOUND]  # the thank-you
    assert "Grazie per la tua risposta" in new[0].text
    assert provider.calls("POST", f"/bot{BOT}/answerCallbackQuery")
    [followup] = followups(db)
    assert followup.assignee_id == personas.sara.id
    # A second tap is swallowed: the survey keeps its first answer.
    update["callback_query"]["id"] = "another-press"
    update["callback_query"]["data"] = buttons[4]["callback_data"]
    telegram_post(client, channel, update)
    assert responses(db)[0].score == 2 and len(conversations(db)) == 1


def test_a_button_from_someone_else_is_not_taken_as_the_answer(db, personas, provider, client):
    channel = create_channel(db, personas, "telegram", {"bot_token": BOT, "api_base": provider.url})
    provider.on("POST", f"/bot{BOT}/sendMessage", sent(1400))
    provider.on("POST", f"/bot{BOT}/answerCallbackQuery", Reply(json={"ok": True, "result": True}))
    configure(db, personas)
    telegram_post(client, channel, private_message(text="Ciao"))
    resolve(db, conversations(db)[0].id, personas.sara)
    drain(db)
    [response] = responses(db)
    update = copy.deepcopy(fixture_json("telegram/13_callback_query.json"))
    update["callback_query"]["data"] = f"sv:{response.code}:5"  # from user 1111111
    telegram_post(client, channel, update)
    assert responses(db)[0].status == ResponseStatus.SENT


# ---- WhatsApp --------------------------------------------------------------------------------


def whatsapp_post(client, channel, payload):  # type: ignore[no-untyped-def]
    body = json.dumps(payload).encode()
    return client.post(
        f"/hooks/{channel.public_id}",
        content=body,
        headers={"Content-Type": "application/json", "X-Hub-Signature-256": sign(body)},
    )


def whatsapp_channel(db, personas, provider):  # type: ignore[no-untyped-def]
    return create_channel(
        db,
        personas,
        "whatsapp",
        {
            "phone_number_id": PNID,
            "access_token": TOKEN,
            "app_secret": APP_SECRET,
            "verify_token": "verifica",
            "api_base": provider.url,
        },
    )


def test_whatsapp_csat_goes_out_as_an_interactive_list_and_the_reply_answers(
    db, personas, provider, client
):
    channel = whatsapp_channel(db, personas, provider)
    provider.on("POST", f"/{PNID}/messages", Reply(json={"messages": [{"id": "wamid.OUT"}]}))
    configure(db, personas, kind="csat")
    whatsapp_post(client, channel, whatsapp_text(PNID, "Buongiorno", message_id="wamid.IN1"))
    [conversation] = conversations(db)
    resolve(db, conversation.id, personas.sara)
    drain(db)
    [response] = responses(db)
    assert response.status == ResponseStatus.SENT
    interactive = provider.calls("POST", f"/{PNID}/messages")[-1].json()
    assert interactive["type"] == "interactive" and interactive["to"] == "393331234567"
    assert interactive["interactive"]["type"] == "list"
    assert interactive["interactive"]["action"]["button"] == "Il tuo voto"
    rows = interactive["interactive"]["action"]["sections"][0]["rows"]
    assert [r["id"] for r in rows] == [f"sv:{response.code}:{n}" for n in range(1, 6)]
    assert "/s/" in interactive["interactive"]["body"]["text"]

    # Meta's own list_reply example, from our customer, with the row they chose.
    reply = copy.deepcopy(fixture_json("whatsapp/split/callback_selection__callback.json"))
    value = reply["entry"][0]["changes"][0]["value"]
    value["metadata"]["phone_number_id"] = PNID
    value["contacts"][0]["wa_id"] = "393331234567"
    message = value["messages"][0]
    message["from"] = "393331234567"
    message["timestamp"] = str(int(time.time()))
    message["interactive"]["list_reply"] = {"id": rows[4]["id"], "title": rows[4]["title"]}
    before = len(messages(db))
    assert whatsapp_post(client, channel, reply).status_code == 200
    [response] = responses(db)
    assert (response.status, response.score, response.answered_via) == ("answered", 5, "button")
    assert len(conversations(db)) == 1
    assert [m.direction for m in messages(db)[before:]] == [Direction.OUTBOUND]
    assert followups(db) == []


def test_whatsapp_nps_has_eleven_scores_so_it_goes_as_a_link(db, personas, provider, client):
    channel = whatsapp_channel(db, personas, provider)
    provider.on("POST", f"/{PNID}/messages", Reply(json={"messages": [{"id": "wamid.OUT"}]}))
    configure(db, personas, kind="nps")
    whatsapp_post(client, channel, whatsapp_text(PNID, "Buongiorno", message_id="wamid.IN1"))
    resolve(db, conversations(db)[0].id, personas.sara)
    drain(db)
    survey = provider.calls("POST", f"/{PNID}/messages")[-1].json()
    assert survey["type"] == "text"  # a list holds ten rows at most
    token = link_in(survey["text"]["body"])
    page = client.get(f"/s/{token}")
    answered = client.post(f"/s/{token}", data={"score": "0", "csrf_token": csrf_from(page.text)})
    assert answered.status_code == 200
    assert responses(db)[0].score == 0 and len(followups(db)) == 1


def test_whatsapp_ces_fits_a_list_of_seven(db, personas, provider, client):
    channel = whatsapp_channel(db, personas, provider)
    provider.on("POST", f"/{PNID}/messages", Reply(json={"messages": [{"id": "wamid.OUT"}]}))
    configure(db, personas, kind="ces")
    whatsapp_post(client, channel, whatsapp_text(PNID, "Buongiorno", message_id="wamid.IN1"))
    resolve(db, conversations(db)[0].id, personas.sara)
    drain(db)
    survey = provider.calls("POST", f"/{PNID}/messages")[-1].json()
    rows = survey["interactive"]["action"]["sections"][0]["rows"]
    assert [r["title"] for r in rows] == [str(n) for n in range(1, 8)]


# ---- live chat -------------------------------------------------------------------------------


def test_chat_survey_is_a_message_in_the_widget_with_the_link(db, personas, client):
    from sportello.channels.base import Identity, InboundMessage
    from tests.factories import receive

    chat = create_channel(
        db, personas, "chat", {"allowed_origins": "https://www.negozio.it", "color": "#8b3a1a"}
    )
    configure(db, personas, kind="csat")
    receive(
        db,
        chat,
        InboundMessage(
            identity=Identity("visitor", "v-1234567890"),
            sender_name="Visitatore",
            text="Avete la taglia M?",
            provider_message_id="chat:abc",
        ),
    )
    resolve(db, conversations(db)[0].id, personas.sara)
    drain(db)
    [response] = responses(db)
    survey = next(m for m in messages(db) if m.id == response.message_id)
    assert survey.delivery_state == "sent"  # delivered inline to the widget's timeline
    token = link_in(survey.text)
    page = client.get(f"/s/{token}")
    client.post(f"/s/{token}", data={"score": "4", "csrf_token": csrf_from(page.text)})
    assert responses(db)[0].score == 4


# ---- SMS -------------------------------------------------------------------------------------


def test_sms_survey_is_a_link_and_the_link_answers(db, personas, provider, client):
    from urllib.parse import parse_qs

    from tests.channels.test_sms import MESSAGES_PATH, SID, created, post_sample
    from tests.channels.test_sms import TOKEN as SMS_TOKEN

    channel = create_channel(
        db,
        personas,
        "sms",
        {
            "account_sid": SID,
            "auth_token": SMS_TOKEN,
            "from_number": "+15005550006",
            "api_base": provider.url,
            "webhook_url": "https://example.com/twilio/sms",
        },
    )
    provider.on("POST", MESSAGES_PATH, created("SM1"), created("SM2"))
    configure(db, personas, kind="ces")
    assert post_sample(client, channel, "inbound_sms_plain").status_code == 200
    resolve(db, conversations(db)[0].id, personas.sara)
    drain(db)
    [response] = responses(db)
    assert response.status == ResponseStatus.SENT
    sms = parse_qs(provider.calls("POST", MESSAGES_PATH)[-1].body.decode())
    body = sms["Body"][0]
    assert "Rispondi con un tocco qui" in body  # SMS has no buttons: a link
    token = link_in(body)
    page = client.get(f"/s/{token}")
    assert page.status_code == 200 and page.text.count('class="sv-score ') == 7
    client.post(f"/s/{token}", data={"score": "6", "csrf_token": csrf_from(page.text)})
    assert responses(db)[0].score == 6
