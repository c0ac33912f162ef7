"""Pydantic shapes of surveys: settings, answers, follow-ups; the scales and NPS bands."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from sportello.surveys.models import FollowupRule, FollowupStatus, ResponseStatus, SurveyKind

# The score scale of each kind, both ends included.
SCALES: dict[SurveyKind, tuple[int, int]] = {
    SurveyKind.CSAT: (1, 5),
    SurveyKind.NPS: (0, 10),
    SurveyKind.CES: (1, 7),
}
MAX_EXTRA_QUESTIONS = 3


def scale(kind: SurveyKind | str) -> range:
    low, high = SCALES[SurveyKind(kind)]
    return range(low, high + 1)


def nps_band(score: int) -> Literal["promoter", "passive", "detractor"]:
    """The standard NPS bands: 9-10 promoters, 7-8 passives, 0-6 detractors."""
    if score >= 9:
        return "promoter"
    if score >= 7:
        return "passive"
    return "detractor"


def is_low(kind: SurveyKind | str, score: int) -> bool:
    """An unhappy answer, which opens a follow-up: an NPS detractor, CSAT 1-2, CES 1-3."""
    kind = SurveyKind(kind)
    if kind == SurveyKind.NPS:
        return nps_band(score) == "detractor"
    return score <= (2 if kind == SurveyKind.CSAT else 3)


def is_high(kind: SurveyKind | str, score: int) -> bool:
    """A happy answer: an NPS promoter, CSAT 4-5, CES 5-7."""
    kind = SurveyKind(kind)
    if kind == SurveyKind.NPS:
        return nps_band(score) == "promoter"
    return score >= (4 if kind == SurveyKind.CSAT else 5)


class ExtraQuestion(BaseModel):
    model_config = ConfigDict(extra="forbid")

    it: str = Field(default="", max_length=300)
    en: str = Field(default="", max_length=300)


class SurveyConfigData(BaseModel):
    """What an admin sets for one survey (the form and the API share it)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, examples=["Soddisfazione dopo l'assistenza"])
    kind: SurveyKind = SurveyKind.CSAT
    channel_id: int | None = Field(default=None, description="Only this channel; null: every one")
    queue_id: int | None = Field(default=None, description="Only this queue; null: every one")
    question_it: str = Field(default="", max_length=500)
    question_en: str = Field(default="", max_length=500)
    ask_comment: bool = True
    extra_questions: list[ExtraQuestion] = Field(
        default_factory=list, max_length=MAX_EXTRA_QUESTIONS
    )
    delay_minutes: int = Field(default=60, ge=0, le=60 * 24 * 14)
    period_days: int = Field(default=30, ge=0, le=365)
    expires_days: int = Field(default=14, ge=1, le=90)
    followup_rule: FollowupRule = FollowupRule.SUPERVISOR
    followup_team_id: int | None = None
    followup_sla_hours: int = Field(default=24, ge=1, le=24 * 30)
    is_active: bool = True


class SurveyConfigRead(SurveyConfigData):
    model_config = ConfigDict(from_attributes=True)

    id: int
    brand_id: int
    created_at: datetime
    updated_at: datetime


class SurveyResponseRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    brand_id: int
    config_id: int | None
    conversation_id: int
    customer_id: int
    channel_id: int | None
    queue_id: int | None
    agent_id: int | None
    kind: SurveyKind
    language: str
    status: ResponseStatus
    skip_reason: str | None
    after_followup_id: int | None
    scheduled_at: datetime
    sent_at: datetime | None
    expires_at: datetime | None
    answered_at: datetime | None
    answered_via: str | None
    score: int | None
    comment: str | None
    extra_answers: list[str]


class FollowupRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    brand_id: int
    response_id: int
    customer_id: int
    conversation_id: int | None
    status: FollowupStatus
    assignee_id: int | None
    team_id: int | None
    due_at: datetime
    outcome: str
    resurvey: bool
    created_at: datetime
    started_at: datetime | None
    done_at: datetime | None


class FollowupUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: FollowupStatus | None = None
    outcome: str | None = Field(default=None, max_length=2000)
    assignee_id: int | None = Field(default=None, description="Reassign (supervisors only)")
    resurvey: bool | None = Field(
        default=None, description="Survey the customer again when the follow-up is done"
    )
