from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import Column, Enum, ForeignKey, Index, String, Table, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from sportello.accounts.models import User
from sportello.channels.models import Channel
from sportello.core.db import Base, utcnow
from sportello.customers.models import Customer
from sportello.routing.models import Queue


def _enum(cls: type[enum.Enum]) -> Enum:
    return Enum(cls, native_enum=False, length=20, values_callable=lambda e: [m.value for m in e])


class Status(enum.StrEnum):
    NEW = "new"
    OPEN = "open"
    PENDING = "pending"
    RESOLVED = "resolved"
    CLOSED = "closed"


# The allowed transitions. Closed is final: a customer writing again starts a new conversation.
TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.NEW: frozenset({Status.OPEN, Status.PENDING, Status.RESOLVED, Status.CLOSED}),
    Status.OPEN: frozenset({Status.PENDING, Status.RESOLVED, Status.CLOSED}),
    Status.PENDING: frozenset({Status.OPEN, Status.RESOLVED, Status.CLOSED}),
    Status.RESOLVED: frozenset({Status.OPEN, Status.CLOSED}),
    Status.CLOSED: frozenset(),
}
ACTIVE_STATUSES = (Status.NEW, Status.OPEN, Status.PENDING)


class Priority(enum.StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


PRIORITY_RANK = {Priority.LOW: 0, Priority.NORMAL: 1, Priority.HIGH: 2, Priority.URGENT: 3}


class Direction(enum.StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"
    NOTE = "note"
    SYSTEM = "system"


class DeliveryState(enum.StrEnum):
    RECEIVED = "received"
    QUEUED = "queued"
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"


conversation_tag = Table(
    "conversation_tag",
    Base.metadata,
    Column("conversation_id", ForeignKey("conversation.id", ondelete="CASCADE"), primary_key=True),
    Column("tag_id", ForeignKey("tag.id", ondelete="CASCADE"), primary_key=True),
)


class Tag(Base):
    __tablename__ = "tag"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(60), unique=True)


class Counter(Base):
    """Named counters (conversation numbers); incremented under a row lock."""

    __tablename__ = "counter"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[int]


class Conversation(Base):
    __tablename__ = "conversation"
    __table_args__ = (
        Index("ix_conversation_status_last", "status", "last_message_at"),
        Index("ix_conversation_customer_channel", "customer_id", "channel_id", "status"),
        Index("ix_conversation_assignee_status", "assignee_id", "status"),
        Index("ix_conversation_queue_status", "queue_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[int] = mapped_column(unique=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brand.id"))
    channel_id: Mapped[int | None] = mapped_column(ForeignKey("channel.id", ondelete="SET NULL"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"))
    queue_id: Mapped[int | None] = mapped_column(ForeignKey("queue.id", ondelete="SET NULL"))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    status: Mapped[Status] = mapped_column(_enum(Status), default=Status.NEW)
    priority: Mapped[Priority] = mapped_column(_enum(Priority), default=Priority.NORMAL)
    subject: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_message_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_inbound_at: Mapped[datetime | None]
    first_response_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    message_count: Mapped[int] = mapped_column(default=0)
    preview: Mapped[str] = mapped_column(String(200), default="")

    channel: Mapped[Channel | None] = relationship(lazy="joined")
    customer: Mapped[Customer] = relationship(lazy="joined")
    queue: Mapped[Queue | None] = relationship(lazy="joined")
    assignee: Mapped[User | None] = relationship(lazy="joined")
    tags: Mapped[list[Tag]] = relationship(
        secondary=conversation_tag, lazy="selectin", order_by=Tag.name
    )

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES


class Message(Base):
    __tablename__ = "conversation_message"
    __table_args__ = (
        UniqueConstraint("channel_id", "provider_message_id"),
        Index("ix_conversation_message_conversation", "conversation_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversation.id", ondelete="CASCADE"))
    channel_id: Mapped[int | None] = mapped_column(ForeignKey("channel.id", ondelete="SET NULL"))
    direction: Mapped[Direction] = mapped_column(_enum(Direction))
    author_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    sender_name: Mapped[str] = mapped_column(String(200), default="")
    text: Mapped[str] = mapped_column(Text, default="")
    html: Mapped[str | None] = mapped_column(Text)
    provider_message_id: Mapped[str | None] = mapped_column(String(300))
    client_id: Mapped[str | None] = mapped_column(String(80))
    delivery_state: Mapped[DeliveryState | None] = mapped_column(_enum(DeliveryState))
    error: Mapped[str | None] = mapped_column(String(2000))
    meta: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    author: Mapped[User | None] = relationship(lazy="joined")
    attachments: Mapped[list[Attachment]] = relationship(
        back_populates="message", lazy="selectin", order_by="Attachment.id"
    )


class Attachment(Base):
    """File metadata; the bytes live on disk under data/attachments/<sha256>."""

    __tablename__ = "attachment"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(
        ForeignKey("conversation_message.id", ondelete="CASCADE"), index=True
    )
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    filename: Mapped[str] = mapped_column(String(300))
    content_type: Mapped[str] = mapped_column(String(200))
    size: Mapped[int]
    content_id: Mapped[str | None] = mapped_column(String(300))
    inline: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    message: Mapped[Message] = relationship(back_populates="attachments")
