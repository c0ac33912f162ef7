"""Writes on conversations. ``do_receive_message`` is the one door every inbound message takes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from sportello.accounts.models import User
from sportello.channels.base import InboundAttachment, InboundMessage
from sportello.channels.models import Channel
from sportello.config import get_settings
from sportello.conversations.models import (
    ACTIVE_STATUSES,
    TRANSITIONS,
    Attachment,
    Conversation,
    Counter,
    DeliveryState,
    Direction,
    Message,
    Priority,
    Status,
    Tag,
)
from sportello.conversations.storage import safe_filename, store_bytes
from sportello.core.db import utcnow
from sportello.core.errors import InvalidInput, InvalidTransition
from sportello.core.events import (
    ConversationAssigned,
    ConversationCreated,
    ConversationUpdated,
    MessageDeliveryUpdated,
    MessageEvent,
    emit,
)
from sportello.core.html import preview, sanitize_html
from sportello.customers import actions as customers_actions
from sportello.customers.models import Customer
from sportello.routing.models import Queue

MAX_TEXT = 200_000
MAX_TAGS = 20
FIRST_NUMBER = 1001


@dataclass(frozen=True)
class ReceiveResult:
    message: Message
    conversation: Conversation
    customer: Customer
    duplicate: bool
    new_conversation: bool


def next_number(session: Session, name: str = "conversation") -> int:
    value = session.execute(
        update(Counter)
        .where(Counter.name == name)
        .values(value=Counter.value + 1)
        .returning(Counter.value)
    ).scalar()
    if value is None:
        session.execute(insert(Counter).values(name=name, value=FIRST_NUMBER))
        return FIRST_NUMBER
    return int(value)


def _ref(conversation: Conversation) -> dict[str, Any]:
    return {
        "conversation_id": conversation.id,
        "number": conversation.number,
        "queue_id": conversation.queue_id,
        "assignee_id": conversation.assignee_id,
        "status": conversation.status.value,
        "priority": conversation.priority.value,
    }


def _message_event(conversation: Conversation, message: Message) -> MessageEvent:
    return MessageEvent(
        message_id=message.id,
        conversation_id=conversation.id,
        queue_id=conversation.queue_id,
        assignee_id=conversation.assignee_id,
        direction=message.direction.value,
        channel_id=message.channel_id,
    )


def _store_attachments(
    session: Session, message: Message, attachments: Sequence[InboundAttachment]
) -> None:
    settings = get_settings()
    for item in attachments:
        digest, size = store_bytes(
            settings.attachments_dir, item.data, max_bytes=settings.max_upload_bytes
        )
        session.add(
            Attachment(
                message_id=message.id,
                sha256=digest,
                filename=safe_filename(item.filename),
                content_type=(item.content_type or "application/octet-stream")[:200],
                size=size,
                content_id=item.content_id,
                inline=item.inline,
            )
        )


def _find_thread(
    session: Session, *, channel: Channel, customer: Customer, inbound: InboundMessage
) -> Conversation | None:
    if inbound.in_reply_to:
        conversation = session.scalar(
            select(Conversation)
            .join(Message, Message.conversation_id == Conversation.id)
            .where(
                Message.channel_id == channel.id,
                Message.provider_message_id.in_(inbound.in_reply_to[:50]),
            )
            .order_by(Message.id.desc())
            .limit(1)
        )
        if conversation is not None:
            return conversation
    if inbound.conversation_number is not None:
        # A number typed in a subject is guessable: follow it only for the same customer.
        conversation = session.scalar(
            select(Conversation).where(
                Conversation.number == inbound.conversation_number,
                Conversation.brand_id == channel.brand_id,
                Conversation.customer_id == customer.id,
            )
        )
        if conversation is not None:
            return conversation
    return session.scalar(
        select(Conversation)
        .where(
            Conversation.customer_id == customer.id,
            Conversation.channel_id == channel.id,
            Conversation.status.in_(ACTIVE_STATUSES),
        )
        .order_by(Conversation.last_message_at.desc())
        .limit(1)
    )


def check_inbound(inbound: InboundMessage) -> None:
    if not inbound.text.strip() and not inbound.html and not inbound.attachments:
        raise InvalidInput("a message needs text or an attachment", field="text")
    if len(inbound.text) > MAX_TEXT:
        raise InvalidInput(f"text longer than {MAX_TEXT} characters", field="text")
    if inbound.provider_message_id is not None and len(inbound.provider_message_id) > 300:
        raise InvalidInput("provider message id too long", field="id")


def do_receive_message(
    session: Session, *, channel: Channel, inbound: InboundMessage
) -> ReceiveResult:
    """Find or create the customer, dedupe, thread, store, emit.

    A replayed delivery (same channel and provider message id) returns the stored message.
    """
    check_inbound(inbound)
    if inbound.provider_message_id:
        existing = session.scalar(
            select(Message).where(
                Message.channel_id == channel.id,
                Message.provider_message_id == inbound.provider_message_id,
            )
        )
        if existing is not None:
            conversation = session.get_one(Conversation, existing.conversation_id)
            return ReceiveResult(existing, conversation, conversation.customer, True, False)

    customer, _ = customers_actions.do_find_or_create_by_identity(
        session,
        kind=inbound.identity.kind,
        value=inbound.identity.value,
        name=inbound.sender_name,
        extra=[(i.kind, i.value) for i in inbound.extra_identities],
    )
    now = inbound.received_at or utcnow()
    conversation = _find_thread(session, channel=channel, customer=customer, inbound=inbound)
    new_conversation = conversation is None or conversation.status == Status.CLOSED
    if new_conversation:
        conversation = Conversation(
            number=next_number(session),
            brand_id=channel.brand_id,
            channel_id=channel.id,
            customer_id=customer.id,
            queue_id=channel.queue_id,
            status=Status.NEW,
            priority=Priority.NORMAL,
            subject=(inbound.subject or preview(inbound.text, 80)).strip()[:300],
            created_at=now,
            updated_at=now,
            last_message_at=now,
        )
        session.add(conversation)
        session.flush()
    else:
        assert conversation is not None
        if conversation.status in (Status.PENDING, Status.RESOLVED):
            _set_status(session, conversation, Status.OPEN, by=None, reason="customer_reply")

    message = Message(
        conversation_id=conversation.id,
        channel_id=channel.id,
        direction=Direction.INBOUND,
        sender_name=(inbound.sender_name or customer.display_name)[:200],
        text=inbound.text,
        html=sanitize_html(inbound.html) if inbound.html else None,
        provider_message_id=inbound.provider_message_id,
        client_id=inbound.client_id,
        delivery_state=DeliveryState.RECEIVED,
        meta={**inbound.meta, **({"automated": True} if inbound.automated else {})},
        created_at=now,
        updated_at=now,
    )
    session.add(message)
    session.flush()
    _store_attachments(session, message, inbound.attachments)
    conversation.last_message_at = max(conversation.last_message_at, now)
    conversation.last_inbound_at = now
    conversation.updated_at = utcnow()
    conversation.message_count += 1
    conversation.preview = preview(
        inbound.text or (inbound.attachments[0].filename if inbound.attachments else "")
    )

    if new_conversation:
        emit(
            session,
            "conversation.created",
            ConversationCreated(
                **_ref(conversation), customer_id=customer.id, channel_id=channel.id
            ),
        )
    emit(session, "message.received", _message_event(conversation, message))
    return ReceiveResult(message, conversation, customer, False, new_conversation)


def _system_message(
    session: Session, conversation: Conversation, text: str, meta: dict[str, Any]
) -> Message:
    message = Message(
        conversation_id=conversation.id,
        channel_id=None,
        direction=Direction.SYSTEM,
        text=text,
        delivery_state=None,
        meta=meta,
    )
    session.add(message)
    return message


def check_reply(conversation: Conversation, text: str, attachments: Sequence[Any]) -> None:
    if conversation.status == Status.CLOSED:
        raise InvalidTransition("this conversation is closed; replies are no longer possible")
    if not text.strip() and not attachments:
        raise InvalidInput("write a reply first", field="text")
    if len(text) > MAX_TEXT:
        raise InvalidInput(f"text longer than {MAX_TEXT} characters", field="text")
    if conversation.channel_id is None:
        raise InvalidInput("this conversation has no channel to reply on", field="channel")


def do_send_reply(
    session: Session,
    *,
    conversation: Conversation,
    author: User | None,
    text: str,
    html: str | None = None,
    attachments: Sequence[InboundAttachment] = (),
    client_id: str | None = None,
) -> Message:
    """Record an outbound reply; the dispatcher delivers it through the channel's adapter."""
    check_reply(conversation, text, attachments)
    now = utcnow()
    message = Message(
        conversation_id=conversation.id,
        channel_id=conversation.channel_id,
        direction=Direction.OUTBOUND,
        author_id=author.id if author else None,
        sender_name=author.name if author else "",
        text=text,
        html=sanitize_html(html) if html else None,
        client_id=client_id,
        delivery_state=DeliveryState.QUEUED,
        created_at=now,
        updated_at=now,
    )
    session.add(message)
    session.flush()
    _store_attachments(session, message, attachments)
    if conversation.first_response_at is None:
        conversation.first_response_at = now
    if conversation.status == Status.NEW:
        conversation.status = Status.OPEN
    if conversation.assignee_id is None and author is not None:
        conversation.assignee_id = author.id
    conversation.last_message_at = now
    conversation.updated_at = now
    conversation.message_count += 1
    conversation.preview = preview(text)
    event = _message_event(conversation, message)
    emit(session, "message.created", event)
    emit(session, "message.outbound_queued", event)
    return message


