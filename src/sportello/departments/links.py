"""Signed references: the reply address and Message-ID of a side mail (so that a colleague's
answer finds its conversation and nobody else can put a message there), and the hand-off link
a department member opens without a Sportello account."""

from __future__ import annotations

import hashlib
import hmac
import re

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from sportello.channels.email import smtp
from sportello.config import get_settings

HANDOFF_SALT = "sportello.handoff"
HANDOFF_MAX_AGE = 365 * 24 * 3600  # seconds
_PLUS = re.compile(r"\+side-(\d{1,12})-([0-9a-f]{20})@", re.I)
_MSGID = re.compile(r"^<sportello\.side(\d{1,12})\.(\d{1,12})\.([0-9a-f]{20})@", re.I)


class LinkInvalid(Exception):
    """Tampered with, or not a hand-off link at all."""


class LinkExpired(Exception):
    pass


def _key() -> str:
    return get_settings().effective_secret_key()


def _digest(side_id: int) -> str:
    return hmac.new(_key().encode(), f"side-reply:{side_id}".encode(), hashlib.sha256).hexdigest()[
        :20
    ]


def reply_address(mailbox_address: str, side_id: int) -> str:
    """``assistenza+side-12-<signature>@negozio.it``: where the colleague's answer goes."""
    local, _, domain = mailbox_address.partition("@")
    local = local.split("+", 1)[0]
    return f"{local}+side-{side_id}-{_digest(side_id)}@{domain}"


def side_from_address(address: str) -> int | None:
    match = _PLUS.search(address or "")
    if match is None:
        return None
    side_id = int(match.group(1))
    return side_id if hmac.compare_digest(match.group(2).lower(), _digest(side_id)) else None


def message_id(side_id: int, side_message_id: int, domain: str) -> str:
    """The side mail's Message-ID, signed (the same scheme as the channel's replies)."""
    return smtp.message_id_for(_key(), f"side{side_id}.", side_message_id, domain)


def side_from_message_id(value: str) -> int | None:
    match = _MSGID.match((value or "").strip())
    if match is None:
        return None
    side_id, ref = int(match.group(1)), int(match.group(2))
    domain = value.strip().rsplit("@", 1)[-1].rstrip(">")
    expected = message_id(side_id, ref, domain)
    return side_id if hmac.compare_digest(expected.lower(), value.strip().lower()) else None


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(_key(), salt=HANDOFF_SALT)


def handoff_token(handoff_id: int) -> str:
    return _serializer().dumps(handoff_id)


def handoff_id_from(token: str) -> int:
    if len(token) > 200:
        raise LinkInvalid
    try:
        value = _serializer().loads(token, max_age=HANDOFF_MAX_AGE)
    except SignatureExpired:
        raise LinkExpired from None
    except BadSignature:
        raise LinkInvalid from None
    if not isinstance(value, int) or isinstance(value, bool):
        raise LinkInvalid
    return value


def handoff_url(handoff_id: int) -> str:
    return f"{get_settings().base_url.rstrip('/')}/h/{handoff_token(handoff_id)}"
