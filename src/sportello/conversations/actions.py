"""Writes on conversations. ``do_receive_message`` is the one door every inbound message takes."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Connection, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from sportello.accounts.models import User
from sportello.config import get_settings
from sportello.conversations import statements
from sportello.conversations.inbound import InboundAttachment, InboundMessage
from sportello.conversations.models import (
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
from sportello.core.db import SESSION_HISTORY, session_now, utcnow
from sportello.core.errors import InvalidInput, InvalidTransition, NotFound
from sportello.core.events import (
    ConversationAssigned,
    ConversationCreated,
    ConversationUpdated,
    MessageDeliveryUpdated,
    MessageEvent,
    emit,
    emit_many,
)
from sportello.core.html import preview, sanitize_html
from sportello.customers import actions as customers_actions
from sportello.customers.models import Customer
from sportello.routing.models import Queue

MAX_TEXT = 200_000
MAX_TAGS = 20
FIRST_NUMBER = 1001


class ReceiveResult:
    """What the one door did. The rows load on first access (and are then kept), so the hot
    path builds no ORM objects nobody reads. Read them while the transaction is open: after it,
    use the ids."""

    __slots__ = (
        "_conversation",
        "_customer",
        "_message",
        "_session",
        "conversation_id",
        "conversation_number",
        "customer_id",
        "duplicate",
        "message_id",
        "new_conversation",
    )

    def __init__(
        self,
        session: Session,
        *,
        message_id: int,
        conversation_id: int,
        conversation_number: int,
        customer_id: int,
        duplicate: bool,
        new_conversation: bool,
    ) -> None:
        self._session = session
        self.message_id = message_id
        self.conversation_id = conversation_id
        self.conversation_number = conversation_number
        self.customer_id = customer_id
        self.duplicate = duplicate
        self.new_conversation = new_conversation
        self._message: Message | None = None
        self._conversation: Conversation | None = None
        self._customer: Customer | None = None

    @property
    def message(self) -> Message:
        if self._message is None:
            self._message = self._session.get_one(Message, self.message_id)
        return self._message

    @property
    def conversation(self) -> Conversation:
        if self._conversation is None:
            self._conversation = self._session.get_one(Conversation, self.conversation_id)
        return self._conversation

    @property
    def customer(self) -> Customer:
        if self._customer is None:
            self._customer = self._session.get_one(Customer, self.customer_id)
        return self._customer

    def load(self) -> ReceiveResult:
        """Load the three rows now (before the transaction ends)."""
        _ = self.message, self.conversation, self.customer
        return self


def next_number(session: Session, name: str = "conversation") -> int:
    """The next human-friendly number; the UPDATE's row lock serialises concurrent callers."""
    value = session.connection().execute(statements.NEXT_NUMBER, {"counter": name}).scalar()
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


def store_attachments(
    session: Session, message_id: int, attachments: Sequence[InboundAttachment]
) -> list[Attachment]:
    """Store files for a message (a received one, or one whose files arrived later)."""
    return _store_attachments(session, message_id, attachments)


def _store_attachments(
    session: Session, message_id: int, attachments: Sequence[InboundAttachment]
) -> list[Attachment]:
    settings = get_settings()
    stored: list[Attachment] = []
    for item in attachments:
        digest, size = store_bytes(
            settings.attachments_dir, item.data, max_bytes=settings.max_upload_bytes
        )
        stored.append(
            Attachment(
                message_id=message_id,
                sha256=digest,
                filename=safe_filename(item.filename),
                content_type=(item.content_type or "application/octet-stream")[:200],
                size=size,
                content_id=item.content_id,
                inline=item.inline,
            )
        )
    session.add_all(stored)
    return stored


def _find_thread(
    conn: Connection, *, channel: ChannelRef, customer_id: int, inbound: InboundMessage
) -> Any:  # a Row of Door's thread columns, or None
    if inbound.in_reply_to:
        row = conn.execute(
            statements.Door.by_reference,
            {
                "channel_id": channel.id,
                "refs": inbound.in_reply_to[:50],
                "customer_id": customer_id,
            },
        ).first()
        if row is not None:
            return row
    if inbound.conversation_number is not None:
        # A number typed in a subject is guessable: follow it only for the same customer.
        row = statements.Door.by_number.first(
            conn,
            number=inbound.conversation_number,
            brand_id=channel.brand_id,
            customer_id=customer_id,
        )
        if row is not None:
            return row
    row = statements.Door.open_thread.first(conn, customer_id=customer_id, channel_id=channel.id)
    # Mail as Zendesk and Zammad thread it: with no reply headers, a message about another
    # subject is a new case even while the customer has one open (a chat goes on as is).
    if (
        row is not None
        and inbound.subject
        and not inbound.in_reply_to
        and _subject_key(inbound.subject) != _subject_key(row.subject)
    ):
        return None
    return row


