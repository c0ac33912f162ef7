"""The chat's reads and writes on the timeline. Every visitor message goes through the one door
(``channels.service.receive``) with ``provider_message_id = "chat:" + client id``, so a message
the widget resends after a dropped connection is stored once.

The caller owns the transaction (the socket wraps each call in ``db.transaction()``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import String, bindparam, case, cast, insert, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from sportello.accounts.models import User
from sportello.channels import service as channels_service
from sportello.channels.base import Identity, InboundAttachment, InboundMessage
from sportello.channels.chat.models import ChatVisitor, TranscriptRequest
from sportello.channels.chat.protocol import Visitor, WidgetSettings
from sportello.channels.models import Channel
from sportello.conversations import actions as conversations_actions
from sportello.conversations.models import (
    Attachment,
    Conversation,
    DeliveryState,
    Direction,
    Message,
    Status,
)
from sportello.core import jobs
from sportello.core.db import utcnow
from sportello.core.errors import InvalidInput, NotFound
from sportello.core.prepared import Prepared
from sportello.customers import service as customers_service
from sportello.customers.identities import normalize_email
from sportello.customers.models import Customer

HISTORY_LIMIT = 200
SHOWN = (Direction.INBOUND, Direction.OUTBOUND)
OFFLINE_PREFIX = "chat-offline:"


@dataclass(frozen=True)
class ChannelInfo:
    """What a widget socket needs of its channel, read once and shared by its sockets."""

    id: int
    public_id: str
    brand_id: int
    queue_id: int | None
    name: str
    widget: WidgetSettings
    identity_secret: str


def load_channel(session: Session, public_id: str) -> ChannelInfo | None:
    channel = channels_service.get_active_channel(session, public_id)
    if channel is None or channel.kind != "chat":
        return None
    config = channels_service.config_for(channel)
    return ChannelInfo(
        id=channel.id,
        public_id=channel.public_id,
        brand_id=channel.brand_id,
        queue_id=channel.queue_id,
        name=channel.name,
        widget=WidgetSettings.from_settings(config.settings),
        identity_secret=config.secrets.get("identity_secret", ""),
    )


@lru_cache(maxsize=64)
def _calendar(hours_json: str) -> Any:
    from sportello.routing.calendar import BusinessCalendar

    return BusinessCalendar.from_dict(json.loads(hours_json))


def is_open(widget: WidgetSettings, at: datetime | None = None) -> bool:
    """Within the channel's opening hours (no hours configured: always)."""
    if not widget.hours:
        return True
    calendar = _calendar(json.dumps(widget.hours, sort_keys=True))
    return bool(calendar.is_open(at or utcnow()))


@dataclass(frozen=True)
class VisitorState:
    customer_id: int | None
    conversation_id: int | None
    queue_id: int | None
    assignee_id: int | None
    prechat_done: bool


def find_customer(session: Session, visitor: Visitor) -> Customer | None:
    for identity in visitor.identities:
        customer = customers_service.get_by_identity(
            session, kind=identity.kind, value=identity.value, lean=True
        )
        if customer is not None:
            return customer
    return None


class _VisitorRows:
    """The visitor row on the message path, in Core (the ORM's select, insert and flush cost
    more than the one door itself for a visitor's first message)."""

    v = ChatVisitor.__table__.c
    find = Prepared(
        select(
            v.id,
            v.name,
            v.email,
            v.topic,
            v.verified_as,
            v.customer_id,
            v.conversation_id,
            v.page_url,
            v.page_title,
            v.last_seen_at,
        ).where(v.channel_id == bindparam("channel_id"), v.visitor_id == bindparam("visitor_id"))
    )
    insert = Prepared(insert(ChatVisitor))
    update = Prepared(
        update(ChatVisitor)
        .where(v.id == bindparam("row_id"))
        .values(
            verified_as=bindparam("verified_as"),
            customer_id=bindparam("customer_id"),
            conversation_id=bindparam("conversation_id"),
            page_url=bindparam("page_url"),
            page_title=bindparam("page_title"),
            last_seen_at=bindparam("last_seen_at"),
        )
    )


