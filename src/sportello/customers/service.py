"""Reads about customers."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from sportello.customers.identities import normalize_identity
from sportello.customers.models import Customer, CustomerIdentity


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
