"""Writes for the email channel: raw messages stored first, then processed through the one door.

``do_process_raw`` turns one stored message into its effect: a message in a conversation (through
``channels.service.receive``), a delivery report on the outbound message a bounce or PEC receipt
refers to, or nothing new for a duplicate. It raises on anything it cannot handle; the caller
(``ingest``) rolls back and quarantines the message, keeping the raw bytes.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, select
from sqlalchemy.orm import Session

from sportello.channels import service as channels_service
from sportello.channels.base import Identity, InboundAttachment, InboundMessage
from sportello.channels.email import mailbox as mailbox_settings
from sportello.channels.email.mailbox import MailboxSettings
from sportello.channels.email.models import EmailRaw, EmailRawData, MailboxState, RawStatus
from sportello.channels.email.parsing import ParsedEmail, parse_message
from sportello.channels.models import Channel
from sportello.config import get_settings
from sportello.conversations import actions as conversations_actions
from sportello.conversations.models import DeliveryState, Direction, Message
from sportello.conversations.storage import path_for, store_bytes
from sportello.core import jobs
from sportello.core.db import utcnow
from sportello.core.errors import InvalidInput
from sportello.core.security import encrypt_secret

log = logging.getLogger(__name__)

MAX_RAW_BYTES = 200 * 1024 * 1024
# Larger messages are kept on disk rather than in the database: a megabyte blob costs SQLite a
# write to the WAL and another at checkpoint, several times what a file costs.
INLINE_RAW_BYTES = 256 * 1024
MAX_ID = 300
# Local parts that never get an acknowledgement (they do not read it, or answer it in a loop).
NO_ACK_LOCALPARTS = frozenset(
    {"mailer-daemon", "postmaster", "noreply", "no-reply", "donotreply", "do-not-reply", "bounce",
     "bounces", "notifications", "notification", "daemon", "root", "listserv", "majordomo"}
)  # fmt: skip


# Prebuilt Core statements: these run once or twice per message, and building a statement
# costs more than SQLite takes to run it.
_RAW = cast(Table, EmailRaw.__table__)
_RAW_EXISTS = select(_RAW.c.id).where(
    _RAW.c.channel_id == bindparam("channel_id"),
    _RAW.c.folder == bindparam("folder"),
    _RAW.c.uidvalidity == bindparam("uidvalidity"),
    _RAW.c.uid == bindparam("uid"),
)
_RAW_INSERT = _RAW.insert().returning(_RAW.c.id)
_DATA = cast(Table, EmailRawData.__table__)
_RAW_DATA_INSERT = _DATA.insert()
_RAW_DATA_LOAD = (
    select(_DATA.c.data, _RAW.c.sha256)
    .join(_DATA, _DATA.c.raw_id == _RAW.c.id, isouter=True)
    .where(_RAW.c.id == bindparam("raw_id"))
)
_RAW_LOAD = (
    select(_RAW.c.id, _RAW.c.channel_id, _RAW.c.status, _RAW.c.sha256, _DATA.c.data)
    .join(_DATA, _DATA.c.raw_id == _RAW.c.id, isouter=True)
    .where(_RAW.c.id == bindparam("id"))
)
_RAW_SEEN = (
    select(_RAW.c.conversation_message_id)
    .where(
        _RAW.c.channel_id == bindparam("channel_id"),
        _RAW.c.message_id == bindparam("message_id"),
        _RAW.c.status == RawStatus.PROCESSED.value,
        _RAW.c.id != bindparam("id"),
    )
    .limit(1)
)
_SENDER_RATE = select(func.count(_RAW.c.id)).where(
    _RAW.c.channel_id == bindparam("channel_id"),
    _RAW.c.sender == bindparam("sender"),
    _RAW.c.received_at >= bindparam("since", type_=_RAW.c.received_at.type),
    _RAW.c.id != bindparam("id"),
)
# The update that ends a processing attempt counts it.
_RAW_UPDATE = (
    _RAW.update().where(_RAW.c.id == bindparam("raw_id")).values(attempts=_RAW.c.attempts + 1)
)


@dataclass(frozen=True)
class RawRecord:
    """What processing needs of a stored message (no ORM object: see the statements above)."""

    id: int
    channel_id: int
    data: bytes


def raw_path(sha256: str) -> Path:
    return path_for(get_settings().data_dir / "mail", sha256)


def _bytes(data: bytes | None, sha256: str | None) -> bytes:
    if data is not None:
        return bytes(data)
    return raw_path(sha256).read_bytes() if sha256 else b""


def read_raw(session: Session, raw_id: int) -> bytes:
    row = session.connection().execute(_RAW_DATA_LOAD, {"raw_id": raw_id}).first()
    return _bytes(row.data, row.sha256) if row is not None else b""


def load_raw(session: Session, raw_id: int) -> tuple[RawRecord, RawStatus] | None:
    row = session.connection().execute(_RAW_LOAD, {"id": raw_id}).first()
    if row is None:
        return None
    data = _bytes(row.data, row.sha256)
    return RawRecord(int(row.id), int(row.channel_id), data), RawStatus(row.status)


# --------------------------------------------------------------------------- storing


def do_store_raw(
    session: Session,
    *,
    channel_id: int,
    folder: str,
    uidvalidity: int,
    uid: int,
    data: bytes,
    size: int | None = None,
) -> int | None:
    """Keep the message's bytes; returns the row's id, or ``None`` if this UID was stored
    already. (Core statements: this runs once per fetched message.)"""
    conn = session.connection()
    key = {"channel_id": channel_id, "folder": folder, "uidvalidity": uidvalidity, "uid": uid}
    if conn.execute(_RAW_EXISTS, key).first() is not None:
        return None
    too_large = max(size or 0, len(data)) > MAX_RAW_BYTES
    size = max(size or 0, len(data)) if too_large else len(data)
    inline = too_large or len(data) <= INLINE_RAW_BYTES
    if inline:
        digest = hashlib.sha256(data).hexdigest()
    else:
        digest, _ = store_bytes(get_settings().data_dir / "mail", data, max_bytes=MAX_RAW_BYTES)
    row = {
        **key,
        "sha256": digest,
        "size": size,
        # Too large to keep: recorded, and left untouched on the server for a person.
        "status": (RawStatus.QUARANTINED if too_large else RawStatus.RECEIVED).value,
        "error": f"{size} bytes, over {MAX_RAW_BYTES}: left on the mail server"
        if too_large
        else None,
        "subject": "",
        "attempts": 0,
        "server_done": too_large,
        "received_at": utcnow(),
    }
    raw_id = int(conn.execute(_RAW_INSERT, row).scalar_one())
    stored = b"" if too_large else (data if inline else None)
    conn.execute(_RAW_DATA_INSERT, {"raw_id": raw_id, "data": stored})
    return raw_id


def do_quarantine(session: Session, *, raw_id: int, error: str) -> None:
    session.connection().execute(
        _RAW_UPDATE,
        {
            "raw_id": raw_id,
            "status": RawStatus.QUARANTINED.value,
            "error": error[:2000],
            "processed_at": utcnow(),
        },
    )


def do_mark_server_done(session: Session, *, raw_ids: list[int]) -> None:
    for row in session.scalars(select(EmailRaw).where(EmailRaw.id.in_(raw_ids))):
        row.server_done = True


# --------------------------------------------------------------------------- processing


@dataclass(frozen=True)
class Processed:
    outcome: str  # "message", "duplicate", "bounce", "pec", or a side door's ("side")
    message_id: int | None
    conversation_id: int | None = None
    new_conversation: bool = False
    acknowledged: bool = False


def _provider_id(message_id: str) -> str:
    if len(message_id) <= MAX_ID:
        return message_id
    return f"<{hashlib.sha256(message_id.encode()).hexdigest()}@sportello.long-id>"


def thread_ids(parsed: ParsedEmail) -> list[str]:
    """In-Reply-To first, then References from the most recent back."""
    ids: list[str] = []
    for value in [*parsed.in_reply_to, *reversed(parsed.references)]:
        value = _provider_id(value)
        if value not in ids and value != parsed.message_id:
            ids.append(value)
    return ids


def _outbound_by_provider_id(
    session: Session, channel: Channel, provider_id: str
) -> Message | None:
    return session.scalar(
        select(Message).where(
            Message.channel_id == channel.id,
            Message.provider_message_id == _provider_id(provider_id),
            Message.direction == Direction.OUTBOUND,
        )
    )


def _append_meta(message: Message, key: str, item: Mapping[str, Any]) -> None:
    meta = dict(message.meta)
    meta[key] = [*meta.get(key, []), dict(item)][-20:]
    message.meta = meta  # a new dict, so the JSON column is written


def _handle_pec(
    session: Session, channel: Channel, raw_id: int, parsed: ParsedEmail
) -> Processed | None:
    pec = parsed.pec
    if pec is None:
        return None
    target = (
        _outbound_by_provider_id(session, channel, pec.original_message_id)
        if pec.original_message_id
        else None
    )
    if target is None:
        # A receipt for mail we did not send from here (or sent before Sportello): kept raw only.
        return Processed("pec", None)
    _append_meta(
        target,
        "pec",
        {"kind": pec.kind, "delivered": pec.delivered, "at": utcnow().isoformat(), "raw": raw_id},
    )
    if pec.delivered is True:
        conversations_actions.do_mark_delivery(
            session, message=target, state=DeliveryState.DELIVERED
        )
    elif pec.delivered is False:
        conversations_actions.do_mark_delivery(
            session,
            message=target,
            state=DeliveryState.FAILED,
            error=f"PEC: {pec.kind} ({parsed.subject})"[:2000],
        )
    return Processed("pec", target.id, target.conversation_id)


def _handle_bounce(
    session: Session, channel: Channel, raw_id: int, parsed: ParsedEmail
) -> Processed | None:
    bounce = parsed.bounce
    if bounce is None or not bounce.original_message_id:
        return None
    target = _outbound_by_provider_id(session, channel, bounce.original_message_id)
    if target is None:
        return None  # not ours: it goes to the one door as automated mail
    _append_meta(
        target,
        "bounces",
        {
            "status": bounce.status,
            "action": bounce.action,
            "recipient": bounce.recipient,
            "diagnostic": bounce.diagnostic,
            "permanent": bounce.permanent,
            "at": utcnow().isoformat(),
            "raw": raw_id,
        },
    )
    if bounce.permanent:
        detail = bounce.diagnostic or bounce.status or "returned as undeliverable"
        conversations_actions.do_mark_delivery(
            session,
            message=target,
            state=DeliveryState.FAILED,
            error=f"Bounced: {detail}",
        )
    return Processed("bounce", target.id, target.conversation_id)


# Side doors: mail that answers something other than a customer conversation (a colleague's
# answer to a side conversation). Each takes the parsed mail and returns ``Processed`` when the
# mail was its own, ``None`` to pass it on. Registered by the domain's handler module (wiring).
SideDoor = Callable[[Session, Channel, ParsedEmail, int], "Processed | None"]
SIDE_DOORS: list[SideDoor] = []


def register_side_door(door: SideDoor) -> None:
    if door not in SIDE_DOORS:
        SIDE_DOORS.append(door)


def inbound_from(parsed: ParsedEmail, *, raw_id: int, max_attachment_bytes: int) -> InboundMessage:
    """The one door's view of a parsed email (no database needed)."""
    if parsed.sender is None:
        raise InvalidInput("the message has no sender address (From)", field="from")
    text = parsed.text.strip("\n") or parsed.subject.strip()
    notes: list[str] = []
    if len(text) > conversations_actions.MAX_TEXT:
        text = text[: conversations_actions.MAX_TEXT - 40] + "\n[…]"
        notes.append("text truncated; the original is kept raw")
    attachments: list[InboundAttachment] = []
    for item in parsed.attachments:
        if len(item.data) > max_attachment_bytes:
            notes.append(f"attachment {item.filename!r} over the size limit: kept in the raw mail")
            continue
        attachments.append(
            InboundAttachment(
                filename=item.filename,
                content_type=item.content_type,
                data=item.data,
                content_id=item.content_id,
                inline=item.inline,
            )
        )
    if not text and not parsed.html and not attachments:
        text = "(nessun testo)"
    email_meta: dict[str, Any] = {
        "raw_id": raw_id,
        "from": parsed.sender.address,
        "to": [a.address for a in parsed.to][:20],
        "cc": [a.address for a in parsed.cc][:20],
        "reply_to": [a.address for a in parsed.reply_to][:5],
        "date": parsed.date.isoformat() if parsed.date else None,
        "visible_text": parsed.visible_text if parsed.visible_text != text else None,
    }
    flags = {
        "auto_reply": parsed.is_auto_reply,
        "list": parsed.is_list,
        "bounce": parsed.bounce is not None,
    }
    email_meta.update({k: True for k, v in flags.items() if v})
    if parsed.parse_warnings:
        email_meta["warnings"] = parsed.parse_warnings[:20]
    if notes:
        email_meta["notes"] = notes
    return InboundMessage(
        identity=Identity("email", parsed.sender.address),
        sender_name=parsed.sender.name,
        text=text,
        html=parsed.html,
        provider_message_id=_provider_id(parsed.message_id),
        in_reply_to=thread_ids(parsed)[:50],
        conversation_number=parsed.conversation_number,
        subject=parsed.subject,
        attachments=attachments,
        meta={"email": email_meta},
        automated=any(flags.values()),
    )


