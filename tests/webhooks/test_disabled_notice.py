"""A webhook that switches itself off tells the administrators: a line in each admin's bell
(in their language, linking to the webhook) and a banner on the webhooks page until it is on
again."""

from __future__ import annotations

from sqlalchemy import select

from sportello.frontline.models import Notification
from sportello.webhooks import actions
from sportello.webhooks.models import WebhookDelivery, WebhookSubscription
from tests.factories import csrf_from, login


def _fail_once(db, personas) -> int:  # type: ignore[no-untyped-def]
    with db.transaction() as s:
        sub, _secret = actions.do_create_subscription(
            s,
            brand_id=personas.brand_id,
            name="Gestionale",
            url="http://127.0.0.1:9/hook",
            event_names=["conversation.created"],
            allow_private=True,
            max_failures=2,
        )
        for _ in range(2):
            delivery = WebhookDelivery(
                subscription_id=sub.id,
                event_name="conversation.created",
                event_id="e",
                payload={},
                status="retrying",
            )
            s.add(delivery)
            s.flush()
            actions.do_fail_delivery(s, delivery=delivery, error="HTTP 500")
        return sub.id


def test_admins_get_a_notification_and_a_banner(db, personas, client) -> None:  # type: ignore[no-untyped-def]
    sub_id = _fail_once(db, personas)
    with db.session() as s:
        notes = s.scalars(select(Notification).order_by(Notification.user_id)).all()
        assert [n.user_id for n in notes] == [personas.admin.id]  # admins only
        assert notes[0].kind == "webhook_disabled"
        assert notes[0].url == f"/admin/webhooks?edit={sub_id}"
        assert "Gestionale" in notes[0].title and "2" in notes[0].title
        assert notes[0].title.startswith("Webhook “Gestionale” disattivato")  # Italian admin
    login(client, personas.admin)
    page = client.get("/admin/webhooks")
    assert "webhook-disabled-banner" in page.text and "Gestionale" in page.text
    # switched back on: the banner goes
    with db.transaction() as s:
        sub = s.get_one(WebhookSubscription, sub_id)
        actions.do_update_subscription(
            s,
            subscription=sub,
            name=sub.name,
            url=sub.url,
            event_names=sub.events,
            allow_private=True,
            max_failures=2,
            is_active=True,
        )
    assert "webhook-disabled-banner" not in client.get("/admin/webhooks").text
    assert csrf_from(page.text)
