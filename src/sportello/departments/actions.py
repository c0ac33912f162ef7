"""Writes for departments, side conversations and hand-offs.

A side mail and a hand-off mail are sent by durable jobs (``handlers``), enqueued in the same
transaction as the row; a colleague's answer arrives through the email channel's side door and
lands in the conversation's timeline as an internal message.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from email.utils import parseaddr
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from sportello.accounts.models import User
from sportello.audit import actions as audit
from sportello.channels.base import InboundAttachment
from sportello.channels.models import Channel
from sportello.conversations import actions as conversations_actions
from sportello.conversations.models import Attachment, Conversation, Direction, Message
from sportello.core import jobs
from sportello.core.db import utcnow
from sportello.core.errors import InvalidInput, InvalidTransition
from sportello.core.events import emit
from sportello.departments.events import HandoffChanged
from sportello.departments.models import (
    Department,
    Handoff,
    HandoffKind,
    HandoffStatus,
    SideConversation,
    SideDirection,
    SideMessage,
    SideStatus,
)

SEND_SIDE_JOB = "departments.send_side"
SEND_HANDOFF_JOB = "departments.send_handoff"
MAX_TEXT = 20_000
MAX_SUMMARY = 5_000
MAX_NOTE = 2_000
MAX_EMAILS = 10
MAX_QUOTES = 20
CONTEXT_MESSAGES = 5
_EMAIL = re.compile(r"^[^@\s<>,;\"]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,63}$")


def _clean(value: str, *, field: str, limit: int, required: bool = True) -> str:
    if "\x00" in value:
        raise InvalidInput("remove the invalid characters from the text", field=field)
    value = value.strip()
    if required and not value:
        raise InvalidInput("this field is required", field=field)
    if len(value) > limit:
        raise InvalidInput("this text is too long", field=field, limit=limit)
    return value


def parse_emails(raw: str | Sequence[str], *, field: str = "emails") -> list[str]:
    """One or more addresses (comma, semicolon or newline separated), checked and de-duplicated."""
    items = re.split(r"[,;\s]+", raw) if isinstance(raw, str) else list(raw)
    found: list[str] = []
    for item in items:
        item = (item or "").strip()
        if not item:
            continue
        if "\x00" in item:
            raise InvalidInput("remove the invalid characters from the text", field=field)
        address = parseaddr(item)[1] or item
        if not _EMAIL.match(address):
            raise InvalidInput("this is not a valid email address", field=field, value=item[:80])
        if address.lower() not in (f.lower() for f in found):
            found.append(address)
    if not found:
        raise InvalidInput("give at least one email address", field=field)
    if len(found) > MAX_EMAILS:
        raise InvalidInput("at most ten addresses", field=field)
    return found


# --------------------------------------------------------------------------- departments


def do_save_department(
    session: Session,
    *,
    brand_id: int,
    department: Department | None,
    name: str,
    emails: str | Sequence[str],
    description: str = "",
    is_active: bool = True,
) -> Department:
    """Create or change a department (admins); audited."""
    name = _clean(name, field="name", limit=100)
    addresses = parse_emails(emails)
    description = _clean(description, field="description", limit=1000, required=False)
    clash = session.scalar(
        select(Department.id).where(
            Department.brand_id == brand_id,
            Department.name == name,
            Department.id != (department.id if department else -1),
        )
    )
    if clash is not None:
        raise InvalidInput("a department with this name exists already", field="name")
    after = {
        "name": name,
        "emails": addresses,
        "description": description,
        "is_active": is_active,
    }
    if department is None:
        department = Department(brand_id=brand_id, **after)
        session.add(department)
        session.flush()
        audit.record(session, "department.created", target=department, **after)
        return department
    before = {k: getattr(department, k) for k in after}
    for key, value in after.items():
        setattr(department, key, value)
    department.updated_at = utcnow()
    changes = audit.diff(before, after)
    if changes:
        audit.record(session, "department.updated", target=department, changes=changes)
    return department


# --------------------------------------------------------------------------- side conversations


def mailbox_for(session: Session, conversation: Conversation) -> Channel | None:
    """The mailbox that sends a side mail: the conversation's own if it is one, else the
    brand's first mailbox with an outgoing server (an active one first: a mailbox switched
    off stops fetching mail, its SMTP server still sends)."""
    channel = conversation.channel
    if channel is not None and channel.kind == "email" and channel.settings.get("smtp_host"):
        return channel
    for candidate in session.scalars(
        select(Channel)
        .where(Channel.brand_id == conversation.brand_id, Channel.kind == "email")
        .order_by(Channel.is_active.desc(), Channel.id)
    ):
        if candidate.settings.get("smtp_host"):
            return candidate
    return None


def _quotes(
    session: Session,
    conversation: Conversation,
    message_ids: Sequence[int],
    attachment_ids: Sequence[int],
) -> dict[str, Any]:
    """What the agent picked from the customer's conversation, checked to belong to it."""
    if len(message_ids) > MAX_QUOTES or len(attachment_ids) > MAX_QUOTES:
        raise InvalidInput("choose at most twenty messages and twenty files", field="quote")
    messages: list[dict[str, Any]] = []
    if message_ids:
        rows = session.scalars(
            select(Message)
            .where(
                Message.id.in_(list(message_ids)),
                Message.conversation_id == conversation.id,
                Message.direction.in_([Direction.INBOUND, Direction.OUTBOUND]),
            )
            .order_by(Message.id)
        ).all()
        if len(rows) != len(set(message_ids)):
            raise InvalidInput("a quoted message is not in this conversation", field="quote")
        for m in rows:
            who = m.sender_name or (m.author.name if m.author else conversation.customer.name or "")
            messages.append(
                {"id": m.id, "who": who, "at": m.created_at.isoformat(), "text": m.text[:5000]}
            )
    files: list[dict[str, Any]] = []
    if attachment_ids:
        rows_a = session.scalars(
            select(Attachment)
            .join(Message, Message.id == Attachment.message_id)
            .where(
                Attachment.id.in_(list(attachment_ids)),
                Message.conversation_id == conversation.id,
            )
            .order_by(Attachment.id)
        ).all()
        if len(rows_a) != len(set(attachment_ids)):
            raise InvalidInput("a quoted file is not in this conversation", field="quote")
        files = [
            {"id": a.id, "filename": a.filename, "content_type": a.content_type, "sha256": a.sha256}
            for a in rows_a
        ]
    return {"messages": messages, "attachments": files}


