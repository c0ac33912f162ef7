"""Quality reviews: scorecards with weighted criteria, sampling rules, reviews with one rating a
criterion, calibration sessions and the agent's acknowledgement and dispute of a review."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import Enum, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from sportello.core.db import Base, utcnow


def _enum(cls: type[enum.Enum]) -> Enum:
    return Enum(cls, native_enum=False, length=20, values_callable=lambda e: [m.value for m in e])


class Scale(enum.StrEnum):
    BINARY = "binary"  # no / yes (0-1)
    THREE = "three"  # 1-3
    FIVE = "five"  # 1-5


SCALE_RANGE: dict[Scale, tuple[int, int]] = {
    Scale.BINARY: (0, 1),
    Scale.THREE: (1, 3),
    Scale.FIVE: (1, 5),
}


class SampleMethod(enum.StrEnum):
    RANDOM = "random"
    LOW_CSAT = "low_csat"
    LONG_HANDLE = "long_handle"


class ReviewSource(enum.StrEnum):
    MANUAL = "manual"
    RANDOM = "random"
    LOW_CSAT = "low_csat"
    LONG_HANDLE = "long_handle"
    CALIBRATION = "calibration"


class ReviewStatus(enum.StrEnum):
    ASSIGNED = "assigned"  # to do by the reviewer
    DONE = "done"  # scored; the agent sees it (not for calibration reviews)


class DisputeStatus(enum.StrEnum):
    NONE = "none"
    OPEN = "open"
    ACCEPTED = "accepted"
    REJECTED = "rejected"


class CalibrationStatus(enum.StrEnum):
    OPEN = "open"  # reviewers score blind
    REVEALED = "revealed"  # everyone sees the spread


class Scorecard(Base):
    __tablename__ = "quality_scorecard"

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brand.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(String(2000), default="")
    pass_score: Mapped[int] = mapped_column(default=80)  # percent
    is_active: Mapped[bool] = mapped_column(default=True)
    is_default: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    criteria: Mapped[list[Criterion]] = relationship(
        order_by="Criterion.position", cascade="all, delete-orphan", lazy="selectin"
    )


class Criterion(Base):
    __tablename__ = "quality_criterion"

    id: Mapped[int] = mapped_column(primary_key=True)
    scorecard_id: Mapped[int] = mapped_column(
        ForeignKey("quality_scorecard.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(default=0)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(String(1000), default="")
    weight: Mapped[int] = mapped_column(default=1)
    scale: Mapped[Scale] = mapped_column(_enum(Scale), default=Scale.FIVE)
    critical: Mapped[bool] = mapped_column(default=False)  # lowest score fails the review
    allow_na: Mapped[bool] = mapped_column(default=True)
    is_active: Mapped[bool] = mapped_column(default=True)


class SampleRule(Base):
    """N conversations a week per agent, picked by a method, given to a reviewer."""

    __tablename__ = "quality_sample_rule"

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brand.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    scorecard_id: Mapped[int] = mapped_column(
        ForeignKey("quality_scorecard.id", ondelete="CASCADE")
    )
    method: Mapped[SampleMethod] = mapped_column(_enum(SampleMethod), default=SampleMethod.RANDOM)
    per_agent: Mapped[int] = mapped_column(default=2)
    reviewer_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("team.id", ondelete="SET NULL"))
    queue_id: Mapped[int | None] = mapped_column(ForeignKey("queue.id", ondelete="SET NULL"))
    channel_id: Mapped[int | None] = mapped_column(ForeignKey("channel.id", ondelete="SET NULL"))
    is_active: Mapped[bool] = mapped_column(default=True)
    last_run_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Calibration(Base):
    __tablename__ = "quality_calibration"

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brand.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    scorecard_id: Mapped[int] = mapped_column(
        ForeignKey("quality_scorecard.id", ondelete="CASCADE")
    )
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversation.id", ondelete="CASCADE"))
    status: Mapped[CalibrationStatus] = mapped_column(
        _enum(CalibrationStatus), default=CalibrationStatus.OPEN
    )
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revealed_at: Mapped[datetime | None]


class Review(Base):
    __tablename__ = "quality_review"
    __table_args__ = (
        Index("ix_quality_review_agent", "agent_id", "status", "week"),
        Index("ix_quality_review_reviewer", "reviewer_id", "status"),
        Index("ix_quality_review_conversation", "conversation_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brand.id"))
    scorecard_id: Mapped[int] = mapped_column(
        ForeignKey("quality_scorecard.id", ondelete="CASCADE")
    )
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversation.id", ondelete="CASCADE"))
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    reviewer_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    calibration_id: Mapped[int | None] = mapped_column(
        ForeignKey("quality_calibration.id", ondelete="CASCADE"), index=True
    )
    rule_id: Mapped[int | None] = mapped_column(
        ForeignKey("quality_sample_rule.id", ondelete="SET NULL")
    )
    source: Mapped[ReviewSource] = mapped_column(_enum(ReviewSource), default=ReviewSource.MANUAL)
    status: Mapped[ReviewStatus] = mapped_column(_enum(ReviewStatus), default=ReviewStatus.ASSIGNED)
    week: Mapped[date]  # Monday of the conversation's week (Europe/Rome)
    score: Mapped[float | None]  # 0-100, weighted; 0 when a critical criterion failed
    critical_failed: Mapped[bool] = mapped_column(default=False)
    comment: Mapped[str] = mapped_column(Text, default="")
    coaching_note: Mapped[str] = mapped_column(Text, default="")
    acknowledged_at: Mapped[datetime | None]
    dispute_status: Mapped[DisputeStatus] = mapped_column(
        _enum(DisputeStatus), default=DisputeStatus.NONE
    )
    dispute_text: Mapped[str] = mapped_column(Text, default="")
    dispute_answer: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    completed_at: Mapped[datetime | None]

    ratings: Mapped[list[Rating]] = relationship(cascade="all, delete-orphan", lazy="selectin")


class Rating(Base):
    __tablename__ = "quality_rating"
    __table_args__ = (UniqueConstraint("review_id", "criterion_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    review_id: Mapped[int] = mapped_column(ForeignKey("quality_review.id", ondelete="CASCADE"))
    criterion_id: Mapped[int] = mapped_column(
        ForeignKey("quality_criterion.id", ondelete="CASCADE")
    )
    value: Mapped[int | None]  # None: not applicable
    comment: Mapped[str] = mapped_column(String(2000), default="")
