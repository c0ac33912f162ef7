"""GDPR reads: a customer's consents, the retention policies with their dry-run counts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sportello.accounts.models import Brand
from sportello.channels.models import Channel
from sportello.conversations.models import Attachment, Conversation, Message, Status
from sportello.core.db import utcnow
from sportello.privacy.models import Consent, RetentionKind, RetentionPolicy


def consents(session: Session, customer_id: int) -> list[Consent]:
    return list(
        session.scalars(
            select(Consent)
            .where(Consent.customer_id == customer_id)
            .order_by(Consent.given_at.desc(), Consent.id.desc())
        )
    )


@dataclass(frozen=True)
class PolicyRow:
    policy: RetentionPolicy
    brand: str | None
    channel: str | None
    due: int  # what a run would delete now (the dry run)


def policies(session: Session, *, dry_run: bool = True) -> list[PolicyRow]:
    brands = {b.id: b.name for b in session.scalars(select(Brand))}
    channels = {c.id: c.name for c in session.scalars(select(Channel))}
    return [
        PolicyRow(
            policy=p,
            brand=brands.get(p.brand_id) if p.brand_id else None,
            channel=channels.get(p.channel_id) if p.channel_id else None,
            due=len(due(session, p)) if dry_run else 0,
        )
        for p in session.scalars(select(RetentionPolicy).order_by(RetentionPolicy.id))
    ]


def _channel_ids(session: Session, policy: RetentionPolicy) -> list[int] | None:
    """The channels a policy covers; None: every channel."""
    if policy.channel_id is not None:
        return [policy.channel_id]
    if policy.brand_id is not None:
        return list(session.scalars(select(Channel.id).where(Channel.brand_id == policy.brand_id)))
    return None


def due(session: Session, policy: RetentionPolicy, *, now: datetime | None = None) -> list[int]:
    """The ids a run of the policy would delete now (raw mail rows, recording attachments or
    closed conversations): the dry run counts them, the run deletes them."""
    from sportello.channels.email.models import EmailRaw, RawStatus

    cutoff = (now or utcnow()) - timedelta(days=policy.days)
    channels = _channel_ids(session, policy)
    if channels == []:
        return []
    if policy.kind == RetentionKind.RAW_MAIL:
        stmt = select(EmailRaw.id).where(
            EmailRaw.received_at < cutoff, EmailRaw.status == RawStatus.PROCESSED
        )
        if channels is not None:
            stmt = stmt.where(EmailRaw.channel_id.in_(channels))
    elif policy.kind == RetentionKind.RECORDINGS:
        stmt = (
            select(Attachment.id)
            .join(Message, Message.id == Attachment.message_id)
            .where(Attachment.content_type.like("audio/%"), Message.created_at < cutoff)
        )
        if channels is not None:
            stmt = stmt.where(Message.channel_id.in_(channels))
    else:
        stmt = select(Conversation.id).where(
            Conversation.status == Status.CLOSED,
            func.coalesce(Conversation.closed_at, Conversation.updated_at) < cutoff,
        )
        if channels is not None:
            stmt = stmt.where(Conversation.channel_id.in_(channels))
    return list(session.scalars(stmt))
