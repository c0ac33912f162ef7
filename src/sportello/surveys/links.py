"""Signed survey links: ``/s/<token>`` carries the response id, signed with the installation's
secret (itsdangerous). A link is single-use (the response takes one score) and expires (the
response's ``expires_at``; the signature itself is refused past MAX_AGE)."""

from __future__ import annotations

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from sportello.config import get_settings

SALT = "sportello.survey"
MAX_AGE = 120 * 24 * 3600  # seconds: no survey link lives longer than this, whatever its config


class LinkInvalid(Exception):
    """Tampered with, or not a survey link at all."""


class LinkExpired(Exception):
    pass


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(get_settings().effective_secret_key(), salt=SALT)


def token_for(response_id: int) -> str:
    return _serializer().dumps(response_id)


def response_id_from(token: str) -> int:
    try:
        value = _serializer().loads(token, max_age=MAX_AGE)
    except SignatureExpired:
        raise LinkExpired from None
    except BadSignature:
        raise LinkInvalid from None
    if not isinstance(value, int):
        raise LinkInvalid
    return value


def url_for(response_id: int, suffix: str = "") -> str:
    base = get_settings().base_url.rstrip("/")
    return f"{base}/s/{token_for(response_id)}{suffix}"