def _record_visitor(
    session: Session,
    channel_id: int,
    visitor: Visitor,
    row: Any,
    done: Receipt,
    *,
    page: str,
    title: str,
) -> None:
    """Keep the visitor row current: its conversation, who the host site vouched for, the page
    it writes from, and (at most once a minute) when it was last seen."""
    now = utcnow()
    verified = (
        f"{visitor.verified_kind}:{visitor.verified_value}"[:340] if visitor.verified_kind else None
    )
    if row is None:
        _VisitorRows.insert.execute(
            session,
            channel_id=channel_id,
            visitor_id=visitor.visitor_id,
            customer_id=done.customer_id,
            conversation_id=done.conversation_id,
            verified_as=verified,
            page_url=page,
            page_title=title[:300] if page else "",
            created_at=now,
            last_seen_at=now,
        )
        return
    values = {
        "verified_as": row.verified_as or verified,
        "customer_id": row.customer_id,
        "conversation_id": row.conversation_id,
        "page_url": row.page_url,
        "page_title": row.page_title,
        "last_seen_at": row.last_seen_at,
    }
    if row.conversation_id != done.conversation_id:
        values["customer_id"], values["conversation_id"] = done.customer_id, done.conversation_id
    if page:
        values["page_url"], values["page_title"] = page, title[:300]
    if row.last_seen_at is None or (now - row.last_seen_at).total_seconds() > 60:
        values["last_seen_at"] = now
    if all(values[k] == getattr(row, k) for k in values):
        return
    _VisitorRows.update.execute(session, row_id=row.id, **values)
    cached = session.identity_map.get(identity_key(ChatVisitor, row.id))
    if cached is not None:  # a copy loaded earlier in this batch no longer matches the row
        session.expire(cached)


def _visitor_row(session: Session, channel_id: int, visitor_id: str) -> ChatVisitor | None:
    return session.scalar(
        select(ChatVisitor).where(
            ChatVisitor.channel_id == channel_id, ChatVisitor.visitor_id == visitor_id
        )
    )


def _ensure_visitor_row(session: Session, channel_id: int, visitor: Visitor) -> ChatVisitor:
    row = _visitor_row(session, channel_id, visitor.visitor_id)
    if row is None:
        row = ChatVisitor(channel_id=channel_id, visitor_id=visitor.visitor_id)
        session.add(row)
    if visitor.verified_kind:
        row.verified_as = f"{visitor.verified_kind}:{visitor.verified_value}"[:340]
    return row


def resume(session: Session, channel: ChannelInfo, visitor: Visitor) -> VisitorState:
    """Where a (re)connecting widget stands: its customer, chat and pre-chat form. Ids only:
    a reconnect storm (a site's visitors after a network blip) runs this thousands of times."""
    customer = find_customer(session, visitor)
    row = _VisitorRows.find.first(session, channel_id=channel.id, visitor_id=visitor.visitor_id)
    prechat_done = row is not None and bool(row.name or row.email or row.topic)
    if customer is None:
        return VisitorState(None, None, None, None, prechat_done)
    c = Conversation.__table__.c
    latest = session.execute(
        select(c.id, c.queue_id, c.assignee_id)
        .where(
            c.customer_id == customer.id,
            c.channel_id == channel.id,
            c.status != Status.CLOSED.value,
        )
        .order_by(c.last_message_at.desc(), c.id.desc())
        .limit(1)
    ).first()
    if latest is None:
        return VisitorState(customer.id, None, None, None, prechat_done)
    return VisitorState(customer.id, latest.id, latest.queue_id, latest.assignee_id, True)


def _history_statement() -> Prepared:
    m, a, u = Message.__table__.c, Attachment.__table__.c, User.__table__.c
    latest = (
        select(m.id)
        .where(
            m.conversation_id == bindparam("conversation_id"),
            m.id > bindparam("after_id"),
            or_(*[m.direction == d.value for d in SHOWN]),
        )
        .order_by(m.id.desc())
        .limit(bindparam("limit"))
        .scalar_subquery()
    )
    return Prepared(
        select(
            m.id,
            m.direction,
            m.sender_name,
            u.name.label("author_name"),
            m.text,
            m.created_at,
            m.client_id,
            m.delivery_state,
            # Only the team's messages carry something for the widget (a survey's buttons): their
            # meta as text, parsed only when it has choices (no JSON decoding per row).
            case((m.direction == Direction.OUTBOUND.value, cast(m.meta, String))).label("meta"),
            a.id.label("file_id"),
            a.filename,
            a.size,
            a.content_type,
        )
        .select_from(
            Message.__table__.outerjoin(User.__table__, u.id == m.author_id).outerjoin(
                Attachment.__table__, a.message_id == m.id
            )
        )
        .where(m.id.in_(latest))
        .order_by(m.id, a.id)
    )


