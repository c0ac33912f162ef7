"""SMS through a Twilio-compatible provider: Twilio's official signature vectors (and mutations of
them), the documented webhook and status-callback forms, then end to end through the app with a
real local HTTP server playing the Messages API."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl

import pytest
from sqlalchemy import select

import sportello.channels.service  # noqa: F401  (registers the delivery job and its handler)
from sportello.channels.base import (
    ChannelConfig,
    ChannelError,
    OutboundAttachment,
    OutboundMessage,
    WebhookRejected,
    WebhookRequest,
)
from sportello.channels.sms.adapter import SmsAdapter
from sportello.channels.sms.signature import compute_signature, signature_valid
from sportello.config import get_settings
from sportello.conversations import actions as conversations_actions
from sportello.conversations.models import Conversation, DeliveryState, Message
from sportello.core import jobs
from sportello.core.db import utcnow
from sportello.core.dispatcher import Dispatcher
from sportello.customers.models import CustomerIdentity
from tests.channels.messaging import (
    FakeProvider,
    Reply,
    count,
    create_channel,
    fixture_bytes,
    fixture_json,
    messages,
)

SID = "AC00000000000000000000000000000001"
TOKEN = "12345"  # the constructed fixtures are signed with it
ADAPTER = SmsAdapter()
VECTORS = fixture_json("twilio/request_validator_vectors.json")
SAMPLES = fixture_json("twilio/constructed_callbacks.json")["samples"]
MESSAGES_PATH = f"/2010-04-01/Accounts/{SID}/Messages.json"


@pytest.fixture
def provider() -> Iterator[FakeProvider]:
    with FakeProvider() as p:
        yield p


def config(api_base: str = "http://127.0.0.1:9", **settings: str) -> ChannelConfig:
    return ChannelConfig(
        id=1,
        public_id="sms1",
        kind="sms",
        name="SMS",
        brand_id=1,
        settings={
            "account_sid": SID,
            "from_number": "+15005550006",
            "api_base": api_base,
            **settings,
        },
        secrets={"auth_token": TOKEN},
        token_hash=None,
    )


def vector_params(vector: dict[str, Any]) -> list[tuple[str, str]]:
    if "params_multi" in vector:
        return [tuple(p) for p in vector["params_multi"]]  # type: ignore[misc]
    return list(vector.get("params", {}).items())


def vector_valid(vector: dict[str, Any], **changes: Any) -> bool:
    v = {**vector, **changes}
    token = v.get("auth_token_override", VECTORS["auth_token"])
    if "raw_body" in v:
        return signature_valid(
            token, v["url"], v["x_twilio_signature"], body=v["raw_body"].encode()
        )
    return signature_valid(
        token, v["url"], v["x_twilio_signature"], params=v.get("pairs", vector_params(v))
    )


# ---- signatures ------------------------------------------------------------------------------


@pytest.mark.parametrize("vector", VECTORS["vectors"], ids=lambda v: v["id"])
def test_official_vectors(vector):
    assert vector_valid(vector) is vector["expected_valid"]


def _mutations(vector: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    sig = vector["x_twilio_signature"]
    flipped = sig[:5] + ("A" if sig[5] != "A" else "B") + sig[6:]
    found: list[tuple[str, dict[str, Any]]] = [
        ("signature changed", {"x_twilio_signature": flipped}),
        ("wrong token", {"auth_token_override": "12346"}),
        ("other path", {"url": vector["url"].replace("myapp.php", "myapp2.php")}),
        ("other host", {"url": vector["url"].replace("mycompany.com", "mycompany.org")}),
        ("query dropped", {"url": vector["url"].split("?")[0]}),
        (
            "scheme changed",
            {
                "url": vector["url"].replace("https://", "http://", 1)
                if vector["url"].startswith("https")
                else vector["url"].replace("http://", "https://", 1)
            },
        ),
        ("empty signature", {"x_twilio_signature": ""}),
    ]
    if "raw_body" in vector:
        found.append(("body changed", {"raw_body": vector["raw_body"].replace("value", "valuE")}))
    else:
        pairs = vector_params(vector)
        found.append(
            (
                "value changed",
                {"pairs": [(k, v + "0") if i == 0 else (k, v) for i, (k, v) in enumerate(pairs)]},
            )
        )
        found.append(("param added", {"pairs": [*pairs, ("Extra", "1")]}))
        found.append(("param dropped", {"pairs": pairs[1:]}))
        found.append(("name case changed", {"pairs": [(k.lower(), v) for k, v in pairs]}))
    return found


@pytest.mark.parametrize(
    ("vector", "mutation", "changes"),
    [
        (v, name, changes)
        for v in VECTORS["vectors"]
        if v["expected_valid"]
        for name, changes in _mutations(v)
    ],
    ids=lambda x: x if isinstance(x, str) else None,
)
def test_mutated_vectors_are_refused(vector, mutation, changes):
    assert vector_valid(vector, **changes) is False, mutation


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_constructed_samples_are_signed_as_twilio_signs(name):
    sample = SAMPLES[name]
    body = fixture_bytes(f"twilio/{sample['body_file']}")
    params = parse_qsl(body.decode(), keep_blank_values=True)
    assert dict(params) == sample["params"]
    assert compute_signature(TOKEN, sample["url"], params) == sample["x_twilio_signature"]
    request = WebhookRequest(
        "POST",
        sample["url"],
        {
            "x-twilio-signature": sample["x_twilio_signature"],
            "content-type": sample["content_type"],
        },
        {},
        body,
    )
    ADAPTER.verify(config(), request)
    tampered = WebhookRequest(request.method, request.url, request.headers, {}, body + b"&x=1")
    with pytest.raises(WebhookRejected):
        ADAPTER.verify(config(), tampered)


def test_the_url_signed_may_be_the_public_one_behind_a_proxy(monkeypatch):
    body = b"MessageSid=SM1&From=%2B393331234567&Body=ciao"
    params = parse_qsl(body.decode())
    public = "https://assistenza.negozio.it/hooks/sms1?x=1"
    signature = compute_signature(TOKEN, public, params)
    # The app sees the internal address the proxy forwarded to.
    internal = WebhookRequest(
        "POST", "http://10.0.0.7:8000/hooks/sms1?x=1", {"x-twilio-signature": signature}, {}, body
    )
    with pytest.raises(WebhookRejected):
        ADAPTER.verify(config(), internal)
    monkeypatch.setattr(get_settings(), "base_url", "https://assistenza.negozio.it/")
    ADAPTER.verify(config(), internal)
    # Or the admin states the URL configured at the provider.
    monkeypatch.setattr(get_settings(), "base_url", "http://127.0.0.1:8000")
    ADAPTER.verify(config(webhook_url="https://assistenza.negozio.it/hooks/sms1"), internal)


def test_a_json_body_is_checked_by_its_hash():
    vector = next(v for v in VECTORS["vectors"] if v["id"] == "json-body")
    request = WebhookRequest(
        "POST",
        vector["url"],
        {"x-twilio-signature": vector["x_twilio_signature"], "content-type": "application/json"},
        {},
        vector["raw_body"].encode(),
    )
    ADAPTER.verify(config(), request)
    with pytest.raises(WebhookRejected):
        ADAPTER.verify(config(), WebhookRequest("POST", request.url, request.headers, {}, b"{}"))


def test_a_form_body_claiming_json_is_not_accepted_on_the_url_alone():
    """Regression (issue 19): a request saying ``application/json`` had its body skipped by the
    check while the form body was still parsed. A URL signed without bodySHA256 covers no body,
    so such a request is refused: what is parsed is what was verified."""
    url = "https://assistenza.negozio.it/hooks/sms1"
    url_only = compute_signature(TOKEN, url, [])
    forged = b"MessageSid=SM9&From=%2B393331234567&Body=bonifico+a+questo+IBAN"
    request = WebhookRequest(
        "POST",
        url,
        {"x-twilio-signature": url_only, "content-type": "application/json"},
        {},
        forged,
    )
    with pytest.raises(WebhookRejected):
        ADAPTER.verify(config(webhook_url=url), request)


# ---- parsing ---------------------------------------------------------------------------------


def form_request(name: str) -> WebhookRequest:
    sample = SAMPLES[name]
    return WebhookRequest(
        "POST",
        sample["url"],
        {
            "x-twilio-signature": sample["x_twilio_signature"],
            "content-type": sample["content_type"],
        },
        {},
        fixture_bytes(f"twilio/{sample['body_file']}"),
    )


def test_plain_sms():
    (message,) = ADAPTER.parse(config(), form_request("inbound_sms_plain")).messages
    assert (message.identity.kind, message.identity.value) == ("phone", "+14155552671")
    assert message.text == "Ciao, il mio ordine 12345 non è ancora arrivato. Potete aiutarmi?"
    assert message.provider_message_id == "SMaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
    assert message.extra_identities == []
    assert ADAPTER.parse(config(), form_request("inbound_sms_plain")).statuses == []


def test_mms_media_is_fetched_with_basic_auth_from_the_configured_base(provider):
    base = f"/2010-04-01/Accounts/{SID}/Messages/MMbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb/Media"
    provider.on(
        "GET",
        f"{base}/MEcccccccccccccccccccccccccccccccc",
        Reply(body=b"\xff\xd8jpeg", content_type="image/jpeg"),
    )
    provider.on(
        "GET",
        f"{base}/MEdddddddddddddddddddddddddddddddd",
        Reply(body=b"\x89PNG", content_type="image/png"),
    )
    (message,) = ADAPTER.parse(config(provider.url), form_request("inbound_mms_two_media")).messages
    assert message.text == "Foto del prodotto danneggiato"
    assert message.attachments == [] and provider.requests == []  # a job fetches them
    fetched = [ADAPTER.fetch_media(config(provider.url), p.ref) for p in message.pending_media]
    assert [(a.filename, a.content_type, a.data) for a in fetched] == [
        ("MEcccccccccccccccccccccccccccccccc.jpg", "image/jpeg", b"\xff\xd8jpeg"),
        ("MEdddddddddddddddddddddddddddddddd.png", "image/png", b"\x89PNG"),
    ]
    expected = "Basic " + base64.b64encode(f"{SID}:{TOKEN}".encode()).decode()
    assert [r.headers["authorization"] for r in provider.requests] == [expected, expected]


def test_mms_media_that_cannot_be_fetched_keeps_the_message(client, db, channel, provider):
    """A file the provider no longer has (404: permanent) leaves a note on the stored message;
    the other file still arrives."""
    base = f"/2010-04-01/Accounts/{SID}/Messages/MMbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb/Media"
    provider.on(
        "GET",
        f"{base}/MEdddddddddddddddddddddddddddddddd",
        Reply(body=b"\x89PNG", content_type="image/png"),
    )
    assert post_sample(client, channel, "inbound_mms_two_media").status_code == 200
    Dispatcher(db).drain()
    (stored,) = messages(db)
    assert [a.content_type for a in stored.attachments] == ["image/png"]
    assert "[attachment 1 not available" in stored.text
    assert len(stored.meta["media_errors"]) == 1 and "media_pending" not in stored.meta


def test_whatsapp_via_twilio_is_a_whatsapp_identity_with_the_phone_too():
    (message,) = ADAPTER.parse(config(), form_request("inbound_whatsapp_via_twilio")).messages
    assert (message.identity.kind, message.identity.value) == ("whatsapp", "+393331234567")
    assert [(i.kind, i.value) for i in message.extra_identities] == [("phone", "+393331234567")]
    assert message.sender_name == "Mario Rossi"
    assert message.meta["via"] == "whatsapp"


def test_status_callbacks_become_status_updates():
    delivered = ADAPTER.parse(config(), form_request("message_status_delivered")).statuses
    assert [(s.provider_message_id, s.state, s.error) for s in delivered] == [
        ("SMffffffffffffffffffffffffffffffff", "delivered", None)
    ]
    (failed,) = ADAPTER.parse(config(), form_request("message_status_undelivered_30003")).statuses
    assert (failed.state, failed.error) == ("failed", "30003 unreachable destination handset")
    assert ADAPTER.parse(config(), form_request("message_status_delivered")).messages == []


@pytest.mark.parametrize(
    ("status", "state"),
    [("queued", None), ("sending", None), ("sent", "sent"), ("failed", "failed"), ("read", "read")],
)
def test_every_documented_status(status, state):
    body = f"MessageSid=SM9&MessageStatus={status}&ErrorCode=21610".encode()
    found = ADAPTER.parse(config(), WebhookRequest("POST", "u", {}, {}, body)).statuses
    assert [s.state for s in found] == ([state] if state else [])


@pytest.mark.parametrize(
    "name", ["voice_incoming_call", "voice_status_completed", "voice_status_no_answer"]
)
def test_voice_requests_are_ignored(name):
    assert ADAPTER.parse(config(), form_request(name)).messages == []
    assert ADAPTER.parse(config(), form_request(name)).statuses == []


# ---- sending (adapter level) -----------------------------------------------------------------


def outbound(text: str = "Il suo ordine è partito.", **kwargs: Any) -> OutboundMessage:
    base: dict[str, Any] = {
        "message_id": 7,
        "conversation_id": 1,
        "conversation_number": 1001,
        "text": text,
        "html": None,
        "subject": "",
        "recipient": {"phone": "+393331234567"},
        "recipient_name": "Mario Rossi",
        "author_name": "Sara Conti",
    }
    base.update(kwargs)
    return OutboundMessage(**base)


def created(sid: str = "SM00000000000000000000000000000042", **extra: Any) -> Reply:
    """The Messages API's 201 answer, as documented."""
    return Reply(
        201,
        {
            "account_sid": SID,
            "api_version": "2010-04-01",
            "body": "...",
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": "+15005550006",
            "num_media": "0",
            "num_segments": "1",
            "sid": sid,
            "status": "queued",
            "to": "+393331234567",
            "uri": f"/2010-04-01/Accounts/{SID}/Messages/{sid}.json",
            **extra,
        },
    )


