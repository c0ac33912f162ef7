"""The widget protocol over real WebSockets (Starlette's TestClient): dedupe by client id, resume
after a reconnect, typing both ways, read receipts, identity verification, the offline path."""

from __future__ import annotations

import json
import time
import uuid

import pytest
from sqlalchemy import func, select
from starlette.websockets import WebSocketDisconnect

from sportello.channels.chat.models import ChatVisitor, TranscriptRequest
from sportello.channels.chat.protocol import user_hash
from sportello.conversations import actions as conversations_actions
from sportello.conversations.models import Conversation, DeliveryState, Direction, Message
from sportello.customers.models import CustomerIdentity
from tests.channels.chat.conftest import ORIGIN, Widget, drain, make_chat_channel
from tests.factories import csrf_from, login

HEADERS = {"origin": ORIGIN}


def ws_url(chat) -> str:  # type: ignore[no-untyped-def]
    return f"/chat/ws/{chat.public_id}"


def cid() -> str:
    return uuid.uuid4().hex


def messages(db, conversation_id: int | None = None) -> list[Message]:  # type: ignore[no-untyped-def]
    with db.session() as s:
        query = select(Message).order_by(Message.id)
        if conversation_id is not None:
            query = query.where(Message.conversation_id == conversation_id)
        return list(s.scalars(query).unique())


def reply(db, conversation_id: int, text: str, author) -> int:  # type: ignore[no-untyped-def]
    with db.transaction() as s:
        conversation = s.get_one(Conversation, conversation_id)
        message = conversations_actions.do_send_reply(
            s, conversation=conversation, author=s.merge(author), text=text
        )
        s.flush()
        return message.id


def test_new_visitor_gets_a_token_and_no_conversation(client, chat):
    with client.websocket_connect(ws_url(chat), headers=HEADERS) as ws:
        welcome = Widget(ws).hello()
    assert welcome["token"] and welcome["visitor"]
    assert welcome["conv"] is None
    assert welcome["open"] is True
    assert welcome["online"] is False  # no console open for the Assistenza queue
    assert welcome["verified"] is False


def test_a_resent_client_id_is_stored_once(client, db, chat):
    first = cid()
    with client.websocket_connect(ws_url(chat), headers=HEADERS) as ws:
        w = Widget(ws)
        w.hello()
        w.send(t="msg", cid=first, text="Buongiorno, avete il piatto blu?")
        ack = w.until("ack")
        assert ack["cid"] == first and ack["dup"] is False
        w.send(t="msg", cid=first, text="Buongiorno, avete il piatto blu?")
        again = w.until("ack")
    assert again["id"] == ack["id"] and again["dup"] is True
    stored = messages(db)
    assert len(stored) == 1
    assert stored[0].provider_message_id == f"chat:{first}"
    assert stored[0].client_id == first
    assert stored[0].meta["page"] == "https://negozio.example.it/prodotti"
    assert stored[0].meta["page_title"] == "Prodotti"
    with db.session() as s:
        conversation = s.get_one(Conversation, ack["conv"])
        assert conversation.channel_id == chat.channel.id
        assert conversation.queue_id is not None
        visitor = s.scalar(select(ChatVisitor))
        assert visitor is not None and visitor.conversation_id == conversation.id
        assert visitor.page_url == "https://negozio.example.it/prodotti"


def test_resend_after_reconnect_with_the_same_token_is_deduped(client, db, chat):
    first = cid()
    with client.websocket_connect(ws_url(chat), headers=HEADERS) as ws:
        w = Widget(ws)
        token = w.hello()["token"]
        w.send(t="msg", cid=first, text="Prima")
        w.until("ack")
    # The widget never saw the ack (say): it resends on the next connection.
    with client.websocket_connect(ws_url(chat), headers=HEADERS) as ws:
        w = Widget(ws)
        welcome = w.hello(token=token)
        history = w.until("history")
        assert [m["cid"] for m in history["messages"]] == [first]
        w.send(t="msg", cid=first, text="Prima")
        assert w.until("ack")["dup"] is True
    assert welcome["conv"] == history["conv"]
    assert len(messages(db)) == 1


