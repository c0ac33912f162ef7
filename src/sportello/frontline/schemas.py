"""API shapes: briefings (with their quiz), receipts, proposals, training, notifications."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from sportello.frontline.models import (
    BriefingStatus,
    CompletionStatus,
    ModuleKind,
    ProposalStatus,
    ProposalTopic,
)

MAX_QUIZ = 5
DbId = Annotated[int, Field(ge=1, le=2**31 - 1)]
Choice = Annotated[int, Field(ge=0, le=5)]


class QuizQuestion(BaseModel):
    question: str = Field(min_length=1, max_length=500)
    options: list[str] = Field(min_length=2, max_length=6)
    answer: int = Field(ge=0, le=5, description="Index of the right option")


class Attachment(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    url: str = Field(min_length=1, max_length=500, pattern=r"^(https?://|/)")


class BriefingData(BaseModel):
    title: str = Field(min_length=1, max_length=200)
    body_md: str = Field(default="", max_length=50000)
    required: bool = False
    team_id: int | None = Field(default=None, ge=1, le=2**31 - 1)
    skill_id: int | None = Field(default=None, ge=1, le=2**31 - 1)
    queue_id: int | None = Field(default=None, ge=1, le=2**31 - 1)
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    campaign: str = Field(default="", max_length=200)
    campaign_starts_at: datetime | None = None
    campaign_ends_at: datetime | None = None
    article_ids: list[DbId] = Field(default_factory=list, max_length=20)
    attachments: list[Attachment] = Field(default_factory=list, max_length=10)
    quiz: list[QuizQuestion] = Field(default_factory=list, max_length=MAX_QUIZ)


class BriefingRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    title: str
    body_md: str
    body_html: str
    status: BriefingStatus
    required: bool
    team_id: int | None
    skill_id: int | None
    queue_id: int | None
    valid_from: datetime | None
    valid_until: datetime | None
    campaign: str
    campaign_starts_at: datetime | None
    campaign_ends_at: datetime | None
    article_ids: list[int]
    attachments: list[Attachment]
    source_article_id: int | None
    published_at: datetime | None
    created_at: datetime


class BriefingForAgent(BaseModel):
    """A briefing as an agent sees it: the quiz without its answers."""

    id: int
    title: str
    body_html: str
    required: bool
    campaign: str
    questions: list[dict[str, object]]
    read_at: datetime | None
    acknowledged_at: datetime | None


class AcknowledgeIn(BaseModel):
    answers: list[Choice] = Field(default_factory=list, max_length=MAX_QUIZ)


class ReceiptRead(BaseModel):
    user_id: int
    name: str
    read_at: datetime | None
    acknowledged_at: datetime | None
    passed_at: datetime | None
    attempts: int
    reminded_at: datetime | None


class AcknowledgeOut(BaseModel):
    passed: bool
    score: int
    of: int
    acknowledged_at: datetime | None


class ProposalCreate(BaseModel):
    title: str = Field(min_length=1, max_length=200)
    body: str = Field(default="", max_length=5000)
    topic: ProposalTopic
    conversation_numbers: list[DbId] = Field(default_factory=list, max_length=10)


class ProposalTriage(BaseModel):
    status: ProposalStatus
    answer: str = Field(default="", max_length=5000)


class CommentIn(BaseModel):
    body: str = Field(min_length=1, max_length=2000)


class ProposalRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    title: str
    body: str
    topic: ProposalTopic
    status: ProposalStatus
    answer: str
    author_id: int | None
    conversation_ids: list[int]
    votes: int
    answered_at: datetime | None
    created_at: datetime


class CommentRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    author_id: int | None
    body: str
    created_at: datetime


class TopicRead(BaseModel):
    topic: str
    count: int
    votes: int
    answered: int
    median_hours: float | None


class ModuleData(BaseModel):
    title: str = Field(min_length=1, max_length=200)
    kind: ModuleKind
    skill_id: int | None = Field(default=None, ge=1, le=2**31 - 1)
    level: int = Field(default=1, ge=1, le=5)
    description: str = Field(default="", max_length=5000)
    article_id: int | None = Field(default=None, ge=1, le=2**31 - 1)
    url: str = Field(default="", max_length=500)
    quiz: list[QuizQuestion] = Field(default_factory=list, max_length=MAX_QUIZ)
    raises_level: bool = True
    certificate_days: int | None = Field(default=None, ge=1, le=3650)
    onboarding_step: int | None = Field(default=None, ge=1, le=100)
    is_active: bool = True


class ModuleRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    title: str
    kind: ModuleKind
    skill_id: int | None
    level: int
    description: str
    article_id: int | None
    url: str
    raises_level: bool
    certificate_days: int | None
    onboarding_step: int | None
    is_active: bool


class CompletionRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    module_id: int
    user_id: int
    status: CompletionStatus
    score: int | None
    completed_at: datetime
    certificate_expires_at: datetime | None


class CompletionDecision(BaseModel):
    approve: bool


class NotificationRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: str
    title: str
    url: str
    created_at: datetime
    read_at: datetime | None