def test_send_posts_the_form_with_basic_auth(provider):
    provider.on("POST", MESSAGES_PATH, created())
    ref = ADAPTER.send(config(provider.url), outbound())
    assert ref.provider_message_id == "SM00000000000000000000000000000042"
    (call,) = provider.requests
    assert (
        call.headers["authorization"]
        == "Basic " + base64.b64encode(f"{SID}:{TOKEN}".encode()).decode()
    )
    assert call.headers["content-type"] == "application/x-www-form-urlencoded"
    assert call.form() == {
        "To": "+393331234567",
        "From": "+15005550006",
        "Body": "Il suo ordine è partito.",
        "StatusCallback": f"{get_settings().base_url.rstrip('/')}/hooks/sms1",
    }


def test_whatsapp_sender_replies_as_whatsapp_and_a_service_sid_replaces_from(provider):
    provider.on("POST", MESSAGES_PATH, created())
    cfg = config(provider.url, from_number="whatsapp:+14155238886")
    ADAPTER.send(cfg, outbound(recipient={"whatsapp": "+393331234567", "phone": "+393331234567"}))
    assert provider.requests[-1].form()["To"] == "whatsapp:+393331234567"
    assert provider.requests[-1].form()["From"] == "whatsapp:+14155238886"
    ADAPTER.send(config(provider.url, messaging_service_sid="MG123"), outbound())
    form = provider.requests[-1].form()
    assert form["MessagingServiceSid"] == "MG123" and "From" not in form


