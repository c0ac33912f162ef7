"""Writes: sentiment and language of arriving messages (and what follows from them: a raised
priority, a language tag, a triage suggestion or its application), settings, training the
intent model, calibrating sentiment from CSAT."""

from __future__ import annotations

from collections import Counter, OrderedDict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from sportello.accounts.models import User
from sportello.config import get_settings
from sportello.conversations import actions as conversations_actions
from sportello.conversations.models import (
    PRIORITY_RANK,
    Conversation,
    Direction,
    Message,
    Priority,
)
from sportello.core.db import utcnow
from sportello.core.errors import InvalidInput
from sportello.core.events import ConversationRef, emit, register_event
from sportello.core.security import encrypt_secret
from sportello.nlp import intent, language, sentiment, service
from sportello.nlp.models import (
    ConversationInsight,
    IntentModel,
    MessageSentiment,
    NlpSettings,
    TriageField,
    TriageMode,
)
from sportello.nlp.schemas import NlpSettingsData
from sportello.routing.models import Queue

LANGUAGE_TAG = "lang-"
KEEP_MODELS = 5
HISTORY_LIMIT = 20000
_MODEL_CACHE: OrderedDict[int, Any] = OrderedDict()


def load_model(row: IntentModel) -> Any:
    model = _MODEL_CACHE.get(row.id)
    if model is None:
        model = intent.loads(row.blob)
        _MODEL_CACHE[row.id] = model
        while len(_MODEL_CACHE) > 4:
            _MODEL_CACHE.popitem(last=False)
    return model


# ----------------------------------------------------------------------------- messages


class MoodChanged(ConversationRef):
    """A conversation's mood label changed (the inbox row's badge follows it live)."""

    label: str
    score: float


register_event("nlp.mood_changed", MoodChanged)


def do_analyse_messages(
    session: Session, *, message_ids: Sequence[int], now: datetime | None = None
) -> int:
    """Sentiment and language of customers' messages not analysed yet, then each touched
    conversation's mood, its priority when the customer is frustrated, its language tag and
    its triage. Idempotent: an analysed message is skipped. Returns the messages analysed."""
    now = now or utcnow()
    if not message_ids:
        return 0
    done = set(
        session.scalars(
            select(MessageSentiment.message_id).where(MessageSentiment.message_id.in_(message_ids))
        )
    )
    todo = [i for i in message_ids if i not in done]
    if not todo:
        return 0
    messages = list(
        session.scalars(
            select(Message)
            .where(Message.id.in_(todo), Message.direction == Direction.INBOUND)
            .order_by(Message.id)
        )
    )
    by_conversation: dict[int, list[Message]] = {}
    for message in messages:
        by_conversation.setdefault(message.conversation_id, []).append(message)
    settings_cache: dict[int, NlpSettings] = {}
    predictions = _triage(session, list(by_conversation))
    conversations = {
        c.id: c
        for c in session.scalars(
            select(Conversation).where(Conversation.id.in_(list(by_conversation)))
        )
    }
    insights = service.insights_for(session, list(by_conversation))
    earlier: dict[int, list[float]] = {}
    for cid, score in session.execute(
        select(MessageSentiment.conversation_id, MessageSentiment.score)
        .where(MessageSentiment.conversation_id.in_(list(by_conversation)))
        .order_by(MessageSentiment.message_id)
    ):
        earlier.setdefault(cid, []).append(score)
    analysed = 0
    for conversation_id, batch in by_conversation.items():
        conversation = conversations.get(conversation_id)
        if conversation is None:
            continue
        settings = settings_cache.get(conversation.brand_id)
        if settings is None:
            settings = settings_cache[conversation.brand_id] = service.settings_for(
                session, conversation.brand_id
            )
        insight = insights.get(conversation_id)
        first = insight is None
        if insight is None:
            insight = ConversationInsight(
                conversation_id=conversation_id,
                label="neutral",
                score=0.0,
                messages=0,
                language="",
                language_confidence=0.0,
                intent_applied=False,
            )
            session.add(insight)
        text = "\n".join(m.text for m in batch if m.text)
        if insight.language_confidence < 0.9:
            sample = "\n".join(filter(None, [conversation.subject if first else "", text]))
            lang, confidence = language.detect(sample, fallback=insight.language or "it")
            if confidence >= insight.language_confidence:
                insight.language, insight.language_confidence = lang, confidence
        if not settings.sentiment_enabled:
            insight.updated_at = now
            analysed += len(batch)
            continue
        cuts = service.thresholds(settings)
        scores = earlier.get(conversation_id, [])
        for message in batch:
            result = sentiment.analyse(message.text or "", insight.language or "it", cuts)
            scores.append(result.score)
            session.add(
                MessageSentiment(
                    message_id=message.id,
                    conversation_id=conversation_id,
                    label=result.label,
                    score=result.score,
                    language=result.language,
                    created_at=message.created_at,
                )
            )
            analysed += 1
        label_before = insight.label
        insight.score = sentiment.conversation_score(scores)
        insight.label = cuts.label(insight.score)
        if insight.label != label_before:
            emit(
                session,
                "nlp.mood_changed",
                MoodChanged(
                    conversation_id=conversation.id,
                    number=conversation.number,
                    queue_id=conversation.queue_id,
                    assignee_id=conversation.assignee_id,
                    status=conversation.status.value,
                    priority=conversation.priority.value,
                    label=insight.label,
                    score=round(insight.score, 3),
                ),
            )
        insight.messages = len(scores)
        insight.updated_at = now
        _follow_up(
            session,
            conversation,
            insight,
            settings,
            prediction=predictions.get(conversation_id),
            now=now,
        )
    session.flush()
    return analysed


