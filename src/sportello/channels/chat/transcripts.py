"""Chat transcripts by email: a job per request, sent through the brand's email channel.

Without an email channel (or before the email adapter exists) the request stays ``pending`` with
a note the console can show; nothing is lost, a later run can pick it up.
"""

from __future__ import annotations

import logging
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from sportello.channels.base import ChannelError, OutboundMessage
from sportello.core import jobs
from sportello.core.db import Database, utcnow

log = logging.getLogger(__name__)


def transcript_text(conversation_number: int, lines: list[tuple[str, str, str]]) -> str:
    out = [
        f"Trascrizione della chat n. {conversation_number}"
        f" / Chat transcript #{conversation_number}",
        "",
    ]
    for when, who, text in lines:
        out.append(f"[{when}] {who}:")
        out.extend(f"  {line}" for line in text.splitlines() or [""])
    return "\n".join(out) + "\n"


def send_transcript(db: Database, payload: dict[str, Any]) -> None:
    from sportello.channels import registry
    from sportello.channels import service as channels_service
    from sportello.channels.chat.models import TranscriptRequest
    from sportello.channels.chat.service import SHOWN, email_channel
    from sportello.conversations.models import Conversation, Direction, Message

    request_id = int(payload["request_id"])
    with db.session() as session:
        request = session.get(TranscriptRequest, request_id)
        if request is None or request.status == "sent":
            return
        conversation = session.get_one(Conversation, request.conversation_id)
        mailbox = email_channel(session, conversation.brand_id)
        tz = ZoneInfo("Europe/Rome")
        lines = [
            (
                m.created_at.astimezone(tz).strftime("%d/%m/%Y %H:%M"),
                (m.author.name if m.author else m.sender_name)
                or ("Operatore" if m.direction == Direction.OUTBOUND else "Visitatore"),
                m.text,
            )
            for m in session.scalars(
                select(Message)
                .where(Message.conversation_id == conversation.id, Message.direction.in_(SHOWN))
                .order_by(Message.id)
            ).unique()
        ]
        number, email = conversation.number, request.email
        name = conversation.customer.name
        config = channels_service.config_for(mailbox) if mailbox is not None else None
    note = ""
    status = "pending"
    if config is None:
        note = "no email channel for this brand yet"
    else:
        try:
            adapter = registry.get_adapter(config.kind)
        except LookupError:
            adapter = None
            note = "the email channel cannot send yet"
        if adapter is not None:
            outbound = OutboundMessage(
                message_id=0,
                conversation_id=request.conversation_id,
                conversation_number=number,
                text=transcript_text(number, lines),
                html=None,
                subject=f"Trascrizione della chat n. {number}",
                recipient={"email": email},
                recipient_name=name,
                author_name=config.name,
                meta={"transcript_request_id": request_id},
            )
            try:
                adapter.send(config, outbound)
            except ChannelError as exc:
                if not exc.permanent:
                    raise  # the job runner retries
                status, note = "failed", exc.message
            else:
                status = "sent"
    with db.transaction() as session:
        row = session.get_one(TranscriptRequest, request_id)
        row.status, row.note = status, note[:500]
        if status == "sent":
            row.sent_at = utcnow()


jobs.register_job("chat_transcript", jobs.JobKind(run=send_transcript, base_delay=30.0))
