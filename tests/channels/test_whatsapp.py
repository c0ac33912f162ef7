"""WhatsApp Cloud API: the adapter from pywa's payload fixtures and Meta's signature vector, then
end to end through the app with a real local HTTP server playing the Graph API."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Iterator
from datetime import timedelta
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
from sportello.channels.whatsapp import templates
from sportello.channels.whatsapp.adapter import (
    WINDOW_CLOSED,
    WhatsAppAdapter,
    signature_valid,
    window_open,
)
from sportello.conversations import actions as conversations_actions
from sportello.conversations.models import Conversation, DeliveryState, Message
from sportello.core import jobs
from sportello.core.db import utcnow
from sportello.core.dispatcher import Dispatcher
from sportello.core.errors import InvalidInput
from sportello.customers.models import CustomerIdentity
from tests.channels import whatsapp_templates as wt
from tests.channels.messaging import (
    WEBHOOKS,
    FakeProvider,
    Reply,
    count,
    create_channel,
    fixture_bytes,
    fixture_json,
    messages,
    whatsapp_text,
    whatsapp_webhook,
)

PNID = "1122334455667"
APP_SECRET = "app-secret-di-prova"
TOKEN = "EAAG-access-token"
ADAPTER = WhatsAppAdapter()
SPLIT = sorted(p.name for p in (WEBHOOKS / "whatsapp/split").glob("*.json"))


@pytest.fixture
def provider() -> Iterator[FakeProvider]:
    with FakeProvider() as p:
        yield p


def config(api_base: str = "http://127.0.0.1:9", pnid: str = PNID) -> ChannelConfig:
    return ChannelConfig(
        id=1,
        public_id="wa",
        kind="whatsapp",
        name="WhatsApp",
        brand_id=1,
        settings={"phone_number_id": pnid, "api_base": api_base},
        secrets={"access_token": TOKEN, "app_secret": APP_SECRET, "verify_token": "verifica"},
        token_hash=None,
    )


def sign(body: bytes, secret: str = APP_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def request(body: bytes, **query: str) -> WebhookRequest:
    return WebhookRequest(
        "POST",
        "https://example.it/hooks/wa",
        {"x-hub-signature-256": sign(body), "content-type": "application/json"},
        query,
        body,
    )


def parse(name: str, api_base: str = "http://127.0.0.1:9", pnid: str = PNID):  # type: ignore[no-untyped-def]
    req = request(fixture_bytes(f"whatsapp/split/{name}"))
    cfg = config(api_base, pnid)
    parsed = ADAPTER.parse(cfg, req)
    return parsed.messages, parsed.statuses


def status_payload(message_id: str, status: str, errors: list[dict[str, Any]] | None = None):  # type: ignore[no-untyped-def]
    item: dict[str, Any] = {
        "id": message_id,
        "status": status,
        "timestamp": str(int(time.time())),
        "recipient_id": "393331234567",
    }
    if errors:
        item["errors"] = errors
    return whatsapp_webhook(PNID, statuses=[item])


# ---- signature and handshake ---------------------------------------------------------------


def test_metas_signature_vector_is_accepted_and_mutations_refused():
    vector = fixture_json("whatsapp/signature_vector.json")
    body = fixture_bytes(f"whatsapp/{vector['body_file']}")
    assert hashlib.sha256(body).hexdigest() == vector["body_sha256"]
    secret, header = vector["app_secret"], vector["header_value"]
    assert signature_valid(secret, body, header)
    assert not signature_valid(secret, body + b" ", header)
    assert not signature_valid(secret[:-1] + ("0" if secret[-1] != "0" else "1"), body, header)
    # Meta always sends the prefix: a bare hex digest is refused.
    assert not signature_valid(secret, body, header.removeprefix("sha256="))
    assert not signature_valid(secret, body, "sha1=" + header.removeprefix("sha256="))
    assert not signature_valid(secret, body, "")
    assert not signature_valid("", body, header)
    flipped = header[:-1] + ("0" if header[-1] != "0" else "1")
    assert not signature_valid(secret, body, flipped)


def test_verify_raises_webhook_rejected_on_a_bad_signature():
    body = fixture_bytes("whatsapp/split/message__text.json")
    ADAPTER.verify(config(), request(body))
    bad = WebhookRequest("POST", "u", {"x-hub-signature-256": sign(body, "other")}, {}, body)
    with pytest.raises(WebhookRejected):
        ADAPTER.verify(config(), bad)


def test_handshake_echoes_the_challenge_only_for_our_verify_token():
    def hs(**q: str) -> str | None:
        return ADAPTER.handshake(config(), WebhookRequest("GET", "u", {}, q, b""))

    ok = {"hub.mode": "subscribe", "hub.verify_token": "verifica", "hub.challenge": "1158201444"}
    assert hs(**ok) == "1158201444"
    assert hs(**{**ok, "hub.verify_token": "sbagliato"}) is None
    assert hs(**{**ok, "hub.mode": "unsubscribe"}) is None
    assert hs(**{"hub.challenge": "1"}) is None


# ---- parsing every fixture ------------------------------------------------------------------


def _expected(name: str) -> tuple[int, int]:
    """(messages, statuses) each fixture should give."""
    if name.startswith("message_status__"):
        return 0, 1
    if name.startswith(("message__", "callback_", "flow_completion__", "system__")):
        return 1, 0
    if name.startswith(("edited_message__", "call_permission_update__")):
        return 1, 0
    return 0, 0  # account/template/call/preference updates, echoes, revokes: ignored


@pytest.mark.parametrize("name", SPLIT)
def test_every_fixture_parses_to_what_we_expect(name):
    data = fixture_json(f"whatsapp/split/{name}")
    numbers = {
        (c.get("value") or {}).get("metadata", {}).get("phone_number_id")
        for e in data["entry"]
        for c in e["changes"]
    }
    pnid = next((n for n in numbers if n), PNID)
    inbound, statuses = parse(name, pnid=pnid)
    assert (len(inbound), len(statuses)) == _expected(name)
    for message in inbound:
        assert message.identity.kind == "whatsapp"
        assert message.identity.value.startswith("+")
        assert message.text.strip() or message.attachments or message.pending_media
        assert message.provider_message_id


def test_raw_files_hold_the_same_cases_as_split():
    for raw in (WEBHOOKS / "whatsapp/raw").glob("*.json"):
        for case in json.loads(raw.read_text()):
            assert f"{raw.stem}__{case}.json" in SPLIT


def test_text_message():
    (message,), _ = parse("message__text.json")
    assert message.text == "Body Text"
    assert message.sender_name == "Test Name"
    assert (message.identity.kind, message.identity.value) == ("whatsapp", "+972987654321")
    assert [(i.kind, i.value) for i in message.extra_identities] == [("phone", "+972987654321")]
    assert message.provider_message_id == "wamid.xyzxyz"
    assert message.received_at is not None and message.received_at.timestamp() == 1697043223


def test_reply_forward_and_referral_keep_their_context():
    (reply,), _ = parse("message__reply.json")
    assert reply.in_reply_to == ["wamid.xyzxyz=="]
    (forwarded,), _ = parse("message__forwarded.json")
    assert forwarded.meta["forwarded"] is True
    (referral,), _ = parse("message__referral.json")
    assert referral.meta["referral"]["source_id"] == "ADID"


def test_image_is_fetched_through_the_media_api(provider):
    provider.on(
        "GET",
        "/65463453",
        Reply(
            json={
                "messaging_product": "whatsapp",
                "url": f"{provider.url}/whatsapp_business/attachments/65463453",
                "mime_type": "image/jpeg",
                "sha256": "4654+8g=",
                "file_size": 9,
                "id": "65463453",
            }
        ),
    )
    provider.on(
        "GET",
        "/whatsapp_business/attachments/65463453",
        Reply(body=b"\xff\xd8\xffJPEG!!", content_type="image/jpeg"),
    )
    (message,), _ = parse("message__image.json", provider.url)
    # Parsing downloads nothing: the file is fetched by a job once the message is stored.
    assert message.attachments == [] and provider.requests == []
    (pending,) = message.pending_media
    attachment = ADAPTER.fetch_media(config(provider.url), pending.ref)
    assert attachment.data == b"\xff\xd8\xffJPEG!!"
    assert attachment.content_type == "image/jpeg"
    assert attachment.filename == "image-65463453.jpg"
    assert all(r.headers["authorization"] == f"Bearer {TOKEN}" for r in provider.requests)
    assert [r.path for r in provider.requests] == [
        "/65463453",
        "/whatsapp_business/attachments/65463453",
    ]


def test_document_keeps_its_name_and_caption_and_voice_gets_one(provider):
    for media_id in ("1234567890987654321",):
        provider.on(
            "GET",
            f"/{media_id}",
            Reply(json={"url": f"{provider.url}/file/{media_id}", "mime_type": "application/pdf"}),
        )
        provider.on(
            "GET", f"/file/{media_id}", Reply(body=b"%PDF-1.4", content_type="application/pdf")
        )
    (document,), _ = parse("message__document.json", provider.url)
    assert document.text == "caption"
    fetched = ADAPTER.fetch_media(config(provider.url), document.pending_media[0].ref)
    assert fetched.filename == "filename.pdf"
    (voice,), _ = parse("message__voice.json", provider.url)
    fetched = ADAPTER.fetch_media(config(provider.url), voice.pending_media[0].ref)
    assert fetched.filename.startswith("voice-1234567890987654321")


def test_media_that_cannot_be_fetched_is_a_temporary_error(provider):
    provider.on(
        "GET", "/765756756", Reply(500, {"error": {"code": 2, "message": "Service unavailable"}})
    )
    (video,), _ = parse("message__video.json", provider.url)
    assert video.text == "caption" and video.meta["media_id"] == "765756756"
    with pytest.raises(ChannelError) as failed:
        ADAPTER.fetch_media(config(provider.url), video.pending_media[0].ref)
    assert failed.value.permanent is False  # the job tries again later


def test_location_contacts_reaction_order_and_system():
    (location,), _ = parse("message__chosen_location.json")
    assert "Facebook HQ, 1 Hacker Way" in location.text
    assert "mlat=37.4611978&mlon=-122.2164385" in location.text
    (contacts,), _ = parse("message__contacts.json")
    assert contacts.text.splitlines()[0] == "👤 Chandler Bing · +1 555-555-5555"
    assert len(contacts.meta["contacts"]) == 3
    (reaction,), _ = parse("message__reaction.json")
    assert reaction.text == "Reaction 😮"
    assert reaction.in_reply_to == ["wamid.yzxyzx="]
    (removed,), _ = parse("message__unreaction_empty.json")
    assert removed.text == "Reaction removed"
    (order,), _ = parse("message__order.json")
    assert "3 × HAMBURGER (30 ILS)" in order.text
    (system,), _ = parse("system__identity_change.json")
    assert system.automated and system.text == "User identity changed"


def test_interactive_and_template_button_replies():
    (button,), _ = parse("callback_button__button.json")
    assert button.text == "title"
    assert button.meta["interactive"] == {
        "type": "button_reply",
        "id": "callback_data",
        "title": "title",
    }
    assert button.in_reply_to == ["wamid.xyzxyz"]
    (listed,), _ = parse("callback_selection__description.json")
    assert listed.text == "title\ndescription"
    (quick,), _ = parse("callback_button__quick_reply.json")
    assert quick.text == "title" and quick.meta["button"]["payload"] == "callback_data"
    (flow,), _ = parse("flow_completion__completion.json")
    assert "delivery_rating" in flow.meta["flow"]["response_json"]


def test_edited_message_is_a_new_message_pointing_at_the_original():
    (edited,), _ = parse("edited_message__image.json", pnid="106540352242922")
    original = "wamid.HBgLMTQxMjU1NTA4MjkVAgASGBQzQUNCNjk5RDUwNUZGMUZEM0VBRAA="
    assert edited.meta["edited"] is True
    assert edited.in_reply_to[0] == original
    assert edited.text.startswith("Updated image caption")


def test_unsupported_messages_leave_a_trace_for_the_agent():
    (message,), _ = parse("message__unsupported_with_type.json")
    assert "not shown here: pool" in message.text
    (broken,), _ = parse("message__interactive_message_with_err.json")
    assert "not shown here" in broken.text


def test_statuses_map_to_delivery_states():
    got = {}
    for name in ("sent", "delivered", "read", "played", "failed"):
        _, (status,) = parse(f"message_status__{name}.json")
        got[name] = (status.provider_message_id, status.state, status.error)
    assert got["sent"] == ("wamid.xyzxyz", "sent", None)
    assert got["delivered"][1] == "delivered"
    assert got["read"][1] == got["played"][1] == "read"
    assert got["failed"][1] == "failed"
    assert got["failed"][2] == (
        "130472 User's number is part of an experiment: Failed to send message because this "
        "user's phone number is part of an experiment"
    )


def test_another_numbers_webhooks_are_ignored():
    inbound, statuses = parse("message__text.json", pnid="999")
    assert inbound == [] and statuses == []


def test_ignored_kinds_are_logged_once(caplog):
    from sportello.channels import base

    base._ignored_logged.discard(("whatsapp", "field:message_template_status_update"))
    with caplog.at_level(logging.INFO, logger="sportello.channels.base"):
        parse("template_status_update__approved.json")
        parse("template_status_update__rejected.json")
    hits = [r for r in caplog.records if "message_template_status_update" in r.getMessage()]
    assert len(hits) == 1


# ---- sending (adapter level) ----------------------------------------------------------------


def outbound(text: str = "Buongiorno!", **kwargs: Any) -> OutboundMessage:
    base: dict[str, Any] = {
        "message_id": 7,
        "conversation_id": 1,
        "conversation_number": 1001,
        "text": text,
        "html": None,
        "subject": "",
        "recipient": {"whatsapp": "+393331234567", "phone": "+393331234567"},
        "recipient_name": "Mario Rossi",
        "author_name": "Sara Conti",
        "last_inbound_at": utcnow() - timedelta(hours=1),
    }
    base.update(kwargs)
    return OutboundMessage(**base)


def test_window_is_24_hours_from_the_last_inbound_message():
    now = utcnow()
    assert window_open(now - timedelta(hours=23, minutes=59), now)
    assert not window_open(now - timedelta(hours=24), now)
    assert not window_open(None, now)


def test_send_text_posts_to_the_messages_endpoint(provider):
    provider.on(
        "POST",
        f"/{PNID}/messages",
        Reply(
            json={
                "messaging_product": "whatsapp",
                "contacts": [{"input": "393331234567", "wa_id": "393331234567"}],
                "messages": [{"id": "wamid.OUT1"}],
            }
        ),
    )
    ref = ADAPTER.send(config(provider.url), outbound())
    assert ref.provider_message_id == "wamid.OUT1"
    (call,) = provider.requests
    assert call.headers["authorization"] == f"Bearer {TOKEN}"
    assert call.json() == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "393331234567",
        "type": "text",
        "text": {"preview_url": False, "body": "Buongiorno!"},
    }


def test_send_outside_the_window_is_refused_unless_a_template(provider):
    provider.on("POST", f"/{PNID}/messages", Reply(json={"messages": [{"id": "wamid.T"}]}))
    with pytest.raises(ChannelError) as exc:
        ADAPTER.send(config(provider.url), outbound(last_inbound_at=utcnow() - timedelta(days=2)))
    assert exc.value.permanent and exc.value.message == WINDOW_CLOSED
    assert provider.requests == []
    template = {"name": "ordine_spedito", "language": {"code": "it"}}
    ref = ADAPTER.send(
        config(provider.url), outbound(last_inbound_at=None, meta={"template": template})
    )
    assert ref.provider_message_id == "wamid.T"
    assert provider.requests[0].json()["template"] == template


def test_templates_with_media_headers_and_buttons_go_out_as_meta_documents(provider):
    """template_reply() builds the message's meta from the stored template and what the agent
    filled in; send() posts it to the Graph API as it is."""
    provider.on("POST", f"/{PNID}/messages", Reply(json={"messages": [{"id": "wamid.TPL"}]}))
    settings = {"templates": templates.parse([wt.SALE, wt.INVOICE, wt.SHIPPED]).templates}
    image = wt.SALE_IMAGE
    text, meta = ADAPTER.template_reply(
        settings, key="saldi:it", values=["31 agosto"], header_media=image
    )
    assert text.startswith(f"{image}\n\nSaldi fino al 31 agosto!\n\n[Mi interessa]")
    ADAPTER.send(config(provider.url), outbound(text, last_inbound_at=None, meta=meta))
    _, meta = ADAPTER.template_reply(
        settings, key="fattura:it", values=["Mario"], header_media="1479537139650973"
    )
    ADAPTER.send(config(provider.url), outbound("", last_inbound_at=None, meta=meta))
    sale, invoice = (r.json() for r in provider.calls("POST", f"/{PNID}/messages"))
    assert sale == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "393331234567",
        "type": "template",
        "template": wt.SALE_SENT,
    }
    assert invoice["template"]["components"][0] == {
        "type": "header",
        "parameters": [{"type": "document", "document": {"id": "1479537139650973"}}],
    }
    with pytest.raises(InvalidInput) as exc:  # the URL button's ending is missing
        ADAPTER.template_reply(
            settings, key="spedizione:it", values=["Mario", "domani"], header=["5521"]
        )
    assert exc.value.field == "button_params"
    assert len(provider.requests) == 2


def test_send_media_uploads_then_sends_with_a_caption(provider, tmp_path):
    path = tmp_path / "scontrino.png"
    path.write_bytes(b"\x89PNG fake")
    provider.on("POST", f"/{PNID}/media", Reply(json={"id": "MEDIA-1"}))
    provider.on("POST", f"/{PNID}/messages", Reply(json={"messages": [{"id": "wamid.M"}]}))
    ref = ADAPTER.send(
        config(provider.url),
        outbound(
            "Ecco lo scontrino",
            attachments=(OutboundAttachment("scontrino.png", "image/png", str(path)),),
        ),
    )
    assert ref.provider_message_id == "wamid.M"
    upload, send = provider.requests
    assert upload.headers["content-type"].startswith("multipart/form-data")
    assert b'name="messaging_product"' in upload.body and b"\x89PNG fake" in upload.body
    assert send.json()["image"] == {"id": "MEDIA-1", "caption": "Ecco lo scontrino"}


@pytest.mark.parametrize(
    ("status", "code", "permanent"),
    [
        (400, 130429, False),  # throughput rate limit
        (400, 131056, False),  # pair rate limit
        (400, 80007, False),  # WABA rate limit
        (403, 4, False),  # app rate limit
        (500, 1, False),
        (503, None, False),
        (400, 131026, True),  # undeliverable
        (400, 131047, True),  # re-engagement: 24 h passed
        (400, 100, True),  # invalid parameter
        (401, 190, True),  # token expired
    ],
)
def test_graph_errors_are_classified(provider, status, code, permanent):
    body = {"error": {"message": "Boom", "type": "OAuthException", "code": code, "fbtrace_id": "x"}}
    provider.on("POST", f"/{PNID}/messages", Reply(status, body if code else None, b"oops"))
    with pytest.raises(ChannelError) as exc:
        ADAPTER.send(config(provider.url), outbound())
    assert exc.value.permanent is permanent
    if code == 131047:
        assert WINDOW_CLOSED in str(exc.value)


def test_unreachable_provider_is_temporary():
    with pytest.raises(ChannelError) as exc:
        ADAPTER.send(config("http://127.0.0.1:9"), outbound())
    assert not exc.value.permanent


# ---- end to end through the app --------------------------------------------------------------


@pytest.fixture
def channel(db, personas, provider):  # type: ignore[no-untyped-def]
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


def post(client, channel, payload, *, secret: str = APP_SECRET):  # type: ignore[no-untyped-def]
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return client.post(
        f"/hooks/{channel.public_id}",
        content=body,
        headers={"Content-Type": "application/json", "X-Hub-Signature-256": sign(body, secret)},
    )


def test_configure_requires_the_credentials(db, personas):
    from sportello.core.errors import InvalidInput

    with pytest.raises(InvalidInput):
        create_channel(db, personas, "whatsapp", {"phone_number_id": PNID})
    channel = create_channel(
        db, personas, "whatsapp", {"phone_number_id": PNID, "access_token": "t", "app_secret": "s"}
    )
    assert channel.shown_once["verify_token"].startswith("wav_")
    assert "access_token" not in channel.settings
    assert channel.secrets["access_token"] != "t"  # encrypted at rest


def test_handshake_through_the_app(client, channel, personas):
    url = f"/hooks/{channel.public_id}"
    q = {"hub.mode": "subscribe", "hub.verify_token": "verifica", "hub.challenge": "4242"}
    ok = client.get(url, params=q)
    assert ok.status_code == 200 and ok.text == "4242"
    assert client.get(url, params={**q, "hub.verify_token": "no"}).status_code == 403
    assert client.get("/hooks/nope", params=q).status_code == 401
    assert client.get(f"/hooks/{personas.webform.public_id}", params=q).status_code == 404


def test_fixture_creates_a_conversation_and_a_replay_does_not_duplicate(client, db, channel):
    body = fixture_bytes("whatsapp/split/message__text.json")
    first = post(client, channel, body)
    assert first.status_code == 200, first.text
    (received,) = first.json()["received"]
    assert received["duplicate"] is False
    again = post(client, channel, body)
    assert again.json()["received"][0]["duplicate"] is True
    assert count(db) == 1 and count(db, Conversation) == 1
    with db.session() as s:
        kinds = {(i.kind.value, i.value) for i in s.scalars(select(CustomerIdentity))}
    assert kinds == {("whatsapp", "+972987654321"), ("phone", "+972987654321")}


def test_bad_signature_is_401_and_stores_nothing(client, db, channel):
    body = fixture_bytes("whatsapp/split/message__text.json")
    assert post(client, channel, body, secret="wrong").status_code == 401
    unsigned = client.post(f"/hooks/{channel.public_id}", content=body)
    assert unsigned.status_code == 401
    assert count(db) == 0 and count(db, Conversation) == 0


def test_unknown_update_kinds_are_accepted_and_ignored(client, db, channel):
    for name in (
        "account_update__account_deleted.json",
        "template_status_update__approved.json",
        "outgoing_message__text.json",
        "call_connect__user_initiated.json",
    ):
        response = post(client, channel, fixture_bytes(f"whatsapp/split/{name}"))
        assert response.status_code == 200, name
        assert response.json() == {"received": []}
    assert count(db) == 0


def _reply(
    db,
    text: str = "Certo, controllo subito.",
    *,
    meta: dict[str, Any] | None = None,
    attachments=(),
):  # type: ignore[no-untyped-def]
    with db.transaction() as s:
        conversation = s.scalars(select(Conversation)).one()
        message = conversations_actions.do_send_reply(
            s, conversation=conversation, author=None, text=text, attachments=attachments
        )
        if meta:
            message.meta = meta
        return message.id


def _message(db, message_id: int) -> Message:
    with db.session() as s:
        return s.get_one(Message, message_id)


def test_reply_status_updates_and_read(client, db, channel, provider):
    provider.on(
        "POST",
        f"/{PNID}/messages",
        Reply(
            json={
                "messaging_product": "whatsapp",
                "contacts": [{"input": "393331234567", "wa_id": "393331234567"}],
                "messages": [{"id": "wamid.REPLY1"}],
            }
        ),
    )
    assert (
        post(
            client, channel, whatsapp_text(PNID, "Dov'è il mio ordine?", message_id="wamid.IN1")
        ).status_code
        == 200
    )
    reply_id = _reply(db)
    Dispatcher(db).drain()
    (call,) = provider.calls("POST", f"/{PNID}/messages")
    assert call.headers["authorization"] == f"Bearer {TOKEN}"
    assert call.json()["to"] == "393331234567"
    assert call.json()["text"]["body"] == "Certo, controllo subito."
    sent = _message(db, reply_id)
    assert (sent.delivery_state, sent.provider_message_id) == (DeliveryState.SENT, "wamid.REPLY1")

    assert post(client, channel, status_payload("wamid.REPLY1", "delivered")).status_code == 200
    assert _message(db, reply_id).delivery_state == DeliveryState.DELIVERED
    post(client, channel, status_payload("wamid.REPLY1", "read"))
    assert _message(db, reply_id).delivery_state == DeliveryState.READ
    # A late "sent" never moves it back; unknown ids are ignored.
    post(client, channel, status_payload("wamid.REPLY1", "sent"))
    assert post(client, channel, status_payload("wamid.UNKNOWN", "read")).status_code == 200
    assert _message(db, reply_id).delivery_state == DeliveryState.READ


def test_failed_status_shows_the_error(client, db, channel, provider):
    provider.on("POST", f"/{PNID}/messages", Reply(json={"messages": [{"id": "wamid.R2"}]}))
    post(client, channel, whatsapp_text(PNID, "Ciao", message_id="wamid.IN2"))
    reply_id = _reply(db)
    Dispatcher(db).drain()
    error = {
        "code": 131026,
        "title": "Message undeliverable",
        "error_data": {"details": "Unable to deliver"},
    }
    post(client, channel, status_payload("wamid.R2", "failed", [error]))
    failed = _message(db, reply_id)
    assert failed.delivery_state == DeliveryState.FAILED
    assert failed.error == "131026 Message undeliverable: Unable to deliver"


def test_reply_after_the_window_fails_with_the_reason(client, db, channel, provider):
    # The pywa fixture was sent in 2023: the 24-hour window is long closed.
    post(client, channel, fixture_bytes("whatsapp/split/message__text.json"))
    reply_id = _reply(db)
    Dispatcher(db).drain()
    failed = _message(db, reply_id)
    assert failed.delivery_state == DeliveryState.FAILED
    assert failed.error == WINDOW_CLOSED
    assert provider.requests == []


def test_template_goes_out_after_the_window(client, db, channel, provider):
    provider.on("POST", f"/{PNID}/messages", Reply(json={"messages": [{"id": "wamid.TPL"}]}))
    post(
        client,
        channel,
        whatsapp_text(PNID, "Ciao", message_id="wamid.OLD", at=int(time.time()) - 3 * 86400),
    )
    template = {"name": "riapertura", "language": {"code": "it"}}
    reply_id = _reply(db, "Possiamo riprendere?", meta={"template": template})
    Dispatcher(db).drain()
    assert _message(db, reply_id).delivery_state == DeliveryState.SENT
    assert provider.requests[0].json()["type"] == "template"


def test_temporary_error_retries_and_permanent_error_fails(client, db, channel, provider):
    rate_limited = {"error": {"message": "Rate limit hit", "code": 130429}}
    provider.on("POST", f"/{PNID}/messages", Reply(400, rate_limited))
    post(client, channel, whatsapp_text(PNID, "Ciao", message_id="wamid.IN3"))
    reply_id = _reply(db)
    Dispatcher(db).drain()
    assert _message(db, reply_id).delivery_state == DeliveryState.QUEUED
    with db.session() as s:
        job = s.scalars(select(jobs.Job)).one()
        assert job.attempts == 1 and job.failed_at is None and "130429" in (job.error or "")
        assert job.run_at > utcnow()

    undeliverable = {"error": {"message": "Message undeliverable", "code": 131026}}
    provider.on("POST", f"/{PNID}/messages", Reply(400, undeliverable))
    with db.transaction() as s:
        s.get_one(jobs.Job, job.id).run_at = utcnow()
    Dispatcher(db).drain()
    failed = _message(db, reply_id)
    assert failed.delivery_state == DeliveryState.FAILED
    assert "131026" in (failed.error or "")


def test_reply_with_an_attachment_uploads_it(client, db, channel, provider):
    provider.on("POST", f"/{PNID}/media", Reply(json={"id": "MEDIA-9"}))
    provider.on("POST", f"/{PNID}/messages", Reply(json={"messages": [{"id": "wamid.DOC"}]}))
    post(client, channel, whatsapp_text(PNID, "Mi mandate la fattura?", message_id="wamid.IN4"))
    reply_id = _reply(
        db, "Eccola", attachments=[InboundAttachment("fattura.pdf", "application/pdf", b"%PDF-1.7")]
    )
    Dispatcher(db).drain()
    assert _message(db, reply_id).delivery_state == DeliveryState.SENT
    (upload,) = provider.calls("POST", f"/{PNID}/media")
    assert b"%PDF-1.7" in upload.body
    (send,) = provider.calls("POST", f"/{PNID}/messages")
    assert send.json()["document"] == {
        "id": "MEDIA-9",
        "filename": "fattura.pdf",
        "caption": "Eccola",
    }


def test_inbound_media_is_stored_as_an_attachment(client, db, channel, provider):
    provider.on(
        "GET",
        "/65463453",
        Reply(json={"url": f"{provider.url}/dl/65463453", "mime_type": "image/jpeg"}),
    )
    provider.on("GET", "/dl/65463453", Reply(503, {"error": {"message": "try later"}}))
    body = fixture_bytes("whatsapp/split/message__image.json")
    assert post(client, channel, body).status_code == 200
    # Stored at once; the file waits for the job, whose first try meets a provider hiccup.
    (stored,) = messages(db)
    assert stored.attachments == [] and stored.meta["media_pending"] == 1
    Dispatcher(db).drain()
    (stored,) = messages(db)
    assert stored.attachments == [] and stored.meta["media_pending"] == 1
    with db.transaction() as s:
        (job,) = s.scalars(select(jobs.Job).where(jobs.Job.kind == "fetch_media")).all()
        assert job.done_at is None and job.failed_at is None and job.attempts == 1
        job.run_at = utcnow()  # the retry's time has come
    # A replayed webhook downloads nothing and queues nothing.
    before = len(provider.requests)
    assert post(client, channel, body).status_code == 200
    assert len(provider.requests) == before
    provider.on("GET", "/dl/65463453", Reply(body=b"\xff\xd8\xff-foto", content_type="image/jpeg"))
    Dispatcher(db).drain()
    (stored,) = messages(db)
    assert "media_pending" not in stored.meta
    (attachment,) = stored.attachments
    assert (attachment.filename, attachment.content_type, attachment.size) == (
        "image-65463453.jpg",
        "image/jpeg",
        len(b"\xff\xd8\xff-foto"),
    )