_SUBJECT_PREFIX = re.compile(
    r"^\s*(?:(?:re|r|rif|fw|fwd|i|inoltra|inoltrato|tr|aw|wg|sv|vs|antw)\s*(?:\[\d+\])?\s*:|"
    r"\[#?\d+\])\s*",
    re.IGNORECASE,
)


def _subject_key(subject: str) -> str:
    """A subject without reply/forward prefixes, tags, case and spacing ("R: Re: [#12] Ordine")."""
    key = subject.strip()
    while True:
        shorter = _SUBJECT_PREFIX.sub("", key, count=1)
        if shorter == key:
            break
        key = shorter
    return " ".join(key.casefold().split())


def check_inbound(inbound: InboundMessage) -> None:
    if (
        not inbound.text.strip()
        and not inbound.html
        and not inbound.attachments
        and not inbound.pending_media
    ):
        raise InvalidInput("a message needs text or an attachment", field="text")
    if len(inbound.text) > MAX_TEXT:
        raise InvalidInput(f"text longer than {MAX_TEXT} characters", field="text")
    if inbound.provider_message_id is not None and len(inbound.provider_message_id) > 300:
        raise InvalidInput("provider message id too long", field="id")


class ChannelRef(Protocol):
    """What the one door needs of a channel: a ``Channel`` row, or a cached snapshot of one
    (the chat sockets keep one, so a batch of messages loads no channel row)."""

    @property
    def id(self) -> int: ...
    @property
    def brand_id(self) -> int: ...
    @property
    def queue_id(self) -> int | None: ...


def do_receive_message(
    session: Session, *, channel: ChannelRef, inbound: InboundMessage
) -> ReceiveResult:
    """The one door: find or create the customer, drop replays, thread, store, emit.

    A replayed delivery (same channel and provider message id) returns the stored message, also
    when two copies of it arrive at the same instant: on SQLite the write lock (taken at BEGIN)
    keeps the second out until the first commits; elsewhere the loser of the race hits the unique
    index inside a savepoint, and a second pass finds the winner's committed rows.
    """
    if session.get_bind().dialect.name == "sqlite":
        return _receive(session, channel=channel, inbound=inbound)
    try:
        with session.begin_nested():
            return _receive(session, channel=channel, inbound=inbound)
    except IntegrityError:
        return _receive(session, channel=channel, inbound=inbound)


