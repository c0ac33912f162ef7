"""Writes on channels: create, update, reconfigure, rotate secrets."""

from __future__ import annotations

import re
import secrets as pysecrets
from collections.abc import Mapping, Sequence

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from sportello.audit import actions as audit
from sportello.channels import registry, replies, service
from sportello.channels.base import InboundAttachment, RotatesSecrets, UpdatesItself
from sportello.channels.models import Channel
from sportello.config import get_settings
from sportello.conversations import actions as conversations_actions
from sportello.conversations.models import Conversation, DeliveryState, Direction, Message
from sportello.core import jobs
from sportello.core.db import utcnow
from sportello.core.errors import Conflict, InvalidInput
from sportello.core.events import MessageDeliveryUpdated, emit
from sportello.core.jobs import Job
from sportello.core.security import decrypt_secret, encrypt_secret, hash_token
from sportello.routing.models import Queue


def new_public_id() -> str:
    return pysecrets.token_urlsafe(12)


def do_create_channel(
    session: Session,
    *,
    brand_id: int,
    kind: str,
    name: str,
    queue: Queue | None,
    data: Mapping[str, str],
    is_active: bool = True,
) -> tuple[Channel, dict[str, str]]:
    """Create a channel (paused when ``is_active`` is false: it accepts nothing and is not
    fetched); returns it with the secrets to show the admin once."""
    name = name.strip()
    if not name:
        raise InvalidInput("a channel needs a name", field="name")
    try:
        adapter = registry.get_adapter(kind)
    except LookupError:
        raise InvalidInput(f"unknown channel kind {kind!r}", field="kind") from None
    setup = adapter.configure(data)
    key = get_settings().effective_secret_key()
    channel = Channel(
        brand_id=brand_id,
        kind=kind,
        name=name[:200],
        public_id=new_public_id(),
        queue_id=queue.id if queue else None,
        settings=setup.settings,
        secrets={k: encrypt_secret(v, key) for k, v in setup.secrets.items()},
        token_hash=hash_token(setup.token) if setup.token else None,
        is_active=is_active,
    )
    session.add(channel)
    session.flush()
    audit.record(session, "channel.created", target=channel, kind=channel.kind)
    return channel, dict(setup.shown_once)


def _facts(channel: Channel) -> dict[str, object]:
    """What the audit log compares before and after a save (secrets by ciphertext: the diff
    shows that one changed, masked, never its value)."""
    return {
        "name": channel.name,
        "queue_id": channel.queue_id,
        "is_active": channel.is_active,
        "settings": dict(channel.settings or {}),
        "secrets": {name: value for name, value in (channel.secrets or {}).items()},
    }


def _changes(before: dict[str, object], channel: Channel) -> dict[str, object]:
    changes = audit.diff(before, _facts(channel))
    secrets = changes.pop("secrets", None)
    if isinstance(secrets, dict):  # every key under "secrets" is a secret, whatever its name
        changes["secrets"] = {k: {"changed": True} for k in secrets}
    return changes


def do_update_channel(
    session: Session,
    *,
    channel: Channel,
    name: str | None = None,
    queue: Queue | bool | None = False,
    is_active: bool | None = None,
    settings: Mapping[str, object] | None = None,
) -> Channel:
    before = _facts(channel)
    if name is not None:
        if not name.strip():
            raise InvalidInput("a channel needs a name", field="name")
        channel.name = name.strip()[:200]
    if queue is not False:
        channel.queue_id = queue.id if isinstance(queue, Queue) else None
    if is_active is not None:
        channel.is_active = is_active
    if settings is not None:
        channel.settings = {**channel.settings, **settings}
    audit.record(
        session, "channel.settings_changed", target=channel, changes=_changes(before, channel)
    )
    return channel


