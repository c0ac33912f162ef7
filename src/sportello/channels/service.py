"""Receiving from and delivering to channels, for every kind through its adapter."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session, lazyload

from sportello.channels import registry
from sportello.channels.base import (
    AnswersHandshake,
    ChannelConfig,
    ChannelError,
    DeliversInline,
    FetchesMedia,
    InboundMessage,
    OutboundAttachment,
    OutboundMessage,
    StatusUpdate,
    WebhookRequest,
)
from sportello.channels.models import Channel
from sportello.config import get_settings
from sportello.conversations import actions as conversations_actions
from sportello.conversations.models import (
    Attachment,
    Conversation,
    DeliveryState,
    Direction,
    Message,
)
from sportello.conversations.storage import path_for
from sportello.core import jobs
from sportello.core.db import Database
from sportello.core.dispatcher import subscribe_batch
from sportello.core.events import EventPayload, emit, register_event
from sportello.core.prepared import Prepared
from sportello.core.security import decrypt_secret, hash_token
from sportello.customers.models import Customer, CustomerIdentity

log = logging.getLogger(__name__)


def config_for(channel: Channel) -> ChannelConfig:
    key = get_settings().effective_secret_key()
    return ChannelConfig(
        id=channel.id,
        public_id=channel.public_id,
        kind=channel.kind,
        name=channel.name,
        brand_id=channel.brand_id,
        settings=dict(channel.settings),
        secrets={k: decrypt_secret(v, key) for k, v in channel.secrets.items()},
        token_hash=channel.token_hash,
    )


def get_active_channel(session: Session, public_id: str) -> Channel | None:
    return session.scalar(
        select(Channel).where(Channel.public_id == public_id, Channel.is_active.is_(True))
    )


def token_matches(channel: ChannelConfig, token: str) -> bool:
    import hmac

    return channel.token_hash is not None and hmac.compare_digest(
        channel.token_hash, hash_token(token)
    )


def receive(
    session: Session, *, channel: conversations_actions.ChannelRef, inbound: InboundMessage
) -> conversations_actions.ReceiveResult:
    """The one door; then files still at the provider are fetched by a job, for new messages
    only (a replay must not download them again)."""
    result = conversations_actions.do_receive_message(session, channel=channel, inbound=inbound)
    if inbound.pending_media and not result.duplicate:
        for index, media in enumerate(inbound.pending_media):
            jobs.enqueue(
                session,
                MEDIA_JOB,
                {
                    "message_id": result.message_id,
                    "channel_id": channel.id,
                    "ref": dict(media.ref),
                    "label": media.label,
                },
                unique_key=f"media:{result.message_id}:{index}",
                max_attempts=MEDIA_ATTEMPTS,
            )
    return result


# ---- files that arrive after their message -------------------------------------------------

MEDIA_JOB = "fetch_media"
MEDIA_ATTEMPTS = 6  # 5 s, 10 s, 20 s, 40 s, 80 s apart: a provider's bad minute, not a bad day


class MediaUpdated(EventPayload):
    message_id: int
    conversation_id: int
    queue_id: int | None
    assignee_id: int | None
    fetched: bool


register_event("message.media_updated", MediaUpdated)


def fetch_media(db: Database, payload: dict[str, Any]) -> None:
    """Download one pending file and attach it to its message. A ChannelError goes back to the
    job runner: retried with backoff unless permanent (then ``media_failed`` notes it)."""
    message_id = int(payload["message_id"])
    with db.session() as session:
        channel = session.get(Channel, int(payload["channel_id"]))
        if channel is None or session.get(Message, message_id) is None:
            return  # erased meanwhile: nothing to attach to
        config = config_for(channel)
        adapter = registry.get_adapter(channel.kind)
    if not isinstance(adapter, FetchesMedia):
        raise ChannelError(f"{channel.kind} channels do not fetch files", permanent=True)
    attachment = adapter.fetch_media(config, payload["ref"])
    with db.transaction() as session:
        conversations_actions.store_attachments(session, message_id, [attachment])
        _media_settled(session, message_id, error=None, label=str(payload.get("label", "")))


def media_failed(db: Database, payload: dict[str, Any], error: str) -> None:
    """Given up: the message keeps a note that a file was sent and could not be fetched."""
    with db.transaction() as session:
        _media_settled(
            session, int(payload["message_id"]), error=error, label=str(payload.get("label", ""))
        )


def _media_settled(session: Session, message_id: int, *, error: str | None, label: str) -> None:
    message = session.get(Message, message_id)
    if message is None:
        return
    meta = dict(message.meta or {})
    pending = int(meta.pop("media_pending", 1)) - 1
    if pending > 0:
        meta["media_pending"] = pending
    if error is not None:
        meta["media_errors"] = [*meta.get("media_errors", []), {"file": label, "error": error}]
        meta["media_error"] = error
        message.text = f"{message.text}\n[{label or 'file'} not available: {error}]".strip()
    message.meta = meta
    queue_id, assignee_id = conversations_actions.conversation_refs(
        session, message.conversation_id
    )
    emit(
        session,
        "message.media_updated",
        MediaUpdated(
            message_id=message_id,
            conversation_id=message.conversation_id,
            queue_id=queue_id,
            assignee_id=assignee_id,
            fetched=error is None,
        ),
    )


jobs.register_job(MEDIA_JOB, jobs.JobKind(run=fetch_media, on_failure=media_failed, base_delay=5.0))


# A button tap (``meta["choice"]``, see base.OffersChoices) whose id starts with a registered
# prefix and a colon goes to that prefix's hook instead of the one door: a survey score is an
# answer, not a new message. The hook returns False to let the message through after all.
ChoiceHook = Callable[[Session, Channel, InboundMessage], bool]
_CHOICE_HOOKS: dict[str, ChoiceHook] = {}


def on_choice(prefix: str, hook: ChoiceHook) -> None:
    _CHOICE_HOOKS[prefix] = hook


def take_choice(session: Session, channel: Any, inbound: InboundMessage) -> bool:
    """A tap that did not come through a webhook (the chat widget's ``choice`` frame): True
    when a hook took it. ``channel`` needs an ``id``."""
    return _taken_by_choice_hook(session, channel, inbound)


def _taken_by_choice_hook(session: Session, channel: Channel, inbound: InboundMessage) -> bool:
    choice = inbound.meta.get("choice")
    if not isinstance(choice, str) or ":" not in choice:
        return False
    hook = _CHOICE_HOOKS.get(choice.split(":", 1)[0])
    return hook is not None and hook(session, channel, inbound)


@dataclass(frozen=True)
class WebhookOutcome:
    results: list[conversations_actions.ReceiveResult]
    statuses_applied: int = 0


def apply_status(session: Session, *, channel: Channel, status: StatusUpdate) -> bool:
    """Apply a provider's delivery report to the message we sent with that provider id.

    Reports for ids we do not know (sent from another tool, or already deleted) and unknown
    states are ignored; states only move forward (see ``do_mark_delivery``)."""
    try:
        state = DeliveryState(status.state)
    except ValueError:
        return False
    message = session.scalar(
        select(Message).where(
            Message.channel_id == channel.id,
            Message.provider_message_id == status.provider_message_id,
            Message.direction == Direction.OUTBOUND,
        )
    )
    if message is None:
        return False
    return conversations_actions.do_mark_delivery(
        session, message=message, state=state, error=status.error, at=status.at
    )


def receive_webhook(
    session: Session, *, channel: Channel, request: WebhookRequest, verified: bool = False
) -> WebhookOutcome:
    """Verify (raises WebhookRejected) unless the route already did, parse the body once and
    pass each message through the one door; apply the delivery reports found beside them."""
    adapter = registry.get_adapter(channel.kind)
    config = config_for(channel)
    if not verified:
        adapter.verify(config, request)
    parsed = adapter.parse(config, request)
    applied = sum(apply_status(session, channel=channel, status=s) for s in parsed.statuses)
    inbound = [m for m in parsed.messages if not _taken_by_choice_hook(session, channel, m)]
    return WebhookOutcome([receive(session, channel=channel, inbound=m) for m in inbound], applied)


def webhook_handshake(channel: Channel, request: WebhookRequest) -> str | None:
    """The answer to a provider's GET verification of the webhook URL, or None to refuse.

    Raises LookupError when the channel's kind has no such handshake."""
    adapter = registry.get_adapter(channel.kind)
    if not isinstance(adapter, AnswersHandshake):
        raise LookupError(f"{channel.kind} webhooks have no GET handshake")
    return adapter.handshake(config_for(channel), request)


def last_inbound_at(session: Session, *, channel_id: int, customer_id: int) -> datetime | None:
    """When this customer last wrote on this channel, in any conversation (the provider's time
    of the message: WhatsApp's 24-hour window counts from it).

    Through the customer's conversations on the channel (an index) and their messages (another),
    never a scan of all messages: every reply on every channel asks this."""
    conversations = select(Conversation.id).where(
        Conversation.customer_id == customer_id, Conversation.channel_id == channel_id
    )
    return session.scalar(
        select(func.max(Message.created_at)).where(
            Message.conversation_id.in_(conversations.scalar_subquery()),
            Message.direction == Direction.INBOUND,
        )
    )


class _Outbound:
    """What a send needs of the message, its conversation and its customer, in Core: the ORM
    loads with their joined and select-in relations cost milliseconds per reply."""

    m, c, cu = Message.__table__.c, Conversation.__table__.c, Customer.__table__.c
    ci, a = CustomerIdentity.__table__.c, Attachment.__table__.c
    message_columns = (
        m.id, m.conversation_id, m.channel_id, m.delivery_state, m.text, m.html, m.sender_name,
        m.meta, c.number, c.subject, c.customer_id, c.queue_id, c.assignee_id,
        cu.name.label("customer_name"),
    )  # fmt: skip
    message = Prepared(
        select(*message_columns)
        .select_from(
            Message.__table__.join(Conversation.__table__, c.id == m.conversation_id).join(
                Customer.__table__, cu.id == c.customer_id
            )
        )
        .where(m.id == bindparam("message_id"))
    )
    identities = Prepared(
        select(ci.kind, ci.value).where(ci.customer_id == bindparam("customer_id"))
    )
    attachments = Prepared(
        select(a.filename, a.content_type, a.sha256)
        .where(a.message_id == bindparam("message_id"))
        .order_by(a.id)
    )
    earlier = Prepared(
        select(m.provider_message_id)
        .where(
            m.conversation_id == bindparam("conversation_id"),
            m.provider_message_id.is_not(None),
            m.id < bindparam("message_id"),
        )
        .order_by(m.id)
    )


def outbound_for(session: Session, row: Any) -> tuple[Channel, OutboundMessage]:
    """The adapter's view of a queued reply (``row``: an ``_Outbound.message`` row)."""
    channel = (
        session.get(Channel, row.channel_id, options=[lazyload("*")]) if row.channel_id else None
    )
    if channel is None:
        raise ChannelError("the channel of this conversation was removed", permanent=True)
    identities = _Outbound.identities.all(session, customer_id=row.customer_id)
    # An adapter that only pokes this installation's sockets needs no threading references
    # and no customer-service window: skip their two queries on the chat's hottest path.
    local = channel.kind in registry.kinds() and isinstance(
        registry.get_adapter(channel.kind), DeliversInline
    )
    earlier: Iterable[Any] = (
        []
        if local
        else _Outbound.earlier.all(session, conversation_id=row.conversation_id, message_id=row.id)
    )
    root = get_settings().attachments_dir
    return channel, OutboundMessage(
        message_id=row.id,
        conversation_id=row.conversation_id,
        conversation_number=row.number,
        text=row.text,
        html=row.html,
        subject=row.subject,
        recipient={i.kind.value: i.value for i in identities},
        recipient_name=row.customer_name,
        author_name=row.sender_name,
        attachments=tuple(
            OutboundAttachment(a.filename, a.content_type, str(path_for(root, a.sha256)))
            for a in _Outbound.attachments.all(session, message_id=row.id)
        ),
        reply_to_provider_ids=tuple(e.provider_message_id for e in earlier),
        meta=dict(row.meta or {}),
        last_inbound_at=None
        if local
        else last_inbound_at(session, channel_id=channel.id, customer_id=row.customer_id),
    )


def deliver_message(db: Database, payload: dict[str, Any]) -> None:
    failed = deliver_messages(db, [int(payload["message_id"])])
    if failed:
        raise failed[0][1]  # ChannelError propagates to the job runner


def deliver_messages(db: Database, message_ids: list[int]) -> list[tuple[int, Exception]]:
    """Send queued messages through their adapters, then mark them sent in ONE short write
    (the sends happen with no lock held). Returns the messages whose send failed."""
    sends: list[tuple[Any, ChannelConfig, OutboundMessage]] = []
    with db.session() as session:
        for message_id in message_ids:
            row = _Outbound.message.first(session, message_id=message_id)
            if row is None or row.delivery_state != DeliveryState.QUEUED:
                continue  # already delivered, failed or gone: nothing to do (idempotent)
            channel, outbound = outbound_for(session, row)
            sends.append((row, config_for(channel), outbound))
    sent: list[tuple[Any, str | None]] = []
    failed: list[tuple[int, Exception]] = []
    for row, config, outbound in sends:
        try:
            ref = registry.get_adapter(config.kind).send(config, outbound)
        except Exception as exc:
            failed.append((row.id, exc))
        else:
            sent.append((row, ref.provider_message_id))
    if sent:
        with db.transaction() as session:
            for row, provider_message_id in sent:
                conversations_actions.advance_delivery(
                    session,
                    message_id=row.id,
                    conversation_id=row.conversation_id,
                    current=DeliveryState.QUEUED,
                    state=DeliveryState.SENT,
                    provider_message_id=provider_message_id,
                    refs=(row.queue_id, row.assignee_id),
                )
    return failed


def delivery_failed(db: Database, payload: dict[str, Any], error: str) -> None:
    with db.transaction() as session:
        message = session.get(Message, int(payload["message_id"]))
        if message is not None:
            conversations_actions.do_mark_delivery(
                session, message=message, state=DeliveryState.FAILED, error=error
            )


jobs.register_job(
    "deliver_message",
    jobs.JobKind(run=deliver_message, on_failure=delivery_failed, base_delay=2.0),
)


@subscribe_batch("message.outbound_queued")
def queue_delivery(db: Database, batch: list[tuple[str, dict[str, Any]]]) -> None:
    """Replies go out through a durable job (retries with backoff), except on channels whose
    adapter delivers inline (the chat widget): those are sent here and now, and only a failure
    falls back to a job."""
    outbound = [p for _name, p in batch if p.get("direction") == Direction.OUTBOUND.value]
    if not outbound:
        return
    channel_ids = sorted({int(p["channel_id"]) for p in outbound if p.get("channel_id")})
    with db.session() as session:  # one query a batch (ids are reused: no cache across batches)
        rows = session.execute(select(Channel.id, Channel.kind).where(Channel.id.in_(channel_ids)))
        kinds: dict[int, str] = {channel_id: kind for channel_id, kind in rows}
    queued: list[dict[str, Any]] = []
    inline: dict[int, dict[str, Any]] = {}
    for payload in outbound:
        kind = kinds.get(int(payload["channel_id"])) if payload.get("channel_id") else None
        adapter = registry.get_adapter(kind) if kind in registry.kinds() else None
        if isinstance(adapter, DeliversInline):
            inline[int(payload["message_id"])] = payload
        else:
            queued.append(payload)
    if inline:
        try:
            failures = deliver_messages(db, list(inline))
        except Exception:
            log.warning("inline delivery failed; jobs retry it", exc_info=True)
            failures = [
                (message_id, RuntimeError("inline delivery failed")) for message_id in inline
            ]
        for message_id, exc in failures:
            log.info("inline delivery of message %s failed (%s); a job retries it", message_id, exc)
            queued.append(inline[message_id])
    if not queued:
        return
    with db.transaction() as session:
        for payload in queued:
            jobs.enqueue(
                session,
                "deliver_message",
                {"message_id": payload["message_id"]},
                unique_key=f"deliver:{payload['message_id']}",
            )
