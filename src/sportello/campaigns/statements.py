"""The campaign's set-based statements: copy a list into a campaign and scrub it in a few
UPDATEs (a million contacts against millions of do-not-call numbers in seconds), and the same
conditions for one contact at the moment it is called or sent to (opt-outs win at once)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    and_,
    exists,
    insert,
    literal,
    not_,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.orm import Session

from sportello.campaigns.models import (
    Campaign,
    CampaignContact,
    CampaignKind,
    CampaignListEntry,
    Consent,
    ContactStatus,
    DoNotCall,
    LegalBasis,
    Purpose,
)


def rowcount(result: Any) -> int:
    """Rows an UPDATE, DELETE or INSERT ... SELECT touched."""
    return int(getattr(result, "rowcount", 0) or 0)


c = CampaignContact.__table__.c
d = DoNotCall.__table__.c
k = Consent.__table__.c
e = CampaignListEntry.__table__.c


def copy_list(session: Session, *, campaign_id: int, list_id: int, now: datetime) -> int:
    """Every entry of the list becomes a pending contact of the campaign (once: a restart
    copies nothing twice)."""
    already = select(c.entry_id).where(c.campaign_id == campaign_id, c.entry_id.is_not(None))
    rows = select(
        literal(campaign_id),
        e.id,
        e.customer_id,
        e.name,
        e.phone,
        e.email,
        e.timezone,
        e.params,
        literal(ContactStatus.PENDING.value),
        literal(0),
        literal(now),
        literal(now),
    ).where(e.list_id == list_id, e.id.not_in(already))
    result = session.execute(
        insert(CampaignContact).from_select(
            [
                "campaign_id",
                "entry_id",
                "customer_id",
                "name",
                "phone",
                "email",
                "timezone",
                "params",
                "status",
                "attempts",
                "next_attempt_at",
                "updated_at",
            ],
            rows,
        )
    )
    copied = rowcount(result)
    if copied > 10_000 and session.get_bind().dialect.name == "postgresql":
        # A big list just landed: fresh statistics, or the planner scans the table for every
        # scrub rule and every next-contact pick until autovacuum gets to it.
        session.execute(text("ANALYZE campaign_contact"))
    return copied


def _listed(value: ColumnElement[Any], brand_id: int, *, rpo: bool) -> ColumnElement[bool]:
    source = d.source == "rpo" if rpo else d.source != "rpo"
    return exists().where(
        d.value == value, or_(d.brand_id.is_(None), d.brand_id == brand_id), source
    )


def _consented(purpose: Purpose, now: datetime) -> ColumnElement[bool]:
    """The customer's latest consent record for the purpose grants it and has not expired."""
    later = Consent.__table__.alias("later")
    return exists().where(
        k.customer_id == c.customer_id,
        k.purpose == purpose.value,
        k.granted.is_(True),
        or_(k.expires_at.is_(None), k.expires_at > now),
        not_(
            exists().where(
                later.c.customer_id == k.customer_id,
                later.c.purpose == k.purpose,
                later.c.granted.is_(False),
                later.c.given_at >= k.given_at,
            )
        ),
    )


def block_rules(campaign: Campaign, now: datetime) -> list[tuple[str, ColumnElement[bool]]]:
    """(reason, condition) in order: the first that holds blocks the contact. One place for the
    rules, run set-based at start and on one contact before each call or send."""
    brand_id = campaign.brand_id
    kind = CampaignKind(campaign.kind)
    rules: list[tuple[str, ColumnElement[bool]]] = []
    if kind == CampaignKind.EMAIL:
        rules.append(("no_email", c.email.is_(None)))
        rules.append(("do_not_contact", _listed(c.email, brand_id, rpo=False)))
    else:
        rules.append(("no_phone", c.phone.is_(None)))
    rules.append(
        ("do_not_contact", and_(c.phone.is_not(None), _listed(c.phone, brand_id, rpo=False)))
    )
    if kind != CampaignKind.EMAIL:
        rules.append(
            ("do_not_contact", and_(c.email.is_not(None), _listed(c.email, brand_id, rpo=False)))
        )
    purpose = Purpose(campaign.purpose)
    if campaign.legal_basis == LegalBasis.CONSENT:
        rules.append(("no_consent", or_(c.customer_id.is_(None), not_(_consented(purpose, now)))))
    if kind == CampaignKind.CALL and purpose == Purpose.MARKETING:
        rules.append(
            (
                "opposition_register",
                and_(
                    c.phone.is_not(None),
                    _listed(c.phone, brand_id, rpo=True),
                    or_(c.customer_id.is_(None), not_(_consented(purpose, now))),
                ),
            )
        )
    return rules


def scrub(session: Session, campaign: Campaign, now: datetime) -> int:
    """Block the campaign's pending contacts that a rule forbids; how many were blocked."""
    blocked = 0
    for reason, condition in block_rules(campaign, now):
        result = session.execute(
            update(CampaignContact)
            .where(c.campaign_id == campaign.id, c.status == ContactStatus.PENDING.value)
            .where(condition)
            .values(status=ContactStatus.BLOCKED.value, block_reason=reason, updated_at=now)
        )
        blocked += rowcount(result)
    return blocked


def block_reason(
    session: Session, campaign: Campaign, contact_id: int, now: datetime
) -> str | None:
    """The first rule that forbids contacting this one contact now, or None."""
    for reason, condition in block_rules(campaign, now):
        hit = session.scalar(select(c.id).where(c.id == contact_id, condition))
        if hit is not None:
            return reason
    return None


def block_everywhere(
    session: Session, *, value: str, brand_id: int | None, reason: str, now: datetime
) -> int:
    """A new opt-out reaches every waiting contact with this number or address at once."""
    campaign_ids = select(Campaign.id)
    if brand_id is not None:
        campaign_ids = campaign_ids.where(Campaign.brand_id == brand_id)
    result = session.execute(
        update(CampaignContact)
        .where(
            or_(c.phone == value, c.email == value),
            c.status == ContactStatus.PENDING.value,
            c.campaign_id.in_(campaign_ids),
        )
        .values(status=ContactStatus.BLOCKED.value, block_reason=reason, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return rowcount(result)
