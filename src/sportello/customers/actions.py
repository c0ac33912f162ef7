"""Writes about customers: find-or-create by identity, identities, merge."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, bindparam, or_, select, update
from sqlalchemy.orm import Session

from sportello.accounts.models import User
from sportello.audit import actions as audit
from sportello.conversations.models import Conversation
from sportello.core.db import table_of, utcnow
from sportello.core.errors import Conflict, InvalidInput, NotFound
from sportello.core.events import CustomerCreated, CustomerMerged, emit
from sportello.core.prepared import Prepared
from sportello.customers import service
from sportello.customers.identities import matching_kinds, normalize_identity
from sportello.customers.models import Customer, CustomerIdentity, CustomerMerge, IdentityKind


def do_create_customer(
    session: Session, *, name: str = "", identities: Sequence[tuple[str, str]] = ()
) -> Customer:
    customer = Customer(name=name.strip()[:200])
    session.add(customer)
    session.flush()
    for kind, value in identities:
        do_add_identity(session, customer=customer, kind=kind, value=value)
    emit(session, "customer.created", CustomerCreated(customer_id=customer.id))
    return customer


def do_add_identity(
    session: Session, *, customer: Customer, kind: str, value: str
) -> CustomerIdentity:
    """Give ``customer`` this identity. A phone number belongs to one customer whatever its kind:
    adding it to a second customer is a conflict (merge them instead)."""
    identity_kind, normalized = normalize_identity(kind, value)
    existing = list(
        session.scalars(
            select(CustomerIdentity).where(
                CustomerIdentity.kind.in_(matching_kinds(identity_kind)),
                CustomerIdentity.value == normalized,
            )
        )
    )
    same = next((i for i in existing if i.kind == identity_kind), None)
    if same is not None and same.customer_id == customer.id:
        return same
    if any(i.customer_id != customer.id for i in existing):
        # No customer id in the error: the caller may not be allowed to see that customer.
        raise Conflict(f"{identity_kind.value} {normalized} already belongs to another customer")
    identity = CustomerIdentity(customer=customer, kind=identity_kind, value=normalized)
    session.add(identity)
    session.flush()
    return identity


def _attach_if_free(session: Session, customer: Customer, kind: str, value: str) -> None:
    """Add the identity unless it is not valid or another customer owns it (or its number)."""
    with contextlib.suppress(InvalidInput, Conflict):
        do_add_identity(session, customer=customer, kind=kind, value=value)


_customer = Customer.__table__.c
_identity = CustomerIdentity.__table__.c


def _lookup(kinds: tuple[IdentityKind, ...]) -> Select[Any]:
    """Who owns ``:value`` under any of ``kinds``: a row for each kind stored, found on the
    unique (kind, value) index."""
    return (
        select(_identity.kind, _customer.id, _customer.name, _customer.merged_into_id)
        .select_from(
            Customer.__table__.join(
                CustomerIdentity.__table__, _identity.customer_id == _customer.id
            )
        )
        .where(
            _identity.value == bindparam("value"),
            or_(*[_identity.kind == kind for kind in kinds]),
        )
    )


_BY_IDENTITY = {kind: Prepared(_lookup(matching_kinds(kind))) for kind in IdentityKind}
_INSERT_CUSTOMER = Prepared(table_of(Customer).insert().returning(_customer.id))
_INSERT_IDENTITY = table_of(CustomerIdentity).insert()


def find_or_create_customer_id(
    session: Session,
    *,
    kind: str,
    value: str,
    name: str = "",
    extra: Sequence[tuple[str, str]] = (),
    at: datetime | None = None,
) -> tuple[int, str]:
    """The one door's customer lookup: ``(customer id, display name)``, creating the customer
    with this identity when nobody owns it. Core statements only: it runs for every message.

    One indexed query answers for the identity and for the extra identities that name the same
    thing (WhatsApp gives its number as a ``phone`` too): a phone number finds its customer
    whatever kind first stored it, so SMS then WhatsApp, WhatsApp then SMS, or the API then
    either, is one customer. A kind the customer has not used yet is stored on the way, once.
    """
    identity_kind, normalized = normalize_identity(kind, value)
    kinds = matching_kinds(identity_kind)
    wanted = [identity_kind]
    others: list[tuple[str, str]] = []
    for extra_kind, extra_value in extra:
        try:
            extra_identity = normalize_identity(extra_kind, extra_value)
        except InvalidInput:
            continue
        if extra_identity[1] == normalized and extra_identity[0] in kinds:
            if extra_identity[0] not in wanted:
                wanted.append(extra_identity[0])
        else:
            others.append(extra_identity)
    name = name.strip()[:200]
    at = at or utcnow()
    conn = session.connection()
    rows = _BY_IDENTITY[identity_kind].all(conn, value=normalized)
    owners = {row.kind: row for row in rows}
    row = next((owners[k] for k in (identity_kind, *kinds) if k in owners), None)
    if row is None:
        customer_id = _INSERT_CUSTOMER.scalar(conn, name=name, created_at=at, updated_at=at)
        customer_name = name
    else:
        customer_id, customer_name = row.id, row.name
        if row.merged_into_id is not None:  # an identity left on a merged customer: follow it
            survivor = service.resolve_merged(session, session.get_one(Customer, row.id))
            customer_id, customer_name = survivor.id, survivor.name
        if name and not customer_name:
            session.execute(
                update(Customer)
                .where(Customer.id == customer_id)
                .values(name=name)
                .execution_options(synchronize_session="evaluate")
            )
            customer_name = name
    missing = [k for k in wanted if k not in owners]
    if missing:
        conn.execute(
            _INSERT_IDENTITY,
            [
                {"customer_id": customer_id, "kind": k, "value": normalized, "created_at": at}
                for k in missing
            ],
        )
        cached = session.identity_map.get(session.identity_key(Customer, customer_id))
        if cached is not None:  # a customer loaded earlier must not miss its new identity
            session.expire(cached, ["identities"])
    if row is None:
        emit(session, "customer.created", CustomerCreated(customer_id=customer_id))
    if others:
        customer = session.get_one(Customer, customer_id)
        for other_kind, other_value in others:
            _attach_if_free(session, customer, other_kind, other_value)
    # a chat visitor's random id is no name to show on their messages
    shown = "" if identity_kind == IdentityKind.VISITOR else normalized
    return customer_id, customer_name or shown


def do_update_customer(
    session: Session, *, customer: Customer, name: str | None = None, notes: str | None = None
) -> Customer:
    if name is not None:
        customer.name = name.strip()[:200]
    if notes is not None:
        customer.notes = notes[:4000]
    return customer


def check_merge(session: Session, *, source: Customer, target: Customer) -> None:
    if source.id == target.id:
        raise InvalidInput("a customer cannot be merged into itself", field="target_id")
    if source.merged_into_id is not None or target.merged_into_id is not None:
        raise Conflict("one of the customers was already merged")


def do_merge_customers(
    session: Session, *, source: Customer, target: Customer, by: User | None
) -> CustomerMerge:
    """Move everything of ``source`` onto ``target``; ``source`` stays as a tombstone pointing
    to ``target`` so that old links and identities still resolve."""
    check_merge(session, source=source, target=target)
    if source is None or target is None:
        raise NotFound("customer not found")
    moved_conversations = list(
        session.scalars(select(Conversation.id).where(Conversation.customer_id == source.id))
    )
    session.execute(
        update(Conversation)
        .where(Conversation.customer_id == source.id)
        .values(customer_id=target.id)
        .execution_options(synchronize_session="fetch")
    )
    moved_identities = [(i.kind.value, i.value) for i in source.identities]
    session.execute(
        update(CustomerIdentity)
        .where(CustomerIdentity.customer_id == source.id)
        .values(customer_id=target.id)
        .execution_options(synchronize_session="fetch")
    )
    if not target.name and source.name:
        target.name = source.name
    if source.notes:
        target.notes = (target.notes + "\n" + source.notes).strip()[:4000]
    source.merged_into_id = target.id
    record = CustomerMerge(
        source_id=source.id,
        target_id=target.id,
        merged_by_id=by.id if by else None,
        details={
            "conversations": moved_conversations,
            "identities": [list(i) for i in moved_identities],
            "source_name": source.name,
        },
    )
    session.add(record)
    session.flush()
    audit.record(
        session,
        "customer.merged",
        target=target,
        actor=by,
        source=f"#{source.id}",
        conversations=len(moved_conversations),
        identities=len(moved_identities),
    )
    session.expire(target, ["identities"])
    session.expire(source, ["identities"])
    emit(
        session,
        "customer.merged",
        CustomerMerged(source_id=source.id, target_id=target.id, by_user_id=by.id if by else None),
    )
    return record