@pytest.mark.parametrize(
    ("status", "code", "permanent"),
    [
        (400, 21211, True),  # invalid To number
        (400, 21610, True),  # unsubscribed (STOP)
        (400, 21614, True),
        (400, 63016, True),  # WhatsApp 24-hour window
        (429, 20429, False),
        (500, 20500, False),
        (503, None, False),
        (401, 20003, True),  # authentication
    ],
)
def test_provider_errors_are_classified(provider, status, code, permanent):
    body = {
        "code": code,
        "message": "Error",
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }
    provider.on("POST", MESSAGES_PATH, Reply(status, body if code else None, b"unavailable"))
    with pytest.raises(ChannelError) as exc:
        ADAPTER.send(config(provider.url), outbound())
    assert exc.value.permanent is permanent
    if code == 21610:
        assert "unsubscribed" in str(exc.value)


def test_long_text_is_split_and_files_are_refused(provider, tmp_path):
    provider.on("POST", MESSAGES_PATH, created("SM1"), created("SM2"))
    ref = ADAPTER.send(config(provider.url), outbound("a" * 2000))
    assert [len(r.form()["Body"]) for r in provider.requests] == [1600, 400]
    assert ref.meta["provider_message_ids"] == ["SM1", "SM2"]
    path = tmp_path / "x.pdf"
    path.write_bytes(b"x")
    with pytest.raises(ChannelError) as exc:
        ADAPTER.send(
            config(provider.url),
            outbound(attachments=(OutboundAttachment("x.pdf", "application/pdf", str(path)),)),
        )
    assert exc.value.permanent


