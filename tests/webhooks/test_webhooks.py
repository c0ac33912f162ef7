"""Outgoing webhooks against a real local receiver: signed deliveries, a failure retried with
backoff then delivered, the delivery log and replay, automatic disabling, the SSRF guard."""

from __future__ import annotations

from sqlalchemy import select, update

from sportello.core.db import utcnow
from sportello.core.dispatcher import Dispatcher
from sportello.core.jobs import Job
from sportello.webhooks import actions
from sportello.webhooks.models import WebhookDelivery, WebhookSubscription
from tests.api.helpers import make_token
from tests.factories import inbound, receive


def _subscribe(db, personas, url: str, events=("conversation.created", "message.received"), **kw):  # type: ignore[no-untyped-def]
    with db.transaction() as s:
        sub, secret = actions.do_create_subscription(
            s,
            brand_id=personas.brand_id,
            name="Gestionale",
            url=url,
            event_names=list(events),
            allow_private=True,
            **kw,
        )
        return sub.id, secret


def _run_due_now(db) -> None:  # type: ignore[no-untyped-def]
    """Bring every retry forward to now (instead of waiting out the backoff) and run it."""
    with db.transaction() as s:
        s.execute(
            update(Job)
            .where(Job.done_at.is_(None), Job.failed_at.is_(None))
            .values(run_at=utcnow())
        )
    Dispatcher(db, name="test").drain()


def test_signed_delivery_retried_with_backoff_then_delivered(db, personas, receiver):  # type: ignore[no-untyped-def]
    sub_id, secret = _subscribe(db, personas, receiver.url, events=("message.received",))
    receiver.secret = secret
    receiver.fail_next = 1
    receive(db, personas.api_channel, inbound("Dov'è il mio pacco?"))
    before = utcnow()
    Dispatcher(db, name="test").drain()

    assert receiver.received == [] and receiver.attempts == 1
    with db.session() as s:
        delivery = s.scalars(select(WebhookDelivery)).one()
        assert (delivery.status, delivery.response_code, delivery.attempts) == ("retrying", 500, 1)
        job = s.scalars(select(Job).where(Job.kind == actions.DELIVER_JOB)).one()
        assert job.run_at >= before.replace(microsecond=0)  # retried later: backoff
        assert (job.run_at - utcnow()).total_seconds() > 5

    _run_due_now(db)
    assert receiver.bad_signatures == 0
    assert len(receiver.received) == 1
    got = receiver.received[0]
    assert got["event"] == "message.received" and got["body"]["type"] == "message.received"
    assert got["body"]["data"]["direction"] == "inbound"
    assert got["delivery"] == got["body"]["id"]
    with db.session() as s:
        delivery = s.scalars(select(WebhookDelivery)).one()
        assert (delivery.status, delivery.response_code, delivery.attempts) == ("succeeded", 204, 2)
        assert delivery.latency_ms is not None
        assert s.get(WebhookSubscription, sub_id).consecutive_failures == 0  # type: ignore[union-attr]


def test_wrong_secret_is_refused_by_the_receiver(db, personas, receiver):  # type: ignore[no-untyped-def]
    _subscribe(db, personas, receiver.url, events=("conversation.created",))
    receiver.secret = "whsec_not_the_right_one"
    receive(db, personas.api_channel, inbound("Ciao"))
    Dispatcher(db, name="test").drain()
    assert receiver.bad_signatures == 1 and receiver.received == []


def test_disabled_after_repeated_failures_with_a_notice(db, personas, receiver):  # type: ignore[no-untyped-def]
    sub_id, secret = _subscribe(
        db, personas, receiver.url, events=("conversation.created",), max_failures=1
    )
    receiver.secret = secret
    receiver.fail_next = 1000
    receive(db, personas.api_channel, inbound("Ciao"))
    Dispatcher(db, name="test").drain()
    for _ in range(actions.MAX_ATTEMPTS):
        _run_due_now(db)
    assert receiver.attempts == actions.MAX_ATTEMPTS
    with db.session() as s:
        sub = s.get(WebhookSubscription, sub_id)
        assert sub is not None and not sub.is_active
        assert "1 failed deliveries" in (sub.disabled_reason or "")
        assert s.scalars(select(WebhookDelivery)).one().status == "failed"
        from sportello.core.outbox import OutboxEvent

        notices = s.scalars(select(OutboxEvent).where(OutboxEvent.name == "webhook.disabled")).all()
        assert len(notices) == 1 and notices[0].payload["subscription_id"] == sub_id
    # Disabled: the next event is not sent.
    receive(db, personas.api_channel, inbound("Altro", email="altro@example.it"))
    _run_due_now(db)
    assert receiver.attempts == actions.MAX_ATTEMPTS


def test_api_subscribe_log_and_replay(client, db, personas, receiver):  # type: ignore[no-untyped-def]
    h = {"Authorization": f"Bearer {make_token(db, personas.admin, ('read', 'write', 'admin'))}"}
    body = {"name": "CRM", "url": receiver.url, "events": ["conversation.created"]}
    refused = client.post("/api/v1/webhooks", json=body, headers=h)
    assert refused.status_code == 422  # loopback without the admin's permission: SSRF guard
    assert refused.json()["errors"][0]["field"] == "url"
    created = client.post("/api/v1/webhooks", json={**body, "allow_private": True}, headers=h)
    assert created.status_code == 201, created.text
    receiver.secret = created.json()["secret"]
    assert "secret" not in client.get("/api/v1/webhooks", headers=h).json()[0]
    sub_id = created.json()["id"]

    receive(db, personas.api_channel, inbound("Ciao"))
    Dispatcher(db, name="test").drain()
    log = client.get(f"/api/v1/webhooks/{sub_id}/deliveries", headers=h).json()["items"]
    assert [d["status"] for d in log] == ["succeeded"]

    replay = client.post(f"/api/v1/webhooks/deliveries/{log[0]['id']}/replay", headers=h)
    assert replay.status_code == 201
    Dispatcher(db, name="test").drain()
    assert len(receiver.received) == 2
    assert receiver.received[0]["delivery"] == receiver.received[1]["delivery"]  # same event id

    agent = {"Authorization": f"Bearer {make_token(db, personas.sara)}"}
    assert client.get("/api/v1/webhooks", headers=agent).status_code == 403
    bad = client.post("/api/v1/webhooks", json={**body, "events": ["nope"]}, headers=h)
    assert bad.status_code == 422


def test_admin_page_shows_the_secret_once(client, db, personas, receiver):  # type: ignore[no-untyped-def]
    from tests.factories import csrf_from, login

    login(client, personas.admin)
    page = client.get("/admin/webhooks")
    assert page.status_code == 200
    token = csrf_from(page.text)
    made = client.post(
        "/admin/webhooks",
        data={
            "csrf_token": token,
            "name": "Magazzino",
            "url": receiver.url,
            "events": ["conversation.created", "message.received"],
            "allow_private": "1",
            "is_active": "1",
            "max_failures": "5",
        },
    )
    assert made.status_code == 200 and "whsec_" in made.text
    with db.session() as s:
        sub = s.scalars(select(WebhookSubscription)).one()
        assert "whsec_" not in sub.secret  # stored encrypted
    again = client.get(f"/admin/webhooks?edit={sub.id}")
    assert "whsec_" not in again.text
    bad = client.post(
        "/admin/webhooks",
        data={
            "csrf_token": token,
            "name": "X",
            "url": "ftp://x",
            "events": ["conversation.created"],
        },
    )
    assert bad.status_code == 422