def _timeline_note(
    session: Session, conversation: Conversation, *, sender: str, text: str, meta: dict[str, Any]
) -> Message:
    return conversations_actions.do_add_internal_message(
        session, conversation=conversation, sender_name=sender, text=text, meta=meta
    )


def _send_side(session: Session, side: SideConversation, message: SideMessage) -> None:
    jobs.enqueue(
        session,
        SEND_SIDE_JOB,
        {"side_message_id": message.id},
        unique_key=f"side-mail:{message.id}",
        max_attempts=6,
    )


def do_open_side_conversation(
    session: Session,
    *,
    conversation: Conversation,
    author: User,
    department: Department | None,
    to: str,
    subject: str,
    text: str,
    quote_message_ids: Sequence[int] = (),
    quote_attachment_ids: Sequence[int] = (),
) -> SideConversation:
    """Write to a department (its addresses) or to any colleague's address."""
    if department is not None and not department.is_active:
        raise InvalidInput("this department is switched off", field="department_id")
    addresses = (
        list(department.emails) if department is not None and not to.strip() else parse_emails(to)
    )
    subject = _clean(subject, field="subject", limit=200)
    text = _clean(text, field="text", limit=MAX_TEXT)
    mailbox = mailbox_for(session, conversation)
    if mailbox is None:
        raise InvalidInput(
            "no mailbox can send email: add one with an outgoing server (SMTP) under Channels",
            field="to",
        )
    quoted = _quotes(session, conversation, quote_message_ids, quote_attachment_ids)
    side = SideConversation(
        conversation_id=conversation.id,
        department_id=department.id if department else None,
        channel_id=mailbox.id,
        to_address=", ".join(addresses)[:1000],
        subject=subject,
        created_by_id=author.id,
    )
    session.add(side)
    session.flush()
    message = SideMessage(
        side_conversation_id=side.id,
        direction=SideDirection.OUT,
        author_id=author.id,
        sender=author.name[:320],
        text=text,
        quoted=quoted,
    )
    session.add(message)
    session.flush()
    _timeline_note(
        session,
        conversation,
        sender=author.name,
        text=text,
        meta={"side": {"id": side.id, "direction": "out", "to": side.to_address,
                       "department": department.name if department else None,
                       "subject": subject}},
    )  # fmt: skip
    _send_side(session, side, message)
    return side