def _receive(session: Session, *, channel: ChannelRef, inbound: InboundMessage) -> ReceiveResult:
    """``do_receive_message`` inside its replay guard. This is the hottest write path of the
    product: it works with Core statements and columns, about eight statements for a message in
    an existing conversation."""
    check_inbound(inbound)
    now = inbound.received_at or utcnow()
    # Core statements skip autoflush: write what the caller has pending first, so rows keep
    # their causal order and no pending change is lost when a cached row is expired below.
    session.flush()
    conn = session.connection()
    if inbound.provider_message_id:
        existing = statements.Door.duplicate.first(
            conn, channel_id=channel.id, pid=inbound.provider_message_id
        )
        if existing is not None:
            return ReceiveResult(
                session,
                message_id=existing.id,
                conversation_id=existing.conversation_id,
                conversation_number=existing.number,
                customer_id=existing.customer_id,
                duplicate=True,
                new_conversation=False,
            )

    customer_id, customer_name = customers_actions.find_or_create_customer_id(
        session,
        kind=inbound.identity.kind,
        value=inbound.identity.value,
        name=inbound.sender_name,
        extra=[(i.kind, i.value) for i in inbound.extra_identities],
        at=now,
    )
    thread = _find_thread(conn, channel=channel, customer_id=customer_id, inbound=inbound)
    text_preview = preview(
        inbound.text
        or (inbound.attachments[0].filename if inbound.attachments else "")
        or (f"[{inbound.pending_media[0].label}]" if inbound.pending_media else "")
    )
    new_conversation = thread is None or thread.status == Status.CLOSED
    if new_conversation:
        number = next_number(session)
        queue_id, assignee_id = channel.queue_id, None
        status, priority = Status.NEW, Priority.NORMAL
        conversation_id = statements.Door.insert_conversation.scalar(
            conn,
            number=number,
            brand_id=channel.brand_id,
            channel_id=channel.id,
            customer_id=customer_id,
            queue_id=queue_id,
            status=status,
            priority=priority,
            subject=(inbound.subject or preview(inbound.text, 80)).strip()[:300],
            created_at=now,
            updated_at=now,
            last_message_at=now,
            last_inbound_at=now,
            message_count=1,
            preview=text_preview,
        )
    else:
        assert thread is not None
        conversation_id, number = thread.id, thread.number
        queue_id, assignee_id, priority = thread.queue_id, thread.assignee_id, thread.priority
        status = thread.status
        if status in (Status.PENDING, Status.RESOLVED):
            conversation = session.get_one(Conversation, conversation_id)
            _set_status(session, conversation, Status.OPEN, by=None, reason="customer_reply")
            status = Status.OPEN
            session.flush()
        statements.Door.touch_conversation.execute(
            conn,
            conversation_id=conversation_id,
            last_message_at=max(thread.last_message_at, now),
            last_inbound_at=now,
            updated_at=max(thread.last_message_at, now),
            preview=text_preview,
        )
        # Rows of this conversation already in the session no longer match the database.
        cached = session.identity_map.get(identity_key(Conversation, conversation_id))
        if cached is not None:
            session.expire(cached)

    message_id = statements.Door.insert_message.scalar(
        conn,
        conversation_id=conversation_id,
        channel_id=channel.id,
        direction=Direction.INBOUND,
        author_id=None,
        sender_name=(inbound.sender_name or customer_name)[:200],
        text=inbound.text,
        html=sanitize_html(inbound.html) if inbound.html else None,
        provider_message_id=inbound.provider_message_id,
        client_id=inbound.client_id,
        delivery_state=DeliveryState.RECEIVED,
        error=None,
        meta={
            **inbound.meta,
            **({"automated": True} if inbound.automated else {}),
            **({"media_pending": len(inbound.pending_media)} if inbound.pending_media else {}),
        },
        created_at=now,
        updated_at=now,
    )
    _store_attachments(session, message_id, inbound.attachments)

    ref = {
        "conversation_id": conversation_id,
        "number": number,
        "queue_id": queue_id,
        "assignee_id": assignee_id,
        "status": Status(status).value,
        "priority": Priority(priority).value,
    }
    if new_conversation:
        emit(
            session,
            "conversation.created",
            ConversationCreated(**ref, customer_id=customer_id, channel_id=channel.id),
        )
    emit(
        session,
        "message.received",
        MessageEvent(
            message_id=message_id,
            conversation_id=conversation_id,
            queue_id=queue_id,
            assignee_id=assignee_id,
            direction=Direction.INBOUND.value,
            channel_id=channel.id,
        ),
    )
    return ReceiveResult(
        session,
        message_id=message_id,
        conversation_id=conversation_id,
        conversation_number=number,
        customer_id=customer_id,
        duplicate=False,
        new_conversation=new_conversation,
    )


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


class Replyable(Protocol):
    status: Status
    channel_id: int | None


def check_reply(conversation: Replyable, text: str, attachments: Sequence[Any]) -> None:
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
    meta: dict[str, Any] | None = None,
) -> Message:
    """Record an outbound reply; the dispatcher delivers it through the channel's adapter.
    ``meta`` reaches the adapter too (a WhatsApp template: ``{"template": {...}}``). No
    ``author``: the bot's or a survey's message (no first response, no assignee).

    The one reply action is ``do_send_reply_by_id``; this is its form for callers holding ORM
    rows, and it gives the stored Message back."""
    sent = do_send_reply_by_id(
        session,
        conversation_id=conversation.id,
        author_id=author.id if author else None,
        author_name=author.name if author else "",
        text=text,
        html=html,
        attachments=attachments,
        client_id=client_id,
        meta=meta,
    )
    session.expire(conversation)  # changed by a Core UPDATE
    message = session.get_one(Message, sent.id)
    set_committed_value(message, "attachments", list(sent.attachments))
    return message


