"""Reads on conversations for the console: inbox lists, counts, timelines, search.

Every query starts from ``core.access`` so it is scoped to what the user may see.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from sportello.accounts.models import User
from sportello.conversations.models import (
    ACTIVE_STATUSES,
    Attachment,
    Conversation,
    Message,
    Status,
)
from sportello.core import access
from sportello.core.errors import InvalidInput, NotFound

PAGE_SIZE = 50
VIEWS = ("mine", "unassigned", "open", "queue", "status")


@dataclass(frozen=True)
class InboxFilter:
    view: str = "mine"
    queue_id: int | None = None
    status: Status | None = None

    @property
    def path(self) -> str:
        if self.view == "queue":
            return f"/inbox/queue/{self.queue_id}"
        if self.view == "status" and self.status is not None:
            return f"/inbox/status/{self.status.value}"
        return f"/inbox/{self.view}"


@dataclass(frozen=True)
class InboxPage:
    rows: list[Conversation]
    next_cursor: str | None


@dataclass
class Counts:
    mine: int = 0
    unassigned: int = 0
    open: int = 0
    by_queue: dict[int, int] = field(default_factory=dict)
    by_status: dict[str, int] = field(default_factory=dict)


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)


def _encode_cursor(conversation: Conversation) -> str:
    micros = (conversation.last_message_at - EPOCH) // MICROSECOND  # exact, no float
    return f"{micros}_{conversation.id}"


def _decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        micros, _, ident = cursor.partition("_")
        return EPOCH + int(micros) * MICROSECOND, int(ident)
    except (ValueError, OverflowError, OSError):
        raise InvalidInput("invalid page cursor", field="before") from None


def list_inbox(
    session: Session,
    user: User,
    inbox: InboxFilter,
    *,
    cursor: str | None = None,
    limit: int = PAGE_SIZE,
) -> InboxPage:
    """One page of the inbox, newest activity first, by keyset (no OFFSET)."""
    query = access.conversations_query(session, user)
    if inbox.view == "mine":
        query = query.where(
            Conversation.assignee_id == user.id, Conversation.status.in_(ACTIVE_STATUSES)
        )
    elif inbox.view == "unassigned":
        query = query.where(
            Conversation.assignee_id.is_(None), Conversation.status.in_(ACTIVE_STATUSES)
        )
    elif inbox.view == "open":
        query = query.where(Conversation.status.in_(ACTIVE_STATUSES))
    elif inbox.view == "queue":
        query = query.where(
            Conversation.queue_id == inbox.queue_id, Conversation.status.in_(ACTIVE_STATUSES)
        )
    elif inbox.view == "status" and inbox.status is not None:
        query = query.where(Conversation.status == inbox.status)
    else:
        raise NotFound("no such inbox view")
    if cursor:
        at, ident = _decode_cursor(cursor)
        query = query.where(
            or_(
                Conversation.last_message_at < at,
                and_(Conversation.last_message_at == at, Conversation.id < ident),
            )
        )
    query = query.order_by(Conversation.last_message_at.desc(), Conversation.id.desc())
    rows = list(session.scalars(query.limit(limit + 1)).unique())
    more = len(rows) > limit
    rows = rows[:limit]
    return InboxPage(rows, _encode_cursor(rows[-1]) if more and rows else None)


def counts(session: Session, user: User) -> Counts:
    """Every sidebar count in one grouped query (groups: statuses x queues x assignees)."""
    query = (
        select(Conversation.status, Conversation.queue_id, Conversation.assignee_id, func.count())
        .where(access.conversation_scope(session, user))
        .group_by(Conversation.status, Conversation.queue_id, Conversation.assignee_id)
    )
    result = Counts()
    by_queue: dict[int, int] = defaultdict(int)
    by_status: dict[str, int] = defaultdict(int)
    for status, queue_id, assignee_id, n in session.execute(query):
        status = Status(status)
        by_status[status.value] += n
        if status not in ACTIVE_STATUSES:
            continue
        result.open += n
        if assignee_id == user.id:
            result.mine += n
        elif assignee_id is None:
            result.unassigned += n
        if queue_id is not None:
            by_queue[queue_id] += n
    result.by_queue = dict(by_queue)
    result.by_status = dict(by_status)
    return result


def timeline(session: Session, conversation: Conversation) -> list[Message]:
    return list(
        session.scalars(
            select(Message)
            .where(Message.conversation_id == conversation.id)
            .order_by(Message.created_at, Message.id)
        ).unique()
    )


def get_attachment(session: Session, conversation: Conversation, attachment_id: int) -> Attachment:
    """An attachment of a message of this (already access-checked) conversation."""
    attachment = session.scalar(
        select(Attachment)
        .join(Message, Message.id == Attachment.message_id)
        .where(Attachment.id == attachment_id, Message.conversation_id == conversation.id)
    )
    if attachment is None:
        raise NotFound("attachment not found")
    return attachment


def customer_conversations(
    session: Session, user: User, customer_id: int, *, limit: int = 100
) -> list[Conversation]:
    """The conversations of a customer on every channel, as far as the user may see them."""
    return list(
        session.scalars(
            access.conversations_query(session, user)
            .where(Conversation.customer_id == customer_id)
            .order_by(Conversation.last_message_at.desc(), Conversation.id.desc())
            .limit(limit)
        ).unique()
    )


def _like(term: str) -> str:
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def assignable_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).where(User.is_active.is_(True)).order_by(User.name)))


def get_assignable_user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None or not user.is_active:
        raise InvalidInput("that user does not exist or is not active", field="assignee_id")
    return user


@dataclass(frozen=True)
class ConversationQuery:
    """Filters of the API's conversation list; ``None`` leaves a filter out."""

    statuses: tuple[Status, ...] = ()
    queue_id: int | None = None
    assignee_id: int | None = None
    unassigned: bool = False
    customer_id: int | None = None
    updated_since: datetime | None = None