def do_reconfigure_channel(
    session: Session, *, channel: Channel, data: Mapping[str, str]
) -> Channel:
    """New settings from the admin's form, checked by the adapter's ``configure()`` as at
    creation. A secret left blank keeps the stored one; the inbound token (its hash) and the
    settings ``configure()`` does not produce (synced templates, say) are kept."""
    adapter = registry.get_adapter(channel.kind)
    before = _facts(channel)
    if isinstance(adapter, UpdatesItself):
        adapter.update_channel(session, channel, data)
        audit.record(
            session, "channel.settings_changed", target=channel, changes=_changes(before, channel)
        )
        return channel
    key = get_settings().effective_secret_key()
    stored = {name: decrypt_secret(value, key) for name, value in channel.secrets.items()}
    merged = dict(data)
    for name, value in stored.items():
        if not merged.get(name, "").strip():
            merged[name] = value
    setup = adapter.configure(merged)
    channel.settings = {**channel.settings, **setup.settings}
    # An unchanged secret keeps its ciphertext: only what the admin replaced is written anew.
    channel.secrets = {
        name: channel.secrets[name] if stored.get(name) == value else encrypt_secret(value, key)
        for name, value in setup.secrets.items()
    }
    audit.record(
        session, "channel.settings_changed", target=channel, changes=_changes(before, channel)
    )
    return channel


def do_rotate_secrets(session: Session, *, channel: Channel) -> dict[str, str]:
    """New generated credentials for the channel (the api channel's token and signing secret,
    the chat's identity secret); the old ones stop working at once. Returns what to show the
    admin once: never stored in clear, never logged."""
    adapter = registry.get_adapter(channel.kind)
    if not isinstance(adapter, RotatesSecrets):
        raise InvalidInput("this channel has no generated secrets to replace", field="kind")
    setup = adapter.rotate(service.config_for(channel))
    key = get_settings().effective_secret_key()
    channel.settings = {**channel.settings, **setup.settings}
    channel.secrets = {
        **channel.secrets,
        **{name: encrypt_secret(value, key) for name, value in setup.secrets.items()},
    }
    if setup.token:
        channel.token_hash = hash_token(setup.token)
    audit.record(session, "channel.secrets_rotated", target=channel, secrets=sorted(setup.secrets))
    return dict(setup.shown_once)


MAX_BOT_WORDS = 30


def check_bot_settings(channel: Channel, data: Mapping[str, str]) -> dict[str, object]:
    """The bot's settings from the admin's form (strings), as ``knowledge.bot.BotConfig`` reads
    them from ``channel.settings["bot"]``. Settings the form does not show (hours, days, the
    LLM switch) are kept."""
    if not registry.capabilities(channel.kind).bot:
        raise InvalidInput("the bot cannot answer on this kind of channel", field="enabled")
    raw = (data.get("threshold") or "").strip().replace(",", ".").rstrip("%").strip()
    try:
        percent = float(raw) if raw else 50.0
    except ValueError:
        raise InvalidInput(
            "the confidence threshold is a number from 0 to 100", field="threshold"
        ) from None
    if not 0 <= percent <= 100:
        raise InvalidInput("the confidence threshold is a number from 0 to 100", field="threshold")
    words = [w.strip() for w in re.split(r"[,\n]", data.get("handover_words", "")) if w.strip()]
    if len(words) > MAX_BOT_WORDS or any(len(w) > 60 for w in words):
        raise InvalidInput(
            "at most 30 handover words, each up to 60 characters", field="handover_words"
        )
    greeting = (data.get("greeting") or "").strip()
    if len(greeting) > 1000:
        raise InvalidInput("the greeting is too long (at most 1000 characters)", field="greeting")
    name = (data.get("name") or "").strip()
    if len(name) > 80:
        raise InvalidInput("the bot's name is too long (at most 80 characters)", field="name")
    current = channel.settings.get("bot")
    return {
        **(current if isinstance(current, dict) else {}),
        "enabled": (data.get("enabled") or "") not in ("", "off", "0"),
        "name": name,
        "greeting": greeting,
        "threshold": round(percent / 100, 3),
        "blocked_topics": words,
    }


