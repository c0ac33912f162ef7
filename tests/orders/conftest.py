"""Orders tests: the fake shop (WooCommerce REST v3 and a generic REST dialect) served on a free
loopback port by uvicorn, as a real shop would be."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from sportello.orders.fakeshop import FakeShop, make_app


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def shop() -> Iterator[tuple[FakeShop, str]]:
    import uvicorn

    fake = FakeShop(consumer_key="ck_test", consumer_secret="cs_test", token="tok_test")
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(make_app(fake), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the fake shop did not start"
        time.sleep(0.02)
    yield fake, f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


def woo_connector(db: Any, brand_id: int, base_url: str, **kw: Any) -> int:
    from sportello.orders import actions

    with db.transaction() as s:
        connector = actions.do_save_connector(
            s,
            brand_id=brand_id,
            connector=None,
            name="Casa Lavanda (WooCommerce)",
            kind="woocommerce",
            base_url=base_url,
            auth_kind="woocommerce",
            settings={},
            secrets={"consumer_key": "ck_test", "consumer_secret": kw.pop("secret", "cs_test")},
            allow_private=True,
            **kw,
        )
        return connector.id


from tests.web.conftest import browser, console, live_server, new_page  # noqa: E402, F401
