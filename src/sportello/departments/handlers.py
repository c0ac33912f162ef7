"""The departments' wiring: the event, the two mail jobs, and the email channel's side door
through which a colleague's answer reaches the conversation it belongs to.

Importing this module registers them (it is listed in ``wiring.HANDLERS``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from sportello.channels.base import InboundAttachment
from sportello.channels.email import actions as email_actions
from sportello.channels.email import smtp
from sportello.channels.email.actions import Processed
from sportello.channels.email.mailbox import MailboxSettings
from sportello.channels.email.parsing import ParsedEmail
from sportello.channels.models import Channel
from sportello.channels.service import config_for
from sportello.config import get_settings
from sportello.conversations.models import Conversation
from sportello.conversations.storage import path_for
from sportello.core import jobs
from sportello.core.db import Database
from sportello.departments import actions, links, mail
from sportello.departments.models import (
    Department,
    Handoff,
    SideConversation,
    SideMessage,
)

# --------------------------------------------------------------------------- the side door


def _side_of(parsed: ParsedEmail) -> int | None:
    for address in [*parsed.to, *parsed.cc]:
        side_id = links.side_from_address(address.address)
        if side_id is not None:
            return side_id
    for value in [*parsed.in_reply_to, *reversed(parsed.references)]:
        side_id = links.side_from_message_id(value)
        if side_id is not None:
            return side_id
    return None


def side_door(
    session: Session, channel: Channel, parsed: ParsedEmail, raw_id: int
) -> Processed | None:
    """Mail for a side conversation (signed reply address or Message-ID); anything else, and
    anything with a signature that does not verify, goes on to the customer door."""
    if parsed.bounce is not None and parsed.bounce.original_message_id:
        side_id = links.side_from_message_id(parsed.bounce.original_message_id)
        if side_id is not None:
            sent = session.scalar(
                select(SideMessage).where(
                    SideMessage.provider_message_id == parsed.bounce.original_message_id
                )
            )
            if sent is not None:
                detail = parsed.bounce.diagnostic or parsed.bounce.status or "undeliverable"
                actions.do_record_side_sent(
                    session, message=sent, provider_message_id=None, error=f"Bounced: {detail}"
                )
                return Processed("side", None)
    side_id = _side_of(parsed)
    if side_id is None or parsed.sender is None:
        return None
    if session.get(SideConversation, side_id) is None:
        return None
    limit = get_settings().max_upload_bytes
    text = (parsed.visible_text or parsed.text or "").strip("\n")
    if not text and not parsed.html:
        text = parsed.subject or "(nessun testo)"
    reply = actions.SideReply(
        side_id=side_id,
        sender=parsed.sender.address,
        sender_name=parsed.sender.name or parsed.sender.address,
        text=text[: actions.MAX_TEXT * 10],
        html=parsed.html,
        provider_message_id=email_actions._provider_id(parsed.message_id),
        attachments=[
            InboundAttachment(
                filename=a.filename,
                content_type=a.content_type,
                data=a.data,
                content_id=a.content_id,
                inline=a.inline,
            )
            for a in parsed.attachments
            if len(a.data) <= limit
        ],
        automated=parsed.is_auto_reply,
    )
    received = actions.do_receive_side_reply(session, reply=reply)
    side = session.get_one(SideConversation, side_id)
    return Processed(
        "side",
        received.conversation_message_id if received is not None else None,
        side.conversation_id,
    )


email_actions.register_side_door(side_door)


# --------------------------------------------------------------------------- the mail jobs


def send_side(db: Database, payload: dict[str, Any]) -> None:
    with db.session() as session:
        message = session.get(SideMessage, int(payload["side_message_id"]))
        if message is None or message.sent_at is not None:
            return
        side = session.get_one(SideConversation, message.side_conversation_id)
        conversation = session.get_one(Conversation, side.conversation_id)
        channel = session.get(Channel, side.channel_id) if side.channel_id else None
        if channel is None:
            channel = actions.mailbox_for(session, conversation)
        if channel is None:
            from sportello.channels.base import ChannelError

            raise ChannelError("no mailbox can send email", permanent=True)
        config = config_for(channel)
        earlier = [
            m.provider_message_id
            for m in session.scalars(
                select(SideMessage)
                .where(
                    SideMessage.side_conversation_id == side.id,
                    SideMessage.id != message.id,
                    SideMessage.provider_message_id.is_not(None),
                )
                .order_by(SideMessage.id)
            )
            if m.provider_message_id
        ]
        first = session.scalar(
            select(SideMessage.id)
            .where(SideMessage.side_conversation_id == side.id)
            .order_by(SideMessage.id)
            .limit(1)
        )
        number = conversation.number
        subject = side.subject
        to = [a.strip() for a in side.to_address.split(",") if a.strip()]
        quoted = dict(message.quoted or {})
        text = message.text
        author = message.sender
        is_reply = first != message.id
        side_id, message_id = side.id, message.id
    mailbox = MailboxSettings.from_settings(config.settings)
    files = [
        (f["filename"], f["content_type"], path_for(get_settings().attachments_dir, f["sha256"]))
        for f in quoted.get("attachments", [])
    ]
    missing = [name for name, _, path in files if not Path(path).exists()]
    if missing:
        from sportello.channels.base import ChannelError

        raise ChannelError(f"attachment missing on disk: {', '.join(missing)}", permanent=True)
    msg = smtp.build_message(
        mailbox,
        to_address=to[0],
        to_name="",
        subject=("Re: " if is_reply else "") + subject,
        text=mail.side_text(
            language=mailbox.language, author=author, text=text, number=number, quoted=quoted
        ),
        html=None,
        message_id=links.message_id(side_id, message_id, mailbox.domain),
        earlier=earlier,
        attachments=files,
    )
    del msg["To"]
    msg["To"] = ", ".join(to)
    del msg["Reply-To"]
    msg["Reply-To"] = links.reply_address(mailbox.address, side_id)
    smtp.send(mailbox, config.secrets.get("smtp_password", ""), msg, to)
    with db.transaction() as session:
        stored = session.get(SideMessage, message_id)
        if stored is not None:
            actions.do_record_side_sent(
                session, message=stored, provider_message_id=str(msg["Message-ID"]), error=None
            )


def _side_failed(db: Database, payload: dict[str, Any], error: str) -> None:
    with db.transaction() as session:
        stored = session.get(SideMessage, int(payload["side_message_id"]))
        if stored is not None:
            actions.do_record_side_sent(
                session, message=stored, provider_message_id=None, error=error
            )


def send_handoff(db: Database, payload: dict[str, Any]) -> None:
    with db.session() as session:
        handoff = session.get(Handoff, int(payload["handoff_id"]))
        if handoff is None or handoff.sent_at is not None:
            return
        department = session.get_one(Department, handoff.department_id)
        conversation = session.get_one(Conversation, handoff.conversation_id)
        channel = actions.mailbox_for(session, conversation)
        if channel is None:
            from sportello.channels.base import ChannelError

            raise ChannelError("no mailbox can send email", permanent=True)
        config = config_for(channel)
        to = list(department.emails)
        handoff_id = handoff.id
        subject, body = mail.handoff_mail(
            language=MailboxSettings.from_settings(config.settings).language,
            department=department.name,
            kind=handoff.kind.value,
            summary=handoff.summary,
            context=dict(handoff.context),
            link=links.handoff_url(handoff.id),
            conversation_url=f"{get_settings().base_url.rstrip('/')}/c/{conversation.number}",
        )
    mailbox = MailboxSettings.from_settings(config.settings)
    msg = smtp.build_message(
        mailbox,
        to_address=to[0],
        to_name=department.name,
        subject=subject,
        text=body,
        html=None,
        message_id=smtp.message_id_for(
            get_settings().effective_secret_key(), "handoff", handoff_id, mailbox.domain
        ),
    )
    del msg["To"]
    msg["To"] = ", ".join(to)
    smtp.send(mailbox, config.secrets.get("smtp_password", ""), msg, to)
    with db.transaction() as session:
        stored = session.get(Handoff, handoff_id)
        if stored is not None:
            actions.do_record_handoff_sent(session, handoff=stored, error=None)


def _handoff_failed(db: Database, payload: dict[str, Any], error: str) -> None:
    with db.transaction() as session:
        stored = session.get(Handoff, int(payload["handoff_id"]))
        if stored is not None:
            actions.do_record_handoff_sent(session, handoff=stored, error=error)


jobs.register_job(
    actions.SEND_SIDE_JOB,
    jobs.JobKind(run=send_side, on_failure=_side_failed, base_delay=30.0, max_delay=1800.0),
)
jobs.register_job(
    actions.SEND_HANDOFF_JOB,
    jobs.JobKind(run=send_handoff, on_failure=_handoff_failed, base_delay=30.0, max_delay=1800.0),
)