@dataclass(frozen=True)
class SentReply:
    """A reply written by ``do_send_reply_by_id``: what its API answer shows."""

    id: int
    conversation_id: int
    direction: Direction
    author_id: int | None
    sender_name: str
    text: str
    html: str | None
    delivery_state: DeliveryState
    error: str | None
    created_at: datetime
    attachments: tuple[Any, ...] = ()


def do_send_reply_by_id(
    session: Session,
    *,
    conversation_id: int,
    author_id: int | None,
    author_name: str,
    text: str,
    html: str | None = None,
    attachments: Sequence[InboundAttachment] = (),
    client_id: str | None = None,
    via_channel_id: int | None = None,
    meta: dict[str, Any] | None = None,
) -> SentReply:
    """The one reply action, in Core (agents' replies run in the writer's batch): no ORM
    conversation or author loaded, one UPDATE for the conversation. ``author_id`` None: the
    bot or a survey (no first response, no assignee). ``via_channel_id``: deliver through
    another channel that reaches this customer (the brand's mailbox for a web form's
    customer), checked by ``channels.actions.do_send_reply_via``."""
    session.flush()  # Core skips autoflush: earlier writes of the batch go first
    conversation = statements.Reply.conversation.first(session, conversation_id=conversation_id)
    if conversation is None:
        raise NotFound("conversation not found")
    check_reply(conversation, text, attachments)
    now = session_now(session)
    # Replayed history (the demo) was delivered long ago: no delivery job may send it now.
    state = DeliveryState.DELIVERED if session.info.get(SESSION_HISTORY) else DeliveryState.QUEUED
    html = sanitize_html(html) if html else None
    channel_id = via_channel_id or conversation.channel_id
    message_id = statements.Door.insert_message.scalar(
        session,
        conversation_id=conversation_id,
        channel_id=channel_id,
        direction=Direction.OUTBOUND,
        author_id=author_id,
        sender_name=author_name,
        text=text,
        html=html,
        provider_message_id=None,
        client_id=client_id,
        delivery_state=state,
        error=None,
        meta=dict(meta or {}),
        created_at=now,
        updated_at=now,
    )
    stored = _store_attachments(session, message_id, attachments)
    if stored:
        session.flush()  # their ids, for the answer
    statements.Reply.touch.execute(
        session,
        conversation_id=conversation_id,
        now=now,
        first_response=now if author_id is not None else None,
        author_id=author_id,
        new_preview=preview(text),
    )
    event = MessageEvent(
        message_id=message_id,
        conversation_id=conversation_id,
        queue_id=conversation.queue_id,
        assignee_id=conversation.assignee_id or author_id,
        direction=Direction.OUTBOUND.value,
        channel_id=channel_id,
    )
    emit(session, "message.created", event)
    emit(session, "message.outbound_queued", event)
    return SentReply(
        id=message_id,
        conversation_id=conversation_id,
        direction=Direction.OUTBOUND,
        author_id=author_id,
        sender_name=author_name,
        text=text,
        html=html,
        delivery_state=state,
        error=None,
        created_at=now,
        attachments=tuple(stored),
    )


def do_add_note(
    session: Session, *, conversation: Conversation, author: User, text: str
) -> Message:
    """An agent's internal note."""
    return do_add_internal_message(
        session, conversation=conversation, sender_name=author.name, text=text, author=author
    )


def do_add_internal_message(
    session: Session,
    *,
    conversation: Conversation,
    sender_name: str,
    text: str,
    html: str | None = None,
    meta: dict[str, Any] | None = None,
    attachments: Sequence[InboundAttachment] = (),
    author: User | None = None,
) -> Message:
    """A note: shown to agents in the timeline, never sent to the customer. Written by an agent
    (``author``, through ``do_add_note``) or by no one in the team: a colleague's answer by
    email, a department's verdict, the bot's hand-over summary."""
    text = text.replace("\x00", "")
    if not text.strip() and not html and not attachments:
        raise InvalidInput("a note needs text", field="text")
    if len(text) > MAX_TEXT:
        raise InvalidInput(f"text longer than {MAX_TEXT} characters", field="text")
    message = Message(
        conversation_id=conversation.id,
        direction=Direction.NOTE,
        author_id=author.id if author is not None else None,
        sender_name=sender_name.replace("\x00", "")[:200],
        text=text,
        html=sanitize_html(html.replace("\x00", "")) if html else None,
        delivery_state=None,
        meta=meta or {},
    )
    session.add(message)
    session.flush()
    if attachments:
        _store_attachments(session, message.id, attachments)
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


