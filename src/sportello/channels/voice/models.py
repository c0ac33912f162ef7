from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from sportello.core.db import Base, utcnow


class VoiceCall(Base):
    """One phone call: who called which number, who answered, and the times that make the KPIs
    (wait = answered_at or ended_at - started_at; talk = ended_at - answered_at - hold)."""

    __tablename__ = "voice_call"
    __table_args__ = (Index("ix_voice_call_brand_started", "brand_id", "started_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brand.id"))
    channel_id: Mapped[int | None] = mapped_column(ForeignKey("channel.id", ondelete="SET NULL"))
    conversation_id: Mapped[int | None] = mapped_column(
        ForeignKey("conversation.id", ondelete="CASCADE"), index=True
    )
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customer.id", ondelete="SET NULL"), index=True
    )
    queue_id: Mapped[int | None] = mapped_column(ForeignKey("queue.id", ondelete="SET NULL"))
    agent_id: Mapped[int | None] = mapped_column(
        ForeignKey("user.id", ondelete="SET NULL"), index=True
    )
    sip_call_id: Mapped[str] = mapped_column(String(255), unique=True)
    direction: Mapped[str] = mapped_column(String(10), default="inbound")
    caller: Mapped[str] = mapped_column(String(64), default="")
    did: Mapped[str] = mapped_column(String(64), default="")
    # queued, ringing, talking, held, ended
    state: Mapped[str] = mapped_column(String(10), default="queued", index=True)
    # answered, abandoned, short_abandon, callback, closed, failed (NULL while live)
    outcome: Mapped[str | None] = mapped_column(String(16))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    answered_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    wrapup_ended_at: Mapped[datetime | None]
    held_since: Mapped[datetime | None]
    hold_seconds: Mapped[int] = mapped_column(default=0)
    ring_attempts: Mapped[int] = mapped_column(default=0)
    transfers: Mapped[int] = mapped_column(default=0)
    ended_by: Mapped[str | None] = mapped_column(String(10))  # customer, agent, system
    # What rtpengine plays to the waiting caller (greeting, music, closed) and until when.
    media: Mapped[str | None] = mapped_column(String(10))
    media_until: Mapped[datetime | None]
    # The last announcement made to the waiting caller (position in the queue, callback offer):
    # the next one is due a channel's interval later.
    announced_at: Mapped[datetime | None]


class SipAccount(Base):
    """An agent's SIP account on Kamailio: the digest HA1 only (the password is shown once)."""

    __tablename__ = "voice_sip_account"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("user.id", ondelete="CASCADE"), primary_key=True
    )
    username: Mapped[str] = mapped_column(String(64), unique=True)
    realm: Mapped[str] = mapped_column(String(200))
    ha1: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