def do_reply_side(
    session: Session,
    *,
    side: SideConversation,
    conversation: Conversation,
    author: User,
    text: str,
    quote_message_ids: Sequence[int] = (),
    quote_attachment_ids: Sequence[int] = (),
) -> SideMessage:
    if side.status == SideStatus.CLOSED:
        raise InvalidTransition("this side conversation is closed")
    text = _clean(text, field="text", limit=MAX_TEXT)
    quoted = _quotes(session, conversation, quote_message_ids, quote_attachment_ids)
    message = SideMessage(
        side_conversation_id=side.id,
        direction=SideDirection.OUT,
        author_id=author.id,
        sender=author.name[:320],
        text=text,
        quoted=quoted,
    )
    session.add(message)
    session.flush()
    side.updated_at = utcnow()
    _timeline_note(
        session,
        conversation,
        sender=author.name,
        text=text,
        meta={"side": {"id": side.id, "direction": "out", "to": side.to_address,
                       "subject": side.subject}},
    )  # fmt: skip
    _send_side(session, side, message)
    return message


def do_close_side(session: Session, *, side: SideConversation, author: User) -> SideConversation:
    if side.status == SideStatus.CLOSED:
        raise InvalidTransition("this side conversation is closed already")
    side.status = SideStatus.CLOSED
    side.closed_at = side.updated_at = utcnow()
    return side


def do_reopen_side(session: Session, *, side: SideConversation, author: User) -> SideConversation:
    if side.status == SideStatus.OPEN:
        raise InvalidTransition("this side conversation is open already")
    side.status = SideStatus.OPEN
    side.closed_at = None
    side.updated_at = utcnow()
    return side


@dataclass(frozen=True)
class SideReply:
    side_id: int
    sender: str
    sender_name: str
    text: str
    html: str | None
    provider_message_id: str
    attachments: Sequence[InboundAttachment] = ()
    automated: bool = False


def do_receive_side_reply(session: Session, *, reply: SideReply) -> SideMessage | None:
    """A colleague's answer: an internal message in the conversation's timeline. ``None`` for
    a copy of an answer already received (the same Message-ID)."""
    side = session.get(SideConversation, reply.side_id)
    if side is None:
        return None
    seen = session.scalar(
        select(SideMessage.id).where(
            SideMessage.side_conversation_id == side.id,
            SideMessage.provider_message_id == reply.provider_message_id,
        )
    )
    if seen is not None:
        return None
    conversation = session.get_one(Conversation, side.conversation_id)
    text = reply.text.replace("\x00", "")[: MAX_TEXT * 10]
    message = SideMessage(
        side_conversation_id=side.id,
        direction=SideDirection.IN,
        sender=reply.sender[:320],
        text=text,
        provider_message_id=reply.provider_message_id[:300],
        sent_at=utcnow(),
    )
    session.add(message)
    session.flush()
    note = conversations_actions.do_add_internal_message(
        session,
        conversation=conversation,
        sender_name=reply.sender_name or reply.sender,
        text=text,
        html=reply.html if not text.strip() else None,
        attachments=reply.attachments,
        meta={"side": {"id": side.id, "direction": "in", "from": reply.sender[:320],
                       "subject": side.subject, "automated": reply.automated}},
    )  # fmt: skip
    message.conversation_message_id = note.id
    if side.status == SideStatus.CLOSED and not reply.automated:
        side.status = SideStatus.OPEN  # an answer after closing opens it again
        side.closed_at = None
    side.updated_at = utcnow()
    return message


def do_record_side_sent(
    session: Session, *, message: SideMessage, provider_message_id: str | None, error: str | None
) -> None:
    if provider_message_id is not None:
        message.provider_message_id = provider_message_id[:300]
        message.sent_at = utcnow()
        message.error = None
    if error is not None:
        message.error = error[:2000]


# --------------------------------------------------------------------------- hand-offs


def handoff_context(session: Session, conversation: Conversation) -> dict[str, Any]:
    """The customer's context sent with a hand-off: who, how to reach them, the last words."""
    customer = conversation.customer
    from sportello.customers.models import CustomerIdentity

    identities = session.scalars(
        select(CustomerIdentity).where(CustomerIdentity.customer_id == customer.id).limit(10)
    ).all()
    last = session.scalars(
        select(Message)
        .where(
            Message.conversation_id == conversation.id,
            Message.direction.in_([Direction.INBOUND, Direction.OUTBOUND]),
        )
        .order_by(Message.id.desc())
        .limit(CONTEXT_MESSAGES)
    ).all()
    return {
        "customer": {
            "id": customer.id,
            "name": customer.name or "",
            "contacts": [{"kind": i.kind, "value": i.value} for i in identities],
        },
        "conversation": {"number": conversation.number, "subject": conversation.subject},
        "messages": [
            {
                "who": m.sender_name
                or (m.author.name if m.author else "")
                or ("customer" if m.direction == Direction.INBOUND else "agent"),
                "direction": m.direction.value,
                "at": m.created_at.isoformat(),
                "text": m.text[:2000],
            }
            for m in reversed(last)
        ],
    }


