"""Reads for the email channel's admin pages: mailboxes, their fetching state, the quarantine."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sportello.channels.email.models import EmailRaw, MailboxState, RawStatus
from sportello.channels.models import Channel
from sportello.core.errors import NotFound


def get_mailbox(session: Session, channel_id: int) -> Channel:
    channel = session.get(Channel, channel_id)
    if channel is None or channel.kind != "email":
        raise NotFound("mailbox not found")
    return channel


def get_all_mailboxes(session: Session) -> list[Channel]:
    return list(
        session.scalars(select(Channel).where(Channel.kind == "email").order_by(Channel.name))
    )


def get_state(session: Session, channel_id: int) -> MailboxState | None:
    return session.get(MailboxState, channel_id)


def get_quarantined(session: Session, *, limit: int = 200) -> list[tuple[EmailRaw, str]]:
    rows = session.execute(
        select(EmailRaw, Channel.name)
        .join(Channel, Channel.id == EmailRaw.channel_id)
        .where(EmailRaw.status == RawStatus.QUARANTINED)
        .order_by(EmailRaw.id.desc())
        .limit(limit)
    ).all()
    return [(row[0], str(row[1])) for row in rows]


def count_by_status(session: Session, channel_id: int) -> dict[str, int]:
    rows = session.execute(
        select(EmailRaw.status, func.count(EmailRaw.id))
        .where(EmailRaw.channel_id == channel_id)
        .group_by(EmailRaw.status)
    ).all()
    return {RawStatus(status).value: int(count) for status, count in rows}


def get_raw(session: Session, raw_id: int) -> EmailRaw:
    raw = session.get(EmailRaw, raw_id)
    if raw is None:
        raise NotFound("message not found")
    return raw
