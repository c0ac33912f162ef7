"""Departments outside the service team, side conversations with them by email, and hand-offs."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import Enum, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from sportello.core.db import Base, utcnow


def _enum(cls: type[enum.Enum]) -> Enum:
    return Enum(cls, native_enum=False, length=20, values_callable=lambda e: [m.value for m in e])


class SideStatus(enum.StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class SideDirection(enum.StrEnum):
    OUT = "out"  # written by an agent, mailed to the colleague
    IN = "in"  # the colleague's answer by email


class HandoffKind(enum.StrEnum):
    SALES = "sales"  # a sales opportunity
    TECHNICAL = "technical"  # a technical problem
    OTHER = "other"


class HandoffStatus(enum.StrEnum):
    OPEN = "open"  # sent, nobody answered yet
    ACCEPTED = "accepted"
    WON = "won"
    LOST = "lost"
    SOLVED = "solved"
    REJECTED = "rejected"


# Outcomes after which a hand-off is done (the list's "closed" filter).
FINAL_STATUSES = frozenset(
    {HandoffStatus.WON, HandoffStatus.LOST, HandoffStatus.SOLVED, HandoffStatus.REJECTED}
)


class Department(Base):
    """A team outside customer service (logistics, sales, technical office), reached by email."""

    __tablename__ = "department"

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brand.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    # One or more addresses, comma-separated in the form; a list here.
    emails: Mapped[list[str]] = mapped_column(default=list)
    description: Mapped[str] = mapped_column(String(1000), default="")
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class SideConversation(Base):
    """An email thread with a colleague, opened from a conversation; answers land in the
    conversation's timeline as internal messages."""

    __tablename__ = "side_conversation"
    __table_args__ = (Index("ix_side_conversation_conversation", "conversation_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversation.id", ondelete="CASCADE"))
    department_id: Mapped[int | None] = mapped_column(
        ForeignKey("department.id", ondelete="SET NULL")
    )
    # The mailbox the side mail goes out from (and the answer comes back to).
    channel_id: Mapped[int | None] = mapped_column(ForeignKey("channel.id", ondelete="SET NULL"))
    # One address or several, comma-separated (a department with more than one).
    to_address: Mapped[str] = mapped_column(String(1000))
    subject: Mapped[str] = mapped_column(String(300))
    status: Mapped[SideStatus] = mapped_column(_enum(SideStatus), default=SideStatus.OPEN)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    closed_at: Mapped[datetime | None]


class SideMessage(Base):
    """One mail of a side conversation, either way."""

    __tablename__ = "side_message"
    __table_args__ = (
        Index("ix_side_message_side", "side_conversation_id"),
        Index("ix_side_message_provider", "provider_message_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    side_conversation_id: Mapped[int] = mapped_column(
        ForeignKey("side_conversation.id", ondelete="CASCADE")
    )
    direction: Mapped[SideDirection] = mapped_column(_enum(SideDirection))
    author_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    sender: Mapped[str] = mapped_column(String(320), default="")
    text: Mapped[str] = mapped_column(Text, default="")
    # What of the customer's conversation the agent chose to quote: message and attachment ids.
    quoted: Mapped[dict[str, Any]] = mapped_column(default=dict)
    provider_message_id: Mapped[str | None] = mapped_column(String(300))
    # The internal message in the conversation's timeline (for answers: where it landed).
    conversation_message_id: Mapped[int | None] = mapped_column(
        ForeignKey("conversation_message.id", ondelete="SET NULL")
    )
    sent_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(String(2000))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Handoff(Base):
    """A sales opportunity or a technical problem passed to a department, tracked to its
    outcome (set by the department through a signed link, or by an agent)."""

    __tablename__ = "handoff"
    __table_args__ = (
        Index("ix_handoff_department_status", "department_id", "status"),
        Index("ix_handoff_conversation", "conversation_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brand.id", ondelete="CASCADE"))
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversation.id", ondelete="CASCADE"))
    department_id: Mapped[int] = mapped_column(ForeignKey("department.id", ondelete="CASCADE"))
    kind: Mapped[HandoffKind] = mapped_column(_enum(HandoffKind))
    summary: Mapped[str] = mapped_column(Text)
    # The customer's context as sent: name, contacts, conversation number and last messages.
    context: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[HandoffStatus] = mapped_column(_enum(HandoffStatus), default=HandoffStatus.OPEN)
    outcome_note: Mapped[str] = mapped_column(String(2000), default="")
    outcome_by: Mapped[str] = mapped_column(String(320), default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
    send_error: Mapped[str | None] = mapped_column(String(2000))
