"""The widget's HTTP side: its size budget, the demo page, uploads with their limits, files."""

from __future__ import annotations

import gzip
import hashlib
import re
import uuid
from pathlib import Path

from sqlalchemy import select

from sportello.conversations.models import Attachment, Message
from sportello.web.render import WEB_DIR
from tests.channels.chat.conftest import ORIGIN, Widget, make_chat_channel

WIDGET = Path(WEB_DIR) / "static" / "widget"
BUDGET = 30 * 1024


def test_widget_is_small_and_the_minified_build_is_current():
    source = (WIDGET / "widget.js").read_bytes()
    built = (WIDGET / "widget.min.js").read_bytes()
    size = len(gzip.compress(built, 9))
    print(
        f"\nwidget.js {len(source)} B; widget.min.js {len(built)} B, "
        f"{size} B gzipped ({size / BUDGET:.0%} of the 30 KB budget)"
    )
    assert size < BUDGET
    banner = re.match(rb"/\*! Sportello chat widget - source sha256:([0-9a-f]{16})", built)
    assert banner, "widget.min.js has no source banner: run scripts/build-widget"
    assert banner.group(1).decode() == hashlib.sha256(source).hexdigest()[:16], (
        "widget.min.js is older than widget.js: run scripts/build-widget"
    )


def test_widget_makes_no_third_party_requests():
    source = (WIDGET / "widget.js").read_text()
    urls = re.findall(r"https?://[^\s\"'<>]+", source)
    assert all("SPORTELLO" in u for u in urls), urls  # only the example in the header comment
    assert "eval(" not in source and "new Function" not in source
    assert ".innerHTML = attrs" in source  # the one innerHTML: our constant SVG icons


def test_demo_page_embeds_the_widget(client, chat):
    page = client.get(f"/chat-demo/{chat.public_id}")
    assert page.status_code == 200
    assert '<html lang="it">' in page.text
    assert (
        f'<script src="/static/widget/widget.js" data-channel="{chat.public_id}" async>'
        in page.text
    )
    assert "style=" not in page.text
    english = client.get(f"/chat-demo/{chat.public_id}?lang=en")
    assert '<html lang="en">' in english.text
    assert client.get("/chat-demo/nope").status_code == 404


def _token(client, chat) -> str:  # type: ignore[no-untyped-def]
    with client.websocket_connect(f"/chat/ws/{chat.public_id}", headers={"origin": ORIGIN}) as ws:
        return str(Widget(ws).hello()["token"])


def _upload(
    client,
    chat,
    token,
    name="scontrino.pdf",
    data=b"%PDF-1.4 test",
    kind="application/pdf",
    cid=None,
):  # type: ignore[no-untyped-def]
    return client.post(
        f"/chat/upload/{chat.public_id}",
        data={"token": token, "cid": cid or uuid.uuid4().hex},
        files={"file": (name, data, kind)},
        headers={"origin": ORIGIN},
    )


def test_upload_is_stored_through_the_one_door_and_deduped(client, db, chat):
    token = _token(client, chat)
    client_id = uuid.uuid4().hex
    first = _upload(client, chat, token, cid=client_id)
    assert first.status_code == 201, first.text
    assert first.headers["access-control-allow-origin"] == ORIGIN
    again = _upload(client, chat, token, cid=client_id)
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    with db.session() as s:
        (message,) = s.scalars(select(Message)).unique().all()
        assert message.provider_message_id == f"chat:{client_id}"
        (attachment,) = message.attachments
        assert attachment.filename == "scontrino.pdf"
        assert attachment.content_type == "application/pdf"
        attachment_id = attachment.id
    # The visitor can fetch their own file; with another token, it does not exist.
    own = client.get(f"/chat/files/{chat.public_id}/{attachment_id}", params={"t": token})
    assert own.status_code == 200 and own.content == b"%PDF-1.4 test"
    assert own.headers["content-type"] == "application/octet-stream"
    stranger = _token(client, chat)
    other = client.get(f"/chat/files/{chat.public_id}/{attachment_id}", params={"t": stranger})
    assert other.status_code == 404
    forged = client.get(f"/chat/files/{chat.public_id}/{attachment_id}", params={"t": "x"})
    assert forged.status_code == 401


def test_upload_limits(client, db, personas):
    chat = make_chat_channel(db, personas, max_upload_mb="0.01", upload_types="image/png")
    token = _token(client, chat)
    too_big = _upload(client, chat, token, "foto.png", b"\x89PNG" + b"0" * 11_000, "image/png")
    assert too_big.status_code == 413
    assert too_big.json()["error"] == "size"
    assert too_big.headers["access-control-allow-origin"] == ORIGIN
    wrong_type = _upload(client, chat, token, "virus.exe", b"MZ", "application/x-msdownload")
    assert wrong_type.status_code == 415
    empty = _upload(client, chat, token, "vuoto.png", b"", "image/png")
    assert empty.status_code == 422
    bad_token = _upload(client, chat, "forged", "foto.png", b"\x89PNG", "image/png")
    assert bad_token.status_code == 401
    bad_cid = _upload(client, chat, token, "foto.png", b"\x89PNG", "image/png", cid="?")
    assert bad_cid.status_code == 422
    ok = _upload(client, chat, token, "foto.png", b"\x89PNG" + b"0" * 100, "image/png")
    assert ok.status_code == 201
    with db.session() as s:
        assert len(s.scalars(select(Attachment)).all()) == 1


def test_upload_shows_up_on_the_visitors_socket(client, db, chat):
    with client.websocket_connect(f"/chat/ws/{chat.public_id}", headers={"origin": ORIGIN}) as ws:
        w = Widget(ws)
        token = w.hello()["token"]
        response = _upload(client, chat, token, "foto.png", b"\x89PNG", "image/png")
        assert response.status_code == 201
        history = w.until("history")
    (message,) = history["messages"]
    assert message["files"][0]["name"] == "foto.png"
    assert message["id"] == response.json()["id"]
