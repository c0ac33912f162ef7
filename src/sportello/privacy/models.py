"""GDPR: consent records (minimal: purpose, source, date, the text shown) and retention
policies (per brand and channel: raw mail, call recordings, closed conversations)."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Enum, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from sportello.core.db import Base, utcnow


def _enum(cls: type[enum.Enum]) -> Enum:
    return Enum(cls, native_enum=False, length=30, values_callable=lambda e: [m.value for m in e])


class Consent(Base):
    """What a customer agreed to, where, when, and the exact words shown to them. Withdrawn
    consent stays as a record (``withdrawn_at``)."""

    __tablename__ = "privacy_consent"
    __table_args__ = (Index("ix_privacy_consent_customer", "customer_id", "given_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id", ondelete="CASCADE"))
    purpose: Mapped[str] = mapped_column(String(80))  # "service", "surveys", "marketing", ...
    source: Mapped[str] = mapped_column(String(80))  # "chat widget", "web form", "phone", ...
    text: Mapped[str] = mapped_column(String(4000))
    given_at: Mapped[datetime] = mapped_column(default=utcnow)
    withdrawn_at: Mapped[datetime | None]
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))


class RetentionKind(enum.StrEnum):
    RAW_MAIL = "raw_mail"  # the fetched mail's original bytes (the conversation keeps the text)
    RECORDINGS = "recordings"  # call recordings and voice notes (audio attachments)
    CLOSED_CONVERSATIONS = "closed_conversations"  # closed conversations, erased whole


class RetentionPolicy(Base):
    """Keep ``kind`` for ``days`` days, on one channel or all of a brand's (or everywhere)."""

    __tablename__ = "privacy_retention_policy"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[RetentionKind] = mapped_column(_enum(RetentionKind))
    days: Mapped[int]
    brand_id: Mapped[int | None] = mapped_column(ForeignKey("brand.id", ondelete="CASCADE"))
    channel_id: Mapped[int | None] = mapped_column(ForeignKey("channel.id", ondelete="CASCADE"))
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_run_at: Mapped[datetime | None]
    last_run_count: Mapped[int | None]