@dataclass(frozen=True, slots=True)
class Assignment:
    """One conversation changing hands, as the caller read it (locked and checked)."""

    conversation_id: int
    number: int
    queue_id: int | None
    status: Status
    priority: Priority
    previous_assignee_id: int | None
    assignee_id: int | None
    assignee_name: str | None


def do_assign_many(
    session: Session,
    assignments: Sequence[Assignment],
    *,
    by: User | None,
    now: datetime | None = None,
    in_place: Conversation | None = None,
) -> list[Status]:
    """The one assignment path (``do_assign`` is a batch of one; the router commits hundreds):
    each conversation gets its assignee (a new one opens), a system line in its timeline and a
    ``conversation.assigned`` event, written with one statement each for the whole batch. The
    caller has locked the rows and checked them (``check_assign``). Objects of these
    conversations in the session are expired, except ``in_place``, which is brought up to date.
    Returns the new statuses."""
    if not assignments:
        return []
    now = now or session_now(session)  # the replayed moment when the demo writes history
    session.flush()  # what the caller changed before lands before these rows
    by_name = by.name if by else None
    statuses = [
        Status.OPEN if a.status == Status.NEW and a.assignee_id is not None else a.status
        for a in assignments
    ]
    statements.assign_rows(
        session,
        [
            (a.conversation_id, a.assignee_id, st)
            for a, st in zip(assignments, statuses, strict=True)
        ],
        now,
    )
    statements.insert_system_messages(
        session,
        [
            (
                a.conversation_id,
                f"Assigned to {a.assignee_name}" if a.assignee_id is not None else "Unassigned",
                {"event": "assign", "to": a.assignee_name, "by": by_name},
            )
            for a in assignments
        ],
        now,
    )
    emit_many(
        session,
        "conversation.assigned",
        [
            ConversationAssigned(
                conversation_id=a.conversation_id,
                number=a.number,
                queue_id=a.queue_id,
                assignee_id=a.assignee_id,
                status=st.value,
                priority=a.priority.value,
                previous_assignee_id=a.previous_assignee_id,
                by_user_id=by.id if by else None,
            )
            for a, st in zip(assignments, statuses, strict=True)
        ],
    )
    # Objects of these conversations already in this session would be stale now.
    changed = {a.conversation_id: (a, st) for a, st in zip(assignments, statuses, strict=True)}
    for obj in list(session.identity_map.values()):
        if isinstance(obj, Conversation) and obj.id in changed and obj is not in_place:
            session.expire(obj)
    if in_place is not None and in_place.id in changed:
        a, st = changed[in_place.id]
        for key, value in (("assignee_id", a.assignee_id), ("status", st), ("updated_at", now)):
            set_committed_value(in_place, key, value)
    return statuses


def do_assign(
    session: Session, *, conversation: Conversation, assignee: User | None, by: User | None
) -> Conversation:
    check_assign(conversation, assignee)
    previous = conversation.assignee_id
    new = assignee.id if assignee else None
    if previous == new:
        return conversation
    if conversation.id is None:
        session.flush()
    do_assign_many(
        session,
        [
            Assignment(
                conversation_id=conversation.id,
                number=conversation.number,
                queue_id=conversation.queue_id,
                status=conversation.status,
                priority=conversation.priority,
                previous_assignee_id=previous,
                assignee_id=new,
                assignee_name=assignee.name if assignee else None,
            )
        ],
        by=by,
        in_place=conversation,
    )
    set_committed_value(conversation, "assignee", assignee)
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
        _timeline_lines(session, conversation, changes, by)
        session.flush()
        emit(
            session,
            "conversation.updated",
            ConversationUpdated(
                **_ref(conversation), changes=changes, by_user_id=by.id if by else None
            ),
        )
    return conversation