_HISTORY = _history_statement()


def history(
    session: Session, conversation_id: int, after_id: int = 0, limit: int = HISTORY_LIMIT
) -> list[dict[str, Any]]:
    """Messages the visitor may see after ``after_id``; the latest ``limit`` of them, as the
    widget's frames (one statement: a socket catches up after every reply it is poked about)."""
    frames: list[dict[str, Any]] = []
    for row in _HISTORY.all(
        session, conversation_id=conversation_id, after_id=after_id, limit=limit
    ):
        if not frames or frames[-1]["id"] != row.id:
            agent = row.direction == Direction.OUTBOUND
            frames.append(
                {
                    "id": row.id,
                    "from": "agent" if agent else "visitor",
                    "name": ((row.author_name if agent else None) or row.sender_name) or "",
                    "text": row.text,
                    "at": row.created_at.isoformat(),
                    "cid": row.client_id if not agent else None,
                    "state": row.delivery_state.value if row.delivery_state else None,
                    "files": [],
                }
            )
            if agent and row.meta and '"choices"' in row.meta:
                frames[-1]["choices"] = [
                    {"id": str(c["id"]), "title": str(c["title"])}
                    for c in json.loads(row.meta).get("choices") or []
                ]
        if row.file_id is not None:
            frames[-1]["files"].append(
                {
                    "id": row.file_id,
                    "name": row.filename,
                    "size": row.size,
                    "type": row.content_type,
                }
            )
    return frames


def last_inbound_id(session: Session, conversation_id: int) -> int:
    found = session.scalar(
        select(Message.id)
        .where(Message.conversation_id == conversation_id, Message.direction == Direction.INBOUND)
        .order_by(Message.id.desc())
        .limit(1)
    )
    return int(found or 0)


@dataclass(frozen=True)
class Receipt:
    """What the one door did with a widget's message, as plain values."""

    message_id: int
    conversation_id: int
    customer_id: int
    channel_id: int | None
    queue_id: int | None
    assignee_id: int | None
    duplicate: bool


def receipt(
    session: Session,
    result: conversations_actions.ReceiveResult,
    *,
    known: tuple[int, int | None, int | None, int | None] | None = None,
) -> Receipt:
    """``known``: (conversation id, channel id, queue id, assignee id) the caller already has;
    they are read again only for another conversation (a new one, say)."""
    # The one door's result carries ids (and loads rows only on demand); read just the ids.
    message_id = getattr(result, "message_id", None)
    if message_id is None:  # a result that carries rows
        message_id = result.message.id
        conversation_id, customer_id = result.conversation.id, result.customer.id
    else:
        conversation_id = getattr(result, "conversation_id")  # noqa: B009
        customer_id = getattr(result, "customer_id")  # noqa: B009
    if known is not None and known[0] == conversation_id:
        channel_id, queue_id, assignee_id = known[1], known[2], known[3]
    else:
        channel_id, queue_id, assignee_id = session.execute(
            select(Conversation.channel_id, Conversation.queue_id, Conversation.assignee_id).where(
                Conversation.id == conversation_id
            )
        ).one()
    return Receipt(
        int(message_id),
        int(conversation_id),
        int(customer_id),
        channel_id,
        queue_id,
        assignee_id,
        bool(result.duplicate),
    )


def _inbound(
    visitor: Visitor,
    row: Any,
    *,
    text: str,
    client_id: str,
    page: str,
    title: str,
    attachments: Sequence[InboundAttachment] = (),
) -> InboundMessage:
    extra = [i for i in visitor.identities if i != visitor.primary]
    name = ""
    meta: dict[str, Any] = {"page": page} if page else {}
    if title:
        meta["page_title"] = title
    subject = ""
    if row is not None:
        name = row.name
        if row.email:
            extra.append(Identity("email", row.email))
        if row.topic:
            meta["topic"] = row.topic
            subject = row.topic
    return InboundMessage(
        identity=visitor.primary,
        sender_name=name,
        text=text,
        provider_message_id=f"chat:{client_id}",
        client_id=client_id,
        subject=subject,
        attachments=list(attachments),
        extra_identities=extra,
        meta=meta,
    )