def do_configure_bot(session: Session, *, channel: Channel, data: Mapping[str, str]) -> Channel:
    """Switch the knowledge bot on or off on a channel and set how it answers."""
    bot = check_bot_settings(channel, data)
    before = _facts(channel)
    channel.settings = {**channel.settings, "bot": bot}
    audit.record(
        session, "channel.settings_changed", target=channel, changes=_changes(before, channel)
    )
    return channel


def channel_uses(session: Session, channel: Channel) -> dict[str, int]:
    """What still refers to a channel: conversations and messages."""
    conversations = session.scalar(
        select(func.count(Conversation.id)).where(Conversation.channel_id == channel.id)
    )
    messages = session.scalar(
        select(func.count(Message.id)).where(Message.channel_id == channel.id)
    )
    return {k: int(v or 0) for k, v in (("conversations", conversations), ("messages", messages))}


def do_delete_channel(session: Session, *, channel: Channel) -> None:
    """Delete a channel nothing refers to. One in use is refused, saying what uses it: its
    conversations would lose their way back to the customer (deactivate it instead)."""
    uses = channel_uses(session, channel)
    if uses["conversations"] or uses["messages"]:
        raise Conflict(
            "this channel is used by %(conversations)s conversations and %(messages)s messages: "
            "deactivate it instead",
            params=uses,
        )
    audit.record(session, "channel.deleted", target=channel, kind=channel.kind)
    session.delete(channel)
    session.flush()


def do_retry_delivery(session: Session, *, message: Message) -> None:
    """Send a failed reply again: back to "queued" and through the durable delivery job (its
    retries and backoff), reusing the message's job row when it has one."""
    if message.direction != Direction.OUTBOUND or message.delivery_state != DeliveryState.FAILED:
        raise InvalidInput(
            "only a reply that could not be delivered can be sent again", field="message"
        )
    if message.channel_id is None:
        raise InvalidInput("this conversation has no channel to reply on", field="channel")
    message.delivery_state = DeliveryState.QUEUED
    message.error = None
    message.updated_at = utcnow()
    unique_key = f"deliver:{message.id}"
    job = session.scalar(select(Job).where(Job.unique_key == unique_key))
    if job is None:
        jobs.enqueue(session, "deliver_message", {"message_id": message.id}, unique_key=unique_key)
    else:
        job.run_at = utcnow()
        job.attempts = 0
        job.failed_at = None
        job.done_at = None
        job.claimed_at = None
        job.claimed_by = None
        job.error = None
        session.info["outbox_pending"] = True  # wakes the dispatcher after commit
    queue_id, assignee_id = conversations_actions.conversation_refs(
        session, message.conversation_id
    )
    emit(
        session,
        "message.delivery_updated",
        MessageDeliveryUpdated(
            message_id=message.id,
            conversation_id=message.conversation_id,
            queue_id=queue_id,
            assignee_id=assignee_id,
            delivery_state=DeliveryState.QUEUED.value,
            error=None,
        ),
    )


def do_send_reply_via(
    session: Session,
    *,
    conversation: Conversation,
    via_channel_id: int | None,
    author_id: int,
    author_name: str,
    text: str,
    attachments: Sequence[InboundAttachment] = (),
    html: str | None = None,
    client_id: str | None = None,
) -> conversations_actions.SentReply:
    """An agent's reply, through the channel they picked ("Reply via") when it is not the
    conversation's own: it must be one of the channels that reach this customer."""
    via = None
    if via_channel_id is not None and via_channel_id != conversation.channel_id:
        via = replies.check_reply_via(session, conversation, via_channel_id)
    sent = conversations_actions.do_send_reply_by_id(
        session,
        conversation_id=conversation.id,
        author_id=author_id,
        author_name=author_name,
        text=text,
        html=html,
        attachments=attachments,
        client_id=client_id,
        via_channel_id=via.channel_id if via else None,
    )
    if via is not None:
        # The timeline says which way it went ("by email via Casa Lavanda").
        session.execute(
            update(Message)
            .where(Message.id == sent.id)
            .values(
                meta={"via": {"channel_id": via.channel_id, "name": via.name, "kind": via.kind}}
            )
        )
    return sent
