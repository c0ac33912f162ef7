"""Chat tables: one row per widget visitor who has a conversation, and transcript requests."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from sportello.core.db import Base, utcnow


class ChatVisitor(Base):
    """A widget visitor (one browser, or one verified user of the host site) on one channel.

    It holds what the console shows beside a chat: where the visitor is on the site right now,
    and what they gave in the pre-chat form. The conversation itself lives in the timeline.
    """

    __tablename__ = "chat_visitor"
    __table_args__ = (
        UniqueConstraint("channel_id", "visitor_id"),
        Index("ix_chat_visitor_conversation", "conversation_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("channel.id", ondelete="CASCADE"))
    visitor_id: Mapped[str] = mapped_column(String(40))
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customer.id", ondelete="SET NULL"), index=True
    )
    conversation_id: Mapped[int | None] = mapped_column(
        ForeignKey("conversation.id", ondelete="SET NULL")
    )
    # "external:<id>" or "email:<address>" when the host site vouched for the visitor.
    verified_as: Mapped[str | None] = mapped_column(String(340))
    name: Mapped[str] = mapped_column(String(200), default="")
    email: Mapped[str] = mapped_column(String(320), default="")
    topic: Mapped[str] = mapped_column(String(100), default="")
    page_url: Mapped[str] = mapped_column(String(2000), default="")
    page_title: Mapped[str] = mapped_column(String(300), default="")
    language: Mapped[str] = mapped_column(String(8), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)


class TranscriptRequest(Base):
    """A visitor asked for the chat by email. ``status``: queued, sent, pending (no email channel
    of the brand can send it yet), failed."""

    __tablename__ = "chat_transcript_request"

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversation.id", ondelete="CASCADE"), index=True
    )
    email: Mapped[str] = mapped_column(String(320))
    status: Mapped[str] = mapped_column(String(20), default="queued")
    note: Mapped[str] = mapped_column(String(500), default="")
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
