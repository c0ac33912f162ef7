"""REST API v1: customers and their identities, scoped to what the caller may see."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query

from sportello.core import access
from sportello.core.db import SessionDep
from sportello.customers import actions, service
from sportello.customers.schemas import (
    CustomerCreate,
    CustomerMergeCreate,
    CustomerRead,
    CustomerUpdate,
    IdentityCreate,
    IdentityRead,
)
from sportello.web.api import (
    DEFAULT_LIMIT,
    Cursor,
    Limit,
    Page,
    ReadCaller,
    WriteCaller,
    api_router,
    decode_cursor,
    problem_response,
)

router = api_router("customers")
CONFLICT: dict[int | str, dict[str, Any]] = {
    409: problem_response("An identity already belongs to another customer")
}


@router.get("/customers", summary="List or search customers", response_model=Page[CustomerRead])
def list_customers(
    session: SessionDep,
    caller: ReadCaller,
    q: Annotated[
        str, Query(max_length=200, description="Part of a name, email, phone or other identity")
    ] = "",
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[CustomerRead]:
    after = decode_cursor(cursor, 1)[0] if cursor else None
    rows, next_key = service.page(session, caller.user, q=q, after_id=after, limit=limit)
    return Page.keyed(rows, CustomerRead, next_key)


@router.get("/customers/{customer_id}", summary="Get a customer", response_model=CustomerRead)
def get_customer(customer_id: int, session: SessionDep, caller: ReadCaller) -> CustomerRead:
    return CustomerRead.model_validate(
        access.access_customer_by_id(session, caller.user, customer_id)
    )


@router.post(
    "/customers",
    summary="Create a customer with identities",
    status_code=201,
    response_model=CustomerRead,
    responses=CONFLICT,
)
def create_customer(body: CustomerCreate, session: SessionDep, caller: WriteCaller) -> CustomerRead:
    customer = actions.do_create_customer(
        session, name=body.name, identities=[(i.kind.value, i.value) for i in body.identities]
    )
    return CustomerRead.model_validate(customer)


@router.patch(
    "/customers/{customer_id}",
    summary="Change a customer's name or notes",
    response_model=CustomerRead,
)
def update_customer(
    customer_id: int, body: CustomerUpdate, session: SessionDep, caller: WriteCaller
) -> CustomerRead:
    customer = access.access_customer_by_id(session, caller.user, customer_id)
    actions.do_update_customer(session, customer=customer, name=body.name, notes=body.notes)
    return CustomerRead.model_validate(customer)


@router.post(
    "/customers/{customer_id}/identities",
    summary="Add an identity (email, phone, ...) to a customer",
    status_code=201,
    response_model=IdentityRead,
    responses=CONFLICT,
)
def add_identity(
    customer_id: int, body: IdentityCreate, session: SessionDep, caller: WriteCaller
) -> IdentityRead:
    customer = access.access_customer_by_id(session, caller.user, customer_id)
    identity = actions.do_add_identity(
        session, customer=customer, kind=body.kind.value, value=body.value
    )
    return IdentityRead.model_validate(identity)


@router.post(
    "/customers/{customer_id}/merge",
    summary="Merge this customer into another (supervisors and admins)",
    response_model=CustomerRead,
    responses={409: problem_response("One of the two was already merged")},
)
def merge_customer(
    customer_id: int, body: CustomerMergeCreate, session: SessionDep, caller: WriteCaller
) -> CustomerRead:
    access.require_supervisor(caller.user)
    source = access.access_customer_by_id(session, caller.user, customer_id)
    target = access.access_customer_by_id(session, caller.user, body.target_id)
    actions.do_merge_customers(session, source=source, target=target, by=caller.user)
    return CustomerRead.model_validate(target)