def page(
    session: Session,
    user: User,
    filters: ConversationQuery,
    *,
    after: tuple[datetime, int] | None = None,
    limit: int = PAGE_SIZE,
) -> tuple[list[Conversation], tuple[datetime, int] | None]:
    """One page of the conversations the user may see, most recently updated first, by keyset
    on (updated_at, id). Returns the rows and the key of the next page."""
    query = access.conversations_query(session, user)
    if filters.statuses:
        query = query.where(Conversation.status.in_(filters.statuses))
    if filters.queue_id is not None:
        query = query.where(Conversation.queue_id == filters.queue_id)
    if filters.assignee_id is not None:
        query = query.where(Conversation.assignee_id == filters.assignee_id)
    if filters.unassigned:
        query = query.where(Conversation.assignee_id.is_(None))
    if filters.customer_id is not None:
        query = query.where(Conversation.customer_id == filters.customer_id)
    if filters.updated_since is not None:
        query = query.where(Conversation.updated_at >= filters.updated_since)
    if after is not None:
        at, ident = after
        query = query.where(
            or_(
                Conversation.updated_at < at,
                and_(Conversation.updated_at == at, Conversation.id < ident),
            )
        )
    query = query.order_by(Conversation.updated_at.desc(), Conversation.id.desc())
    rows = list(session.scalars(query.limit(limit + 1)).unique())
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, ((rows[-1].updated_at, rows[-1].id) if more and rows else None)


def messages_page(
    session: Session, conversation: Conversation, *, after_id: int | None = None, limit: int = 100
) -> tuple[list[Message], int | None]:
    """The timeline of an (already access-checked) conversation, oldest first, by keyset."""
    query = select(Message).where(Message.conversation_id == conversation.id)
    if after_id is not None:
        query = query.where(Message.id > after_id)
    rows = list(session.scalars(query.order_by(Message.id).limit(limit + 1)).unique())
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (rows[-1].id if more and rows else None)