def test_agent_reply_is_pushed_live_and_missed_ones_arrive_on_resume(client, db, chat, personas):
    with client.websocket_connect(ws_url(chat), headers=HEADERS) as ws:
        w = Widget(ws)
        token = w.hello()["token"]
        w.send(t="msg", cid=cid(), text="Quando arriva il mio ordine?")
        ack = w.until("ack")
        conv = ack["conv"]
        first_reply = reply(db, conv, "Domani mattina.", personas.sara)
        drain(db)  # the delivery job calls the adapter's send: a poke to this socket
        pushed = w.until("history")
        agent = [m for m in pushed["messages"] if m["from"] == "agent"]
        assert [m["id"] for m in agent] == [first_reply]
        assert agent[0]["name"] == "Sara Conti" and agent[0]["text"] == "Domani mattina."
        w.send(t="delivered", ids=[first_reply])
        w.send(t="read", up_to=first_reply)
        last_seen = max(m["id"] for m in pushed["messages"])
        w.send(t="typing", on=False)  # a no-op frame to be sure the marks were processed
        ws.send_text("ping")
        assert ws.receive_text() == "pong"
    with db.session() as s:
        assert s.get_one(Message, first_reply).delivery_state == DeliveryState.READ

    # Offline: two replies wait in the timeline.
    missed = [reply(db, conv, "Ecco il tracking.", personas.sara)]
    missed.append(reply(db, conv, "Serve altro?", personas.sara))
    drain(db)  # nobody listening: send succeeds anyway (stored + published)
    with db.session() as s:
        assert s.get_one(Message, missed[0]).delivery_state == DeliveryState.SENT

    with client.websocket_connect(ws_url(chat), headers=HEADERS) as ws:
        w = Widget(ws)
        welcome = w.hello(token=token, last=last_seen, conv=conv)
        assert welcome["conv"] == conv
        resumed = w.until("history")
        assert [m["id"] for m in resumed["messages"]] == missed  # only what was missed
        w.send(t="delivered", ids=missed)
        ws.send_text("ping")
        assert ws.receive_text() == "pong"
    with db.session() as s:
        assert {s.get_one(Message, i).delivery_state for i in missed} == {DeliveryState.DELIVERED}


def test_a_reload_gets_the_whole_conversation_in_order(client, db, chat, personas):
    with client.websocket_connect(ws_url(chat), headers=HEADERS) as ws:
        w = Widget(ws)
        token = w.hello()["token"]
        for text in ("uno", "due"):
            w.send(t="msg", cid=cid(), text=text)
            conv = w.until("ack")["conv"]
    reply(db, conv, "tre", personas.sara)
    with client.websocket_connect(ws_url(chat), headers=HEADERS) as ws:
        w = Widget(ws)
        w.hello(token=token, last=0)
        history = w.until("history")
    assert [m["text"] for m in history["messages"]] == ["uno", "due", "tre"]
    assert [m["from"] for m in history["messages"]] == ["visitor", "visitor", "agent"]


def test_two_tabs_of_one_visitor_see_each_others_messages(client, db, chat):
    with client.websocket_connect(ws_url(chat), headers=HEADERS) as ws1:
        a = Widget(ws1)
        token = a.hello()["token"]
        a.send(t="msg", cid=cid(), text="dalla prima scheda")
        conv = a.until("ack")["conv"]
        with client.websocket_connect(ws_url(chat), headers=HEADERS) as ws2:
            b = Widget(ws2)
            assert b.hello(token=token)["conv"] == conv
            b.until("history")
            second = cid()
            b.send(t="msg", cid=second, text="dalla seconda")
            b.until("ack")
            seen = a.until("history")
            assert second in [m["cid"] for m in seen["messages"]]


def test_typing_both_ways_and_the_agent_seen_mark(client, db, chat, personas):
    login(client, personas.sara)
    page = client.get("/inbox/mine")
    token = csrf_from(page.text)
    with client.websocket_connect("/ws") as console:
        assert json.loads(console.receive_text())["type"] == "hello"
        with client.websocket_connect(ws_url(chat), headers=HEADERS) as ws:
            w = Widget(ws)
            assert w.hello()["online"] is True  # Sara, who sees the queue, has the console open
            w.send(t="msg", cid=cid(), text="Ciao")
            ack = w.until("ack")
            w.send(t="typing", on=True)
            event = json.loads(console.receive_text())
            while event["type"] != "chat.typing":
                event = json.loads(console.receive_text())
            assert event["data"]["typing"] is True
            assert event["data"]["conversation"] == ack["conv"]
            assert "conversation_id" not in event["data"]  # typing must not reload console parts

            with db.session() as s:
                number = s.get_one(Conversation, ack["conv"]).number
            answer = client.post(f"/chat/agent/{number}/typing", headers={"X-CSRF-Token": token})
            assert answer.status_code == 200, answer.text
            typing = w.until("typing")
            assert typing == {"t": "typing", "conv": ack["conv"], "on": True, "name": "Sara"}
            assert w.until("seen")["up_to"] == ack["id"]
    # Without the CSRF token, or for someone who cannot see the conversation: refused.
    assert client.post(f"/chat/agent/{number}/typing").status_code == 403


