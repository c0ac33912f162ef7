"""Console notifications: the bell's lines, announced live, e-mailed to absent agents.

``notify(session, user_id, kind, title, url)`` is the public door: any domain may call it inside
its transaction. The line is announced as ``notification.created`` (the bell of that user's tabs
refreshes); when the user is away or offline a durable job e-mails it through the brand's
mailbox (the outbound mail of the channels), at most once per notification.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from sportello.accounts.models import User
from sportello.core import jobs
from sportello.core.db import Database, utcnow
from sportello.core.events import EventPayload, emit, register_event
from sportello.frontline.models import Notification
from sportello.routing.models import AgentState

log = logging.getLogger(__name__)

EMAIL_JOB = "fl_notification_email"
PRESENT = ("available", "busy", "break")


class NotificationCreated(EventPayload):
    user_id: int
    notification_id: int
    kind: str


register_event("notification.created", NotificationCreated)


def in_language(session: Session, user_id: int, message: str, **params: Any) -> str:
    """``message`` translated into the language of ``user_id`` (the one who reads it)."""
    from sportello.core import i18n

    language = session.scalar(select(User.language).where(User.id == user_id))
    token = i18n.current_language.set(language if language in i18n.LANGUAGES else "it")
    try:
        text = i18n.gettext(message)
    finally:
        i18n.current_language.reset(token)
    return text % params if params else text


def notify(session: Session, user_id: int, kind: str, title: str, url: str = "") -> Notification:
    """Add a line to ``user_id``'s bell (and e-mail it if they are not in the console)."""
    note = Notification(user_id=user_id, kind=kind[:40], title=title[:300], url=url[:500])
    session.add(note)
    session.flush()
    emit(
        session,
        "notification.created",
        NotificationCreated(user_id=user_id, notification_id=note.id, kind=note.kind),
    )
    presence = session.scalar(select(AgentState.presence).where(AgentState.user_id == user_id))
    if presence not in PRESENT:
        jobs.enqueue(session, EMAIL_JOB, {"notification_id": note.id}, max_attempts=5)
    return note


def do_mark_read(session: Session, *, user: User, notification_id: int | None = None) -> int:
    """Mark one (or, without an id, every) unread notification of ``user`` as read."""
    stmt = update(Notification).where(
        Notification.user_id == user.id, Notification.read_at.is_(None)
    )
    if notification_id is not None:
        stmt = stmt.where(Notification.id == notification_id)
    return session.execute(stmt.values(read_at=utcnow())).rowcount or 0  # type: ignore[attr-defined]


def build_email(
    note: Notification, user: User, *, sender: str, sender_name: str, base: str
) -> EmailMessage:
    from sportello.core import i18n

    token = i18n.current_language.set(user.language if user.language in i18n.LANGUAGES else "it")
    try:
        intro = i18n.gettext("You have a new notification in Sportello:")
        open_ = i18n.gettext("Open it:")
    finally:
        i18n.current_language.reset(token)
    msg = EmailMessage()
    msg["From"] = formataddr((sender_name, sender))
    msg["To"] = formataddr((user.name, user.email))
    msg["Subject"] = note.title
    msg["Date"] = format_datetime(utcnow())
    msg["Message-ID"] = f"<fl-{uuid.uuid4().hex}@{sender.rsplit('@', 1)[-1]}>"
    msg["Auto-Submitted"] = "auto-generated"
    link = base.rstrip("/") + (note.url or "/notifications")
    msg.set_content(f"{intro}\n\n{note.title}\n\n{open_} {link}\n")
    return msg


def send_email(db: Database, payload: dict[str, Any], *, now: datetime | None = None) -> bool:
    """The job: e-mail one notification if still unread and not yet sent. Raises ChannelError
    (the job retries) when the mailbox cannot send."""
    from sportello.accounts import service as accounts_service
    from sportello.channels import service as channels_service
    from sportello.channels.email import smtp
    from sportello.channels.email.mailbox import MailboxSettings
    from sportello.config import get_settings
    from sportello.reports import weekly

    with db.session() as session:
        note = session.get(Notification, int(payload["notification_id"]))
        if note is None or note.read_at is not None or note.emailed_at is not None:
            return False
        user = session.get(User, note.user_id)
        if user is None or not user.is_active:
            return False
        channel = weekly.mailbox(session, accounts_service.default_brand(session).id)
        if channel is None:
            log.info("no mailbox: notification %s not e-mailed", note.id)
            return False
        config = channels_service.config_for(channel)
        box = MailboxSettings.from_settings(config.settings)
        password = str(config.secrets.get("smtp_password", ""))
        msg = build_email(
            note,
            user,
            sender=box.address,
            sender_name=box.display_name,
            base=get_settings().base_url,
        )
        to = user.email
    smtp.send(box, password, msg, to)
    with db.transaction() as session:
        session.execute(
            update(Notification)
            .where(Notification.id == int(payload["notification_id"]))
            .values(emailed_at=now or utcnow())
        )
    return True


def _email_job(db: Database, payload: dict[str, Any]) -> None:
    send_email(db, payload)


def register() -> None:
    jobs.register_job(EMAIL_JOB, jobs.JobKind(run=_email_job, base_delay=60.0))
