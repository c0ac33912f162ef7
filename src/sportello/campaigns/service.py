"""Reads of the campaigns: lists, campaigns, a campaign's report, the do-not-call list and
consent, each fetched with the caller's role checked."""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from sportello.accounts.models import User
from sportello.campaigns.models import (
    Campaign,
    CampaignAttempt,
    CampaignContact,
    CampaignKind,
    CampaignList,
    CampaignListEntry,
    CampaignStatus,
    Consent,
    ContactStatus,
    DoNotCall,
)
from sportello.conversations.models import DeliveryState, Message
from sportello.core.access import require_supervisor
from sportello.core.errors import NotFound


def lists(session: Session, *, limit: int = 200) -> list[CampaignList]:
    return list(session.scalars(select(CampaignList).order_by(CampaignList.id.desc()).limit(limit)))


def get_list(session: Session, user: User, list_id: int) -> CampaignList:
    require_supervisor(user)
    listed = session.get(CampaignList, list_id)
    if listed is None:
        raise NotFound("list not found")
    return listed


def list_entries(session: Session, list_id: int, *, limit: int = 50) -> list[CampaignListEntry]:
    return list(
        session.scalars(
            select(CampaignListEntry)
            .where(CampaignListEntry.list_id == list_id)
            .order_by(CampaignListEntry.id)
            .limit(limit)
        )
    )


def campaigns(
    session: Session, user: User, *, status: CampaignStatus | None = None
) -> list[Campaign]:
    """Supervisors see every campaign; agents the running call campaigns they can work."""
    query = select(Campaign).order_by(Campaign.id.desc()).limit(500)
    if not user.is_supervisor:
        query = query.where(
            Campaign.kind == CampaignKind.CALL, Campaign.status == CampaignStatus.RUNNING
        )
    if status is not None:
        query = query.where(Campaign.status == status)
    return list(session.scalars(query))


def access_campaign_by_id(session: Session, user: User, campaign_id: int) -> Campaign:
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise NotFound("campaign not found")
    if not user.is_supervisor and (
        campaign.kind != CampaignKind.CALL or campaign.status != CampaignStatus.RUNNING
    ):
        raise NotFound("campaign not found")
    return campaign


def access_contact_by_id(session: Session, user: User, contact_id: int) -> CampaignContact:
    contact = session.get(CampaignContact, contact_id)
    if contact is None:
        raise NotFound("contact not found")
    if not user.is_supervisor and contact.agent_id != user.id:
        raise NotFound("contact not found")
    return contact


def contacts(
    session: Session,
    campaign_id: int,
    *,
    status: ContactStatus | None = None,
    after_id: int | None = None,
    limit: int = 100,
) -> list[CampaignContact]:
    query = select(CampaignContact).where(CampaignContact.campaign_id == campaign_id)
    if status is not None:
        query = query.where(CampaignContact.status == status)
    if after_id is not None:
        query = query.where(CampaignContact.id > after_id)
    return list(session.scalars(query.order_by(CampaignContact.id).limit(limit)))


def report(session: Session, campaign: Campaign) -> dict[str, Any]:
    """The campaign's figures: contacts by status, blocked by reason, attempts, reached and
    conversions, average attempts, agents' talk and idle time, outcomes by disposition,
    messages delivered, read and replied."""
    cid = campaign.id
    by_status = dict(
        session.execute(
            select(CampaignContact.status, func.count())
            .where(CampaignContact.campaign_id == cid)
            .group_by(CampaignContact.status)
        ).all()
    )
    blocked = dict(
        session.execute(
            select(CampaignContact.block_reason, func.count())
            .where(
                CampaignContact.campaign_id == cid,
                CampaignContact.status == ContactStatus.BLOCKED,
            )
            .group_by(CampaignContact.block_reason)
        ).all()
    )
    total = sum(by_status.values())
    attempted = (
        session.scalar(
            select(func.count()).where(
                CampaignContact.campaign_id == cid, CampaignContact.attempts > 0
            )
        )
        or 0
    )
    attempts_sum = (
        session.scalar(
            select(func.sum(CampaignContact.attempts)).where(CampaignContact.campaign_id == cid)
        )
        or 0
    )
    outcomes = Counter(
        dict(
            session.execute(
                select(CampaignAttempt.disposition, func.count())
                .where(CampaignAttempt.campaign_id == cid, CampaignAttempt.disposition.is_not(None))
                .group_by(CampaignAttempt.disposition)
            ).all()
        )
    )
    rules = {d["code"]: d for d in campaign.dispositions or []}
    success_codes = [c for c, d in rules.items() if d.get("success")]
    reached_codes = [
        c for c, d in rules.items() if d.get("final") or d.get("callback") or d.get("success")
    ]
    conversions = (
        session.scalar(
            select(func.count()).where(
                CampaignContact.campaign_id == cid,
                CampaignContact.last_disposition.in_(success_codes),
            )
        )
        or 0
    )
    reached = (
        session.scalar(
            select(func.count(func.distinct(CampaignAttempt.contact_id))).where(
                CampaignAttempt.campaign_id == cid,
                CampaignAttempt.disposition.in_(reached_codes),
            )
        )
        or 0
    )
    agents: dict[int, dict[str, float]] = {}
    rows = session.execute(
        select(
            CampaignAttempt.agent_id,
            CampaignAttempt.started_at,
            CampaignAttempt.dialed_at,
            CampaignAttempt.ended_at,
        )
        .where(CampaignAttempt.campaign_id == cid, CampaignAttempt.ended_at.is_not(None))
        .order_by(CampaignAttempt.agent_id, CampaignAttempt.started_at)
    ).all()
    last_end: dict[int, datetime] = {}
    for agent_id, started, dialed, ended in rows:
        if agent_id is None or ended is None:
            continue
        slot = agents.setdefault(agent_id, {"calls": 0, "talk": 0.0, "idle": 0.0})
        slot["calls"] += 1
        slot["talk"] += max(0.0, (ended - (dialed or started)).total_seconds())
        previous = last_end.get(agent_id)
        if previous is not None:
            gap = (started - previous).total_seconds()
            if 0 < gap < 3600:  # a gap over an hour is a break, not idle time
                slot["idle"] += gap
        last_end[agent_id] = ended
    names = dict(session.execute(select(User.id, User.name).where(User.id.in_(list(agents)))).all())
    delivery = dict(
        session.execute(
            select(Message.delivery_state, func.count())
            .join(CampaignContact, CampaignContact.message_id == Message.id)
            .where(CampaignContact.campaign_id == cid)
            .group_by(Message.delivery_state)
        ).all()
    )
    sent_states = {DeliveryState.SENT, DeliveryState.DELIVERED, DeliveryState.READ}
    replied = (
        session.scalar(
            select(func.count()).where(
                CampaignContact.campaign_id == cid, CampaignContact.replied_at.is_not(None)
            )
        )
        or 0
    )
    return {
        "total": total,
        "by_status": {s.value: by_status.get(s, 0) for s in ContactStatus},
        "blocked": {str(k): v for k, v in blocked.items()},
        "attempted": attempted,
        "reached": reached,
        "conversions": conversions,
        "average_attempts": round(attempts_sum / attempted, 2) if attempted else 0.0,
        "outcomes": dict(outcomes),
        "agents": [
            {
                "agent_id": a,
                "name": names.get(a, ""),
                "calls": int(v["calls"]),
                "talk_seconds": int(v["talk"]),
                "idle_seconds": int(v["idle"]),
            }
            for a, v in agents.items()
        ],
        "messages": {
            "queued": delivery.get(DeliveryState.QUEUED, 0),
            "sent": sum(n for s, n in delivery.items() if s in sent_states),
            "delivered": sum(
                n for s, n in delivery.items() if s in (DeliveryState.DELIVERED, DeliveryState.READ)
            ),
            "read": delivery.get(DeliveryState.READ, 0),
            "failed": delivery.get(DeliveryState.FAILED, 0),
            "replied": replied,
        },
    }