# ---- end to end through the app --------------------------------------------------------------


@pytest.fixture
def channel(db, personas, provider):  # type: ignore[no-untyped-def]
    return create_channel(
        db,
        personas,
        "sms",
        {
            "account_sid": SID,
            "auth_token": TOKEN,
            "from_number": "+15005550006",
            "api_base": provider.url,
            # The fixtures were signed for this URL, as if configured at Twilio behind a proxy.
            "webhook_url": "https://example.com/twilio/sms",
        },
    )


def post_sample(client, channel, name: str, *, signature: str | None = None):  # type: ignore[no-untyped-def]
    sample = SAMPLES[name]
    return client.post(
        f"/hooks/{channel.public_id}",
        content=fixture_bytes(f"twilio/{sample['body_file']}"),
        headers={
            "Content-Type": sample["content_type"],
            "X-Twilio-Signature": signature or sample["x_twilio_signature"],
        },
    )


def post_signed(client, channel, url: str, body: bytes):  # type: ignore[no-untyped-def]
    signature = compute_signature(TOKEN, url, parse_qsl(body.decode(), keep_blank_values=True))
    return client.post(
        f"/hooks/{channel.public_id}",
        content=body,
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": signature,
        },
    )


def test_inbound_sms_creates_a_conversation_and_a_replay_does_not_duplicate(client, db, channel):
    first = post_sample(client, channel, "inbound_sms_plain")
    assert first.status_code == 200, first.text
    assert first.headers["content-type"].startswith("text/xml")
    assert "<Response></Response>" in first.text
    assert post_sample(client, channel, "inbound_sms_plain").status_code == 200
    assert count(db) == 1 and count(db, Conversation) == 1