def _timeline_lines(
    session: Session, conversation: Conversation, changes: dict[str, Any], by: User | None
) -> None:
    """Priority and tag changes show in the timeline as system lines, as status changes do."""
    who = by.name if by else None
    if "priority" in changes:
        old, new = changes["priority"]
        _system_message(
            session,
            conversation,
            f"Priority: {old} → {new}",
            {"event": "priority", "from": old, "to": new, "by": who},
        )
    if "tags" in changes:
        before, after = changes["tags"]
        added = [t for t in after if t not in before]
        removed = [t for t in before if t not in after]
        _system_message(
            session,
            conversation,
            "Tags: " + " ".join([f"+{t}" for t in added] + [f"-{t}" for t in removed]),
            {"event": "tags", "added": added, "removed": removed, "by": who},
        )


_DELIVERY_ORDER = {
    DeliveryState.QUEUED: 0,
    DeliveryState.SENT: 1,
    DeliveryState.DELIVERED: 2,
    DeliveryState.READ: 3,
}


def delivery_advances(current: DeliveryState | None, state: DeliveryState) -> bool:
    """Whether a report of ``state`` moves a message now in ``current`` (forward only; a
    failure never undoes a delivery; positive news after a failure is trusted)."""
    if current is None or current == DeliveryState.RECEIVED:
        return False
    if state == DeliveryState.FAILED:
        return current not in (DeliveryState.DELIVERED, DeliveryState.READ, DeliveryState.FAILED)
    if current == DeliveryState.FAILED and state != DeliveryState.SENT:
        return True  # a late "delivered" after a failure report: trust the later, positive news
    return _DELIVERY_ORDER.get(state, 0) > _DELIVERY_ORDER.get(current, -1)


def do_mark_delivery(
    session: Session,
    *,
    message: Message,
    state: DeliveryState,
    provider_message_id: str | None = None,
    error: str | None = None,
    at: datetime | None = None,
) -> bool:
    """Move a message's delivery state forward (never backward); returns whether it changed.
    The ORM form of ``advance_delivery`` (one statement, one event), for a caller holding the
    Message: the object is kept in step with the row."""
    session.flush()  # the statement below skips autoflush: the row must hold what ``message`` does
    at = at or utcnow()
    if not advance_delivery(
        session,
        message_id=message.id,
        conversation_id=message.conversation_id,
        current=message.delivery_state,
        state=state,
        provider_message_id=provider_message_id,
        error=error,
        at=at,
    ):
        return False
    set_committed_value(message, "delivery_state", state)
    set_committed_value(message, "error", error[:2000] if error else None)
    if provider_message_id and not message.provider_message_id:
        set_committed_value(message, "provider_message_id", provider_message_id)
    set_committed_value(message, "updated_at", at)
    return True


def conversation_refs(session: Session, conversation_id: int) -> tuple[int | None, int | None]:
    """The conversation's (queue_id, assignee_id), which delivery events carry."""
    row = statements.Delivery.refs.first(session, conversation_id=conversation_id)
    return (None, None) if row is None else (row.queue_id, row.assignee_id)


def advance_delivery(
    session: Session,
    *,
    message_id: int,
    conversation_id: int,
    current: DeliveryState | None,
    state: DeliveryState,
    provider_message_id: str | None = None,
    error: str | None = None,
    at: datetime | None = None,
    refs: tuple[int | None, int | None] | None = None,
) -> bool:
    """``do_mark_delivery`` for a caller that read the message's state itself (in Core).
    ``refs`` is the conversation's (queue_id, assignee_id) when the caller has them."""
    if not delivery_advances(current, state):
        return False
    error = error[:2000] if error else None
    changed = statements.Delivery.advance.execute(
        session,
        message_id=message_id,
        current=current,
        new_state=state,
        new_error=error,
        new_pid=provider_message_id or None,
        at=at or utcnow(),
    )
    if not changed:
        return False
    queue_id, assignee_id = refs or conversation_refs(session, conversation_id)
    _delivery_event(session, message_id, conversation_id, queue_id, assignee_id, state, error)
    return True


def _delivery_event(
    session: Session,
    message_id: int,
    conversation_id: int,
    queue_id: int | None,
    assignee_id: int | None,
    state: DeliveryState,
    error: str | None,
) -> None:
    emit(
        session,
        "message.delivery_updated",
        MessageDeliveryUpdated(
            message_id=message_id,
            conversation_id=conversation_id,
            queue_id=queue_id,
            assignee_id=assignee_id,
            delivery_state=state.value,
            error=error,
        ),
    )
