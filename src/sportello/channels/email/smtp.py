"""Outbound mail: building a threaded MIME message and sending it with smtplib.

Errors become ``ChannelError``: temporary ones (4xx replies, a server that cannot be reached or
hangs up) are retried by the job runner with backoff; permanent ones (5xx) fail the message.
"""

from __future__ import annotations

import hashlib
import hmac
import mimetypes
import re
import smtplib
import socket
import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from pathlib import Path

from sportello.channels.base import ChannelError, OutboundMessage
from sportello.channels.email.mailbox import MailboxSettings
from sportello.core.db import utcnow
from sportello.core.html import text_to_html

MAX_REFERENCES = 20
_REPLY_PREFIX = re.compile(r"^\s*((re|r|aw|sv|fw|fwd|i|inoltro|rif)\s*(\[\d+\])?\s*:\s*)+", re.I)
_TAG = re.compile(r"\[\s*#\s*\d+\s*\]")


def message_id_for(key: str, kind: str, ref: int, domain: str) -> str:
    """A Message-ID stable across retries of one send, unguessable and unique per install."""
    digest = hmac.new(key.encode(), f"{kind}:{ref}".encode(), hashlib.sha256).hexdigest()[:20]
    return f"<sportello.{kind}{ref}.{digest}@{domain}>"


def reply_subject(subject: str, number: int) -> str:
    base = _TAG.sub("", _REPLY_PREFIX.sub("", subject)).strip() or "…"
    return f"Re: {base} [#{number}]"


def _is_msgid(value: str) -> bool:
    return value.startswith("<") and value.endswith(">") and "@" in value and " " not in value


def thread_headers(earlier: Sequence[str]) -> tuple[str | None, str | None]:
    """In-Reply-To (the latest message) and References (the first and the latest ones)."""
    ids = [i for i in earlier if _is_msgid(i)]
    if not ids:
        return None, None
    refs = ids if len(ids) <= MAX_REFERENCES else [ids[0], *ids[-(MAX_REFERENCES - 1) :]]
    return ids[-1], " ".join(refs)


def build_message(
    mailbox: MailboxSettings,
    *,
    to_address: str,
    to_name: str,
    subject: str,
    text: str,
    html: str | None,
    message_id: str,
    earlier: Sequence[str] = (),
    attachments: Sequence[tuple[str, str, Path]] = (),
    auto_submitted: bool = False,
) -> EmailMessage:
    msg = EmailMessage(policy=policy.SMTP)
    msg["From"] = formataddr((mailbox.display_name, mailbox.address))
    msg["To"] = formataddr((to_name, to_address))
    msg["Reply-To"] = mailbox.address
    msg["Subject"] = subject
    msg["Date"] = format_datetime(utcnow())
    msg["Message-ID"] = message_id
    in_reply_to, references = thread_headers(earlier)
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
    if references:
        msg["References"] = references
    if auto_submitted:
        msg["Auto-Submitted"] = "auto-replied"
        msg["X-Auto-Response-Suppress"] = "All"
    msg.set_content(text or " ")
    msg.add_alternative(html or text_to_html(text), subtype="html")
    for filename, content_type, path in attachments:
        ctype = content_type or mimetypes.guess_type(filename)[0] or "application/octet-stream"
        maintype, _, subtype = ctype.partition("/")
        msg.add_attachment(
            path.read_bytes(),
            maintype=maintype or "application",
            subtype=subtype or "octet-stream",
            filename=filename,
        )
    return msg


def build_reply(
    mailbox: MailboxSettings, message: OutboundMessage, *, key: str, channel_id: int
) -> EmailMessage:
    to_address = message.recipient.get("email")
    if not to_address:
        raise ChannelError(NO_ADDRESS, permanent=True)
    missing = [a.filename for a in message.attachments if not Path(a.path).exists()]
    if missing:
        raise ChannelError(f"attachment missing on disk: {', '.join(missing)}", permanent=True)
    return build_message(
        mailbox,
        to_address=to_address,
        to_name=message.recipient_name,
        subject=reply_subject(message.subject, message.conversation_number),
        text=message.text,
        html=message.html,
        message_id=message_id_for(key, f"m{channel_id}.", message.message_id, mailbox.domain),
        earlier=message.reply_to_provider_ids,
        attachments=[(a.filename, a.content_type, Path(a.path)) for a in message.attachments],
    )


def _where(mailbox: MailboxSettings) -> str:
    return f"{mailbox.smtp_host}:{mailbox.smtp_port}"


def _reply_text(raw: bytes | str) -> str:
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    return " ".join(text.split())


def connect(mailbox: MailboxSettings, password: str) -> smtplib.SMTP:
    """An authenticated SMTP connection; raises ``ChannelError`` in plain words."""
    where = _where(mailbox)
    context = ssl.create_default_context()
    server: smtplib.SMTP | None = None
    try:
        if mailbox.smtp_security == "tls":
            server = smtplib.SMTP_SSL(
                mailbox.smtp_host, mailbox.smtp_port, timeout=mailbox.timeout, context=context
            )
        else:
            server = smtplib.SMTP(mailbox.smtp_host, mailbox.smtp_port, timeout=mailbox.timeout)
        server.ehlo_or_helo_if_needed()
        if mailbox.smtp_security == "starttls":
            server.starttls(context=context)
            server.ehlo()
        if mailbox.smtp_user and password:
            server.login(mailbox.smtp_user, password)
        return server
    except Exception as exc:
        if server is not None:
            _close(server)
        raise translate_error(exc, where) from None