def do_add_note(
    session: Session, *, conversation: Conversation, author: User, text: str
) -> Message:
    if not text.strip():
        raise InvalidInput("a note needs text", field="text")
    if len(text) > MAX_TEXT:
        raise InvalidInput(f"text longer than {MAX_TEXT} characters", field="text")
    message = Message(
        conversation_id=conversation.id,
        direction=Direction.NOTE,
        author_id=author.id,
        sender_name=author.name,
        text=text,
        delivery_state=None,
    )
    session.add(message)
    session.flush()
    conversation.updated_at = utcnow()
    emit(session, "message.created", _message_event(conversation, message))
    return message


def check_status_change(conversation: Conversation, status: Status) -> None:
    if status == conversation.status:
        return
    if status not in TRANSITIONS[conversation.status]:
        raise InvalidTransition(
            f"a {conversation.status.value} conversation cannot become {status.value}",
            current=conversation.status.value,
            requested=status.value,
        )


def _set_status(
    session: Session, conversation: Conversation, status: Status, *, by: User | None, reason: str
) -> None:
    previous = conversation.status
    now = utcnow()
    conversation.status = status
    conversation.updated_at = now
    if status == Status.RESOLVED:
        conversation.resolved_at = now
    elif status == Status.CLOSED:
        conversation.closed_at = now
    elif status == Status.OPEN:
        conversation.resolved_at = None
    _system_message(
        session,
        conversation,
        f"Status: {previous.value} → {status.value}",
        {
            "event": "status",
            "from": previous.value,
            "to": status.value,
            "by": by.name if by else None,
            "reason": reason,
        },
    )
    emit(
        session,
        "conversation.updated",
        ConversationUpdated(
            **_ref(conversation),
            changes={"status": [previous.value, status.value]},
            by_user_id=by.id if by else None,
        ),
    )