def receive_message(
    session: Session,
    channel: ChannelInfo,
    visitor: Visitor,
    *,
    text: str,
    client_id: str,
    page: str = "",
    title: str = "",
    attachments: Sequence[InboundAttachment] = (),
    known: Receipt | None = None,
) -> Receipt:
    """A visitor's message through the one door; a resent client id returns the stored one.

    ``known``: the socket's previous receipt. While the visitor keeps writing in the same
    conversation from the same page, the visitor row is neither read nor written again (the hot
    path of a chat is the one door and nothing else).
    """
    steady = known is not None and known.conversation_id is not None and not attachments
    if not steady:
        session.flush()  # the row may be pending in this batch (a pre-chat form just sent)
    row = (
        None
        if steady
        else _VisitorRows.find.first(session, channel_id=channel.id, visitor_id=visitor.visitor_id)
    )
    inbound = _inbound(
        visitor,
        row,
        text=text,
        client_id=client_id,
        page=page,
        title=title,
        attachments=attachments,
    )
    # The socket's snapshot of the channel (id, brand, queue) is all the one door needs.
    result = channels_service.receive(session, channel=channel, inbound=inbound)
    ids = (
        (known.conversation_id, known.channel_id, known.queue_id, known.assignee_id)
        if known is not None
        else None
    )
    done = receipt(session, result, known=ids)
    if steady and known is not None and done.conversation_id == known.conversation_id:
        return done
    if steady:
        row = _VisitorRows.find.first(session, channel_id=channel.id, visitor_id=visitor.visitor_id)
    if not done.duplicate:
        _record_visitor(session, channel.id, visitor, row, done, page=page, title=title)
    return done
    if steady:
        row = _visitor_row(session, channel.id, visitor.visitor_id)
    if not done.duplicate:
        if row is None:
            row = ChatVisitor(channel_id=channel.id, visitor_id=visitor.visitor_id)
            session.add(row)
        if visitor.verified_kind and not row.verified_as:
            row.verified_as = f"{visitor.verified_kind}:{visitor.verified_value}"[:340]
        if row.conversation_id != done.conversation_id:
            row.customer_id, row.conversation_id = done.customer_id, done.conversation_id
        if page and (row.page_url != page or row.page_title != title[:300]):
            row.page_url, row.page_title = page, title[:300]
        now = utcnow()
        seen = row.last_seen_at  # None on a row not yet flushed
        if seen is None or (now - seen).total_seconds() > 60:  # type: ignore[redundant-expr, unused-ignore]
            row.last_seen_at = now
    return done


def save_prechat(
    session: Session, channel: ChannelInfo, visitor: Visitor, *, name: str, email: str, topic: str
) -> ChatVisitor:
    if email:
        email = normalize_email(email)  # raises InvalidInput
    if channel.widget.prechat == "required" and not (name and email):
        raise InvalidInput("name and email, please", field="email")
    if topic and channel.widget.topics and topic not in channel.widget.topics:
        topic = ""
    row = _ensure_visitor_row(session, channel.id, visitor)
    row.name, row.email, row.topic = name[:200], email[:320], topic[:100]
    return row


def update_page(
    session: Session, channel: ChannelInfo, visitor: Visitor, *, url: str, title: str, lang: str
) -> ChatVisitor | None:
    """Where the visitor is now; kept only for visitors who have a chat (no row per page view)."""
    row = _visitor_row(session, channel.id, visitor.visitor_id)
    if row is None or row.conversation_id is None:
        return None
    if row.page_url != url or row.page_title != title:
        row.page_url, row.page_title = url, title[:300]
    row.language = lang[:8]
    row.last_seen_at = utcnow()
    return row


class _Marks:
    m = Message.__table__.c
    # Agent messages of one conversation, in an id range, that a receipt may still move.
    candidates = Prepared(
        select(m.id, m.delivery_state)
        .where(
            m.conversation_id == bindparam("conversation_id"),
            m.direction == Direction.OUTBOUND,
            or_(
                m.delivery_state == DeliveryState.QUEUED,
                m.delivery_state == DeliveryState.SENT,
                m.delivery_state == DeliveryState.DELIVERED,
            ),
            m.id >= bindparam("low"),
            m.id <= bindparam("high"),
        )
        .order_by(m.id)
        .limit(500)
    )


