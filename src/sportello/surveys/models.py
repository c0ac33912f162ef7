"""Survey settings, the surveys sent and their answers, opt-outs and follow-up tasks."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Enum, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from sportello.core.db import Base, utcnow


def _enum(cls: type[enum.Enum]) -> Enum:
    return Enum(cls, native_enum=False, length=20, values_callable=lambda e: [m.value for m in e])


class SurveyKind(enum.StrEnum):
    CSAT = "csat"  # 1-5
    NPS = "nps"  # 0-10
    CES = "ces"  # 1-7


class FollowupRule(enum.StrEnum):
    NONE = "none"
    TEAM = "team"  # the configured team, nobody in particular
    AGENT = "agent"  # the agent who handled the conversation
    SUPERVISOR = "supervisor"  # a supervisor of that agent's team


class ResponseStatus(enum.StrEnum):
    SCHEDULED = "scheduled"
    SENT = "sent"
    ANSWERED = "answered"
    SKIPPED = "skipped"


class FollowupStatus(enum.StrEnum):
    OPEN = "open"
    IN_PROGRESS = "in_progress"
    DONE = "done"


class SurveyConfig(Base):
    """Which survey a resolved conversation gets: the most specific active row for its brand,
    channel and queue wins (channel and queue, then channel, then queue, then the brand's)."""

    __tablename__ = "survey_config"

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brand.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    channel_id: Mapped[int | None] = mapped_column(ForeignKey("channel.id", ondelete="CASCADE"))
    queue_id: Mapped[int | None] = mapped_column(ForeignKey("queue.id", ondelete="CASCADE"))
    kind: Mapped[SurveyKind] = mapped_column(_enum(SurveyKind))
    question_it: Mapped[str] = mapped_column(String(500), default="")
    question_en: Mapped[str] = mapped_column(String(500), default="")
    ask_comment: Mapped[bool] = mapped_column(default=True)
    # Up to three extra free-text questions: [{"it": "...", "en": "..."}]
    extra_questions: Mapped[list[Any]] = mapped_column(JSON, default=list)
    delay_minutes: Mapped[int] = mapped_column(default=60)
    period_days: Mapped[int] = mapped_column(default=30)
    expires_days: Mapped[int] = mapped_column(default=14)
    followup_rule: Mapped[FollowupRule] = mapped_column(
        _enum(FollowupRule), default=FollowupRule.SUPERVISOR
    )
    followup_team_id: Mapped[int | None] = mapped_column(ForeignKey("team.id", ondelete="SET NULL"))
    followup_sla_hours: Mapped[int] = mapped_column(default=24)
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class SurveyResponse(Base):
    """One survey for one resolved conversation: scheduled, then sent (or skipped with a
    reason), then answered. ``code`` identifies it in a button's payload."""

    __tablename__ = "survey_response"
    __table_args__ = (
        Index("ix_survey_response_customer", "customer_id", "created_at"),
        Index("ix_survey_response_brand_answered", "brand_id", "answered_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brand.id"), index=True)
    config_id: Mapped[int | None] = mapped_column(
        ForeignKey("survey_config.id", ondelete="SET NULL")
    )
    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversation.id", ondelete="CASCADE"), index=True
    )
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id", ondelete="CASCADE"))
    channel_id: Mapped[int | None] = mapped_column(ForeignKey("channel.id", ondelete="SET NULL"))
    queue_id: Mapped[int | None] = mapped_column(ForeignKey("queue.id", ondelete="SET NULL"))
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    kind: Mapped[SurveyKind] = mapped_column(_enum(SurveyKind))
    language: Mapped[str] = mapped_column(String(8), default="it")
    code: Mapped[str] = mapped_column(String(32), unique=True)
    status: Mapped[ResponseStatus] = mapped_column(
        _enum(ResponseStatus), default=ResponseStatus.SCHEDULED
    )
    skip_reason: Mapped[str | None] = mapped_column(String(40))
    # The follow-up this survey asks about again (a re-survey), if any (no foreign key: the
    # follow-up points at its response already, and a cycle of keys is a pain on SQLite).
    after_followup_id: Mapped[int | None] = mapped_column(index=True)
    message_id: Mapped[int | None] = mapped_column(
        ForeignKey("conversation_message.id", ondelete="SET NULL")
    )
    scheduled_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]
    answered_at: Mapped[datetime | None]
    answered_via: Mapped[str | None] = mapped_column(String(20))
    score: Mapped[int | None]
    comment: Mapped[str | None] = mapped_column(String(2000))
    extra_answers: Mapped[list[Any]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SurveyOptout(Base):
    """A customer who asked for no more surveys from this brand."""

    __tablename__ = "survey_optout"
    __table_args__ = (UniqueConstraint("brand_id", "customer_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brand.id"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SurveyFollowup(Base):
    """Call back a detractor: a task with an assignee or a team, a due time from its own SLA,
    and the outcome written when it is done."""

    __tablename__ = "survey_followup"
    __table_args__ = (Index("ix_survey_followup_open", "brand_id", "status", "due_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brand.id"))
    response_id: Mapped[int] = mapped_column(
        ForeignKey("survey_response.id", ondelete="CASCADE"), unique=True
    )
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customer.id", ondelete="CASCADE"), index=True
    )
    conversation_id: Mapped[int | None] = mapped_column(
        ForeignKey("conversation.id", ondelete="SET NULL")
    )
    status: Mapped[FollowupStatus] = mapped_column(
        _enum(FollowupStatus), default=FollowupStatus.OPEN
    )
    assignee_id: Mapped[int | None] = mapped_column(
        ForeignKey("user.id", ondelete="SET NULL"), index=True
    )
    team_id: Mapped[int | None] = mapped_column(ForeignKey("team.id", ondelete="SET NULL"))
    due_at: Mapped[datetime]
    outcome: Mapped[str] = mapped_column(String(2000), default="")
    resurvey: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    done_at: Mapped[datetime | None]
