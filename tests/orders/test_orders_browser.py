"""An agent cancels a customer's order from the conversation view, in a real browser, against
the fake WooCommerce shop on loopback; the internal note lands in the timeline.
Screenshot: docs/screenshots/integrations-orders.png."""

from __future__ import annotations

import pytest

from tests.factories import inbound, receive
from tests.orders.conftest import woo_connector
from tests.web.conftest import screenshot

pytestmark = pytest.mark.browser


def test_agent_cancels_an_order_from_the_conversation(db, personas, shop, new_page, console):  # type: ignore[no-untyped-def]
    fake, url = shop
    fake.add("mario.rossi@example.it", [(101, 2), (102, 1)], status="completed")
    order = fake.add("mario.rossi@example.it", [(104, 1)], status="processing")
    woo_connector(db, personas.brand_id, url)
    result = receive(db, personas.api_channel, inbound("Posso annullare l'ordine della candela?"))
    number = result.conversation.number

    page = new_page(personas.sara)
    page.goto(f"/c/{number}")
    row = page.locator(f"#orders-panel li.order[data-order='{order['id']}']")
    row.wait_for()
    assert "In lavorazione" in row.inner_text()
    assert page.locator("#orders-panel li.order").count() == 2
    page.on("dialog", lambda dialog: dialog.accept())
    row.locator("button.order-cancel").click()
    page.locator("#orders-done").wait_for()
    assert f"Ordine {order['id']} annullato." in page.locator("#orders-done").inner_text()
    assert fake.orders[order["id"]]["status"] == "cancelled"
    cancelled = page.locator(f"#orders-panel li.order[data-order='{order['id']}']")
    assert "Annullato" in cancelled.inner_text()
    assert cancelled.locator("button.order-cancel").count() == 0
    page.reload()
    page.locator("#timeline").get_by_text(f"Ordine {order['id']} annullato su").wait_for()
    page.locator("#orders-panel li.order").first.wait_for()
    page.locator("#orders-panel").scroll_into_view_if_needed()
    screenshot(page, "integrations-orders.png")
    assert console.errors == []
