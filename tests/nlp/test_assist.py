"""Agent assist against a fake OpenAI-compatible server started here (a real HTTP server on
loopback): what leaves Sportello is redacted, the key goes as a bearer token, the knowledge base
grounds the draft, and a broken endpoint gives a clear error."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from sportello.core.db import Database
from sportello.core.dispatcher import Dispatcher
from sportello.knowledge import actions as kb_actions
from sportello.knowledge.models import ArticleStatus
from sportello.nlp import actions
from sportello.nlp.schemas import NlpSettingsData
from tests.api.helpers import make_token
from tests.factories import csrf_from, inbound, login, receive


class FakeOpenAI(ThreadingHTTPServer):
    requests: list[dict[str, Any]]
    fail: bool


class _Handler(BaseHTTPRequestHandler):
    server: FakeOpenAI

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.requests.append(
            {"path": self.path, "auth": self.headers.get("Authorization"), "body": body}
        )
        if self.server.fail:
            self.send_response(500)
            self.end_headers()
            return
        prompt = "\n".join(m["content"] for m in body["messages"])
        # Echo the first placeholder back, as a model would keep it.
        names = [w for w in prompt.split() if w.startswith("[NAME_")]
        answer = f"Gentile {names[0].rstrip('.,:;') if names else 'cliente'}, riassunto fatto [1]."
        payload = json.dumps(
            {
                "id": "x",
                "object": "chat.completion",
                "model": body["model"],
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": answer},
                        "finish_reason": "stop",
                    }
                ],
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


@pytest.fixture
def fake_llm() -> Iterator[FakeOpenAI]:
    server = FakeOpenAI(("127.0.0.1", 0), _Handler)
    server.requests = []
    server.fail = False
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _configure(db: Database, personas: Any, url: str, *, redact: bool = True) -> None:
    with db.transaction() as s:
        actions.do_save_settings(
            s,
            brand_id=personas.brand_id,
            data=NlpSettingsData(
                assist_enabled=True,
                assist_base_url=url,
                assist_model="llama-test",
                assist_key="sk-test-123",
                assist_redact=redact,
            ),
        )


TEXT = (
    "Sono Mario Rossi, il rimborso non arriva. "
    "Scrivetemi a mario.rossi@example.it o al 333 1234567."
)


def test_summary_draft_translate_redacted(
    db: Database, personas: Any, client: Any, fake_llm: FakeOpenAI
) -> None:
    url = f"http://127.0.0.1:{fake_llm.server_address[1]}/v1"
    _configure(db, personas, url)
    with db.transaction() as s:
        article = kb_actions.do_create_article(
            s, brand_id=personas.brand_id, by=None, title="Quando arriva il rimborso",
            body_md="Il rimborso arriva entro 5-7 giorni lavorativi dal rientro del reso.",
            status=ArticleStatus.PUBLISHED,
        )  # fmt: skip
        article_id = article.id
    conv = receive(db, personas.api_channel, inbound(TEXT))
    Dispatcher(db, name="test").drain()
    headers = {"Authorization": f"Bearer {make_token(db, personas.sara)}"}
    cid = conv.conversation.id
    for kind in ("summary", "draft", "translate"):
        out = client.post(
            f"/api/v1/conversations/{cid}/assist", headers=headers, json={"kind": kind}
        )
        assert out.status_code == 200, out.text
        data = out.json()
        assert data["redacted"] >= 3
        if kind == "draft":
            assert [a["id"] for a in data["articles"]] == [article_id]
        assert "Mario" in data["text"]  # the placeholder came back with the real name
    assert len(fake_llm.requests) == 3
    drafted = fake_llm.requests[1]["body"]["messages"][0]["content"]
    assert "[1] Quando arriva il rimborso" in drafted  # the article grounds the draft
    for request in fake_llm.requests:
        assert request["path"] == "/v1/chat/completions"
        assert request["auth"] == "Bearer sk-test-123"
        assert request["body"]["model"] == "llama-test"
        sent = json.dumps(request["body"], ensure_ascii=False)
        for secret in ("Mario", "Rossi", "mario.rossi@example.it", "333 1234567"):
            assert secret not in sent
    assert (
        client.post(
            f"/api/v1/conversations/{cid}/assist", headers=headers, json={"kind": "poem"}
        ).status_code
        == 422
    )


def test_off_by_default_and_broken_endpoint(
    db: Database, personas: Any, client: Any, fake_llm: FakeOpenAI
) -> None:
    conv = receive(db, personas.api_channel, inbound(TEXT))
    headers = {"Authorization": f"Bearer {make_token(db, personas.sara)}"}
    url = f"/api/v1/conversations/{conv.conversation.id}/assist"
    off = client.post(url, headers=headers, json={"kind": "summary"})
    assert off.status_code == 409
    _configure(db, personas, f"http://127.0.0.1:{fake_llm.server_address[1]}/v1")
    fake_llm.fail = True
    broken = client.post(url, headers=headers, json={"kind": "summary"})
    assert broken.status_code == 502 and "assistant" in broken.text
    # The page: the buttons show, and the error is said in the panel.
    login(client, personas.sara)
    page = client.get(f"/c/{conv.conversation.number}/nlp")
    assert "assist-summary" in page.text
    token = csrf_from(client.get(f"/c/{conv.conversation.number}").text)
    fake_llm.fail = False
    done = client.post(
        f"/c/{conv.conversation.number}/nlp/assist", data={"kind": "summary", "csrf_token": token}
    )
    assert (
        done.status_code == 200
        and 'id="assist-result"' in done.text
        and "riassunto fatto" in done.text
    )
    # The admin lets personal data through: the text goes as it is.
    fake_llm.requests.clear()
    _configure(db, personas, f"http://127.0.0.1:{fake_llm.server_address[1]}", redact=False)
    plain = client.post(url, headers=headers, json={"kind": "summary"})
    assert plain.status_code == 200 and plain.json()["redacted"] == 0
    assert "mario.rossi@example.it" in json.dumps(fake_llm.requests[0]["body"])
