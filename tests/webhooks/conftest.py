"""Webhook tests: a real local HTTP receiver that checks every signature and can be told to fail."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

import sportello.webhooks.handlers  # noqa: F401  (the batch handler and the delivery job)
from sportello.core.security import verify_webhook


@dataclass
class Receiver:
    url: str
    secret: str = ""
    fail_next: int = 0  # answer 500 to this many requests
    received: list[dict[str, Any]] = field(default_factory=list)
    bad_signatures: int = 0
    attempts: int = 0


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            state.attempts += 1
            signature = self.headers.get("X-Sportello-Signature", "")
            if not state.secret or not verify_webhook(body, signature, state.secret):
                state.bad_signatures += 1
                self.send_response(401)
                self.end_headers()
                return
            if state.fail_next > 0:
                state.fail_next -= 1
                self.send_response(500)
                self.end_headers()
                self.wfile.write(b"busy")
                return
            state.received.append(
                {
                    "body": json.loads(body),
                    "event": self.headers.get("X-Sportello-Event"),
                    "delivery": self.headers.get("X-Sportello-Delivery"),
                }
            )
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
    yield state
    server.shutdown()
    server.server_close()
    thread.join(5)