EXPORT_COLUMNS = [
    "contact_id", "name", "phone", "email", "status", "block_reason", "attempts",
    "last_disposition", "delivery_state", "replied_at", "conversation_id",
]  # fmt: skip


def export_rows(session: Session, campaign: Campaign) -> Iterator[str]:
    """The campaign's contacts as CSV, a chunk at a time."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(EXPORT_COLUMNS)
    after = 0
    while True:
        rows = session.execute(
            select(CampaignContact, Message.delivery_state)
            .outerjoin(Message, Message.id == CampaignContact.message_id)
            .where(CampaignContact.campaign_id == campaign.id, CampaignContact.id > after)
            .order_by(CampaignContact.id)
            .limit(1000)
        ).all()
        if not rows:
            break
        for contact, state in rows:
            writer.writerow(
                [
                    contact.id,
                    contact.name,
                    contact.phone or "",
                    contact.email or "",
                    contact.status.value,
                    contact.block_reason or "",
                    contact.attempts,
                    contact.last_disposition or "",
                    state.value if state else "",
                    contact.replied_at.isoformat() if contact.replied_at else "",
                    contact.conversation_id or "",
                ]
            )
            after = contact.id
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    tail = buffer.getvalue()
    if tail:
        yield tail


def do_not_call(
    session: Session, *, query: str = "", limit: int = 100, after_id: int | None = None
) -> list[DoNotCall]:
    stmt = select(DoNotCall).order_by(DoNotCall.id.desc())
    if query.strip():
        stmt = stmt.where(DoNotCall.value.contains(query.strip()))
    if after_id is not None:
        stmt = stmt.where(DoNotCall.id < after_id)
    return list(session.scalars(stmt.limit(limit)))


def do_not_call_counts(session: Session) -> dict[str, int]:
    return {
        str(k): int(v)
        for k, v in session.execute(
            select(DoNotCall.source, func.count()).group_by(DoNotCall.source)
        )
    }


def consents(
    session: Session, *, customer_id: int | None = None, limit: int = 100
) -> list[Consent]:
    stmt = select(Consent).order_by(Consent.id.desc())
    if customer_id is not None:
        stmt = stmt.where(Consent.customer_id == customer_id)
    return list(session.scalars(stmt.limit(limit)))


def agent_in_call(session: Session, agent_id: int) -> bool:
    return (
        session.scalar(
            select(CampaignAttempt.id)
            .where(CampaignAttempt.agent_id == agent_id, CampaignAttempt.ended_at.is_(None))
            .limit(1)
        )
        is not None
    )


def counts_by_campaign(session: Session, ids: list[int]) -> dict[int, dict[str, int]]:
    out: dict[int, dict[str, int]] = {i: {} for i in ids}
    for cid, done, total, blocked in session.execute(
        select(
            CampaignContact.campaign_id,
            func.sum(
                case(
                    (
                        CampaignContact.status.in_([ContactStatus.DONE, ContactStatus.FAILED]),
                        1,
                    ),
                    else_=0,
                )
            ),
            func.count(),
            func.sum(case((CampaignContact.status == ContactStatus.BLOCKED, 1), else_=0)),
        )
        .where(CampaignContact.campaign_id.in_(ids))
        .group_by(CampaignContact.campaign_id)
    ):
        out[cid] = {"done": int(done or 0), "total": int(total), "blocked": int(blocked or 0)}
    return out