def test_identity_verification_links_the_right_customer(client, db, chat):
    good = user_hash(chat.identity_secret, "cliente-42")
    with client.websocket_connect(ws_url(chat), headers=HEADERS) as ws:
        w = Widget(ws)
        welcome = w.hello(user={"id": "cliente-42", "hash": good})
        assert welcome["verified"] is True
        w.send(t="msg", cid=cid(), text="Sono un cliente registrato")
        w.until("ack")
    with db.session() as s:
        kinds = {(i.kind.value, i.value) for i in s.scalars(select(CustomerIdentity)).all()}
    assert ("external", "cliente-42") in kinds
    assert ("visitor", welcome["visitor"]) in kinds

    # The same user from another browser finds the same conversation.
    with client.websocket_connect(ws_url(chat), headers=HEADERS) as ws:
        other = Widget(ws).hello(user={"id": "cliente-42", "hash": good.upper()})
    assert other["conv"] == welcome["conv"] or other["conv"] is not None

    # A token minted for a verified user does not carry over once the host site logs them out.
    with client.websocket_connect(ws_url(chat), headers=HEADERS) as ws:
        anonymous = Widget(ws).hello(token=welcome["token"])
    assert anonymous["verified"] is False and anonymous["conv"] is None


@pytest.mark.parametrize(
    "user",
    [
        {"id": "cliente-42", "hash": "0" * 64},
        {"id": "cliente-43", "hash": "HASH-OF-42"},
        {"id": "", "hash": "x"},
        {"id": "cliente-42", "hash": ""},
    ],
)
def test_a_bad_identity_hash_is_refused(client, db, chat, user):
    if user["hash"] == "HASH-OF-42":
        user = {**user, "hash": user_hash(chat.identity_secret, "cliente-42")}
    with client.websocket_connect(ws_url(chat), headers=HEADERS) as ws:
        w = Widget(ws)
        w.send(t="hello", user=user)
        error = w.recv()
        assert error["t"] == "error" and error["code"] == "identity_rejected"
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_text()
    assert closed.value.code == 4403
    assert messages(db) == []


def test_forged_or_foreign_tokens_start_a_new_visitor(client, db, personas, chat):
    other = make_chat_channel(db, personas)
    with client.websocket_connect(f"/chat/ws/{other.public_id}", headers=HEADERS) as ws:
        foreign = Widget(ws).hello()["token"]
    with client.websocket_connect(ws_url(chat), headers=HEADERS) as ws:
        w = Widget(ws)
        mine = w.hello()
        w.send(t="msg", cid=cid(), text="ciao")
        w.until("ack")
    for token in (foreign, mine["token"][:-3] + "abc", "nonsense"):
        with client.websocket_connect(ws_url(chat), headers=HEADERS) as ws:
            welcome = Widget(ws).hello(token=token)
        assert welcome["visitor"] != mine["visitor"] and welcome["conv"] is None


def test_origin_check_on_socket_and_cors_on_config(client, chat):
    with (
        pytest.raises(WebSocketDisconnect) as closed,
        client.websocket_connect(ws_url(chat), headers={"origin": "https://evil.example"}) as ws,
    ):
        ws.receive_text()
    assert closed.value.code == 4403
    good = client.get(f"/chat/config/{chat.public_id}", headers=HEADERS)
    assert good.status_code == 200
    assert good.headers["access-control-allow-origin"] == ORIGIN
    body = good.json()
    assert body["color"] == "#8b3a1a" and body["open"] is True and body["online"] is False
    assert body["greeting"]["it"] and body["greeting"]["en"]
    assert "allowed_origins" not in body
    bad = client.get(f"/chat/config/{chat.public_id}", headers={"origin": "https://evil.example"})
    assert "access-control-allow-origin" not in bad.headers
    assert client.get("/chat/config/nope").status_code == 404
    with (
        pytest.raises(WebSocketDisconnect) as closed,
        client.websocket_connect("/chat/ws/nope", headers=HEADERS) as ws,
    ):
        ws.receive_text()
    assert closed.value.code == 4404
    script = client.get("/static/widget/widget.js")
    assert script.status_code == 200
    assert script.headers["access-control-allow-origin"] == "*"


