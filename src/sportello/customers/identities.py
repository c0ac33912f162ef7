"""Normalising identity values so that one person has one identity per kind."""

from __future__ import annotations

import phonenumbers

from sportello.core.errors import InvalidInput
from sportello.customers.models import IdentityKind


def normalize_email(value: str) -> str:
    value = value.strip()
    if "@" not in value or value.startswith("@") or value.endswith("@") or " " in value:
        raise InvalidInput(f"not an email address: {value!r}", field="email")
    local, domain = value.rsplit("@", 1)
    return f"{local}@{domain.lower()}".lower() if local.isascii() else f"{local}@{domain.lower()}"


def normalize_phone(value: str, region: str = "IT") -> str:
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidInput(f"not a phone number: {value!r}", field="phone") from exc
    if not phonenumbers.is_possible_number(number):
        raise InvalidInput(f"not a phone number: {value!r}", field="phone")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_identity(kind: str, value: str) -> tuple[IdentityKind, str]:
    try:
        identity_kind = IdentityKind(kind)
    except ValueError:
        raise InvalidInput(f"unknown identity kind {kind!r}", field="kind") from None
    value = value.strip()
    if not value:
        raise InvalidInput("an identity needs a value", field="value")
    if len(value) > 320:
        raise InvalidInput("identity value too long", field="value")
    if identity_kind == IdentityKind.EMAIL:
        return identity_kind, normalize_email(value)
    if identity_kind in (IdentityKind.PHONE, IdentityKind.WHATSAPP):
        return identity_kind, normalize_phone(value)
    return identity_kind, value
