"""Normalising identity values so that one person has one identity per kind, and one customer
per phone number whichever channel brought it."""

from __future__ import annotations

from functools import lru_cache

import phonenumbers

from sportello.core.errors import InvalidInput
from sportello.customers.models import IdentityKind

# Kinds whose value is a phone number in E.164: the same number is the same person whether it
# wrote by SMS, called, wrote on WhatsApp or came through the API. PHONE first: it is the kind
# a lookup falls back to when the exact kind is not stored yet.
PHONE_KINDS: tuple[IdentityKind, ...] = (IdentityKind.PHONE, IdentityKind.WHATSAPP)


def matching_kinds(kind: IdentityKind) -> tuple[IdentityKind, ...]:
    """The kinds whose identities with the same value belong to the same customer as one of
    ``kind``: all the phone kinds for a phone number, else the kind alone."""
    return PHONE_KINDS if kind in PHONE_KINDS else (kind,)


def normalize_email(value: str) -> str:
    value = value.strip()
    if "@" not in value or value.startswith("@") or value.endswith("@") or " " in value:
        raise InvalidInput(f"not an email address: {value!r}", field="email")
    local, domain = value.rsplit("@", 1)
    return f"{local}@{domain.lower()}".lower() if local.isascii() else f"{local}@{domain.lower()}"


def _parse(value: str, region: str | None) -> phonenumbers.PhoneNumber | None:
    try:
        return phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        return None


@lru_cache(maxsize=4096)
def normalize_phone(value: str, region: str = "IT", *, international: bool = False) -> str:
    """The number in E.164.

    ``+39 333 ...`` and ``0039 333 ...`` are international. Digits without a prefix are read as
    a national number of ``region`` when that gives a valid number (``333 123 4567``; also
    ``39 333 123 4567``, which the library recognises as carrying Italy's code), else as an
    international number without its ``+`` when that gives a valid one (a WhatsApp id such as
    ``4915112345678``). A number valid in neither reading takes the first possible one: the
    national, or the international when ``international`` says the digits start with the
    country code (WhatsApp ids always do).
    """
    national = _parse(value, region)
    if national is None:
        raise InvalidInput(f"not a phone number: {value!r}", field="phone")
    readings = [national]
    digits = value.strip()
    if not digits.startswith(("+", "0")):
        abroad = _parse("+" + digits, None)
        if abroad is not None:
            readings.append(abroad)
    chosen = next((n for n in readings if phonenumbers.is_valid_number(n)), None)
    if chosen is None:
        possible = [n for n in readings if phonenumbers.is_possible_number(n)]
        if not possible:
            raise InvalidInput(f"not a phone number: {value!r}", field="phone")
        chosen = possible[-1] if international else possible[0]
    return phonenumbers.format_number(chosen, phonenumbers.PhoneNumberFormat.E164)


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
    if identity_kind in PHONE_KINDS:
        return identity_kind, normalize_phone(
            value, international=identity_kind == IdentityKind.WHATSAPP
        )
    return identity_kind, value
