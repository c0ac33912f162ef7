"""The api channel: customers' messages in over REST, replies out as signed webhooks to a real
local HTTP server."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

import sportello.channels.service  # noqa: F401  (registers the delivery job and its handler)
from sportello.channels import actions as channels_actions
from sportello.channels.models import Channel
from sportello.conversations.models import DeliveryState, Message
from sportello.core import jobs
from sportello.core.db import utcnow
from sportello.core.dispatcher import Dispatcher
from sportello.core.security import SIGNATURE_HEADER, sign_webhook, verify_webhook
from tests.api.helpers import assert_problem, make_token


def url_for(channel: Channel) -> str:
    return f"/api/v1/channels/{channel.public_id}/messages"


def send(client, personas, payload, *, token=None):  # type: ignore[no-untyped-def]
    return client.post(
        url_for(personas.api_channel),
        json=payload,
        headers={"Authorization": f"Bearer {token or personas.api_token}"},
    )


MESSAGE = {
    "id": "app-msg-1",
    "from": {"kind": "email", "value": "mario.rossi@example.it", "name": "Mario Rossi"},
    "text": "Buongiorno, dov'è il mio ordine?",
    "subject": "Ordine 5521",
}


def message_count(db) -> int:  # type: ignore[no-untyped-def]
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(Message)) or 0


# ---- inbound ---------------------------------------------------------------------------------


def test_message_in_then_replay_is_200_and_stored_once(client, db, personas):
    first = send(client, personas, MESSAGE)
    assert first.status_code == 201, first.text
    (received,) = first.json()["received"]
    assert received["duplicate"] is False
    assert received["conversation_number"] >= 1001

    replay = send(client, personas, MESSAGE)
    assert replay.status_code == 200
    assert replay.json()["received"][0]["message_id"] == received["message_id"]
    assert replay.json()["received"][0]["duplicate"] is True
    assert message_count(db) == 1


def test_empty_message_id_means_no_id(client, db, personas):
    """Regression (issue 19): ``"id": ""`` was stored as an id, skipping the replay check, and
    every later empty-id message then hit the unique index (500). Empty and blank mean absent."""
    for n, blank in enumerate(["", "   ", ""]):
        answer = send(client, personas, {**MESSAGE, "id": blank, "text": f"messaggio {n}"})
        assert answer.status_code == 201, answer.text
        assert answer.json()["received"][0]["duplicate"] is False
    assert message_count(db) == 3
    with db.session() as s:
        ids = s.scalars(select(Message.provider_message_id)).all()
    assert ids == [None, None, None]


def test_invalid_body_is_422_naming_the_field(client, db, personas):
    payload = {**MESSAGE, "from": {"kind": "email"}}
    body = assert_problem(send(client, personas, payload), 422)
    assert body["errors"][0]["field"] == "from.value"
    assert "from.value" in body["detail"]
    unknown = assert_problem(send(client, personas, {**MESSAGE, "colour": "red"}), 422)
    assert unknown["errors"][0]["field"] == "colour"
    bad_email = {**MESSAGE, "from": {"kind": "email", "value": "nope"}}
    assert assert_problem(send(client, personas, bad_email), 422)["errors"][0]["field"] == "email"
    assert message_count(db) == 0


def test_malformed_json_is_422_problem(client, personas):
    response = client.post(
        url_for(personas.api_channel),
        content=b'{"from": ',
        headers={
            "Authorization": f"Bearer {personas.api_token}",
            "Content-Type": "application/json",
        },
    )
    assert_problem(response, 422)


@pytest.fixture
def small_client(db, test_settings) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    """An app whose upload limit is tiny, so that 'too large' is cheap to reach."""
    from sportello.main import create_app

    settings = test_settings.model_copy(update={"max_upload_bytes": 3_000, "max_body_bytes": 3_000})
    with TestClient(create_app(settings, db=db, run_workers=False)) as c:
        yield c


def test_oversized_body_is_413(small_client, db, personas):
    limit = 3_000 * 4 // 3 + 1_000_000
    big = {**MESSAGE, "text": "x" * (limit + 10)}
    body = assert_problem(send(small_client, personas, big), 413)
    assert body["title"] == "Payload too large"

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit applies while reading
        yield b'{"from": {"kind": "email", "value": "a@b.it"}, "text": "'
        for _ in range(limit // 65_536 + 2):
            yield b"x" * 65_536
        yield b'"}'

    streamed = small_client.post(
        url_for(personas.api_channel),
        content=chunks(),
        headers={
            "Authorization": f"Bearer {personas.api_token}",
            "Content-Type": "application/json",
        },
    )
    assert_problem(streamed, 413)
    assert message_count(db) == 0


def test_unknown_channel_and_wrong_token_answer_alike(client, db, personas):
    wrong_token = send(client, personas, MESSAGE, token="spch_wrong")
    unknown = client.post(
        "/api/v1/channels/no-such-channel/messages",
        json=MESSAGE,
        headers={"Authorization": f"Bearer {personas.api_token}"},
    )
    missing = client.post(url_for(personas.api_channel), json=MESSAGE)
    webform_as_api = client.post(
        url_for(personas.webform), json=MESSAGE, headers={"Authorization": "Bearer x"}
    )
    # A user's API token is not a channel token.
    user_token = send(client, personas, MESSAGE, token=make_token(db, personas.admin, ["admin"]))
    bodies = [
        assert_problem(r, 401) for r in (wrong_token, unknown, missing, webform_as_api, user_token)
    ]
    assert all(b == bodies[0] for b in bodies)
    assert wrong_token.content == unknown.content
    assert message_count(db) == 0


def test_credentials_are_checked_before_the_body_is_validated(client, db, personas):
    """A stranger probing with bad bodies learns nothing from field-level 422s."""
    bad_body = {"from": {"kind": "email"}, "unexpected": 1}
    unknown = client.post("/api/v1/channels/nope/messages", json=bad_body)
    wrong = send(client, personas, bad_body, token="spch_wrong")
    assert assert_problem(unknown, 401) == assert_problem(wrong, 401)
    assert_problem(send(client, personas, bad_body), 422)


def test_script_in_html_is_sanitised_in_storage(client, db, personas):
    payload = {
        **MESSAGE,
        "html": '<p onclick="steal()">Ciao <b>team</b><script>alert(1)</script>'
        '<a href="javascript:alert(2)">link</a><img src=x onerror=alert(3)></p>',
    }
    assert send(client, personas, payload).status_code == 201
    with db.session() as s:
        stored = s.scalars(select(Message)).one()
    assert stored.html is not None
    assert "<b>team</b>" in stored.html
    for bad in ("<script", "alert(1)", "onclick", "javascript:", "onerror"):
        assert bad not in stored.html


# ---- outbound --------------------------------------------------------------------------------


@dataclass
class Receiver:
    """A real HTTP server standing in for the integrator's endpoint."""

    secret: str
    statuses: list[int] = field(default_factory=lambda: [200])
    requests: list[dict] = field(default_factory=list)  # type: ignore[type-arg]
    url: str = ""