def _should_acknowledge(
    settings: MailboxSettings, parsed: ParsedEmail, inbound: InboundMessage
) -> bool:
    if not settings.acknowledge or inbound.automated or parsed.sender is None:
        return False
    address = parsed.sender.address.lower()
    local = address.split("@", 1)[0]
    if address == settings.address.lower() or local in NO_ACK_LOCALPARTS:
        return False
    return not local.startswith(("noreply", "no-reply", "bounce"))


def do_process_raw(session: Session, *, channel: Channel, raw: RawRecord) -> Processed:
    """Parse one stored message and apply it. Raises on failure (the caller quarantines)."""
    parsed = parse_message(raw.data)
    message_id = _provider_id(parsed.message_id)
    sender = parsed.sender.address.lower()[:320] if parsed.sender else None
    conn = session.connection()
    found = {"raw_id": raw.id, "message_id": message_id, "sender": sender,
             "subject": parsed.subject[:300]}  # fmt: skip

    earlier = conn.execute(
        _RAW_SEEN, {"channel_id": channel.id, "message_id": message_id, "id": raw.id}
    ).first()
    if earlier is not None:
        # The same message again (a copy, or fetched anew after a UIDVALIDITY change).
        return _done(session, found, Processed("duplicate", earlier.conversation_message_id))

    handled = _handle_pec(session, channel, raw.id, parsed) or _handle_bounce(
        session, channel, raw.id, parsed
    )
    for door in SIDE_DOORS:
        if handled is None:
            handled = door(session, channel, parsed, raw.id)
    if handled is not None:
        return _done(session, found, handled)

    settings = MailboxSettings.from_settings(channel.settings)
    inbound = inbound_from(
        parsed, raw_id=raw.id, max_attachment_bytes=get_settings().max_upload_bytes
    )
    if sender:
        since = utcnow() - timedelta(minutes=settings.rate_window_minutes)
        earlier_from_sender = conn.execute(
            _SENDER_RATE,
            {"channel_id": channel.id, "sender": sender, "since": since, "id": raw.id},
        ).scalar()
        if int(earlier_from_sender or 0) + 1 > settings.rate_limit:
            inbound.automated = True
            inbound.meta["email"]["rate_limited"] = True
    result = channels_service.receive(session, channel=channel, inbound=inbound)
    acknowledge = (
        not result.duplicate
        and result.new_conversation
        and _should_acknowledge(settings, parsed, inbound)
    )
    if acknowledge:
        jobs.enqueue(
            session,
            "email_acknowledge",
            {"channel_id": channel.id, "message_id": result.message_id},
            unique_key=f"email-ack:{result.message_id}",
            max_attempts=5,
        )
    processed = Processed(
        "duplicate" if result.duplicate else "message",
        result.message_id,
        result.conversation_id,
        result.new_conversation,
        acknowledge,
    )
    return _done(session, found, processed)