def _triage(
    session: Session, conversation_ids: list[int]
) -> dict[int, tuple[IntentModel, str | None, float]]:
    """The triage model's label for conversations not triaged yet (one batch per brand): the
    subject and first customer message, as in training."""
    if not conversation_ids:
        return {}
    triaged = set(
        session.scalars(
            select(ConversationInsight.conversation_id).where(
                ConversationInsight.conversation_id.in_(conversation_ids),
                ConversationInsight.intent_model_id.is_not(None),
            )
        )
    )
    pending = [i for i in conversation_ids if i not in triaged]
    if not pending:
        return {}
    first_inbound = (
        select(Message.conversation_id, func.min(Message.id).label("message_id"))
        .where(Message.conversation_id.in_(pending), Message.direction == Direction.INBOUND)
        .group_by(Message.conversation_id)
        .subquery()
    )
    rows = session.execute(
        select(Conversation.id, Conversation.brand_id, Conversation.subject, Message.text)
        .join(first_inbound, first_inbound.c.conversation_id == Conversation.id)
        .join(Message, Message.id == first_inbound.c.message_id)
    ).all()
    by_brand: dict[int, list[tuple[int, str]]] = {}
    for conversation_id, brand_id, subject, text in rows:
        by_brand.setdefault(brand_id, []).append(
            (conversation_id, "\n".join(filter(None, [subject, text or ""])))
        )
    out: dict[int, tuple[IntentModel, str | None, float]] = {}
    for brand_id, items in by_brand.items():
        settings = service.settings_for(session, brand_id)
        model = service.active_model(session, brand_id)
        if model is None or settings.triage_mode == TriageMode.OFF:
            continue
        results = intent.predict(
            load_model(model), [t for _, t in items], threshold=settings.triage_threshold
        )
        for (conversation_id, _text), (label, confidence) in zip(items, results, strict=True):
            out[conversation_id] = (model, label, confidence)
    return out


def _follow_up(
    session: Session,
    conversation: Conversation,
    insight: ConversationInsight,
    settings: NlpSettings,
    *,
    prediction: tuple[IntentModel, str | None, float] | None,
    now: datetime,
) -> None:
    """What a conversation's new mood, language and first message lead to, in one update."""
    priority: Priority | None = None
    queue: Queue | bool | None = False
    tags = [t.name for t in conversation.tags]
    changed_tags = False
    if (
        settings.raise_enabled
        and insight.raised_at is None
        and insight.score <= settings.frustration_threshold
        and conversation.is_active
    ):
        target = Priority(settings.raise_to)
        if PRIORITY_RANK[conversation.priority] < PRIORITY_RANK[target]:
            priority = target
        insight.raised_at = now
    if settings.language_tags and insight.language and insight.language_confidence > 0:
        tag = LANGUAGE_TAG + insight.language
        stale = [t for t in tags if t.startswith(LANGUAGE_TAG) and t != tag]
        if tag not in tags or stale:
            tags = [t for t in tags if t not in stale] + [tag]
            changed_tags = True
    if prediction is not None and settings.triage_mode != TriageMode.OFF:
        model, label, confidence = prediction
        insight.intent_label = label
        insight.intent_confidence = confidence
        insight.intent_model_id = model.id
        if label is not None and model.field == TriageField.TAGS.value and label in tags:
            insight.intent_applied = True  # the conversation has it already
        elif label is not None and settings.triage_mode == TriageMode.APPLY:
            priority_, queue_, tags_ = _intent_change(session, model.field, label, tags)
            priority = priority_ or priority
            queue = queue_
            if tags_ is not None:
                tags, changed_tags = tags_, True
            insight.intent_applied = True
    if priority is not None or queue is not False or changed_tags:
        conversations_actions.do_update_conversation(
            session,
            conversation=conversation,
            by=None,
            priority=priority,
            queue=queue,
            tags=tags if changed_tags else None,
        )


