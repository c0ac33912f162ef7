"""Signed unsubscribe links of campaign emails: ``/campaigns/u/<token>`` carries the contact id."""

from __future__ import annotations

from itsdangerous import BadSignature, URLSafeSerializer

from sportello.config import get_settings
from sportello.core import i18n

SALT = "sportello.campaign.unsubscribe"


class LinkInvalid(Exception):
    pass


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(get_settings().effective_secret_key(), salt=SALT)


def token_for(contact_id: int) -> str:
    return str(_serializer().dumps(contact_id))


def contact_id_from(token: str) -> int:
    try:
        value = _serializer().loads(token)
    except BadSignature:
        raise LinkInvalid from None
    if not isinstance(value, int):
        raise LinkInvalid
    return value


def url_for(contact_id: int) -> str:
    base = get_settings().base_url.rstrip("/")
    return f"{base}/campaigns/u/{token_for(contact_id)}"


def unsubscribe_line(contact_id: int) -> str:
    return i18n.gettext("Unsubscribe: %(url)s", url=url_for(contact_id))
