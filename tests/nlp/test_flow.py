"""The wiring, on a real database: customers' messages through the one door, the dispatcher's
handler (sentiment, language, frustration, triage), training from the history, the nightly job."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from sportello.conversations import actions as conversations_actions
from sportello.conversations.models import Conversation, Priority, Status
from sportello.core.db import Database
from sportello.core.dispatcher import Dispatcher
from sportello.core.jobs import Job
from sportello.nlp import actions, handlers, service
from sportello.nlp.models import ConversationInsight, IntentModel, TriageMode
from sportello.nlp.schemas import NlpSettingsData
from tests.factories import inbound, receive


def drain(db: Database) -> None:
    Dispatcher(db, name="test").drain()


def _conversation(db: Database, cid: int) -> Conversation:
    with db.session() as s:
        c = s.get(Conversation, cid)
        assert c is not None
        c.tags
        s.expunge_all()
        return c


def _switch_on(db: Database, personas: Any) -> None:
    """The admin turns on the priority rule and the language tags (both opt-in)."""
    with db.transaction() as s:
        actions.do_save_settings(
            s,
            brand_id=personas.brand_id,
            data=NlpSettingsData(raise_enabled=True, language_tags=True),
        )


def test_frustrated_customer_raises_priority_and_gets_language_tag(
    db: Database, personas: Any
) -> None:
    _switch_on(db, personas)
    first = receive(
        db, personas.api_channel, inbound("Buongiorno, il mio ordine 1234 non è ancora arrivato.")
    )
    cid = int(first.conversation.id)
    drain(db)
    with db.session() as s:
        mood = service.conversation_sentiment(s, cid)
    assert mood is not None and mood["messages"] == 1 and mood["language"] == "it"
    assert _conversation(db, cid).priority == Priority.NORMAL
    assert "lang-it" in [t.name for t in _conversation(db, cid).tags]

    receive(
        db,
        personas.api_channel,
        inbound("È la terza volta che scrivo e nessuno risponde! Vergognoso, sono davvero stufo."),
    )
    drain(db)
    with db.session() as s:
        mood = service.conversation_sentiment(s, cid)
    assert mood is not None
    assert mood["label"] == "negative" and mood["raised_priority"] is True
    assert [m["label"] for m in mood["by_message"]][-1] == "negative"
    assert _conversation(db, cid).priority == Priority.HIGH
    drain(db)  # delivered twice: nothing changes
    with db.session() as s:
        assert service.conversation_sentiment(s, cid)["messages"] == 2  # type: ignore[index]


def test_the_rule_and_tags_are_off_until_the_admin_turns_them_on(
    db: Database, personas: Any
) -> None:
    cid = int(
        receive(
            db, personas.api_channel, inbound("Servizio pessimo, siete dei ladri! Vergogna!")
        ).conversation.id
    )
    drain(db)
    c = _conversation(db, cid)
    assert c.priority == Priority.NORMAL and c.tags == []
    with db.session() as s:
        assert service.conversation_sentiment(s, cid)["label"] == "negative"  # type: ignore[index]


def test_english_customer(db: Database, personas: Any) -> None:
    _switch_on(db, personas)
    cid = int(
        receive(
            db,
            personas.api_channel,
            inbound("Hello, thank you so much, the blanket is lovely!", email="jane@example.co.uk"),
        ).conversation.id
    )
    drain(db)
    with db.session() as s:
        mood = service.conversation_sentiment(s, cid)
    assert mood is not None and mood["language"] == "en" and mood["label"] == "positive"
    assert "lang-en" in [t.name for t in _conversation(db, cid).tags]


HISTORY = {
    "spedizione": [
        "Il mio ordine non è ancora arrivato",
        "Dov'è il pacco? il tracking è fermo",
        "Il corriere non è passato",
        "Quando arriva la consegna?",
        "Spedizione in ritardo",
        "Pacco mai consegnato",
        "Il tracciamento non si aggiorna",
    ],
    "fattura": [
        "Mi serve la fattura con partita IVA",
        "Potete mandarmi la fattura?",
        "La fattura ha il codice fiscale sbagliato",
        "Correggete l'intestazione della fattura",
        "Non trovo la fattura",
        "Fattura elettronica col codice SDI",
        "Fattura per la mia ditta",
    ],
}


def _history(db: Database, personas: Any) -> None:
    n = 0
    for label, texts in HISTORY.items():
        for text in texts:
            n += 1
            result = receive(db, personas.api_channel, inbound(text, email=f"c{n}@example.it"))
            with db.transaction() as s:
                c = s.get(Conversation, result.conversation.id)
                assert c is not None
                conversations_actions.do_update_conversation(
                    s, conversation=c, by=None, tags=[label]
                )
                conversations_actions.do_change_status(
                    s, conversation=c, status=Status.RESOLVED, by=None
                )


def test_triage_trained_on_history_applies_the_tag(db: Database, personas: Any) -> None:
    _history(db, personas)
    drain(db)
    with db.transaction() as s:
        actions.do_save_settings(
            s,
            brand_id=personas.brand_id,
            data=NlpSettingsData(
                triage_mode=TriageMode.APPLY, triage_threshold=0.4, language_tags=False
            ),
        )
        model = actions.do_train_intents(s, brand_id=personas.brand_id)
        assert model.examples == 14 and model.held_out >= 2 and model.accuracy is not None
        assert set(model.labels) == {"spedizione", "fattura"}
    new = receive(
        db,
        personas.api_channel,
        inbound("ciao, mi mandate la fattura intestata alla ditta?", email="new@example.it"),
    )
    drain(db)
    c = _conversation(db, int(new.conversation.id))
    assert [t.name for t in c.tags] == ["fattura"]
    with db.session() as s:
        insight = s.get(ConversationInsight, c.id)
        assert insight is not None and insight.intent_label == "fattura" and insight.intent_applied


def test_triage_suggests_and_the_agent_applies(db: Database, personas: Any) -> None:
    _history(db, personas)
    with db.transaction() as s:
        actions.do_save_settings(
            s,
            brand_id=personas.brand_id,
            data=NlpSettingsData(
                triage_mode=TriageMode.SUGGEST, triage_threshold=0.4, language_tags=False
            ),
        )
        actions.do_train_intents(s, brand_id=personas.brand_id)
    new = receive(
        db,
        personas.api_channel,
        inbound("il pacco non è arrivato, tracking fermo", email="n2@example.it"),
    )
    drain(db)
    cid = int(new.conversation.id)
    assert _conversation(db, cid).tags == []
    with db.transaction() as s:
        c = s.get(Conversation, cid)
        assert c is not None
        assert actions.do_apply_intent(s, conversation=c, by=personas.sara)
        assert not actions.do_apply_intent(s, conversation=c, by=personas.sara)  # once
    assert [t.name for t in _conversation(db, cid).tags] == ["spedizione"]


def test_nightly_job_retrains_and_reschedules(db: Database, personas: Any) -> None:
    _history(db, personas)
    now = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)  # summer time: 03:15 in Rome is 01:15 UTC
    handlers.ensure_jobs(db, now=now)
    handlers.ensure_jobs(db, now=now)  # idempotent
    with db.session() as s:
        due = list(s.scalars(select(Job).where(Job.kind == handlers.NIGHTLY_JOB)))
    assert len(due) == 1 and due[0].run_at == datetime(2026, 6, 2, 1, 15, tzinfo=UTC)
    handlers.nightly(db, {})
    with db.session() as s:
        assert s.scalar(select(IntentModel.examples).where(IntentModel.is_active)) == 14
        assert len(list(s.scalars(select(Job).where(Job.kind == handlers.NIGHTLY_JOB)))) == 2


def test_csat_answers_recalibrate_sentiment(db: Database, personas: Any) -> None:
    """Customers of this shop who write mildly ("caspita, il pacco non si vede ancora") answer
    CSAT 1-2: the calibration moves the negative threshold up to meet them."""
    from sportello.surveys import actions as surveys_actions
    from sportello.surveys.schemas import SurveyConfigData

    with db.transaction() as s:
        surveys_actions.do_save_config(
            s, brand_id=personas.brand_id,
            data=SurveyConfigData(name="CSAT", kind="csat", delay_minutes=0),  # type: ignore[arg-type]
        )  # fmt: skip
    texts = [("Caspita, il pacco non si vede ancora", 1), ("Grazie, tutto perfetto!", 5)]
    cids = []
    for n in range(20):
        text, _score = texts[n % 2]
        result = receive(db, personas.api_channel, inbound(text, email=f"k{n}@example.it"))
        cids.append(int(result.conversation.id))
    drain(db)
    with db.session() as s:
        mild = service.conversation_sentiment(s, cids[0])
    assert mild is not None and mild["label"] == "neutral"  # by the default thresholds
    for n, cid in enumerate(cids):
        with db.transaction() as s:
            c = s.get(Conversation, cid)
            assert c is not None
            conversations_actions.do_change_status(
                s, conversation=c, status=Status.RESOLVED, by=None
            )
            response = surveys_actions.do_schedule_survey(s, conversation=c)
            assert response is not None
            surveys_actions.do_send_survey(s, response=response)
            surveys_actions.do_answer_survey(
                s, response=response, score=texts[n % 2][1], via="link"
            )
    with db.transaction() as s:
        row = actions.do_calibrate_sentiment(s, brand_id=personas.brand_id)
        assert row.calibrated_from == 20
        assert mild["score"] <= row.negative_threshold < 0
    with db.session() as s:
        assert service.conversation_sentiment(s, cids[0])["label"] == "negative"  # type: ignore[index]


def test_rules_can_ask_for_the_mood_and_the_language(db: Database, personas: Any) -> None:
    """The nlp package adds two conditions to the rules: the customer's mood score and the
    conversation's language (a rule escalates angry customers, or routes English ones)."""
    from sportello.automation import engine

    cid = int(
        receive(
            db, personas.api_channel, inbound("Servizio pessimo, siete dei ladri! Vergogna!")
        ).conversation.id
    )
    drain(db)
    with db.session() as s:
        ctx = engine.Context(
            session=s, conversation=s.get_one(Conversation, cid), now=datetime.now(UTC)
        )
        angry = [{"field": "sentiment_score", "op": "lt", "value": "-0.3"}]
        happy = [{"field": "sentiment_score", "op": "gt", "value": "0.3"}]
        assert engine.matches(ctx, angry) and not engine.matches(ctx, happy)
        assert engine.matches(ctx, [{"field": "language", "op": "is", "value": "it"}])
        assert not engine.matches(ctx, [{"field": "language", "op": "is", "value": "en"}])


def test_a_mood_change_is_an_event_the_inbox_refreshes_on(db: Database, personas: Any) -> None:
    """Only a change of the mood's label is emitted (with the conversation's queue and assignee,
    so the realtime hub shows it to whoever sees the row)."""
    from sportello.core.outbox import OutboxEvent

    def mood_events() -> list[dict[str, Any]]:
        with db.session() as s:
            return [
                e.payload
                for e in s.scalars(
                    select(OutboxEvent)
                    .where(OutboxEvent.name == "nlp.mood_changed")
                    .order_by(OutboxEvent.id)
                )
            ]

    first = receive(db, personas.api_channel, inbound("Buongiorno, una domanda sul mio ordine."))
    cid = int(first.conversation.id)
    drain(db)
    assert mood_events() == []  # neutral stays neutral: nothing to redraw
    receive(
        db,
        personas.api_channel,
        inbound("Sono furioso, è uno schifo, servizio pessimo e vergognoso!"),
    )
    drain(db)
    events = mood_events()
    assert [(e["conversation_id"], e["label"]) for e in events] == [(cid, "negative")]
    assert events[0]["queue_id"] == _conversation(db, cid).queue_id