def _handoff_event(
    handoff: Handoff,
    conversation: Conversation,
    department: Department,
    *,
    previous: HandoffStatus | None,
    by: str,
) -> HandoffChanged:
    return HandoffChanged(
        handoff_id=handoff.id,
        conversation_id=conversation.id,
        number=conversation.number,
        queue_id=conversation.queue_id,
        assignee_id=conversation.assignee_id,
        department_id=department.id,
        department=department.name,
        kind=handoff.kind.value,
        status=handoff.status.value,
        previous_status=previous.value if previous else None,
        note=handoff.outcome_note,
        by=by,
    )


def parse_kind(value: str) -> HandoffKind:
    try:
        return HandoffKind(value)
    except ValueError:
        raise InvalidInput("choose from the list", field="kind") from None


def parse_status(value: str) -> HandoffStatus:
    try:
        return HandoffStatus(value)
    except ValueError:
        raise InvalidInput("choose from the list", field="status") from None


def do_create_handoff(
    session: Session,
    *,
    conversation: Conversation,
    author: User,
    department: Department,
    kind: HandoffKind,
    summary: str,
) -> Handoff:
    """Pass a sales opportunity or a technical problem to a department, by email."""
    if not department.is_active:
        raise InvalidInput("this department is switched off", field="department_id")
    summary = _clean(summary, field="summary", limit=MAX_SUMMARY)
    if mailbox_for(session, conversation) is None:
        raise InvalidInput(
            "no mailbox can send email: add one with an outgoing server (SMTP) under Channels",
            field="department_id",
        )
    handoff = Handoff(
        brand_id=conversation.brand_id,
        conversation_id=conversation.id,
        department_id=department.id,
        kind=kind,
        summary=summary,
        context=handoff_context(session, conversation),
        created_by_id=author.id,
    )
    session.add(handoff)
    session.flush()
    _timeline_note(
        session,
        conversation,
        sender=author.name,
        text=summary,
        meta={"handoff": {"id": handoff.id, "department": department.name,
                          "kind": kind.value, "status": handoff.status.value}},
    )  # fmt: skip
    jobs.enqueue(
        session,
        SEND_HANDOFF_JOB,
        {"handoff_id": handoff.id},
        unique_key=f"handoff-mail:{handoff.id}",
        max_attempts=6,
    )
    emit(session, "handoff.changed", _handoff_event(handoff, conversation, department,
                                                    previous=None, by=author.name))  # fmt: skip
    return handoff


def do_set_handoff_outcome(
    session: Session,
    *,
    handoff: Handoff,
    status: HandoffStatus,
    note: str,
    by: str,
) -> Handoff:
    """The department's verdict (through the signed link) or an agent's: a note in the
    conversation's timeline and a ``handoff.changed`` event."""
    note = _clean(note, field="note", limit=MAX_NOTE, required=False)
    by = _clean(by, field="by", limit=320, required=False) or "?"
    if status == HandoffStatus.OPEN:
        raise InvalidInput("choose an outcome", field="status")
    if status == handoff.status and note == handoff.outcome_note:
        raise InvalidTransition("nothing changed")
    previous = handoff.status
    handoff.status = status
    handoff.outcome_note = note
    handoff.outcome_by = by
    handoff.updated_at = utcnow()
    conversation = session.get_one(Conversation, handoff.conversation_id)
    department = session.get_one(Department, handoff.department_id)
    _timeline_note(
        session,
        conversation,
        sender=by,
        text=note or "—",
        meta={"handoff": {"id": handoff.id, "department": department.name,
                          "kind": handoff.kind.value, "status": status.value,
                          "previous": previous.value}},
    )  # fmt: skip
    emit(session, "handoff.changed", _handoff_event(handoff, conversation, department,
                                                    previous=previous, by=by))  # fmt: skip
    return handoff


def do_record_handoff_sent(session: Session, *, handoff: Handoff, error: str | None) -> None:
    if error is None:
        handoff.sent_at = utcnow()
        handoff.send_error = None
    else:
        handoff.send_error = error[:2000]