def _close(server: smtplib.SMTP) -> None:
    try:
        server.quit()
    except (smtplib.SMTPException, OSError):
        server.close()


NO_ADDRESS = "this customer has no email address to reply to"


def translate_error(exc: BaseException, where: str) -> ChannelError:
    """Any smtplib or socket error as a ``ChannelError``: our words (translated on the page),
    then the server's own words and address as the detail."""
    if isinstance(exc, ChannelError):
        return exc
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        details = "; ".join(
            f"{rcpt}: {code} {_reply_text(text)}" for rcpt, (code, text) in exc.recipients.items()
        )
        temporary = all(400 <= c < 500 for c in codes)
        return ChannelError(
            "the SMTP server refused the recipient",
            permanent=not temporary,
            detail=f"{where}: {details}",
        )
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return ChannelError(
            "the SMTP server refused the user name or password",
            permanent=exc.smtp_code >= 500,
            detail=f"{where}: {exc.smtp_code} {_reply_text(exc.smtp_error)}",
        )
    if isinstance(exc, smtplib.SMTPResponseException):
        return ChannelError(
            "the SMTP server refused the message",
            permanent=exc.smtp_code >= 500,
            detail=f"{where}: {exc.smtp_code} {_reply_text(exc.smtp_error)}",
        )
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return ChannelError(
            "the SMTP server does not support what was asked",
            permanent=True,
            detail=f"{where}: {exc}",
        )
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return ChannelError(
            "the SMTP server closed the connection", permanent=False, detail=f"{where}: {exc}"
        )
    if isinstance(exc, smtplib.SMTPException):
        return ChannelError("the SMTP server reported an error", detail=f"{where}: {exc}")
    return connection_error(exc, where, "SMTP")


def connection_error(exc: BaseException, where: str, protocol: str) -> ChannelError:
    """A socket or TLS error reaching a mail server (IMAP or SMTP) as a ``ChannelError``."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return ChannelError(
            "the TLS certificate of the mail server is not trusted",
            permanent=True,
            detail=f"{protocol} {where}: {exc.verify_message}",
        )
    if isinstance(exc, ssl.SSLError):
        return ChannelError(
            "TLS with the mail server failed: is the security setting right?",
            detail=f"{protocol} {where}: {exc.reason}",
        )
    if isinstance(exc, socket.gaierror):
        return ChannelError(
            "the mail server's host name was not found",
            detail=f"{protocol} {where}: {exc.strerror}",
        )
    if isinstance(exc, ConnectionRefusedError):
        return ChannelError(
            "the mail server refused the connection: is the port right?",
            detail=f"{protocol} {where}",
        )
    if isinstance(exc, TimeoutError):
        return ChannelError("the mail server did not answer in time", detail=f"{protocol} {where}")
    if isinstance(exc, OSError):
        return ChannelError(
            "the mail server cannot be reached", detail=f"{protocol} {where}: {exc}"
        )
    return ChannelError(
        "the mail server reported an error", detail=f"{protocol} {where}: {type(exc).__name__}"
    )


def send(
    mailbox: MailboxSettings, password: str, msg: EmailMessage, to_address: str | Sequence[str]
) -> None:
    """One message, to one address or several (one envelope)."""
    to_addrs = [to_address] if isinstance(to_address, str) else list(to_address)
    server = connect(mailbox, password)
    try:
        server.send_message(msg, from_addr=mailbox.address, to_addrs=to_addrs)
    except Exception as exc:
        raise translate_error(exc, _where(mailbox)) from None
    finally:
        _close(server)


@dataclass(frozen=True)
class CheckResult:
    """A connection test's verdict: ``message`` is a catalogue entry formatted with ``params``;
    ``detail`` is the server's own words."""

    ok: bool
    message: str
    params: dict[str, str | int] = field(default_factory=dict)
    detail: str = ""

    @classmethod
    def failed(cls, exc: ChannelError) -> CheckResult:
        return cls(False, exc.message, detail=exc.detail or "")


def check(mailbox: MailboxSettings, password: str) -> CheckResult:
    """Connect, authenticate and say NOOP: what the "test connection" button does."""
    try:
        server = connect(mailbox, password)
    except ChannelError as exc:
        return CheckResult.failed(exc)
    try:
        code, _ = server.noop()
    except Exception as exc:
        return CheckResult.failed(translate_error(exc, _where(mailbox)))
    finally:
        _close(server)
    if code != 250:
        return CheckResult(
            False,
            "the SMTP server answered the test with an error",
            detail=f"{_where(mailbox)}: NOOP {code}",
        )
    if mailbox.smtp_user and password:
        return CheckResult(
            True, "SMTP %(server)s: connected (authenticated)", {"server": _where(mailbox)}
        )
    return CheckResult(
        True, "SMTP %(server)s: connected (no authentication)", {"server": _where(mailbox)}
    )
