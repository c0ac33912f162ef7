"""Reads about customers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import ColumnElement, and_, case, exists, or_, select
from sqlalchemy.orm import Session, lazyload

from sportello.core.errors import InvalidInput
from sportello.customers.identities import (
    PHONE_KINDS,
    matching_kinds,
    normalize_identity,
    normalize_phone,
)
from sportello.customers.models import Customer, CustomerIdentity

if TYPE_CHECKING:
    from sportello.accounts.models import User


def get_by_identity(
    session: Session, *, kind: str, value: str, lean: bool = False
) -> Customer | None:
    """The customer with this identity; for a phone number, the one with the same number under
    any phone kind (the exact kind first) when no customer has it under this kind yet.
    ``lean``: without its identities loaded up front (a caller that wants only the row)."""
    identity_kind, normalized = normalize_identity(kind, value)
    customer = session.scalar(
        select(Customer)
        .options(*([lazyload("*")] if lean else []))
        .join(CustomerIdentity)
        .where(
            CustomerIdentity.kind.in_(matching_kinds(identity_kind)),
            CustomerIdentity.value == normalized,
        )
        .order_by(case((CustomerIdentity.kind == identity_kind, 0), else_=1), CustomerIdentity.id)
        .limit(1)
    )
    return resolve_merged(session, customer) if customer else None


def resolve_merged(session: Session, customer: Customer) -> Customer:
    """Follow the merge chain to the surviving customer."""
    seen = {customer.id}
    while customer.merged_into_id is not None:
        target = session.get(Customer, customer.merged_into_id)
        if target is None or target.id in seen:
            break
        seen.add(target.id)
        customer = target
    return customer


def _like(term: str) -> str:
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _matches(term: str) -> ColumnElement[bool]:
    """Customers whose name or any identity contains ``term``, or, when ``term`` reads as a phone
    number however it is written (``333 123 4567``, ``+39 333...``), who have that number."""
    pattern = _like(term)
    identity_match: ColumnElement[bool] = CustomerIdentity.value.ilike(pattern, escape="\\")
    number = _as_phone(term)
    if number is not None:
        identity_match = or_(
            identity_match,
            and_(CustomerIdentity.kind.in_(PHONE_KINDS), CustomerIdentity.value == number),
        )
    return or_(
        Customer.name.ilike(pattern, escape="\\"),
        exists().where(CustomerIdentity.customer_id == Customer.id, identity_match),
    )


def _as_phone(term: str) -> str | None:
    if sum(c.isdigit() for c in term) < 6:
        return None
    try:
        return normalize_phone(term)
    except InvalidInput:
        return None


def search(session: Session, user: User, q: str, *, limit: int = 50) -> list[Customer]:
    """Customers whose name or any identity matches (LIKE, or the same phone number), among
    those the user may see."""
    from sportello.core import access

    term = q.strip()
    if not term:
        return []
    return list(
        session.scalars(
            access.customers_query(session, user)
            .where(_matches(term))
            .order_by(Customer.name, Customer.id)
            .limit(limit)
        )
    )


def same_number(
    session: Session, user: User, customer: Customer, *, limit: int = 20
) -> list[Customer]:
    """Other customers, among those the user may see, with one of this customer's phone numbers
    under any phone kind: duplicates to merge (two channels' first contacts from before one
    number meant one customer, or a number added by hand)."""
    from sportello.core import access

    numbers = sorted({i.value for i in customer.identities if i.kind in PHONE_KINDS})
    if not numbers:
        return []
    shares = exists().where(
        CustomerIdentity.customer_id == Customer.id,
        CustomerIdentity.kind.in_(PHONE_KINDS),
        CustomerIdentity.value.in_(numbers),
    )
    return list(
        session.scalars(
            access.customers_query(session, user)
            .where(Customer.id != customer.id, shares)
            .order_by(Customer.id)
            .limit(limit)
        )
    )


def recent(session: Session, user: User, *, limit: int = 50) -> list[Customer]:
    from sportello.core import access

    return list(
        session.scalars(
            access.customers_query(session, user)
            .order_by(Customer.updated_at.desc(), Customer.id.desc())
            .limit(limit)
        )
    )


def page(
    session: Session, user: User, *, q: str = "", after_id: int | None = None, limit: int = 50
) -> tuple[list[Customer], int | None]:
    """One page of the customers the user may see, newest first, by keyset on the id; with ``q``,
    only those whose name or an identity matches. Returns the rows and the next page's key."""
    from sportello.core import access

    query = access.customers_query(session, user)
    term = q.strip()
    if term:
        query = query.where(_matches(term))
    if after_id is not None:
        query = query.where(Customer.id < after_id)
    rows = list(session.scalars(query.order_by(Customer.id.desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (rows[-1].id if more and rows else None)
