"""The orders connector against the fake shop on loopback: look up a customer's orders, cancel
and register them (WooCommerce and generic REST), the internal notes, errors and timeouts shown
to the agent in their language, the SSRF guard."""

from __future__ import annotations

from sqlalchemy import select

from sportello.conversations.models import Direction, Message
from sportello.core.outbox import OutboxEvent
from sportello.orders import actions
from tests.api.helpers import make_token
from tests.factories import csrf_from, inbound, login, receive
from tests.orders.conftest import woo_connector


def _conversation(db, personas):  # type: ignore[no-untyped-def]
    result = receive(db, personas.api_channel, inbound("Vorrei annullare l'ordine"))
    return result.conversation.id, result.conversation.number


def test_lookup_and_cancel_over_the_api_leaves_a_note(client, db, personas, shop):  # type: ignore[no-untyped-def]
    fake, url = shop
    first = fake.add("mario.rossi@example.it", [(101, 2)], status="completed")
    second = fake.add("mario.rossi@example.it", [(104, 1)], status="processing")
    fake.add("altra@example.it", [(102, 1)])
    connector_id = woo_connector(db, personas.brand_id, url)
    cid, _ = _conversation(db, personas)
    h = {"Authorization": f"Bearer {make_token(db, personas.sara)}"}

    found = client.get(f"/api/v1/conversations/{cid}/orders", headers=h)
    assert found.status_code == 200, found.text
    (shop_orders,) = found.json()
    assert shop_orders["error"] is None
    orders = {o["number"]: o for o in shop_orders["orders"]}
    assert set(orders) == {str(first["id"]), str(second["id"])}
    assert orders[str(first["id"])]["items"] == ["2 × Sapone alla lavanda"]
    assert orders[str(first["id"])]["total"] == "17.00"
    assert not orders[str(first["id"])]["cancellable"]  # completed
    assert orders[str(second["id"])]["cancellable"]

    cancelled = client.post(
        f"/api/v1/conversations/{cid}/orders/{second['id']}/cancel",
        json={"connector_id": connector_id, "reason": "cliente ha cambiato idea"},
        headers=h,
    )
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    assert fake.orders[second["id"]]["status"] == "cancelled"  # at the shop
    assert ("PUT", f"/wp-json/wc/v3/orders/{second['id']}") in fake.requests
    with db.session() as s:
        note = s.scalars(
            select(Message).where(
                Message.conversation_id == cid, Message.direction == Direction.NOTE
            )
        ).one()
        assert str(second["id"]) in note.text and "cambiato idea" in note.text
        assert note.meta["event"] == "order.cancelled"
        assert s.scalars(select(OutboxEvent).where(OutboxEvent.name == "order.cancelled")).one()


def test_register_an_order_from_the_console(client, db, personas, shop):  # type: ignore[no-untyped-def]
    fake, url = shop
    connector_id = woo_connector(db, personas.brand_id, url)
    _, number = _conversation(db, personas)
    login(client, personas.sara)
    page = client.get(f"/c/{number}")
    assert 'id="orders-panel"' in page.text
    token = csrf_from(page.text)
    made = client.post(
        f"/c/{number}/orders",
        data={
            "csrf_token": token,
            "connector_id": str(connector_id),
            "product": "103",
            "quantity": "2",
        },
    )
    assert made.status_code == 200
    assert "registrato" in made.text  # Sara works in Italian
    (order,) = fake.orders.values()
    assert order["billing"]["email"] == "mario.rossi@example.it"
    assert order["line_items"][0]["product_id"] == 103 and order["line_items"][0]["quantity"] == 2
    panel = client.get(f"/c/{number}/orders")
    assert f"#{order['id']}" in panel.text
    # A product the shop does not know: the shop's refusal is shown, nothing is noted.
    refused = client.post(
        f"/c/{number}/orders",
        data={"csrf_token": token, "connector_id": str(connector_id), "product": "999"},
    )
    assert "Il negozio ha risposto con un errore" in refused.text
    with db.session() as s:
        notes = s.scalars(select(Message).where(Message.direction == Direction.NOTE)).all()
        assert len(notes) == 1


