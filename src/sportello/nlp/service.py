"""Reads: settings, a conversation's mood and triage, the intent model in use, sentiment
trends for the reports."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sportello.core.db import utcnow
from sportello.core.errors import NotFound
from sportello.nlp import sentiment
from sportello.nlp.models import (
    ConversationInsight,
    IntentModel,
    MessageSentiment,
    NlpSettings,
    TriageField,
    TriageMode,
)

DEFAULTS: dict[str, Any] = {
    "sentiment_enabled": True,
    "negative_threshold": -0.2,
    "positive_threshold": 0.2,
    "calibrated_at": None,
    "calibrated_from": 0,
    "raise_enabled": False,
    "frustration_threshold": -0.5,
    "raise_to": "high",
    "triage_field": TriageField.TAGS,
    "triage_mode": TriageMode.SUGGEST,
    "triage_threshold": 0.5,
    "nightly_retrain": True,
    "language_tags": False,
    "assist_enabled": False,
    "assist_base_url": "",
    "assist_model": "",
    "assist_key": None,
    "assist_redact": True,
}


def settings_for(session: Session, brand_id: int) -> NlpSettings:
    """The brand's settings; an unsaved row with the defaults when none was saved yet."""
    row = session.get(NlpSettings, brand_id)
    if row is None:
        row = NlpSettings(brand_id=brand_id, **DEFAULTS)
    return row


def thresholds(row: NlpSettings) -> sentiment.Thresholds:
    return sentiment.Thresholds(negative=row.negative_threshold, positive=row.positive_threshold)


def active_model(session: Session, brand_id: int) -> IntentModel | None:
    return session.scalar(
        select(IntentModel)
        .where(IntentModel.brand_id == brand_id, IntentModel.is_active)
        .order_by(IntentModel.id.desc())
        .limit(1)
    )


def models(session: Session, brand_id: int, *, limit: int = 10) -> list[IntentModel]:
    return list(
        session.scalars(
            select(IntentModel)
            .where(IntentModel.brand_id == brand_id)
            .order_by(IntentModel.id.desc())
            .limit(limit)
        )
    )


def conversation_sentiment(session: Session, conversation_id: int) -> dict[str, Any] | None:
    """A conversation's mood: label, score, how many customer messages it is based on, the
    language, and each message's label and score (oldest first). ``None`` before any."""
    insight = session.get(ConversationInsight, conversation_id)
    if insight is None:
        return None
    rows = session.execute(
        select(MessageSentiment.message_id, MessageSentiment.label, MessageSentiment.score)
        .where(MessageSentiment.conversation_id == conversation_id)
        .order_by(MessageSentiment.message_id)
    ).all()
    return {
        "conversation_id": conversation_id,
        "label": insight.label,
        "score": round(insight.score, 4),
        "messages": insight.messages,
        "language": insight.language or None,
        "raised_priority": insight.raised_at is not None,
        "by_message": [
            {"message_id": r.message_id, "label": r.label, "score": round(r.score, 4)} for r in rows
        ],
    }


def insight(session: Session, conversation_id: int) -> ConversationInsight | None:
    return session.get(ConversationInsight, conversation_id)


def insights_for(
    session: Session, conversation_ids: Iterable[int]
) -> dict[int, ConversationInsight]:
    ids = list(conversation_ids)
    if not ids:
        return {}
    return {
        row.conversation_id: row
        for row in session.scalars(
            select(ConversationInsight).where(ConversationInsight.conversation_id.in_(ids))
        )
    }


def message_labels(session: Session, message_ids: Iterable[int]) -> dict[int, MessageSentiment]:
    ids = list(message_ids)
    if not ids:
        return {}
    return {
        row.message_id: row
        for row in session.scalars(
            select(MessageSentiment).where(MessageSentiment.message_id.in_(ids))
        )
    }


def get_model(session: Session, model_id: int) -> IntentModel:
    model = session.get(IntentModel, model_id)
    if model is None:
        raise NotFound("intent model not found")
    return model


def trend(session: Session, *, days: int = 30, now: datetime | None = None) -> list[dict[str, Any]]:
    """Customer messages per day by sentiment (UTC days), oldest first, every day present."""
    now = now or utcnow()
    start = (now - timedelta(days=days - 1)).replace(hour=0, minute=0, second=0, microsecond=0)
    day = func.date(MessageSentiment.created_at)
    rows = session.execute(
        select(day, MessageSentiment.label, func.count(), func.avg(MessageSentiment.score))
        .where(MessageSentiment.created_at >= start)
        .group_by(day, MessageSentiment.label)
    ).all()
    by_day: dict[str, dict[str, Any]] = {}
    for d in range(days):
        key = (start + timedelta(days=d)).date().isoformat()
        by_day[key] = {"day": key, "negative": 0, "neutral": 0, "positive": 0, "sum": 0.0}
    for raw_day, label, count, avg in rows:
        key = raw_day.isoformat() if isinstance(raw_day, date) else str(raw_day)[:10]
        slot = by_day.get(key)
        if slot is not None and label in sentiment.LABELS:
            slot[label] += int(count)
            slot["sum"] += float(avg or 0.0) * int(count)
    out = []
    for slot in by_day.values():
        total = slot["negative"] + slot["neutral"] + slot["positive"]
        out.append(
            {
                "day": slot["day"],
                "negative": slot["negative"],
                "neutral": slot["neutral"],
                "positive": slot["positive"],
                "total": total,
                "average": round(slot["sum"] / total, 4) if total else None,
            }
        )
    return out


def csat_pairs(session: Session, *, limit: int = 5000) -> list[tuple[float, int]]:
    """(conversation mood, CSAT score) for answered CSAT surveys, newest first."""
    from sportello.surveys.models import ResponseStatus, SurveyKind, SurveyResponse

    rows = session.execute(
        select(ConversationInsight.score, SurveyResponse.score)
        .join(SurveyResponse, SurveyResponse.conversation_id == ConversationInsight.conversation_id)
        .where(
            SurveyResponse.kind == SurveyKind.CSAT,
            SurveyResponse.status == ResponseStatus.ANSWERED,
            SurveyResponse.score.is_not(None),
            ConversationInsight.messages > 0,
        )
        .order_by(SurveyResponse.id.desc())
        .limit(limit)
    ).all()
    return [(float(s), int(c)) for s, c in rows if c is not None]