def _intent_change(
    session: Session, field: str, label: str, tags: list[str]
) -> tuple[Priority | None, Queue | bool | None, list[str] | None]:
    """(priority, queue, tags) that apply ``label`` of a model trained on ``field``."""
    if field == TriageField.QUEUE.value:
        queue = session.scalar(select(Queue).where(Queue.name == label))
        return None, (queue if queue is not None else False), None
    if field == TriageField.PRIORITY.value:
        try:
            return Priority(label), False, None
        except ValueError:
            return None, False, None
    if label in tags:
        return None, False, None
    return None, False, [*tags, label]


def do_apply_intent(session: Session, *, conversation: Conversation, by: User) -> bool:
    """The agent takes the triage suggestion shown on the conversation. False when there is
    none (or it was applied already)."""
    insight = session.get(ConversationInsight, conversation.id)
    if insight is None or insight.intent_label is None or insight.intent_applied:
        return False
    model = session.get(IntentModel, insight.intent_model_id) if insight.intent_model_id else None
    field = model.field if model is not None else TriageField.TAGS.value
    priority, queue, tags = _intent_change(
        session, field, insight.intent_label, [t.name for t in conversation.tags]
    )
    conversations_actions.do_update_conversation(
        session, conversation=conversation, by=by, priority=priority, queue=queue, tags=tags
    )
    insight.intent_applied = True
    return True


# ----------------------------------------------------------------------------- settings


def check_settings(data: NlpSettingsData) -> None:
    if data.negative_threshold >= data.positive_threshold:
        raise InvalidInput(
            "the negative threshold must be below the positive one", field="negative_threshold"
        )
    if data.assist_enabled:
        if not data.assist_base_url:
            raise InvalidInput("give the address of the assistant", field="assist_base_url")
        if not data.assist_model:
            raise InvalidInput("give the model name", field="assist_model")


def do_save_settings(
    session: Session, *, brand_id: int, data: NlpSettingsData, now: datetime | None = None
) -> NlpSettings:
    check_settings(data)
    row = session.get(NlpSettings, brand_id)
    if row is None:
        row = NlpSettings(brand_id=brand_id, **service.DEFAULTS)
        session.add(row)
    for name in (
        "sentiment_enabled",
        "negative_threshold",
        "positive_threshold",
        "raise_enabled",
        "frustration_threshold",
        "triage_threshold",
        "nightly_retrain",
        "language_tags",
        "assist_enabled",
        "assist_base_url",
        "assist_model",
        "assist_redact",
    ):
        setattr(row, name, getattr(data, name))
    row.raise_to = data.raise_to.value
    row.triage_field = data.triage_field
    row.triage_mode = data.triage_mode
    if data.clear_assist_key:
        row.assist_key = None
    elif data.assist_key:
        row.assist_key = encrypt_secret(data.assist_key, get_settings().effective_secret_key())
    row.updated_at = now or utcnow()
    session.flush()
    return row


# ----------------------------------------------------------------------------- training


def history_examples(
    session: Session, *, brand_id: int, field: TriageField, limit: int = HISTORY_LIMIT
) -> tuple[list[str], list[str]]:
    """(texts, labels) from past conversations: the subject and first customer message, and
    the chosen field (tags: the conversation's most common tag across the history, language
    tags aside; queue: its name; priority)."""
    first_inbound = (
        select(Message.conversation_id, func.min(Message.id).label("message_id"))
        .where(Message.direction == Direction.INBOUND)
        .group_by(Message.conversation_id)
        .subquery()
    )
    rows = list(
        session.execute(
            select(Conversation, Message.text)
            .join(first_inbound, first_inbound.c.conversation_id == Conversation.id)
            .join(Message, Message.id == first_inbound.c.message_id)
            .where(Conversation.brand_id == brand_id)
            .order_by(Conversation.id.desc())
            .limit(limit)
        ).all()
    )
    popularity: Counter[str] = Counter()
    if field == TriageField.TAGS:
        for conversation, _text in rows:
            popularity.update(t.name for t in conversation.tags)
    texts: list[str] = []
    labels: list[str] = []
    for conversation, text in rows:
        label: str | None = None
        if field == TriageField.TAGS:
            names = [t.name for t in conversation.tags if not t.name.startswith(LANGUAGE_TAG)]
            if names:
                label = max(names, key=lambda n: (popularity[n], n))
        elif field == TriageField.QUEUE:
            label = conversation.queue.name if conversation.queue is not None else None
        else:
            label = conversation.priority.value
        if label:
            texts.append("\n".join(filter(None, [conversation.subject, text or ""])))
            labels.append(label)
    return texts, labels


