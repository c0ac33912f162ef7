"""People-friendly names and numbers: "Visitatore #1502" for an anonymous chat visitor (the
number is the customer's id: stable, unique, and the same on every page), phone numbers in the
national format of the reader's country and in international format otherwise."""

from __future__ import annotations

import phonenumbers

from sportello.core.i18n import current_language, gettext
from sportello.customers.models import Customer, CustomerIdentity, IdentityKind

# The country whose numbers a reader of a language knows in national format.
REGION_OF_LANGUAGE = {"it": "IT"}
PHONE_KINDS = (IdentityKind.PHONE, IdentityKind.WHATSAPP)


def format_phone(value: str, language: str | None = None) -> str:
    """``+393331234567`` as ``333 123 4567`` for an Italian reader, ``+39 333 123 4567`` for
    anyone else; anything that is not a valid number comes back as it is."""
    try:
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        return value
    if not phonenumbers.is_valid_number(number):
        return value
    region = REGION_OF_LANGUAGE.get(language or current_language.get())
    if region and phonenumbers.region_code_for_number(number) == region:
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def identity_label(identity: CustomerIdentity) -> str:
    """An identity as people read it: phone numbers formatted, a chat visitor's long random id
    shortened (the whole id stays in the title of the page's element where it matters)."""
    if identity.kind in PHONE_KINDS:
        return format_phone(identity.value)
    if identity.kind == IdentityKind.VISITOR and len(identity.value) > 12:
        return identity.value[:8] + "…"
    return identity.value


def customer_label(customer: Customer) -> str:
    """The name people know the customer by: their name, else an email or phone number, else
    "Visitor #<id>" for an anonymous chat visitor."""
    if customer.name:
        return customer.name
    visitor = False
    for identity in customer.identities:
        if identity.kind == IdentityKind.VISITOR:
            visitor = True
            continue
        return identity_label(identity)
    if visitor:
        return gettext("Visitor #%(number)s", number=customer.id)
    return f"#{customer.id}"