def do_change_status(
    session: Session, *, conversation: Conversation, status: Status, by: User | None
) -> Conversation:
    check_status_change(conversation, status)
    if status != conversation.status:
        _set_status(session, conversation, status, by=by, reason="manual")
    return conversation


def check_assign(conversation: Conversation, assignee: User | None) -> None:
    if conversation.status == Status.CLOSED:
        raise InvalidTransition("a closed conversation cannot be reassigned")
    if assignee is not None and not assignee.is_active:
        raise InvalidInput("that user is not active", field="assignee_id")


def do_assign(
    session: Session, *, conversation: Conversation, assignee: User | None, by: User | None
) -> Conversation:
    check_assign(conversation, assignee)
    previous = conversation.assignee_id
    new = assignee.id if assignee else None
    if previous == new:
        return conversation
    conversation.assignee_id = new
    conversation.assignee = assignee
    conversation.updated_at = utcnow()
    if conversation.status == Status.NEW and assignee is not None:
        conversation.status = Status.OPEN
    _system_message(
        session,
        conversation,
        f"Assigned to {assignee.name}" if assignee else "Unassigned",
        {
            "event": "assign",
            "to": assignee.name if assignee else None,
            "by": by.name if by else None,
        },
    )
    emit(
        session,
        "conversation.assigned",
        ConversationAssigned(
            **_ref(conversation), previous_assignee_id=previous, by_user_id=by.id if by else None
        ),
    )
    return conversation