def _done(session: Session, found: dict[str, Any], processed: Processed) -> Processed:
    session.connection().execute(
        _RAW_UPDATE,
        {
            **found,
            "status": RawStatus.PROCESSED.value,
            "outcome": processed.outcome,
            "error": None,
            "conversation_message_id": processed.message_id,
            "processed_at": utcnow(),
        },
    )
    return processed


def do_record_acknowledgement(session: Session, *, message: Message, ack_message_id: str) -> None:
    meta = dict(message.meta)
    email_meta = dict(meta.get("email", {}))
    email_meta["ack_message_id"] = ack_message_id
    email_meta["ack_at"] = utcnow().isoformat()
    meta["email"] = email_meta
    message.meta = meta


# --------------------------------------------------------------------------- mailbox state


def do_update_mailbox(
    session: Session, *, channel: Channel, data: Mapping[str, str], key: str
) -> Channel:
    """New settings from the admin's form; passwords given replace the stored ones."""
    channel.settings = mailbox_settings.validate(data, previous=channel.settings)
    new_secrets = mailbox_settings.secrets_from(data, required=False)
    if new_secrets:
        channel.secrets = {
            **channel.secrets,
            **{k: encrypt_secret(v, key) for k, v in new_secrets.items()},
        }
    state = session.get(MailboxState, channel.id)
    if state is not None and state.folder != channel.settings["folder"]:
        state.folder = channel.settings["folder"]
        state.uidvalidity = None
        state.last_uid = 0
    return channel


def do_requeue(session: Session, *, raw: EmailRaw) -> None:
    """Put a quarantined message back to be processed (after a fix)."""
    if raw.status != RawStatus.QUARANTINED:
        raise InvalidInput("only quarantined messages can be processed again", field="status")
    raw.status = RawStatus.RECEIVED