def mark_outbound(
    session: Session,
    conversation_id: int,
    state: DeliveryState,
    *,
    ids: Sequence[int] = (),
    up_to: int | None = None,
) -> list[int]:
    """Delivered (the widget displayed them) or read (the visitor had them in view); only agent
    messages of the visitor's own conversation. Returns the ids that changed."""
    wanted: set[int] | None = None
    if up_to is not None:
        low, high = 0, up_to
    else:
        wanted = {int(i) for i in list(ids)[:200]}
        if not wanted:
            return []
        low, high = min(wanted), max(wanted)
    changed = []
    refs: tuple[int | None, int | None] | None = None
    for row in _Marks.candidates.all(session, conversation_id=conversation_id, low=low, high=high):
        if wanted is not None and row.id not in wanted:
            continue
        if refs is None:
            refs = conversations_actions.conversation_refs(session, conversation_id)
        if conversations_actions.advance_delivery(
            session,
            message_id=row.id,
            conversation_id=conversation_id,
            current=row.delivery_state,
            state=state,
            refs=refs,
        ):
            changed.append(row.id)
    return changed


def email_channel(session: Session, brand_id: int) -> Channel | None:
    """The brand's mailbox, which answers offline messages and sends transcripts."""
    return session.scalar(
        select(Channel)
        .where(Channel.brand_id == brand_id, Channel.kind == "email", Channel.is_active.is_(True))
        .order_by(Channel.id)
        .limit(1)
    )


def leave_offline_message(
    session: Session,
    channel: ChannelInfo,
    visitor: Visitor,
    *,
    client_id: str,
    name: str,
    email: str,
    text: str,
    page: str = "",
) -> Receipt:
    """A message left when nobody can answer live: a conversation answered by email.

    On the brand's email channel when there is one (replies then go out as email); otherwise on
    this chat channel, marked ``reply_by: email`` for the agent.
    """
    email = normalize_email(email)
    mailbox = email_channel(session, channel.brand_id)
    target = mailbox or session.get_one(Channel, channel.id)
    meta: dict[str, Any] = {"offline": True, "via": "chat", "reply_by": "email"}
    if page:
        meta["page"] = page
    inbound = InboundMessage(
        identity=Identity("email", email),
        sender_name=name[:200],
        text=text,
        provider_message_id=f"{OFFLINE_PREFIX}{client_id}",
        client_id=client_id,
        subject=f"Chat: {name or email}"[:300],
        extra_identities=[i for i in visitor.identities if i.kind != "email"],
        meta=meta,
    )
    done = receipt(session, channels_service.receive(session, channel=target, inbound=inbound))
    row = _ensure_visitor_row(session, channel.id, visitor)
    row.name, row.email = row.name or name[:200], row.email or email
    if mailbox is None and not done.duplicate:
        row.customer_id, row.conversation_id = done.customer_id, done.conversation_id
    return done


def request_transcript(session: Session, conversation_id: int, email: str) -> TranscriptRequest:
    email = normalize_email(email)
    if session.get(Conversation, conversation_id) is None:
        raise NotFound("no conversation to send")
    request = TranscriptRequest(conversation_id=conversation_id, email=email, status="queued")
    session.add(request)
    session.flush()
    jobs.enqueue(session, "chat_transcript", {"request_id": request.id})
    return request


def visitor_for_conversation(session: Session, conversation_id: int) -> ChatVisitor | None:
    return session.scalar(
        select(ChatVisitor)
        .where(ChatVisitor.conversation_id == conversation_id)
        .order_by(ChatVisitor.last_seen_at.desc())
        .limit(1)
    )


def transcripts_for(session: Session, conversation_id: int) -> list[TranscriptRequest]:
    return list(
        session.scalars(
            select(TranscriptRequest)
            .where(TranscriptRequest.conversation_id == conversation_id)
            .order_by(TranscriptRequest.id)
        )
    )


def visitor_keys_for_conversation(session: Session, conversation: Conversation) -> list[str]:
    from sportello.channels.chat.adapter import PUSH_KINDS
    from sportello.channels.chat.hub import visitor_key

    channel = conversation.channel
    if channel is None:
        return []
    return [
        visitor_key(channel.public_id, i.kind.value, i.value)
        for i in conversation.customer.identities
        if i.kind.value in PUSH_KINDS
    ]