def _normalize_tags(names: Sequence[str]) -> list[str]:
    seen: dict[str, None] = {}
    for raw in names:
        name = " ".join(raw.strip().lower().split())[:60]
        if name:
            seen.setdefault(name, None)
    if len(seen) > MAX_TAGS:
        raise InvalidInput(f"at most {MAX_TAGS} tags", field="tags")
    return list(seen)


def do_update_conversation(
    session: Session,
    *,
    conversation: Conversation,
    by: User | None,
    priority: Priority | None = None,
    queue: Queue | bool | None = False,
    subject: str | None = None,
    tags: Sequence[str] | None = None,
) -> Conversation:
    """Change priority, queue (``None`` removes it; ``False`` leaves it), subject or tags."""
    changes: dict[str, Any] = {}
    if priority is not None and priority != conversation.priority:
        changes["priority"] = [conversation.priority.value, priority.value]
        conversation.priority = priority
    if queue is not False:
        new_queue_id = queue.id if isinstance(queue, Queue) else None
        if new_queue_id != conversation.queue_id:
            changes["queue_id"] = [conversation.queue_id, new_queue_id]
            conversation.queue_id = new_queue_id
            conversation.queue = queue if isinstance(queue, Queue) else None
    if subject is not None:
        subject = subject.strip()[:300]
        if subject != conversation.subject:
            changes["subject"] = [conversation.subject, subject]
            conversation.subject = subject
    if tags is not None:
        names = _normalize_tags(tags)
        existing = {t.name: t for t in session.scalars(select(Tag).where(Tag.name.in_(names)))}
        new_tags = [existing.get(n) or Tag(name=n) for n in names]
        before = [t.name for t in conversation.tags]
        if sorted(before) != sorted(names):
            changes["tags"] = [before, names]
            conversation.tags = new_tags
    if changes:
        conversation.updated_at = utcnow()
        session.flush()
        emit(
            session,
            "conversation.updated",
            ConversationUpdated(
                **_ref(conversation), changes=changes, by_user_id=by.id if by else None
            ),
        )
    return conversation


_DELIVERY_ORDER = {
    DeliveryState.QUEUED: 0,
    DeliveryState.SENT: 1,
    DeliveryState.DELIVERED: 2,
    DeliveryState.READ: 3,
}


def do_mark_delivery(
    session: Session,
    *,
    message: Message,
    state: DeliveryState,
    provider_message_id: str | None = None,
    error: str | None = None,
    at: datetime | None = None,
) -> bool:
    """Move a message's delivery state forward (never backward); returns whether it changed."""
    current = message.delivery_state
    if current is None or current == DeliveryState.RECEIVED:
        return False
    if state == DeliveryState.FAILED:
        if current in (DeliveryState.DELIVERED, DeliveryState.READ, DeliveryState.FAILED):
            return False
    elif current == DeliveryState.FAILED and state != DeliveryState.SENT:
        pass  # a late "delivered" after a failure report: trust the later, positive news
    elif _DELIVERY_ORDER.get(state, 0) <= _DELIVERY_ORDER.get(current, -1):
        return False
    message.delivery_state = state
    message.error = error[:2000] if error else None
    if provider_message_id and not message.provider_message_id:
        message.provider_message_id = provider_message_id
    message.updated_at = at or utcnow()
    conversation = session.get_one(Conversation, message.conversation_id)
    emit(
        session,
        "message.delivery_updated",
        MessageDeliveryUpdated(
            message_id=message.id,
            conversation_id=conversation.id,
            queue_id=conversation.queue_id,
            assignee_id=conversation.assignee_id,
            delivery_state=state.value,
            error=message.error,
        ),
    )
    return True
