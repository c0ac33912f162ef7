"""Outbound campaigns: contact lists, campaigns (calls or messages), the contacts of a campaign
with their attempts, the do-not-call list and consent records."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Enum, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from sportello.core.db import Base, utcnow


def _enum(cls: type[enum.Enum]) -> Enum:
    return Enum(cls, native_enum=False, length=20, values_callable=lambda e: [m.value for m in e])


class CampaignKind(enum.StrEnum):
    CALL = "call"
    WHATSAPP = "whatsapp"
    SMS = "sms"
    EMAIL = "email"


class DialMode(enum.StrEnum):
    PREVIEW = "preview"  # the agent sees the customer and the script, then dials
    PROGRESSIVE = "progressive"  # dialed as soon as the agent is ready, one call per ready agent


class CampaignStatus(enum.StrEnum):
    DRAFT = "draft"
    RUNNING = "running"
    PAUSED = "paused"
    FINISHED = "finished"


class LegalBasis(enum.StrEnum):
    CONSENT = "consent"  # GDPR art. 6.1.a: only contacts with a valid consent for the purpose
    CONTRACT = "contract"  # 6.1.b: service messages to customers
    LEGITIMATE_INTEREST = "legitimate_interest"  # 6.1.f
    VITAL_INTEREST = "vital_interest"  # 6.1.d: care calls in an emergency


class Purpose(enum.StrEnum):
    MARKETING = "marketing"
    CARE = "care"
    SERVICE = "service"


class ContactStatus(enum.StrEnum):
    PENDING = "pending"  # waiting for its (next) attempt
    ACTIVE = "active"  # an agent has it on screen, or a send is under way
    DONE = "done"  # a final outcome (reached, sent, not interested...)
    FAILED = "failed"  # attempts exhausted or a permanent send error
    BLOCKED = "blocked"  # do-not-call, opt-out, opposition register, no consent


class ListSource(enum.StrEnum):
    IMPORT = "import"
    SEGMENT = "segment"


class CampaignList(Base):
    """A list of people to contact: imported from a file or built from a segment."""

    __tablename__ = "campaign_list"

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brand.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    source: Mapped[ListSource] = mapped_column(_enum(ListSource), default=ListSource.IMPORT)
    total_rows: Mapped[int] = mapped_column(default=0)
    valid_rows: Mapped[int] = mapped_column(default=0)
    invalid_rows: Mapped[int] = mapped_column(default=0)
    duplicate_rows: Mapped[int] = mapped_column(default=0)
    created_customers: Mapped[int] = mapped_column(default=0)
    # [{"row": 7, "reason": "not a phone number", "value": "12"}] (the first 500)
    problems: Mapped[list[Any]] = mapped_column(JSON, default=list)
    columns: Mapped[list[Any]] = mapped_column(JSON, default=list)  # parameter columns kept
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CampaignListEntry(Base):
    __tablename__ = "campaign_list_entry"
    __table_args__ = (Index("ix_campaign_list_entry_list", "list_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("campaign_list.id", ondelete="CASCADE"))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customer.id", ondelete="CASCADE"))
    row_number: Mapped[int] = mapped_column(default=0)
    name: Mapped[str] = mapped_column(String(200), default="")
    phone: Mapped[str | None] = mapped_column(String(32))  # E.164
    email: Mapped[str | None] = mapped_column(String(320))
    timezone: Mapped[str | None] = mapped_column(String(64))
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Campaign(Base):
    __tablename__ = "campaign"

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brand.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[CampaignKind] = mapped_column(_enum(CampaignKind))
    mode: Mapped[DialMode] = mapped_column(_enum(DialMode), default=DialMode.PREVIEW)
    status: Mapped[CampaignStatus] = mapped_column(
        _enum(CampaignStatus), default=CampaignStatus.DRAFT
    )
    list_id: Mapped[int | None] = mapped_column(ForeignKey("campaign_list.id", ondelete="SET NULL"))
    channel_id: Mapped[int | None] = mapped_column(ForeignKey("channel.id", ondelete="SET NULL"))
    legal_basis: Mapped[LegalBasis | None] = mapped_column(_enum(LegalBasis))
    purpose: Mapped[Purpose] = mapped_column(_enum(Purpose), default=Purpose.MARKETING)
    # Messages: a WhatsApp template (its key) with its body parameters, each a list column's
    # name or a fixed text ("=testo"); or the text of an SMS or email (with {column} fields).
    template_key: Mapped[str] = mapped_column(String(600), default="")
    template_params: Mapped[list[Any]] = mapped_column(JSON, default=list)
    subject: Mapped[str] = mapped_column(String(300), default="")
    message_text: Mapped[str] = mapped_column(String(4000), default="")
    rate_per_minute: Mapped[int] = mapped_column(default=60)
    # Calls: the script, the dispositions and their retry rules, the calling window.
    script: Mapped[list[Any]] = mapped_column(JSON, default=list)  # [{"key", "question"}]
    dispositions: Mapped[list[Any]] = mapped_column(JSON, default=list)
    max_attempts: Mapped[int] = mapped_column(default=3)
    window: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    followup_team_id: Mapped[int | None] = mapped_column(ForeignKey("team.id", ondelete="SET NULL"))
    is_care: Mapped[bool] = mapped_column(default=False)
    # Sending stopped by the provider (its rate or a temporary error) until this time.
    held_until: Mapped[datetime | None]
    held_reason: Mapped[str | None] = mapped_column(String(500))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


class CampaignContact(Base):
    """One person of a campaign: copied from the list when the campaign starts, scrubbed
    against the do-not-call list and consent, then worked (calls) or sent to (messages)."""

    __tablename__ = "campaign_contact"
    __table_args__ = (
        UniqueConstraint("campaign_id", "entry_id"),
        Index("ix_campaign_contact_next", "campaign_id", "status", "next_attempt_at", "id"),
        Index("ix_campaign_contact_phone", "phone"),
        Index("ix_campaign_contact_customer", "customer_id"),
        Index("ix_campaign_contact_callback", "callback_agent_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id", ondelete="CASCADE"))
    entry_id: Mapped[int | None] = mapped_column()
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customer.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200), default="")
    phone: Mapped[str | None] = mapped_column(String(32))
    email: Mapped[str | None] = mapped_column(String(320))
    timezone: Mapped[str | None] = mapped_column(String(64))
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[ContactStatus] = mapped_column(
        _enum(ContactStatus), default=ContactStatus.PENDING
    )
    block_reason: Mapped[str | None] = mapped_column(String(40))
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None]
    callback_agent_id: Mapped[int | None] = mapped_column(
        ForeignKey("user.id", ondelete="SET NULL")
    )
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    claimed_at: Mapped[datetime | None]
    last_disposition: Mapped[str | None] = mapped_column(String(40))
    conversation_id: Mapped[int | None] = mapped_column(
        ForeignKey("conversation.id", ondelete="SET NULL")
    )
    message_id: Mapped[int | None] = mapped_column(
        ForeignKey("conversation_message.id", ondelete="SET NULL")
    )
    send_error: Mapped[str | None] = mapped_column(String(2000))
    replied_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class CampaignAttempt(Base):
    """One call of a campaign: who, when, the answers to the script, the disposition."""

    __tablename__ = "campaign_attempt"
    __table_args__ = (Index("ix_campaign_attempt_campaign", "campaign_id", "started_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("campaign_contact.id", ondelete="CASCADE"), index=True
    )
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    conversation_id: Mapped[int | None] = mapped_column(
        ForeignKey("conversation.id", ondelete="SET NULL")
    )
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    dialed_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    disposition: Mapped[str | None] = mapped_column(String(40))
    answers: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    note: Mapped[str] = mapped_column(String(2000), default="")
    callback_at: Mapped[datetime | None]


class DoNotCall(Base):
    """A number or email address not to contact: for every brand (``brand_id`` empty) or one.
    ``source``: manual, stop (a STOP reply), unsubscribe (the link), disposition (the agent),
    rpo (the Registro Pubblico delle Opposizioni: blocks unless a valid consent exists)."""

    __tablename__ = "do_not_call"
    __table_args__ = (Index("ix_do_not_call_value", "value", "brand_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int | None] = mapped_column(ForeignKey("brand.id"))
    value: Mapped[str] = mapped_column(String(320))
    source: Mapped[str] = mapped_column(String(20), default="manual")
    channel: Mapped[str | None] = mapped_column(String(20))
    note: Mapped[str] = mapped_column(String(500), default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Consent(Base):
    """A customer's consent (or its withdrawal) for a purpose: where it came from, when, and
    the text the customer was shown."""

    __tablename__ = "campaign_consent"
    __table_args__ = (Index("ix_campaign_consent_customer", "customer_id", "purpose"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brand.id"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id", ondelete="CASCADE"))
    purpose: Mapped[Purpose] = mapped_column(_enum(Purpose))
    granted: Mapped[bool] = mapped_column(default=True)
    source: Mapped[str] = mapped_column(String(100), default="")
    text_shown: Mapped[str] = mapped_column(String(2000), default="")
    given_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None]
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