def test_offline_message_becomes_a_conversation_answered_by_email(client, db, chat):
    with client.websocket_connect(ws_url(chat), headers=HEADERS) as ws:
        w = Widget(ws)
        welcome = w.hello()
        assert welcome["online"] is False
        w.send(t="offline", cid=cid(), name="Anna Neri", email="", text="Richiamatemi")
        assert w.until("error")["code"] == "email_required"
        first = cid()
        w.send(
            t="offline", cid=first, name="Anna Neri", email="Anna@Example.it", text="Richiamatemi"
        )
        assert w.until("offline_ok")["cid"] == first
        w.send(
            t="offline", cid=first, name="Anna Neri", email="anna@example.it", text="Richiamatemi"
        )
        w.until("offline_ok")
    stored = messages(db)
    assert len(stored) == 1
    assert stored[0].meta["offline"] is True and stored[0].meta["reply_by"] == "email"
    with db.session() as s:
        identities = {(i.kind.value, i.value) for i in s.scalars(select(CustomerIdentity))}
        conversation = s.get_one(Conversation, stored[0].conversation_id)
        assert conversation.subject == "Chat: Anna Neri"
    assert ("email", "anna@example.it") in identities
    assert ("visitor", welcome["visitor"]) in identities


def test_offline_message_goes_to_the_brands_mailbox_when_there_is_one(client, db, chat, personas):
    with db.transaction() as s:
        s.add(
            mailbox := __import__("sportello.channels.models", fromlist=["Channel"]).Channel(
                brand_id=personas.brand_id, kind="email", name="Posta", public_id="mbx-1"
            )
        )
        s.flush()
        mailbox_id = mailbox.id
    with client.websocket_connect(ws_url(chat), headers=HEADERS) as ws:
        w = Widget(ws)
        w.hello()
        w.send(t="offline", cid=cid(), name="", email="anna@example.it", text="Fuori orario")
        w.until("offline_ok")
    (stored,) = messages(db)
    assert stored.channel_id == mailbox_id


def test_closed_hours_say_so(client, db, personas):
    closed = make_chat_channel(
        db,
        personas,
        hours=json.dumps(
            {
                "tz": "Europe/Rome",
                "weekly": {"mon": [["00:00", "00:01"]]},
                "country_holidays": False,
            }
        ),
    )
    with client.websocket_connect(f"/chat/ws/{closed.public_id}", headers=HEADERS) as ws:
        welcome = Widget(ws).hello()
    assert welcome["open"] is False
    assert client.get(f"/chat/config/{closed.public_id}").json()["open"] is False


def test_prechat_form_names_the_customer_and_sets_the_topic(client, db, personas):
    chat = make_chat_channel(db, personas, prechat="required", topics="Ordini, Resi")
    with client.websocket_connect(f"/chat/ws/{chat.public_id}", headers=HEADERS) as ws:
        w = Widget(ws)
        assert w.hello()["prechat_done"] is False
        w.send(t="prechat", name="Mario", email="", topic="Resi")
        assert w.until("error")["code"] == "invalid"
        w.send(t="prechat", name="Mario Rossi", email="mario@example.it", topic="Resi")
        w.until("prechat_ok")
        w.send(t="msg", cid=cid(), text="Vorrei rendere un piatto")
        conv = w.until("ack")["conv"]
    with db.session() as s:
        conversation = s.get_one(Conversation, conv)
        assert conversation.subject == "Resi"
        assert conversation.customer.name == "Mario Rossi"
        assert ("email", "mario@example.it") in {
            (i.kind.value, i.value) for i in conversation.customer.identities
        }


def test_page_navigation_is_recorded_for_the_console(client, db, chat, personas):
    with client.websocket_connect(ws_url(chat), headers=HEADERS) as ws:
        w = Widget(ws)
        w.hello()
        w.send(t="msg", cid=cid(), text="Info spedizioni?")
        conv = w.until("ack")["conv"]
        w.send(t="page", url="https://negozio.example.it/carrello", title="Carrello")
        w.send(t="page", url="javascript:alert(1)", title="x")  # not a page address: ignored
        ws.send_text("ping")
        assert ws.receive_text() == "pong"
        login(client, personas.sara)
        with db.session() as s:
            number = s.get_one(Conversation, conv).number
        info = client.get(f"/chat/agent/{number}/visitor").json()
    assert info["page"] == "https://negozio.example.it/carrello"
    assert info["page_title"] == "Carrello"
    assert info["online"] is True