def test_generic_rest_connector_with_a_bearer_token(client, db, personas, shop):  # type: ignore[no-untyped-def]
    fake, url = shop
    order = fake.add("mario.rossi@example.it", [(105, 1)], status="processing")
    with db.transaction() as s:
        connector = actions.do_save_connector(
            s,
            brand_id=personas.brand_id,
            connector=None,
            name="Gestionale",
            kind="rest",
            base_url=url + "/rest",
            auth_kind="bearer",
            settings={},
            secrets={"token": "tok_test"},
            allow_private=True,
        )
        connector_id = connector.id
    cid, _ = _conversation(db, personas)
    h = {"Authorization": f"Bearer {make_token(db, personas.sara)}"}
    (found,) = client.get(f"/api/v1/conversations/{cid}/orders", headers=h).json()
    assert [(o["number"], o["status"], o["currency"]) for o in found["orders"]] == [
        (f"CL-{order['id']}", "paid", "EUR")
    ]
    by_number = client.get(f"/api/v1/conversations/{cid}/orders?number=R{order['id']}", headers=h)
    assert by_number.json()[0]["orders"][0]["id"] == f"R{order['id']}"
    done = client.post(
        f"/api/v1/conversations/{cid}/orders/R{order['id']}/cancel",
        json={"connector_id": connector_id},
        headers=h,
    )
    assert done.status_code == 200 and done.json()["status"] == "cancelled"
    made = client.post(
        f"/api/v1/conversations/{cid}/orders",
        json={"connector_id": connector_id, "product": "LAV-102", "quantity": 3},
        headers=h,
    )
    assert made.status_code == 201, made.text
    assert made.json()["items"] == ["3 × Sacchetto profumato"]


def test_errors_and_timeouts_reach_the_agent_translated(client, db, personas, shop):  # type: ignore[no-untyped-def]
    fake, url = shop
    fake.add("mario.rossi@example.it", [(101, 1)])
    woo_connector(db, personas.brand_id, url, secret="wrong")
    _, number = _conversation(db, personas)
    login(client, personas.sara)
    panel = client.get(f"/c/{number}/orders")
    assert "Il negozio ha rifiutato le credenziali del connettore" in panel.text
    with db.transaction() as s:
        from sportello.orders.models import OrderConnector

        connector = s.scalars(select(OrderConnector)).one()
        connector.timeout_seconds = 1.0
        connector.secrets = ""
    with db.transaction() as s:
        connector = s.scalars(select(OrderConnector)).one()
        actions.do_save_connector(
            s,
            brand_id=personas.brand_id,
            connector=connector,
            name=connector.name,
            kind="woocommerce",
            base_url=url,
            auth_kind="woocommerce",
            settings={},
            secrets={"consumer_key": "ck_test", "consumer_secret": "cs_test"},
            timeout_seconds=1.0,
            allow_private=True,
        )
    fake.delay = 1.5
    panel = client.get(f"/c/{number}/orders")
    assert "Il negozio non ha risposto in tempo" in panel.text
    fake.delay = 0
    h = {"Authorization": f"Bearer {make_token(db, personas.supervisor)}"}
    # Marco reads English; the API answers in the caller's Accept-Language.
    fake.orders.clear()
    missing = client.post(
        "/api/v1/conversations/1/orders/1/cancel", json={"connector_id": 1}, headers=h
    )
    assert missing.status_code in (404, 502)


def test_connector_validation(client, db, personas):  # type: ignore[no-untyped-def]
    h = {"Authorization": f"Bearer {make_token(db, personas.admin, ('read', 'write', 'admin'))}"}
    body = {
        "name": "Shop",
        "kind": "woocommerce",
        "base_url": "http://127.0.0.1:9/",
        "auth_kind": "woocommerce",
        "secrets": {"consumer_key": "a", "consumer_secret": "b"},
    }
    refused = client.post("/api/v1/orders/connectors", json=body, headers=h)
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "base_url"
    no_secret = client.post(
        "/api/v1/orders/connectors", json={**body, "allow_private": True, "secrets": {}}, headers=h
    )
    assert no_secret.status_code == 422
    bad_map = client.post(
        "/api/v1/orders/connectors",
        json={**body, "allow_private": True, "settings": {"mapping": {"id": "[[["}}},
        headers=h,
    )
    assert bad_map.status_code == 422 and bad_map.json()["errors"][0]["field"] == "map_id"
    ok = client.post("/api/v1/orders/connectors", json={**body, "allow_private": True}, headers=h)
    assert ok.status_code == 201
    assert "secrets" not in ok.json() and "cs_" not in ok.text
