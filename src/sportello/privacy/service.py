"""GDPR reads: a customer's consents, the retention policies with their dry-run counts."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from sportello.accounts.models import Brand
from sportello.channels.models import Channel
from sportello.privacy import actions
from sportello.privacy.models import Consent, RetentionPolicy


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
            due=len(actions.due(session, p)) if dry_run else 0,
        )
        for p in session.scalars(select(RetentionPolicy).order_by(RetentionPolicy.id))
    ]
