"""Reads about customers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import exists, or_, select
from sqlalchemy.orm import Session

from sportello.customers.identities import normalize_identity
from sportello.customers.models import Customer, CustomerIdentity

if TYPE_CHECKING:
    from sportello.accounts.models import User


def get_by_identity(session: Session, *, kind: str, value: str) -> Customer | None:
    identity_kind, normalized = normalize_identity(kind, value)
    customer = session.scalar(
        select(Customer)
        .join(CustomerIdentity)
        .where(CustomerIdentity.kind == identity_kind, CustomerIdentity.value == normalized)
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


def search(session: Session, user: User, q: str, *, limit: int = 50) -> list[Customer]:
    """Customers whose name or any identity matches (LIKE), among those the user may see."""
    from sportello.core import access

    term = q.strip()
    if not term:
        return []
    pattern = _like(term)
    identity_match = exists().where(
        CustomerIdentity.customer_id == Customer.id,
        CustomerIdentity.value.ilike(pattern, escape="\\"),
    )
    return list(
        session.scalars(
            access.customers_query(session, user)
            .where(or_(Customer.name.ilike(pattern, escape="\\"), identity_match))
            .order_by(Customer.name, Customer.id)
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
        pattern = _like(term)
        query = query.where(
            or_(
                Customer.name.ilike(pattern, escape="\\"),
                exists().where(
                    CustomerIdentity.customer_id == Customer.id,
                    CustomerIdentity.value.ilike(pattern, escape="\\"),
                ),
            )
        )
    if after_id is not None:
        query = query.where(Customer.id < after_id)
    rows = list(session.scalars(query.order_by(Customer.id.desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (rows[-1].id if more and rows else None)
