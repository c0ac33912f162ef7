"""Pydantic shapes of the quality API."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field

from sportello.quality.models import (
    CalibrationStatus,
    DisputeStatus,
    ReviewSource,
    ReviewStatus,
    SampleMethod,
    Scale,
)


class CriterionData(BaseModel):
    id: int | None = Field(default=None, description="An existing criterion to keep and change")
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=1000)
    weight: int = Field(default=1, ge=0, le=100)
    scale: Scale = Scale.FIVE
    critical: bool = False
    allow_na: bool = True


class ScorecardData(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=2000)
    pass_score: int = Field(default=80, ge=0, le=100)
    is_active: bool = True
    is_default: bool = False
    criteria: list[CriterionData] = Field(min_length=1, max_length=30)


class CriterionRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    position: int
    name: str
    description: str
    weight: int
    scale: Scale
    critical: bool
    allow_na: bool
    is_active: bool


class ScorecardRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    name: str
    description: str
    pass_score: int
    is_active: bool
    is_default: bool
    criteria: list[CriterionRead]


class RuleData(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    scorecard_id: int
    method: SampleMethod = SampleMethod.RANDOM
    per_agent: int = Field(default=2, ge=1, le=50)
    reviewer_id: int | None = None
    team_id: int | None = None
    queue_id: int | None = None
    channel_id: int | None = None
    is_active: bool = True


class RuleRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    name: str
    scorecard_id: int
    method: SampleMethod
    per_agent: int
    reviewer_id: int | None
    team_id: int | None
    queue_id: int | None
    channel_id: int | None
    is_active: bool
    last_run_at: datetime | None


class SampleResult(BaseModel):
    created: int = Field(description="Reviews assigned by this run")
    review_ids: list[int]


class RatingData(BaseModel):
    criterion_id: int
    value: int | None = Field(default=None, description="On the criterion's scale; null = N/A")
    comment: str = Field(default="", max_length=2000)


class ReviewCreate(BaseModel):
    conversation_id: int
    scorecard_id: int | None = None
    reviewer_id: int | None = None


class ReviewScore(BaseModel):
    ratings: list[RatingData] = Field(min_length=1, max_length=30)
    comment: str = Field(default="", max_length=10000)
    coaching_note: str = Field(default="", max_length=10000)


class DisputeData(BaseModel):
    text: str = Field(min_length=1, max_length=5000)


class DisputeAnswer(BaseModel):
    accept: bool
    answer: str = Field(default="", max_length=5000)


class RatingRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    criterion_id: int
    value: int | None
    comment: str


class ReviewRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    scorecard_id: int
    conversation_id: int
    agent_id: int | None
    reviewer_id: int | None
    calibration_id: int | None
    rule_id: int | None
    source: ReviewSource
    status: ReviewStatus
    week: date
    score: float | None
    critical_failed: bool
    comment: str
    coaching_note: str
    acknowledged_at: datetime | None
    dispute_status: DisputeStatus
    dispute_text: str
    dispute_answer: str
    created_at: datetime
    completed_at: datetime | None
    ratings: list[RatingRead]


class CalibrationCreate(BaseModel):
    title: str = Field(min_length=1, max_length=200)
    conversation_id: int
    scorecard_id: int | None = None
    reviewer_ids: list[int] = Field(min_length=2, max_length=20)


class CalibrationRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    title: str
    scorecard_id: int
    conversation_id: int
    status: CalibrationStatus
    created_at: datetime
    revealed_at: datetime | None


class CriterionSpread(BaseModel):
    criterion_id: int
    name: str
    values: list[int | None] = Field(description="One a reviewer who scored, in reviewer order")
    mean: float | None
    spread: float | None = Field(description="Highest minus lowest, as a share of the scale (0-1)")


class CalibrationDetail(CalibrationRead):
    reviewer_ids: list[int]
    done: int
    scores: list[float | None]
    criteria: list[CriterionSpread] = Field(description="Empty until the session is revealed")


class TrendPoint(BaseModel):
    week: date
    key: int
    name: str
    reviews: int
    iqs: float | None
    criteria: dict[str, float | None]
