"""API shapes of the language tools."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from sportello.conversations.models import Priority
from sportello.nlp.models import TriageField, TriageMode


class NlpSettingsData(BaseModel):
    sentiment_enabled: bool = True
    negative_threshold: float = Field(-0.2, ge=-1.0, le=0.0)
    positive_threshold: float = Field(0.2, ge=0.0, le=1.0)
    raise_enabled: bool = False
    frustration_threshold: float = Field(-0.5, ge=-1.0, le=0.0)
    raise_to: Priority = Priority.HIGH
    triage_field: TriageField = TriageField.TAGS
    triage_mode: TriageMode = TriageMode.SUGGEST
    triage_threshold: float = Field(0.5, ge=0.0, le=1.0)
    nightly_retrain: bool = True
    language_tags: bool = False
    assist_enabled: bool = False
    assist_base_url: str = Field("", max_length=500, pattern=r"^(https?://\S+)?$")
    assist_model: str = Field("", max_length=200)
    assist_key: str = Field(
        "", max_length=500, description="write-only; empty keeps the stored one"
    )
    clear_assist_key: bool = False
    assist_redact: bool = True


class NlpSettingsRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    sentiment_enabled: bool
    negative_threshold: float
    positive_threshold: float
    calibrated_at: datetime | None
    calibrated_from: int
    raise_enabled: bool
    frustration_threshold: float
    raise_to: str
    triage_field: TriageField
    triage_mode: TriageMode
    triage_threshold: float
    nightly_retrain: bool
    language_tags: bool
    assist_enabled: bool
    assist_base_url: str
    assist_model: str
    assist_key_set: bool
    assist_redact: bool


class IntentModelRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    field: str
    source: str
    examples: int
    held_out: int
    accuracy: float | None
    coverage: float | None
    sure_accuracy: float | None
    threshold: float
    labels: dict[str, Any]
    is_active: bool
    created_at: datetime


class TextsIn(BaseModel):
    texts: list[Annotated[str, Field(max_length=20000)]] = Field(..., min_length=1, max_length=1000)
    language: Literal["it", "en"] | None = None


class SentimentOut(BaseModel):
    label: str
    score: float
    language: str


class IntentOut(BaseModel):
    label: str | None
    confidence: float


class MessageSentimentRead(BaseModel):
    message_id: int
    label: str
    score: float


class ConversationSentimentRead(BaseModel):
    conversation_id: int
    label: str
    score: float
    messages: int
    language: str | None
    raised_priority: bool
    by_message: list[MessageSentimentRead]


class TriageRead(BaseModel):
    conversation_id: int
    label: str | None
    confidence: float | None
    applied: bool
    language: str | None


class TrendDay(BaseModel):
    day: str
    negative: int
    neutral: int
    positive: int
    total: int
    average: float | None


class AssistIn(BaseModel):
    kind: Literal["summary", "draft", "translate"]


class AssistArticle(BaseModel):
    id: int
    title: str
    url: str


class AssistOut(BaseModel):
    kind: str
    text: str
    articles: list[AssistArticle] = []
    redacted: int = 0