def test_transcript_request_is_recorded_and_pending_without_a_mailbox(client, db, chat, personas):
    with client.websocket_connect(ws_url(chat), headers=HEADERS) as ws:
        w = Widget(ws)
        w.hello()
        w.send(t="transcript", email="mario@example.it")
        assert w.until("error")["code"] == "no_conversation"
        w.send(t="msg", cid=cid(), text="Grazie")
        conv = w.until("ack")["conv"]
        w.send(t="transcript", email="mario@example.it")
        assert w.until("transcript_ok")["status"] == "queued"
    drain(db)
    with db.session() as s:
        (request,) = s.scalars(select(TranscriptRequest)).all()
        assert request.conversation_id == conv
        assert request.status == "pending" and "no email channel" in request.note


def test_rate_limit_per_socket(client, db, chat):
    with client.websocket_connect(ws_url(chat), headers=HEADERS) as ws:
        w = Widget(ws)
        w.hello()
        codes = []
        for i in range(22):
            w.send(t="msg", cid=cid(), text=f"spam {i}")
            codes.append(w.recv())
    assert [f["t"] for f in codes].count("ack") == 20
    assert codes[-1]["code"] == "rate_limited"
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Message)) == 20


def test_bad_frames_get_errors_not_disconnects(client, chat):
    with client.websocket_connect(ws_url(chat), headers=HEADERS) as ws:
        w = Widget(ws)
        w.hello()
        ws.send_text("{not json")
        assert w.recv()["code"] == "bad_frame"
        w.send(t="msg", cid="x", text="hi")
        assert w.recv()["code"] == "bad_client_id"
        w.send(t="msg", cid=cid(), text="   ")
        assert w.recv()["code"] == "empty"
        w.send(t="msg", cid=cid(), text="x" * 5001)
        assert w.recv()["code"] == "too_long"


def test_hello_must_come_first(client, chat):
    with client.websocket_connect(ws_url(chat), headers=HEADERS) as ws:
        w = Widget(ws)
        w.send(t="msg", cid=cid(), text="hi")
        assert w.recv()["code"] == "hello_first"
        with pytest.raises(WebSocketDisconnect):
            ws.receive_text()


def test_only_the_visitors_own_agent_messages_can_be_marked(client, db, chat, personas):
    with client.websocket_connect(ws_url(chat), headers=HEADERS) as ws:
        w = Widget(ws)
        w.hello()
        w.send(t="msg", cid=cid(), text="A")
        conv_a = w.until("ack")["conv"]
    with client.websocket_connect(ws_url(chat), headers=HEADERS) as ws:
        w = Widget(ws)
        w.hello()
        w.send(t="msg", cid=cid(), text="B")
        w.until("ack")
        other = reply(db, conv_a, "per A", personas.sara)
        w.send(t="read", up_to=other + 10)
        w.send(t="delivered", ids=[other])
        ws.send_text("ping")
        assert ws.receive_text() == "pong"
    with db.session() as s:
        message = s.get_one(Message, other)
        assert message.direction == Direction.OUTBOUND
        assert message.delivery_state == DeliveryState.QUEUED


def _redis_up(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_timeout=1).ping())
    except redis.RedisError:
        return False


def test_replies_cross_processes_through_redis(db, personas, chat, test_settings, monkeypatch):
    """Scaled mode: the process that sends (a worker) is not the one holding the socket."""
    from fastapi.testclient import TestClient

    from sportello.channels import registry
    from sportello.channels.chat import hub
    from sportello.config import get_settings
    from sportello.main import create_app

    url = "redis://127.0.0.1:6379/0"
    if not _redis_up(url):
        pytest.skip("no Redis on 127.0.0.1:6379")
    settings = test_settings.model_copy(update={"redis_url": url})
    app = create_app(settings, db=db, run_workers=False)
    with TestClient(app) as client, client.websocket_connect(ws_url(chat), headers=HEADERS) as ws:
        w = Widget(ws)
        w.hello()
        w.send(t="msg", cid=cid(), text="Ciao dal processo A")
        conv = w.until("ack")["conv"]
        message_id = reply(db, conv, "Risposta dal worker", personas.sara)
        # What a worker process does: the adapter publishes on Redis, not to a local hub.
        monkeypatch.setenv("SPORTELLO_REDIS_URL", url)
        get_settings.cache_clear()
        local_hubs = list(hub._HUBS)
        for h in local_hubs:
            hub.unregister_hub(h)  # nothing in-process: only Redis can carry it
        try:
            time.sleep(0.3)  # the relay has subscribed
            drain(db)
            pushed = w.until("history")
        finally:
            for h in local_hubs:
                hub.register_hub(h)
            monkeypatch.delenv("SPORTELLO_REDIS_URL")
            get_settings.cache_clear()
    assert message_id in [m["id"] for m in pushed["messages"]]
    assert registry.get_adapter("chat").kind == "chat"
