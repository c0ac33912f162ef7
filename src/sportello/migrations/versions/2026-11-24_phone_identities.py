"""phone identities: numbers stored with Italy's code in front of a foreign number's digits

Until this revision a phone or WhatsApp identity given as digits without ``+`` was always read as
an Italian national number: the WhatsApp id ``14155552671`` became ``+3914155552671``, a number
nobody has, so that person's SMS (``+14155552671``) made a second customer and replies went
nowhere. The code now reads such digits as an international number when the Italian reading
is not a valid number (see ``customers.identities.normalize_phone``). This revision rewrites
the values stored under the old reading to what the same input gives now.

A value is rewritten only when its digits after ``+39``, given without ``+``, produce that very
value under the old rule and another one under the new rule. If the new value is already stored
under the same kind for the same customer, the old row goes; for another customer, it stays as
it is (the unique (kind, value) pair allows no second owner: a supervisor merges the two).

The rules are copied here, frozen, so that the revision does the same whatever the code does
later.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""

from __future__ import annotations

import phonenumbers
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

PHONE_KINDS = ("phone", "whatsapp")

identity = sa.table(
    "customer_identity",
    sa.column("id", sa.Integer),
    sa.column("customer_id", sa.Integer),
    sa.column("kind", sa.String),
    sa.column("value", sa.String),
)


def _e164(number: phonenumbers.PhoneNumber) -> str:
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _parse(value: str, region: str | None) -> phonenumbers.PhoneNumber | None:
    try:
        return phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        return None


def old_reading(digits: str) -> str | None:
    """Revision 0002's rule: an Italian number, if possible."""
    number = _parse(digits, "IT")
    if number is None or not phonenumbers.is_possible_number(number):
        return None
    return _e164(number)


def new_reading(kind: str, digits: str) -> str | None:
    """This revision's rule for digits without a prefix: the first valid reading, Italian then
    international; else the first possible one, international first for WhatsApp ids."""
    readings = [n for n in (_parse(digits, "IT"), _parse("+" + digits, None)) if n is not None]
    for number in readings:
        if phonenumbers.is_valid_number(number):
            return _e164(number)
    possible = [n for n in readings if phonenumbers.is_possible_number(n)]
    if not possible:
        return None
    return _e164(possible[-1] if kind == "whatsapp" else possible[0])


def corrected(kind: str, value: str) -> str | None:
    """The value the input that gave ``value`` gives now, when it differs."""
    if not value.startswith("+39"):
        return None
    digits = value[3:]
    if not digits.isdigit() or digits.startswith("0") or old_reading(digits) != value:
        return None
    now = new_reading(kind, digits)
    return now if now is not None and now != value else None


def upgrade() -> None:
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(identity.c.id, identity.c.customer_id, identity.c.kind, identity.c.value)
        .where(identity.c.kind.in_(PHONE_KINDS), identity.c.value.like("+39%"))
        .order_by(identity.c.id)
    ).all()
    for row in rows:
        value = corrected(row.kind, row.value)
        if value is None:
            continue
        owner = bind.execute(
            sa.select(identity.c.customer_id).where(
                identity.c.kind == row.kind, identity.c.value == value
            )
        ).scalar()
        if owner is None:
            bind.execute(identity.update().where(identity.c.id == row.id).values(value=value))
        elif owner == row.customer_id:
            bind.execute(identity.delete().where(identity.c.id == row.id))


def downgrade() -> None:
    # The old values named numbers nobody has: there is nothing worth restoring.
    pass
