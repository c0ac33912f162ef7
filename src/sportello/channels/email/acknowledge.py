"""The optional acknowledgement: "we got your message, its number is #1042".

Enqueued by ``actions.do_process_raw`` (same transaction as the message) for a customer's first
message of a new conversation, never for automated mail or a sender over the rate guard. Sent as
an ``Auto-Submitted: auto-replied`` reply, threaded under the customer's message.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_datetime

from sportello.channels.base import ChannelError
from sportello.channels.email import actions, smtp
from sportello.channels.email.mailbox import DEFAULT_HOURS, MailboxSettings
from sportello.channels.models import Channel
from sportello.channels.service import config_for
from sportello.config import get_settings
from sportello.conversations.models import Conversation, Message
from sportello.core import jobs
from sportello.core.db import Database, utcnow
from sportello.routing.calendar import BusinessCalendar, CalendarError

TEMPLATES: dict[str, dict[str, str]] = {
    "it": {
        "greeting": "Gentile {name},",
        "greeting_anon": "Buongiorno,",
        "received": (
            "abbiamo ricevuto il suo messaggio e lo abbiamo registrato con il numero #{number}."
        ),
        "open": "Le risponderemo al più presto.",
        "closed": "In questo momento i nostri uffici sono chiusi: le risponderemo da {next_open}.",
        "reply": (
            "Per aggiungere informazioni risponda a questa email lasciando invariato l'oggetto."
        ),
        "sign": "Cordiali saluti,\n{team}",
    },
    "en": {
        "greeting": "Dear {name},",
        "greeting_anon": "Hello,",
        "received": "we have received your message and registered it as number #{number}.",
        "open": "We will get back to you as soon as possible.",
        "closed": "Our office is closed right now: we will answer from {next_open}.",
        "reply": "To add anything, just reply to this email keeping the subject as it is.",
        "sign": "Kind regards,\n{team}",
    },
}


def acknowledgement_text(
    *, language: str, name: str, number: int, team: str, hours: dict[str, Any], now: datetime
) -> str:
    t = TEMPLATES.get(language, TEMPLATES["it"])
    try:
        calendar = BusinessCalendar.from_dict(hours)
    except CalendarError:
        calendar = BusinessCalendar.from_dict(DEFAULT_HOURS)
    if calendar.is_open(now):
        when = t["open"]
    else:
        try:
            next_open = calendar.next_open(now).astimezone(ZoneInfo(str(calendar.tz)))
            when = t["closed"].format(
                next_open=format_datetime(next_open, "EEEE d MMMM, HH:mm", locale=language)
            )
        except CalendarError:
            when = t["open"]
    lines = [
        t["greeting"].format(name=name) if name else t["greeting_anon"],
        "",
        t["received"].format(number=number),
        when,
        "",
        t["reply"],
        "",
        t["sign"].format(team=team),
    ]
    return "\n".join(lines)


def send_acknowledgement(db: Database, payload: dict[str, Any]) -> None:
    with db.session() as session:
        message = session.get(Message, int(payload["message_id"]))
        channel = session.get(Channel, int(payload["channel_id"]))
        if message is None or channel is None or not channel.is_active:
            return
        if message.meta.get("email", {}).get("ack_message_id"):
            return  # sent already (a retry after the send succeeded)
        conversation = session.get_one(Conversation, message.conversation_id)
        config = config_for(channel)
        email_meta = message.meta.get("email", {})
        to_address = (email_meta.get("reply_to") or [None])[0] or email_meta.get("from")
        name = conversation.customer.name
        number = conversation.number
        subject = conversation.subject
        provider_id = message.provider_message_id
    if not to_address:
        raise ChannelError("no address to acknowledge", permanent=True)
    mailbox = MailboxSettings.from_settings(config.settings)
    text = acknowledgement_text(
        language=mailbox.language,
        name=name,
        number=number,
        team=mailbox.display_name or mailbox.address,
        hours=dict(mailbox.hours),
        now=utcnow(),
    )
    ack_id = smtp.message_id_for(
        get_settings().effective_secret_key(), f"a{config.id}.", int(payload["message_id"]),
        mailbox.domain,
    )  # fmt: skip
    msg = smtp.build_message(
        mailbox,
        to_address=to_address,
        to_name=name,
        subject=smtp.reply_subject(subject, number),
        text=text,
        html=None,
        message_id=ack_id,
        earlier=[provider_id] if provider_id else [],
        auto_submitted=True,
    )
    smtp.send(mailbox, config.secrets.get("smtp_password", ""), msg, to_address)
    with db.transaction() as session:
        stored = session.get(Message, int(payload["message_id"]))
        if stored is not None:
            actions.do_record_acknowledgement(session, message=stored, ack_message_id=ack_id)


jobs.register_job(
    "email_acknowledge",
    jobs.JobKind(run=send_acknowledgement, base_delay=30.0, max_delay=1800.0),
)
