"""The bot: answers from the knowledge base, asks whether it helped, hands over to a person."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any, ClassVar

import pytest
from sqlalchemy import select

from sportello.channels.models import Channel
from sportello.config import get_settings
from sportello.conversations.models import Conversation, Direction, Message, Status
from sportello.core.dispatcher import Dispatcher
from sportello.core.outbox import OutboxEvent
from sportello.knowledge import bot
from sportello.knowledge.models import BotLog, BotSession, BotState
from tests.factories import inbound, receive
from tests.knowledge.conftest import KB


def enable_bot(db, channel, **settings: Any) -> None:  # type: ignore[no-untyped-def]
    with db.transaction() as s:
        row = s.get_one(Channel, channel.id)
        row.settings = {**row.settings, "bot": {"enabled": True, **settings}}


def say(db, personas, text: str, email: str = "cliente@example.it"):  # type: ignore[no-untyped-def]
    result = receive(db, personas.api_channel, inbound(text, email=email))
    Dispatcher(db).drain()
    return result.conversation_id


def timeline(db, conversation_id: int) -> list[Message]:  # type: ignore[no-untyped-def]
    with db.session() as s:
        return list(
            s.scalars(
                select(Message)
                .where(Message.conversation_id == conversation_id)
                .order_by(Message.id)
            )
        )


def test_bot_answers_with_passage_and_link_then_resolves_on_yes(db, kb: KB, personas):
    enable_bot(db, personas.api_channel, greeting="Ciao! Sono l'assistente.", name="Sportellino")
    conversation_id = say(db, personas, "Quando arriva il rimborso di un reso?")
    messages = timeline(db, conversation_id)
    answer = next(m for m in messages if m.direction == Direction.OUTBOUND)
    assert answer.author_id is None and answer.sender_name == "Sportellino"
    assert answer.meta["bot"] is True and answer.meta["articles"] == [kb.ids["Resi e rimborsi"]]
    assert answer.text.startswith("Ciao! Sono l'assistente.")
    assert "rimborso arriva" in answer.text
    assert "/help/it/articles/resi-e-rimborsi" in answer.text
    assert "Rispondi sì o no" in answer.text
    say(db, personas, "sì grazie!")
    with db.session() as s:
        conversation = s.get_one(Conversation, conversation_id)
        assert conversation.status == Status.RESOLVED and conversation.assignee_id is None
        assert s.get_one(BotSession, conversation_id).state == BotState.RESOLVED
        logs = list(s.scalars(select(BotLog).order_by(BotLog.id)))
        assert [entry.action for entry in logs] == ["answer", "feedback_yes"]
        assert logs[0].retrieved[0]["title"] == "Resi e rimborsi"
        assert logs[0].confidence >= 0.5


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("Voglio parlare con un operatore", "asked_for_person"),
        ("I want a human agent", "asked_for_person"),
        ("Siete dei truffatori, è una vergogna", "upset"),
        ("DOV'È IL MIO ORDINE, NON ARRIVA MAI", "upset"),
        ("Qual è l'orario del negozio di Milano?", "low_confidence"),
        ("Voglio un rimborso, ho già scritto al mio avvocato", "upset"),
    ],
)
def test_handover_reasons(db, kb: KB, personas, text, reason):
    enable_bot(db, personas.api_channel)
    conversation_id = say(db, personas, text)
    messages = timeline(db, conversation_id)
    notes = [m for m in messages if m.direction == Direction.NOTE]
    assert len(notes) == 1 and notes[0].text.startswith("Bot handover")
    assert text[:40] in notes[0].text
    replies = [m for m in messages if m.direction == Direction.OUTBOUND]
    assert len(replies) == 1 and replies[0].meta["handover"] == reason
    with db.session() as s:
        conversation = s.get_one(Conversation, conversation_id)
        assert bot.HANDOVER_TAG in [t.name for t in conversation.tags]
        assert s.get_one(BotSession, conversation_id).handover_reason == reason
        events = [
            e.payload
            for e in s.scalars(select(OutboxEvent).where(OutboxEvent.name == "bot.handover"))
        ]
        assert (
            events
            and events[0]["reason"] == reason
            and events[0]["conversation_id"] == conversation_id
        )
        assert not bot.bot_active(s, conversation)
    # after the handover the bot stays quiet
    say(db, personas, "Quando arriva il rimborso di un reso?")
    assert len([m for m in timeline(db, conversation_id) if m.direction == Direction.OUTBOUND]) == 1


def test_repeated_no_hands_over(db, kb: KB, personas):
    enable_bot(db, personas.api_channel)
    conversation_id = say(db, personas, "Quanto costa la spedizione? La consegna è gratuita?")
    say(db, personas, "no")
    replies = [m for m in timeline(db, conversation_id) if m.direction == Direction.OUTBOUND]
    assert "altre parole" in replies[-1].text
    say(db, personas, "Spedite in 24 ore in tutta Italia?")
    say(db, personas, "no, non mi aiuta")
    with db.session() as s:
        state = s.get_one(BotSession, conversation_id)
        assert state.state == BotState.HANDED_OVER and state.handover_reason == "repeated_failure"


def test_blocked_topics_hours_and_disabled_channels(db, kb: KB, personas):
    enable_bot(db, personas.api_channel, blocked_topics=["rimborso"])
    conversation_id = say(db, personas, "Quando arriva il rimborso di un reso?")
    with db.session() as s:
        assert s.get_one(BotSession, conversation_id).handover_reason == "blocked_topic"
    enable_bot(db, personas.api_channel, hours=["00:00-00:00"])  # never on duty
    other = say(db, personas, "Tempi di spedizione?", email="altro@example.it")
    assert all(m.direction == Direction.INBOUND for m in timeline(db, other))
    # the web form channel has no bot
    result = receive(db, personas.webform, inbound("Tempi di spedizione?", email="w@example.it"))
    Dispatcher(db).drain()
    assert len(timeline(db, result.conversation_id)) == 1


def test_bot_skips_assigned_conversations_and_is_idempotent(db, kb: KB, personas):
    enable_bot(db, personas.api_channel)
    conversation_id = say(db, personas, "Quando arriva il rimborso di un reso?")
    with db.transaction() as s:  # the event delivered again: nothing new
        message = s.scalars(select(Message).where(Message.direction == Direction.INBOUND)).first()
        payload = {"message_id": message.id}
    bot.on_message_received(db, "message.received", payload)
    assert len([m for m in timeline(db, conversation_id) if m.direction == Direction.OUTBOUND]) == 1


class _FakeChat(BaseHTTPRequestHandler):
    answer = "Il rimborso arriva entro 5 giorni lavorativi [1]."
    requests: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        type(self).requests.append(
            {"path": self.path, "body": body, "auth": self.headers.get("authorization")}
        )
        data = json.dumps(
            {
                "id": "x",
                "object": "chat.completion",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": type(self).answer},
                        "finish_reason": "stop",
                    }
                ],
            }
        ).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def fake_llm(monkeypatch):  # type: ignore[no-untyped-def]
    server = HTTPServer(("127.0.0.1", 0), _FakeChat)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings = get_settings()
    monkeypatch.setattr(settings, "kb_llm_url", f"http://127.0.0.1:{server.server_port}/v1")
    monkeypatch.setattr(settings, "kb_llm_model", "local-model")
    monkeypatch.setattr(settings, "kb_llm_api_key", "k")
    _FakeChat.requests = []
    yield _FakeChat
    server.shutdown()
    server.server_close()
    thread.join(5)


def test_llm_composes_a_grounded_answer_citing_articles(db, kb: KB, personas, fake_llm):
    enable_bot(db, personas.api_channel, llm=True)
    conversation_id = say(db, personas, "Quando arriva il rimborso di un reso?")
    request = fake_llm.requests[0]
    assert request["path"] == "/v1/chat/completions" and request["auth"] == "Bearer k"
    assert request["body"]["model"] == "local-model"
    prompt = request["body"]["messages"][1]["content"]
    assert "[1] Resi e rimborsi" in prompt and "Quando arriva il rimborso" in prompt
    assert "ONLY" in request["body"]["messages"][0]["content"]
    answer = next(m for m in timeline(db, conversation_id) if m.direction == Direction.OUTBOUND)
    assert "entro 5 giorni lavorativi [1]" in answer.text
    assert "[1] Resi e rimborsi: http" in answer.text
    with db.session() as s:
        assert s.scalars(select(BotLog)).one().composer == "llm"


def test_llm_without_citation_or_declining_falls_back_to_the_passage(
    db, kb: KB, personas, fake_llm
):
    enable_bot(db, personas.api_channel, llm=True)
    fake_llm.answer = "Certo, ti rimborsiamo domani."  # cites nothing: not grounded
    try:
        conversation_id = say(db, personas, "Quando arriva il rimborso di un reso?")
    finally:
        fake_llm.answer = _FakeChat.answer
    answer = next(m for m in timeline(db, conversation_id) if m.direction == Direction.OUTBOUND)
    assert "domani" not in answer.text and "rimborso arriva" in answer.text