def do_train_intents(
    session: Session,
    *,
    brand_id: int,
    by: User | None = None,
    texts: Sequence[str] | None = None,
    labels: Sequence[str] | None = None,
    now: datetime | None = None,
) -> IntentModel:
    """Train on the brand's history (the field its settings name), or on the ``texts`` and
    ``labels`` given (a CSV); the new model replaces the one in use."""
    settings = service.settings_for(session, brand_id)
    if texts is None or labels is None:
        texts, labels = history_examples(session, brand_id=brand_id, field=settings.triage_field)
        field, source = settings.triage_field.value, "history"
    else:
        field, source = TriageField.TAGS.value, "csv"
    try:
        result = intent.train(texts, labels, threshold=settings.triage_threshold)
    except intent.NotEnoughData as exc:
        raise InvalidInput(
            "at least 10 labelled conversations with two labels are needed", field="history"
        ) from exc
    for old in session.scalars(
        select(IntentModel).where(IntentModel.brand_id == brand_id, IntentModel.is_active)
    ):
        old.is_active = False
    row = IntentModel(
        brand_id=brand_id,
        field=field,
        source=source,
        examples=result.examples,
        held_out=result.held_out,
        accuracy=result.accuracy,
        coverage=result.coverage,
        sure_accuracy=result.sure_accuracy,
        threshold=settings.triage_threshold,
        labels=result.per_label,
        blob=intent.dumps(result.model),
        is_active=True,
        trained_by_id=by.id if by else None,
        created_at=now or utcnow(),
    )
    session.add(row)
    session.flush()
    _MODEL_CACHE[row.id] = result.model
    keep = [m.id for m in service.models(session, brand_id, limit=KEEP_MODELS)]
    session.execute(
        delete(IntentModel).where(IntentModel.brand_id == brand_id, IntentModel.id.not_in(keep))
    )
    return row


# ----------------------------------------------------------------------------- calibration


def do_calibrate_sentiment(
    session: Session, *, brand_id: int, now: datetime | None = None
) -> NlpSettings:
    """Move the sentiment thresholds to fit the shop's CSAT answers (see
    ``sentiment.calibrate``); refused while there are fewer than 20 answers."""
    pairs = service.csat_pairs(session)
    fitted = sentiment.calibrate(pairs)
    if fitted is None:
        raise InvalidInput(
            "at least 20 answered CSAT surveys are needed to calibrate", field="csat"
        )
    row = session.get(NlpSettings, brand_id)
    if row is None:
        row = NlpSettings(brand_id=brand_id, **service.DEFAULTS)
        session.add(row)
    row.negative_threshold = fitted.negative
    row.positive_threshold = fitted.positive
    if row.frustration_threshold > fitted.negative:
        row.frustration_threshold = fitted.negative
    row.calibrated_at = now or utcnow()
    row.calibrated_from = len(pairs)
    session.flush()
    _relabel(session, sentiment.Thresholds(fitted.negative, fitted.positive))
    return row


def _relabel(session: Session, cuts: sentiment.Thresholds) -> None:
    """Labels follow the new thresholds (scores stay)."""
    for label, condition in (
        (sentiment.NEGATIVE, MessageSentiment.score <= cuts.negative),
        (sentiment.POSITIVE, MessageSentiment.score >= cuts.positive),
    ):
        session.execute(update(MessageSentiment).where(condition).values(label=label))
    session.execute(
        update(MessageSentiment)
        .where(MessageSentiment.score > cuts.negative, MessageSentiment.score < cuts.positive)
        .values(label=sentiment.NEUTRAL)
    )
    for label, condition in (
        (sentiment.NEGATIVE, ConversationInsight.score <= cuts.negative),
        (sentiment.POSITIVE, ConversationInsight.score >= cuts.positive),
    ):
        session.execute(update(ConversationInsight).where(condition).values(label=label))
    session.execute(
        update(ConversationInsight)
        .where(ConversationInsight.score > cuts.negative, ConversationInsight.score < cuts.positive)
        .values(label=sentiment.NEUTRAL)
    )
