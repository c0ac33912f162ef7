"""Shared by the WhatsApp, Telegram and SMS tests: the fixture payloads (tests/fixtures/webhooks,
copied from shared/data/webhooks), WhatsApp webhooks built as Meta documents them, a real local
HTTP server playing a provider's API, and small database helpers."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlsplit

from sqlalchemy import func, select

from sportello.channels import actions as channels_actions
from sportello.channels.models import Channel
from sportello.conversations.models import Conversation, Message
from sportello.core.db import Database

# A copy of shared/data/webhooks (third-party samples, sources and licences in SOURCES.md), kept in
# the repository so that a clone anywhere runs the suite.
WEBHOOKS = Path(__file__).resolve().parents[1] / "fixtures" / "webhooks"


def fixture_bytes(relative: str) -> bytes:
    return (WEBHOOKS / relative).read_bytes()


def fixture_json(relative: str) -> Any:
    return json.loads(fixture_bytes(relative))


def whatsapp_webhook(phone_number_id: str, **value: Any) -> dict[str, Any]:
    """A Cloud API webhook as Meta documents it, for the number ``phone_number_id``: one change
    whose value carries ``value`` (``contacts`` and ``messages``, or ``statuses``)."""
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "102290129340398",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {
                                "display_phone_number": "393401234567",
                                "phone_number_id": phone_number_id,
                            },
                            **value,
                        },
                    }
                ],
            }
        ],
    }


def whatsapp_text(
    phone_number_id: str,
    text: str,
    *,
    message_id: str,
    wa_id: str = "393331234567",
    at: int | None = None,
) -> dict[str, Any]:
    """A text message webhook from Mario Rossi, sent now unless ``at`` says otherwise."""
    return whatsapp_webhook(
        phone_number_id,
        contacts=[{"profile": {"name": "Mario Rossi"}, "wa_id": wa_id}],
        messages=[
            {
                "from": wa_id,
                "id": message_id,
                "timestamp": str(at if at is not None else int(time.time())),
                "type": "text",
                "text": {"body": text},
            }
        ],
    )


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.body.decode(), keep_blank_values=True))


@dataclass
class Reply:
    status: int = 200
    json: Any = None
    body: bytes = b""
    content_type: str = "application/json"


@dataclass
class FakeProvider:
    """A real HTTP server on 127.0.0.1 (a free port) that records every request and answers
    from routes: ``on("POST", "/path", Reply(...), Reply(...))`` answers the replies in turn,
    repeating the last one."""

    routes: dict[tuple[str, str], list[Reply]] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def on(self, method: str, path: str, *replies: Reply) -> None:
        self.routes[(method, path)] = list(replies)

    def calls(self, method: str, path: str) -> list[Recorded]:
        return [r for r in self.requests if (r.method, r.path) == (method, path)]

    def _answer(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        length = int(handler.headers.get("content-length") or 0)
        body = handler.rfile.read(length) if length else b""
        self.requests.append(
            Recorded(
                handler.command,
                parts.path,
                parse_qs(parts.query),
                {k.lower(): v for k, v in handler.headers.items()},
                body,
            )
        )
        replies = self.routes.get((handler.command, parts.path))
        if not replies:
            reply = Reply(404, {"error": "no such route in the fake provider"})
        else:
            reply = replies.pop(0) if len(replies) > 1 else replies[0]
        content = json.dumps(reply.json).encode() if reply.json is not None else reply.body
        handler.send_response(reply.status)
        handler.send_header("Content-Type", reply.content_type)
        handler.send_header("Content-Length", str(len(content)))
        handler.end_headers()
        handler.wfile.write(content)

    def __enter__(self) -> FakeProvider:
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                provider._answer(self)

            def do_POST(self) -> None:
                provider._answer(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.shutdown()
        self.server.server_close()


def running_provider() -> Iterator[FakeProvider]:
    with FakeProvider() as provider:
        yield provider


def create_channel(db: Database, personas: Any, kind: str, data: dict[str, str]) -> Channel:
    with db.transaction() as s:
        channel, shown = channels_actions.do_create_channel(
            s,
            brand_id=personas.brand_id,
            kind=kind,
            name=f"{kind} test",
            queue=personas.queue_assistenza,
            data=data,
        )
        s.expunge(channel)
    channel.shown_once = shown  # type: ignore[attr-defined]
    return channel


def count(db: Database, model: Any = Message) -> int:
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(model)) or 0


def messages(db: Database) -> list[Message]:
    with db.session() as s:
        found = list(s.scalars(select(Message).order_by(Message.id)))
        for m in found:
            _ = m.attachments
        s.expunge_all()
        return found


def conversations(db: Database) -> list[Conversation]:
    with db.session() as s:
        found = list(s.scalars(select(Conversation).order_by(Conversation.id)))
        s.expunge_all()
        return found
