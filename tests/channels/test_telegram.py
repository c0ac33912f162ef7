"""Telegram Bot API: the adapter from Telegram's own example updates, then end to end through the
app with a real local HTTP server playing the Bot API."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

import sportello.channels.service  # noqa: F401  (registers the delivery job and its handler)
from sportello.channels.base import (
    ChannelConfig,
    ChannelError,
    InboundAttachment,
    OutboundAttachment,
    OutboundMessage,
    WebhookRejected,
    WebhookRequest,
)
from sportello.channels.telegram.adapter import TelegramAdapter
from sportello.conversations import actions as conversations_actions
from sportello.conversations.models import Conversation, DeliveryState, Message
from sportello.core import jobs
from sportello.core.dispatcher import Dispatcher
from sportello.core.security import hash_token
from tests.channels.messaging import (
    WEBHOOKS,
    FakeProvider,
    Reply,
    count,
    create_channel,
    fixture_bytes,
    fixture_json,
    messages,
)

BOT = "123456:ABC-DEF1234ghIkl"
SECRET = "tg_segreto"
ADAPTER = TelegramAdapter()
FIXTURES = sorted(p.name for p in (WEBHOOKS / "telegram").glob("*.json"))


@pytest.fixture
def provider() -> Iterator[FakeProvider]:
    with FakeProvider() as p:
        yield p


def config(api_base: str = "http://127.0.0.1:9") -> ChannelConfig:
    return ChannelConfig(
        id=1,
        public_id="tg",
        kind="telegram",
        name="Telegram",
        brand_id=1,
        settings={"api_base": api_base},
        secrets={"bot_token": BOT},
        token_hash=hash_token(SECRET),
    )


def request(body: bytes, secret: str | None = SECRET) -> WebhookRequest:
    headers = {"content-type": "application/json"}
    if secret is not None:
        headers["x-telegram-bot-api-secret-token"] = secret
    return WebhookRequest("POST", "https://example.it/hooks/tg", headers, {}, body)


def parse(update: Any, api_base: str = "http://127.0.0.1:9"):  # type: ignore[no-untyped-def]
    body = update if isinstance(update, bytes) else json.dumps(update).encode()
    return ADAPTER.parse(config(api_base), request(body)).messages


def fetched(message: Any, api_base: str) -> list[Any]:
    """What the media job downloads for a parsed message (parsing itself downloads nothing)."""
    assert message.attachments == []
    return [ADAPTER.fetch_media(config(api_base), p.ref) for p in message.pending_media]


def fixture(name: str) -> bytes:
    return fixture_bytes(f"telegram/{name}")


def private_message(**fields: Any) -> dict[str, Any]:
    """An Update with a private-chat message, as the Bot API documents it."""
    message = {
        "message_id": 77,
        "from": {
            "id": 5550001,
            "is_bot": False,
            "first_name": "Giovanna",
            "last_name": "Neri",
            "language_code": "it",
        },
        "chat": {"id": 5550001, "first_name": "Giovanna", "last_name": "Neri", "type": "private"},
        "date": 1735725600,
    }
    message.update(fields)
    return {"update_id": 900001, "message": message}


# ---- verification ----------------------------------------------------------------------------


def test_secret_token_header_is_checked():
    body = fixture("02_message_text.json")
    ADAPTER.verify(config(), request(body))
    for bad in ("tg_sbagliato", "", None):
        with pytest.raises(WebhookRejected):
            ADAPTER.verify(config(), request(body, bad))


# ---- parsing ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", FIXTURES)
def test_every_example_update_parses(name):
    found = parse(fixture(name))
    expected = 0 if name.startswith(("11_", "12_")) else 1
    assert len(found) == expected
    for message in found:
        assert (message.identity.kind, message.identity.value) == ("telegram", "1111111")
        assert message.text.strip() or message.pending_media


def test_minimal_message_without_chat_type_is_a_private_chat():
    (message,) = parse(fixture("01_message_text_minimal.json"))
    assert message.text == "/start"
    assert message.sender_name == "Test Test Lastname"
    assert message.provider_message_id == "1111111:1365"
    assert message.meta["telegram_username"] == "Test"
    assert message.received_at is not None and message.received_at.timestamp() == 1441645532


def test_forwards_and_replies():
    (forwarded,) = parse(fixture("03_forwarded_message.json"))
    assert forwarded.meta["forwarded_from"] == "Forward Firstname Forward Lastname"
    (channel_forward,) = parse(fixture("04_forwarded_channel_message.json"))
    assert channel_forward.meta["forwarded_from"] == "Test channel"
    (reply,) = parse(fixture("05_message_with_reply.json"))
    assert reply.in_reply_to == ["1111111:1334"]


def test_edited_message_is_a_new_message_pointing_at_the_original():
    (edited,) = parse(fixture("06_edited_message.json"))
    assert edited.text == "Edited text"
    assert edited.provider_message_id == "1111111:1365:edit:1441646600"
    assert edited.in_reply_to == ["1111111:1365"]
    assert edited.meta["edited"] is True


def test_callback_query_becomes_a_message_with_its_data():
    (pressed,) = parse(fixture("13_callback_query.json"))
    assert pressed.text == "Data from button callback"
    assert pressed.provider_message_id == "cb:4382bfdwdsb323b2d9"
    assert pressed.meta["callback_query"]["data"] == "Data from button callback"


def test_inline_queries_are_ignored_and_logged_once(caplog):
    from sportello.channels import base

    base._ignored_logged.discard(("telegram", "inline_query"))
    with caplog.at_level(logging.INFO, logger="sportello.channels.base"):
        assert parse(fixture("11_inline_query.json")) == []
        assert parse(fixture("11_inline_query.json")) == []
    assert len([r for r in caplog.records if "inline_query" in r.getMessage()]) == 1


def test_group_chats_and_service_messages_are_ignored():
    group = private_message(text="ciao a tutti")
    group["message"]["chat"] = {"id": -100200, "title": "Clienti", "type": "supergroup"}
    assert parse(group) == []
    assert parse(private_message(new_chat_title="x")) == []


def _serve_file(provider: FakeProvider, file_id: str, path: str, data: bytes) -> None:
    provider.on(
        "POST",
        f"/bot{BOT}/getFile",
        Reply(
            json={
                "ok": True,
                "result": {
                    "file_id": file_id,
                    "file_unique_id": "u",
                    "file_size": len(data),
                    "file_path": path,
                },
            }
        ),
    )
    provider.on(
        "GET", f"/file/bot{BOT}/{path}", Reply(body=data, content_type="application/octet-stream")
    )


@pytest.mark.parametrize(
    ("name", "path", "filename", "mime"),
    [
        ("08_message_audio.json", "music/file_3.mp3", "Test music file.mp3", "audio/mpeg"),
        ("09_message_voice.json", "voice/file_4.oga", "voice.oga", "audio/ogg"),
        ("10_message_document.json", "documents/file_5.pdf", "Testfile.pdf", "application/pdf"),
    ],
)
def test_files_are_fetched_with_getfile(provider, name, path, filename, mime):
    _serve_file(provider, "AwADBAADbXXXXXXXXXXXGBdhD2l6_XX", path, b"file-bytes")
    (message,) = parse(fixture(name), provider.url)
    assert provider.requests == []
    (attachment,) = fetched(message, provider.url)
    assert (attachment.filename, attachment.content_type, attachment.data) == (
        filename,
        mime,
        b"file-bytes",
    )
    get_file, download = provider.requests
    assert get_file.query == {"file_id": ["AwADBAADbXXXXXXXXXXXGBdhD2l6_XX"]}
    assert download.path == f"/file/bot{BOT}/{path}"


def test_photo_takes_the_largest_size_and_keeps_the_caption(provider):
    _serve_file(provider, "big", "photos/file_9.jpg", b"\xff\xd8big")
    update = private_message(
        caption="Il pacco è arrivato così",
        photo=[
            {
                "file_id": "small",
                "file_unique_id": "a",
                "width": 90,
                "height": 67,
                "file_size": 1200,
            },
            {
                "file_id": "big",
                "file_unique_id": "b",
                "width": 1280,
                "height": 960,
                "file_size": 90000,
            },
        ],
    )
    (message,) = parse(update, provider.url)
    assert message.text == "Il pacco è arrivato così"
    assert fetched(message, provider.url)[0].filename == "photo.jpg"
    assert provider.requests[0].query == {"file_id": ["big"]}


def test_a_file_that_cannot_be_fetched_keeps_the_message(provider):
    provider.on(
        "POST",
        f"/bot{BOT}/getFile",
        Reply(400, {"ok": False, "error_code": 400, "description": "Bad Request: file is too big"}),
    )
    (message,) = parse(fixture("10_message_document.json"), provider.url)
    with pytest.raises(ChannelError) as failed:
        fetched(message, provider.url)
    assert failed.value.permanent  # the job notes it on the message at once, no retries


def test_location_and_contact_are_described():
    (location,) = parse(private_message(location={"latitude": 45.4642, "longitude": 9.19}))
    assert "mlat=45.4642&mlon=9.19" in location.text
    (contact,) = parse(
        private_message(contact={"phone_number": "+393331234567", "first_name": "Mario"})
    )
    assert contact.text == "👤 Mario · +393331234567"


# ---- sending (adapter level) -----------------------------------------------------------------


def outbound(text: str = "Buongiorno!", **kwargs: Any) -> OutboundMessage:
    base: dict[str, Any] = {
        "message_id": 7,
        "conversation_id": 1,
        "conversation_number": 1001,
        "text": text,
        "html": None,
        "subject": "",
        "recipient": {"telegram": "1111111"},
        "recipient_name": "Test",
        "author_name": "Sara Conti",
    }
    base.update(kwargs)
    return OutboundMessage(**base)


def sent(message_id: int, **extra: Any) -> Reply:
    result = {
        "message_id": message_id,
        "chat": {"id": 1111111, "type": "private"},
        "date": 1735725600,
        **extra,
    }
    return Reply(json={"ok": True, "result": result})


def test_send_message(provider):
    provider.on("POST", f"/bot{BOT}/sendMessage", sent(1400, text="Buongiorno!"))
    ref = ADAPTER.send(config(provider.url), outbound())
    assert ref.provider_message_id == "1111111:1400"
    assert provider.requests[0].json() == {"chat_id": "1111111", "text": "Buongiorno!"}


def test_long_text_is_split(provider):
    provider.on("POST", f"/bot{BOT}/sendMessage", sent(1), sent(2))
    ref = ADAPTER.send(config(provider.url), outbound("x" * 5000))
    assert [len(r.json()["text"]) for r in provider.requests] == [4096, 904]
    assert ref.meta["provider_message_ids"] == ["1111111:1", "1111111:2"]


def test_send_document_is_multipart_with_the_caption(provider, tmp_path):
    path = tmp_path / "fattura.pdf"
    path.write_bytes(b"%PDF-1.7 fattura")
    provider.on("POST", f"/bot{BOT}/sendDocument", sent(1500))
    ref = ADAPTER.send(
        config(provider.url),
        outbound(
            "La fattura",
            attachments=(OutboundAttachment("fattura.pdf", "application/pdf", str(path)),),
        ),
    )
    assert ref.provider_message_id == "1111111:1500"
    (call,) = provider.requests
    assert call.headers["content-type"].startswith("multipart/form-data")
    assert b'name="chat_id"\r\n\r\n1111111' in call.body
    assert b'name="caption"\r\n\r\nLa fattura' in call.body
    assert b'filename="fattura.pdf"' in call.body and b"%PDF-1.7 fattura" in call.body


@pytest.mark.parametrize(
    ("status", "description", "permanent"),
    [
        (429, "Too Many Requests: retry after 5", False),
        (502, "Bad Gateway", False),
        (500, "Internal Server Error", False),
        (400, "Bad Request: chat not found", True),
        (403, "Forbidden: bot was blocked by the user", True),
        (401, "Unauthorized", True),
    ],
)
def test_errors_are_classified(provider, status, description, permanent):
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if status == 429:
        body["parameters"] = {"retry_after": 5}
    provider.on("POST", f"/bot{BOT}/sendMessage", Reply(status, body))
    with pytest.raises(ChannelError) as exc:
        ADAPTER.send(config(provider.url), outbound())
    assert exc.value.permanent is permanent
    assert description in str(exc.value)
    if status == 429:
        assert "retry after 5 s" in str(exc.value)


# ---- end to end through the app --------------------------------------------------------------


@pytest.fixture
def channel(db, personas, provider):  # type: ignore[no-untyped-def]
    return create_channel(db, personas, "telegram", {"bot_token": BOT, "api_base": provider.url})


def post(client, channel, body: bytes, secret: str | None = None):  # type: ignore[no-untyped-def]
    headers = {"Content-Type": "application/json"}
    secret = secret if secret is not None else channel.shown_once["secret_token"]
    if secret:
        headers["X-Telegram-Bot-Api-Secret-Token"] = secret
    return client.post(f"/hooks/{channel.public_id}", content=body, headers=headers)


def test_configure_generates_the_secret_token_and_keeps_only_its_hash(db, personas):
    from sportello.core.errors import InvalidInput

    with pytest.raises(InvalidInput):
        create_channel(db, personas, "telegram", {"bot_token": "nonsense"})
    channel = create_channel(db, personas, "telegram", {"bot_token": BOT})
    token = channel.shown_once["secret_token"]
    assert channel.token_hash == hash_token(token)
    assert token not in json.dumps(channel.settings) and token not in json.dumps(channel.secrets)


def test_updates_create_one_conversation_and_replays_are_ignored(client, db, channel):
    assert post(client, channel, fixture("02_message_text.json")).status_code == 200
    again = post(client, channel, fixture("02_message_text.json"))
    assert again.json()["received"][0]["duplicate"] is True
    assert post(client, channel, fixture("06_edited_message.json")).status_code == 200
    assert post(client, channel, fixture("13_callback_query.json")).status_code == 200
    assert post(client, channel, fixture("11_inline_query.json")).json() == {"received": []}
    stored = messages(db)
    assert [m.text for m in stored] == ["/start", "Edited text", "Data from button callback"]
    assert stored[1].meta["edited"] is True
    assert count(db, Conversation) == 1


def test_wrong_or_missing_secret_is_401_and_stores_nothing(client, db, channel):
    assert (
        post(client, channel, fixture("02_message_text.json"), secret="tg_altro").status_code == 401
    )
    assert post(client, channel, fixture("02_message_text.json"), secret="").status_code == 401
    assert count(db) == 0


def _reply(db, text: str = "Ciao! Come possiamo aiutarla?", attachments=()):  # type: ignore[no-untyped-def]
    with db.transaction() as s:
        conversation = s.scalars(select(Conversation)).one()
        return conversations_actions.do_send_reply(
            s, conversation=conversation, author=None, text=text, attachments=attachments
        ).id


def _message(db, message_id: int) -> Message:
    with db.session() as s:
        return s.get_one(Message, message_id)


def test_reply_goes_out_with_sendmessage_and_the_answer_threads(client, db, channel, provider):
    provider.on("POST", f"/bot{BOT}/sendMessage", sent(1400))
    post(client, channel, fixture("02_message_text.json"))
    reply_id = _reply(db)
    Dispatcher(db).drain()
    (call,) = provider.requests
    assert call.json() == {"chat_id": "1111111", "text": "Ciao! Come possiamo aiutarla?"}
    reply = _message(db, reply_id)
    assert (reply.delivery_state, reply.provider_message_id) == (DeliveryState.SENT, "1111111:1400")
    # The customer answers our message with Telegram's reply feature.
    answer = private_message(
        text="Grazie", reply_to_message={"message_id": 1400, "date": 1, "chat": {"id": 1111111}}
    )
    answer["message"]["chat"]["id"] = 1111111
    assert post(client, channel, json.dumps(answer).encode()).status_code == 200
    assert count(db, Conversation) == 1


def test_reply_with_a_document(client, db, channel, provider):
    provider.on("POST", f"/bot{BOT}/sendDocument", sent(1401))
    post(client, channel, fixture("02_message_text.json"))
    reply_id = _reply(
        db, "Il modulo", [InboundAttachment("modulo.pdf", "application/pdf", b"%PDF-modulo")]
    )
    Dispatcher(db).drain()
    assert _message(db, reply_id).delivery_state == DeliveryState.SENT
    (call,) = provider.calls("POST", f"/bot{BOT}/sendDocument")
    assert b"%PDF-modulo" in call.body


def test_rate_limit_retries_and_a_blocked_bot_fails(client, db, channel, provider):
    from sportello.core.db import utcnow

    limited = {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 3",
        "parameters": {"retry_after": 3},
    }
    provider.on("POST", f"/bot{BOT}/sendMessage", Reply(429, limited))
    post(client, channel, fixture("02_message_text.json"))
    reply_id = _reply(db)
    Dispatcher(db).drain()
    assert _message(db, reply_id).delivery_state == DeliveryState.QUEUED
    with db.transaction() as s:
        job = s.scalars(select(jobs.Job)).one()
        assert job.attempts == 1 and job.failed_at is None
        job.run_at = utcnow()
    blocked = {
        "ok": False,
        "error_code": 403,
        "description": "Forbidden: bot was blocked by the user",
    }
    provider.on("POST", f"/bot{BOT}/sendMessage", Reply(403, blocked))
    Dispatcher(db).drain()
    failed = _message(db, reply_id)
    assert failed.delivery_state == DeliveryState.FAILED
    assert "blocked" in (failed.error or "")


def test_set_webhook_sends_the_url_and_the_secret_token(provider):
    provider.on(
        "POST",
        f"/bot{BOT}/setWebhook",
        Reply(json={"ok": True, "result": True, "description": "Webhook was set"}),
    )
    ADAPTER.set_webhook(
        config(provider.url), url="https://assistenza.negozio.it/hooks/tg", secret_token=SECRET
    )
    assert provider.requests[0].json() == {
        "url": "https://assistenza.negozio.it/hooks/tg",
        "secret_token": SECRET,
        "allowed_updates": ["message", "edited_message", "callback_query"],
        "drop_pending_updates": False,
    }


def test_fixture_files_are_the_official_examples():
    assert len(FIXTURES) == 13
    assert fixture_json("telegram/13_callback_query.json")["update_id"] == 10000
