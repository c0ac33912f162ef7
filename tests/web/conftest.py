"""Browser tests: a live server (uvicorn in a thread, with the dispatcher and the realtime hub)
on a free loopback port, driven by Debian's chromium through Playwright (sync API)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sportello.accounts.models import User
from sportello.config import Settings
from sportello.core.db import Database
from tests.factories import PASSWORD

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
VIEWPORT = {"width": 1366, "height": 768}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def live_server(db: Database, test_settings: Settings) -> Iterator[str]:
    import uvicorn

    from sportello.main import create_app

    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    settings = test_settings.model_copy(
        update={"base_url": base_url, "dispatcher_poll_seconds": 0.2}
    )
    app = create_app(settings, db=db, run_workers=True)
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        ws="websockets-sansio",
        lifespan="on",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="live-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("the live server did not start")
        time.sleep(0.02)
    yield base_url
    server.should_exit = True
    thread.join(timeout=15)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.skip("chromium is not installed at /usr/bin/chromium")
    from tests import browser_session

    yield browser_session.acquire()  # one instance, however many folders import the fixture
    browser_session.release()


class Console:
    """Collects the page's console errors (a CSP violation shows up here)."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def attach(self, page: Any) -> None:
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(str(e)))


@pytest.fixture
def console() -> Console:
    return Console()


@pytest.fixture
def new_page(browser: Any, live_server: str, console: Console) -> Iterator[Callable[..., Any]]:
    """``new_page(user)``: a fresh browser context logged in as ``user`` (None: logged out)."""
    contexts: list[Any] = []

    def make(user: User | None = None, *, locale: str = "it-IT") -> Any:
        context = browser.new_context(viewport=VIEWPORT, locale=locale, base_url=live_server)
        context.set_default_timeout(10_000)
        contexts.append(context)
        page = context.new_page()
        console.attach(page)
        if user is not None:
            login(page, user)
        return page

    yield make
    for context in contexts:
        context.close()


def login(page: Any, user: User, password: str = PASSWORD) -> None:
    page.goto("/login")
    page.fill("input[name=email]", user.email)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url("**/inbox/mine")
    wait_live(page)


def send_reply(page: Any, text: str) -> None:
    """Type a reply, send it, and wait for it in the timeline."""
    page.fill("#composer-text", text)
    page.click("#composer-send")
    page.locator(".msg-outbound", has_text=text).first.wait_for()


def wait_live(page: Any) -> None:
    """The tab's WebSocket is open: events from now on reach it."""
    page.wait_for_selector("#live[data-state=on]", state="attached")


def screenshot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / name))


@pytest.fixture
def reply_receiver() -> Iterator[str]:
    """A stand-in for the integrator's server: accepts every reply the api channel posts."""
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length", 0)))
            body = json.dumps({"id": "ext-1"}).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/replies"
    server.shutdown()
    server.server_close()
    thread.join(5)