def test_bad_signature_is_401_and_stores_nothing(client, db, channel):
    assert (
        post_sample(
            client, channel, "inbound_sms_plain", signature="AAAAAAAAAAAAAAAAAAAAAAAAAAA="
        ).status_code
        == 401
    )
    other = SAMPLES["inbound_mms_two_media"]["x_twilio_signature"]
    assert post_sample(client, channel, "inbound_sms_plain", signature=other).status_code == 401
    assert count(db) == 0


def test_inbound_mms_stores_the_media(client, db, channel, provider):
    base = f"/2010-04-01/Accounts/{SID}/Messages/MMbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb/Media"
    provider.on(
        "GET",
        f"{base}/MEcccccccccccccccccccccccccccccccc",
        Reply(body=b"\xff\xd8jpeg", content_type="image/jpeg"),
    )
    provider.on(
        "GET",
        f"{base}/MEdddddddddddddddddddddddddddddddd",
        Reply(body=b"\x89PNG", content_type="image/png"),
    )
    assert post_sample(client, channel, "inbound_mms_two_media").status_code == 200
    Dispatcher(db).drain()
    (stored,) = messages(db)
    assert sorted(a.content_type for a in stored.attachments) == ["image/jpeg", "image/png"]


def test_whatsapp_via_twilio_then_sms_is_one_customer(client, db, channel):
    # The sample was signed for another URL: Twilio signs the URL configured for the sender.
    assert post_sample(client, channel, "inbound_whatsapp_via_twilio").status_code == 401
    whatsapp = fixture_bytes("twilio/inbound_whatsapp_via_twilio.form.txt")
    assert (
        post_signed(client, channel, "https://example.com/twilio/sms", whatsapp).status_code == 200
    )
    # Later the same person writes by SMS: the phone identity the WhatsApp message added finds them.
    body = b"MessageSid=SMx1&From=%2B393331234567&To=%2B15005550006&Body=Ciao+da+SMS&NumMedia=0"
    assert post_signed(client, channel, "https://example.com/twilio/sms", body).status_code == 200
    with db.session() as s:
        identities = {
            (i.kind.value, i.value, i.customer_id) for i in s.scalars(select(CustomerIdentity))
        }
    assert {(k, v) for k, v, _ in identities} == {
        ("phone", "+393331234567"),
        ("whatsapp", "+393331234567"),
    }
    assert len({c for _, _, c in identities}) == 1
    assert count(db, Conversation) == 1


