"""What the language tools keep: per-message sentiment, per-conversation mood, language and
triage, the shop's settings, and the trained intent models."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Enum, Float, ForeignKey, Index, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from sportello.core.db import Base, utcnow


def _enum(cls: type[enum.Enum]) -> Enum:
    return Enum(cls, native_enum=False, length=20, values_callable=lambda e: [m.value for m in e])


class TriageField(enum.StrEnum):
    TAGS = "tags"  # the conversation's first tag is its label; a prediction adds that tag
    QUEUE = "queue"  # the queue's name
    PRIORITY = "priority"


class TriageMode(enum.StrEnum):
    OFF = "off"
    SUGGEST = "suggest"  # shown to the agent, one click applies
    APPLY = "apply"  # applied when the first message arrives


class NlpSettings(Base):
    """One row per brand: every knob an admin turns on the NLP page."""

    __tablename__ = "nlp_settings"

    brand_id: Mapped[int] = mapped_column(
        ForeignKey("brand.id", ondelete="CASCADE"), primary_key=True
    )
    # sentiment
    sentiment_enabled: Mapped[bool] = mapped_column(default=True)
    negative_threshold: Mapped[float] = mapped_column(Float, default=-0.2)
    positive_threshold: Mapped[float] = mapped_column(Float, default=0.2)
    calibrated_at: Mapped[datetime | None]
    calibrated_from: Mapped[int] = mapped_column(default=0)  # CSAT answers used
    # Opt-in (Administration → Language tools): each adds lines and events to conversations.
    raise_enabled: Mapped[bool] = mapped_column(default=False)
    frustration_threshold: Mapped[float] = mapped_column(Float, default=-0.5)
    raise_to: Mapped[str] = mapped_column(String(20), default="high")
    # triage
    triage_field: Mapped[TriageField] = mapped_column(_enum(TriageField), default=TriageField.TAGS)
    triage_mode: Mapped[TriageMode] = mapped_column(_enum(TriageMode), default=TriageMode.SUGGEST)
    triage_threshold: Mapped[float] = mapped_column(Float, default=0.5)
    nightly_retrain: Mapped[bool] = mapped_column(default=True)
    # language
    language_tags: Mapped[bool] = mapped_column(default=False)  # tag "lang-xx" for routing
    # agent assist (off by default)
    assist_enabled: Mapped[bool] = mapped_column(default=False)
    assist_base_url: Mapped[str] = mapped_column(String(500), default="")
    assist_model: Mapped[str] = mapped_column(String(200), default="")
    assist_key: Mapped[str | None] = mapped_column(String(1000))  # encrypted (Fernet)
    assist_redact: Mapped[bool] = mapped_column(default=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    @property
    def assist_key_set(self) -> bool:
        return bool(self.assist_key)


class MessageSentiment(Base):
    __tablename__ = "nlp_message_sentiment"
    __table_args__ = (
        Index("ix_nlp_message_sentiment_conversation", "conversation_id", "message_id"),
    )

    message_id: Mapped[int] = mapped_column(
        ForeignKey("conversation_message.id", ondelete="CASCADE"), primary_key=True
    )
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversation.id", ondelete="CASCADE"))
    label: Mapped[str] = mapped_column(String(10))
    score: Mapped[float] = mapped_column(Float)
    language: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class ConversationInsight(Base):
    """A conversation's mood (from its customer's messages), language and triage."""

    __tablename__ = "nlp_conversation"

    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversation.id", ondelete="CASCADE"), primary_key=True
    )
    label: Mapped[str] = mapped_column(String(10), default="neutral")
    score: Mapped[float] = mapped_column(Float, default=0.0)
    messages: Mapped[int] = mapped_column(default=0)
    language: Mapped[str] = mapped_column(String(8), default="")
    language_confidence: Mapped[float] = mapped_column(Float, default=0.0)
    raised_at: Mapped[datetime | None]  # when frustration raised the priority (once)
    intent_label: Mapped[str | None] = mapped_column(String(100))
    intent_confidence: Mapped[float | None] = mapped_column(Float)
    intent_model_id: Mapped[int | None] = mapped_column(
        ForeignKey("nlp_intent_model.id", ondelete="SET NULL")
    )
    intent_applied: Mapped[bool] = mapped_column(default=False)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class IntentModel(Base):
    """A trained triage classifier (its pickled pipeline) and how it did on held-back history."""

    __tablename__ = "nlp_intent_model"

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brand.id", ondelete="CASCADE"), index=True)
    field: Mapped[str] = mapped_column(String(20))  # a TriageField value, or "csv"
    source: Mapped[str] = mapped_column(String(20), default="history")  # history | csv
    examples: Mapped[int] = mapped_column(default=0)
    held_out: Mapped[int] = mapped_column(default=0)
    accuracy: Mapped[float | None] = mapped_column(Float)
    coverage: Mapped[float | None] = mapped_column(Float)
    sure_accuracy: Mapped[float | None] = mapped_column(Float)
    threshold: Mapped[float] = mapped_column(Float, default=0.5)
    labels: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # label -> examples
    blob: Mapped[bytes] = mapped_column(LargeBinary)
    is_active: Mapped[bool] = mapped_column(default=True)
    trained_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
