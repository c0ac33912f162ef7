"""The integrations' demo: a connector to the shop Sportello serves itself, Italian rules, a
disabled webhook example; the demo shop answers like WooCommerce."""

from __future__ import annotations

import base64

from sqlalchemy import select

from sportello.automation import demo
from sportello.automation.models import Rule
from sportello.core.db import utcnow
from sportello.orders.fakeshop import DEMO_PREFIX, DEMO_SHOP
from sportello.orders.models import OrderConnector
from sportello.webhooks.models import WebhookSubscription


def test_demo_configures_shop_rules_and_a_disabled_webhook(client, db, personas):  # type: ignore[no-untyped-def]
    demo.load(db, now=utcnow(), seed=1)
    demo.load(db, now=utcnow(), seed=1)  # once only
    with db.session() as s:
        (connector,) = s.scalars(select(OrderConnector)).all()
        assert connector.base_url.endswith(DEMO_PREFIX) and connector.kind == "woocommerce"
        rules = s.scalars(select(Rule)).all()
        assert len(rules) == len(demo.RULES) and all(r.is_active for r in rules)
        (hook,) = s.scalars(select(WebhookSubscription)).all()
        assert not hook.is_active
    auth = base64.b64encode(
        f"{DEMO_SHOP.consumer_key}:{DEMO_SHOP.consumer_secret}".encode()
    ).decode()
    url = f"{DEMO_PREFIX}/wp-json/wc/v3/orders?search=anna@example.it"
    first = client.get(url, headers={"Authorization": f"Basic {auth}"})
    assert first.status_code == 200 and 1 <= len(first.json()) <= 3
    assert client.get(url, headers={"Authorization": f"Basic {auth}"}).json() == first.json()
    assert client.get(url).status_code == 401