def _reply(db, text: str = "Il pacco arriva domani."):  # type: ignore[no-untyped-def]
    with db.transaction() as s:
        conversation = s.scalars(select(Conversation)).one()
        return conversations_actions.do_send_reply(
            s, conversation=conversation, author=None, text=text
        ).id


def _message(db, message_id: int) -> Message:
    with db.session() as s:
        return s.get_one(Message, message_id)


def test_reply_then_status_callbacks(client, db, channel, provider):
    provider.on("POST", MESSAGES_PATH, created("SMffffffffffffffffffffffffffffffff"))
    post_sample(client, channel, "inbound_sms_plain")
    reply_id = _reply(db)
    Dispatcher(db).drain()
    (call,) = provider.requests
    form = call.form()
    assert form["To"] == "+14155552671" and form["Body"] == "Il pacco arriva domani."
    sent = _message(db, reply_id)
    assert (sent.delivery_state, sent.provider_message_id) == (
        DeliveryState.SENT,
        "SMffffffffffffffffffffffffffffffff",
    )
    # Twilio posts the status to the StatusCallback we gave it, signed for that URL.
    callback_url = form["StatusCallback"]
    assert callback_url == f"{get_settings().base_url.rstrip('/')}/hooks/{channel.public_id}"
    response = post_signed(
        client, channel, callback_url, fixture_bytes("twilio/message_status_delivered.form.txt")
    )
    assert response.status_code == 200
    assert _message(db, reply_id).delivery_state == DeliveryState.DELIVERED
    assert count(db) == 2  # a status callback adds no message


def test_undelivered_status_shows_the_error_code(client, db, channel, provider):
    provider.on("POST", MESSAGES_PATH, created("SM22222222222222222222222222222222"))
    post_sample(client, channel, "inbound_sms_plain")
    reply_id = _reply(db)
    Dispatcher(db).drain()
    body = fixture_bytes("twilio/message_status_undelivered_30003.form.txt")
    post_signed(client, channel, f"{get_settings().base_url}/hooks/{channel.public_id}", body)
    failed = _message(db, reply_id)
    assert failed.delivery_state == DeliveryState.FAILED
    assert failed.error == "30003 unreachable destination handset"


def test_server_error_retries_then_unsubscribed_fails(client, db, channel, provider):
    provider.on("POST", MESSAGES_PATH, Reply(503, None, b"Service Unavailable", "text/plain"))
    post_sample(client, channel, "inbound_sms_plain")
    reply_id = _reply(db)
    Dispatcher(db).drain()
    assert _message(db, reply_id).delivery_state == DeliveryState.QUEUED
    with db.transaction() as s:
        job = s.scalars(select(jobs.Job)).one()
        assert job.attempts == 1 and job.failed_at is None and "503" in (job.error or "")
        job.run_at = utcnow()
    stop = {"code": 21610, "message": "Attempt to send to unsubscribed recipient", "status": 400}
    provider.on("POST", MESSAGES_PATH, Reply(400, stop))
    Dispatcher(db).drain()
    failed = _message(db, reply_id)
    assert failed.delivery_state == DeliveryState.FAILED
    assert "21610" in (failed.error or "") and "unsubscribed" in (failed.error or "")