@pytest.fixture
def receiver(personas) -> Iterator[Receiver]:  # type: ignore[no-untyped-def]
    state = Receiver(secret=personas.api_signing_secret)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            signature = self.headers.get(SIGNATURE_HEADER, "")
            state.requests.append(
                {
                    "body": json.loads(body),
                    "signature_ok": verify_webhook(body, signature, state.secret),
                    "idempotency_key": self.headers.get("Idempotency-Key"),
                }
            )
            status = state.statuses.pop(0) if len(state.statuses) > 1 else state.statuses[0]
            answer = json.dumps({"id": f"ext-{len(state.requests)}"}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/sportello-hook"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def reply_to_api_conversation(client, db, personas, receiver):  # type: ignore[no-untyped-def]
    """Point the channel at the receiver, receive a message, and reply to it over the API."""
    with db.transaction() as s:
        channels_actions.do_update_channel(
            s,
            channel=s.get_one(Channel, personas.api_channel.id),
            settings={"reply_url": receiver.url},
        )
    received = send(client, personas, MESSAGE).json()["received"][0]
    headers = {"Authorization": f"Bearer {make_token(db, personas.sara)}"}
    reply = client.post(
        f"/api/v1/conversations/{received['conversation_id']}/replies",
        json={"text": "Il pacco parte oggi."},
        headers=headers,
    )
    assert reply.status_code == 201, reply.text
    return reply.json()


def state_of(db, message_id: int) -> tuple[DeliveryState | None, str | None, str | None]:  # type: ignore[no-untyped-def]
    with db.session() as s:
        m = s.get_one(Message, message_id)
        return m.delivery_state, m.error, m.provider_message_id


def delivery_job(db) -> jobs.Job:  # type: ignore[no-untyped-def]
    with db.session() as s:
        return s.scalars(select(jobs.Job).where(jobs.Job.kind == "deliver_message")).one()


def test_reply_is_delivered_signed_and_marked_sent(
    db, personas, receiver, reply_to_api_conversation
):
    message_id = reply_to_api_conversation["id"]
    assert state_of(db, message_id)[0] == DeliveryState.QUEUED
    Dispatcher(db).drain()
    (request,) = receiver.requests
    assert request["signature_ok"] is True
    assert request["idempotency_key"] == f"sportello-message-{message_id}"
    assert request["body"]["event"] == "message.outbound"
    assert request["body"]["text"] == "Il pacco parte oggi."
    assert request["body"]["to"] == {"email": "mario.rossi@example.it"}
    assert request["body"]["author"] == "Sara Conti"
    assert state_of(db, message_id) == (DeliveryState.SENT, None, "ext-1")
    assert delivery_job(db).done_at is not None
    Dispatcher(db).drain()
    assert len(receiver.requests) == 1  # delivered once


def test_signature_does_not_verify_with_another_secret(receiver):
    body = b'{"event":"message.outbound"}'
    assert verify_webhook(body, sign_webhook(body, receiver.secret), receiver.secret)
    assert not verify_webhook(body, sign_webhook(body, "whsec_other"), receiver.secret)
    assert not verify_webhook(body + b" ", sign_webhook(body, receiver.secret), receiver.secret)


def test_503_keeps_the_message_queued_and_retries_with_backoff(
    db, personas, receiver, reply_to_api_conversation
):
    receiver.statuses = [503, 503, 200]
    message_id = reply_to_api_conversation["id"]
    before = utcnow()
    Dispatcher(db).drain()
    assert len(receiver.requests) == 1
    assert state_of(db, message_id)[0] == DeliveryState.QUEUED
    job = delivery_job(db)
    assert job.attempts == 1
    assert "503" in (job.error or "")
    assert job.failed_at is None and job.done_at is None
    first_delay = job.run_at - before
    assert timedelta(seconds=1) < first_delay <= timedelta(seconds=3)  # base delay 2 s

    # Make it due now (instead of sleeping) and watch the backoff double.
    with db.transaction() as s:
        s.get_one(jobs.Job, job.id).run_at = utcnow()
    before = utcnow()
    Dispatcher(db).drain()
    job = delivery_job(db)
    assert job.attempts == 2
    assert timedelta(seconds=3) < job.run_at - before <= timedelta(seconds=5)
    assert state_of(db, message_id)[0] == DeliveryState.QUEUED

    with db.transaction() as s:
        s.get_one(jobs.Job, job.id).run_at = utcnow()
    Dispatcher(db).drain()
    assert len(receiver.requests) == 3
    assert state_of(db, message_id)[0] == DeliveryState.SENT
    assert delivery_job(db).done_at is not None


def test_400_marks_the_message_failed_with_the_error(
    db, personas, receiver, reply_to_api_conversation
):
    receiver.statuses = [400]
    message_id = reply_to_api_conversation["id"]
    Dispatcher(db).drain()
    state, error, _ = state_of(db, message_id)
    assert state == DeliveryState.FAILED
    assert error is not None and "400" in error
    job = delivery_job(db)
    assert job.failed_at is not None and job.attempts == 1
    Dispatcher(db).drain()
    assert len(receiver.requests) == 1  # a permanent error is not retried
