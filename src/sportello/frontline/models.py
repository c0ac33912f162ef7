"""Briefings and their receipts, agents' proposals (votes, comments), training modules and
completions, console notifications."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Enum, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from sportello.core.db import Base, utcnow


def _enum(cls: type[enum.Enum]) -> Enum:
    return Enum(cls, native_enum=False, length=20, values_callable=lambda e: [m.value for m in e])


class BriefingStatus(enum.StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    ARCHIVED = "archived"


class ProposalTopic(enum.StrEnum):
    PROCESS = "process"
    PRODUCT = "product"
    KNOWLEDGE = "knowledge"
    PROMOTION = "promotion"
    OTHER = "other"


class ProposalStatus(enum.StrEnum):
    NEW = "new"
    UNDER_REVIEW = "under_review"
    ACCEPTED = "accepted"
    DONE = "done"
    DECLINED = "declined"


class ModuleKind(enum.StrEnum):
    ARTICLE = "article"
    VIDEO = "video"
    QUIZ = "quiz"


class CompletionStatus(enum.StrEnum):
    PASSED = "passed"  # passed, nothing to approve (or no level to raise)
    PENDING = "pending"  # passed, waiting for a supervisor to raise the level
    APPROVED = "approved"  # the level was raised
    REJECTED = "rejected"  # the supervisor kept the level


class Briefing(Base):
    """What the front line must know: Markdown, links, a validity period, an audience (a team, a
    skill, a queue's team, or everyone of the brand), required or not, an optional quiz."""

    __tablename__ = "fl_briefing"
    __table_args__ = (Index("ix_fl_briefing_active", "status", "required"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brand.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    body_md: Mapped[str] = mapped_column(Text, default="")
    body_html: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[BriefingStatus] = mapped_column(
        _enum(BriefingStatus), default=BriefingStatus.DRAFT
    )
    required: Mapped[bool] = mapped_column(default=False)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("team.id", ondelete="SET NULL"))
    skill_id: Mapped[int | None] = mapped_column(ForeignKey("skill.id", ondelete="SET NULL"))
    queue_id: Mapped[int | None] = mapped_column(ForeignKey("queue.id", ondelete="SET NULL"))
    valid_from: Mapped[datetime | None]
    valid_until: Mapped[datetime | None]
    campaign: Mapped[str] = mapped_column(String(200), default="")
    campaign_starts_at: Mapped[datetime | None]
    campaign_ends_at: Mapped[datetime | None]
    # Knowledge article ids, and attachments by link: [{"name": "...", "url": "..."}]
    article_ids: Mapped[list[Any]] = mapped_column(JSON, default=list)
    attachments: Mapped[list[Any]] = mapped_column(JSON, default=list)
    # [{"question": "...", "options": ["...", ...], "answer": 0}]
    quiz: Mapped[list[Any]] = mapped_column(JSON, default=list)
    source_article_id: Mapped[int | None] = mapped_column(
        ForeignKey("kb_article.id", ondelete="SET NULL")
    )
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    published_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class BriefingReceipt(Base):
    """One agent of a briefing's audience: read, acknowledged (after passing the quiz), reminded.
    Written when the briefing is published (and for newcomers when they load a page)."""

    __tablename__ = "fl_briefing_receipt"
    __table_args__ = (Index("ix_fl_receipt_pending", "user_id", "acknowledged_at"),)

    briefing_id: Mapped[int] = mapped_column(
        ForeignKey("fl_briefing.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("user.id", ondelete="CASCADE"), primary_key=True
    )
    read_at: Mapped[datetime | None]
    acknowledged_at: Mapped[datetime | None]
    passed_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(default=0)
    last_score: Mapped[int | None]
    reminded_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Proposal(Base):
    """An agent's proposal for an improvement, optionally with the conversations that show it."""

    __tablename__ = "fl_proposal"

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brand.id"), index=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="")
    topic: Mapped[ProposalTopic] = mapped_column(_enum(ProposalTopic))
    status: Mapped[ProposalStatus] = mapped_column(
        _enum(ProposalStatus), default=ProposalStatus.NEW, index=True
    )
    answer: Mapped[str] = mapped_column(Text, default="")
    conversation_ids: Mapped[list[Any]] = mapped_column(JSON, default=list)
    votes: Mapped[int] = mapped_column(default=0)
    answered_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    answered_at: Mapped[datetime | None]  # the first triage (time to answer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ProposalVote(Base):
    __tablename__ = "fl_proposal_vote"

    proposal_id: Mapped[int] = mapped_column(
        ForeignKey("fl_proposal.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("user.id", ondelete="CASCADE"), primary_key=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ProposalComment(Base):
    __tablename__ = "fl_proposal_comment"

    id: Mapped[int] = mapped_column(primary_key=True)
    proposal_id: Mapped[int] = mapped_column(
        ForeignKey("fl_proposal.id", ondelete="CASCADE"), index=True
    )
    author_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TrainingModule(Base):
    """Training for a skill at a level: an article, a video by link, or a quiz. Passing it may
    raise the agent's proficiency to ``level`` (with a supervisor's approval)."""

    __tablename__ = "fl_training_module"

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brand.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    kind: Mapped[ModuleKind] = mapped_column(_enum(ModuleKind))
    skill_id: Mapped[int | None] = mapped_column(ForeignKey("skill.id", ondelete="SET NULL"))
    level: Mapped[int] = mapped_column(default=1)
    description: Mapped[str] = mapped_column(Text, default="")
    article_id: Mapped[int | None] = mapped_column(ForeignKey("kb_article.id", ondelete="SET NULL"))
    url: Mapped[str] = mapped_column(String(500), default="")
    quiz: Mapped[list[Any]] = mapped_column(JSON, default=list)
    raises_level: Mapped[bool] = mapped_column(default=True)
    certificate_days: Mapped[int | None]  # a certificate valid this long; None: no certificate
    onboarding_step: Mapped[int | None]  # position in the new hires' path; None: not in it
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ModuleCompletion(Base):
    __tablename__ = "fl_module_completion"
    __table_args__ = (Index("ix_fl_completion_user", "user_id", "module_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    module_id: Mapped[int] = mapped_column(ForeignKey("fl_training_module.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    status: Mapped[CompletionStatus] = mapped_column(_enum(CompletionStatus))
    score: Mapped[int | None]
    completed_at: Mapped[datetime] = mapped_column(default=utcnow)
    certificate_expires_at: Mapped[datetime | None]
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    decided_at: Mapped[datetime | None]


class Notification(Base):
    """A line in an agent's bell: what happened, where to look. E-mailed when the agent is away."""

    __tablename__ = "fl_notification"
    __table_args__ = (Index("ix_fl_notification_unread", "user_id", "read_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(40))
    title: Mapped[str] = mapped_column(String(300))
    url: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    read_at: Mapped[datetime | None]
    emailed_at: Mapped[datetime | None]
