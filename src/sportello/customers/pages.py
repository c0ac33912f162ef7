"""Console pages for customers: list and search, the customer page, editing and merging."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from sportello.conversations import service as conversations_service
from sportello.core import access
from sportello.core.db import SessionDep
from sportello.core.errors import InvalidInput
from sportello.customers import actions, service
from sportello.web.auth import CsrfChecked, CurrentUser, SupervisorUser
from sportello.web.helpers import see_other, user_errors
from sportello.web.render import render

router = APIRouter(dependencies=[CsrfChecked])


@router.get("/customers", response_class=HTMLResponse, include_in_schema=False)
def customers(request: Request, session: SessionDep, user: CurrentUser, q: str = "") -> Response:
    q = q.strip()[:200]
    rows = service.search(session, user, q) if q else service.recent(session, user)
    return render(request, "customers/list.html", {"customers": rows, "q_customers": q})


@router.get("/customers/{customer_id}", response_class=HTMLResponse, include_in_schema=False)
def customer_page(
    request: Request, session: SessionDep, user: CurrentUser, customer_id: int
) -> Response:
    customer = access.access_customer_by_id(session, user, customer_id)
    return render(
        request,
        "customers/customer.html",
        {
            "customer": customer,
            "conversations": conversations_service.customer_conversations(
                session, user, customer.id
            ),
            # Supervisors merge: propose the customers with the same phone number up front.
            "candidates": (
                service.same_number(session, user, customer) if user.is_supervisor else []
            ),
        },
    )


@router.post("/customers/{customer_id}", response_class=HTMLResponse, include_in_schema=False)
def customer_save(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    customer_id: int,
    name: Annotated[str, Form(max_length=200)] = "",
    notes: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    customer = access.access_customer_by_id(session, user, customer_id)
    with user_errors(request):
        actions.do_update_customer(session, customer=customer, name=name, notes=notes)
    return see_other(f"/customers/{customer.id}")


@router.get(
    "/customers/{customer_id}/merge-candidates",
    response_class=HTMLResponse,
    include_in_schema=False,
)
def merge_candidates(
    request: Request, session: SessionDep, user: SupervisorUser, customer_id: int, q: str = ""
) -> Response:
    """The customers to merge into this one: those matching ``q``, or without ``q`` those with
    the same phone number."""
    customer = access.access_customer_by_id(session, user, customer_id)
    q = q.strip()[:200]
    if q:
        found = [c for c in service.search(session, user, q, limit=20) if c.id != customer.id]
    else:
        found = service.same_number(session, user, customer)
    return render(
        request,
        "customers/_merge_candidates.html",
        {"customer": customer, "candidates": found, "q": q},
    )


@router.post("/customers/{customer_id}/merge", include_in_schema=False)
def merge(
    request: Request,
    session: SessionDep,
    user: SupervisorUser,
    customer_id: int,
    source_id: Annotated[int | None, Form()] = None,
) -> Response:
    """Merge the chosen customer (``source_id``) into this one, which survives."""
    target = access.access_customer_by_id(session, user, customer_id)
    with user_errors(request):
        if source_id is None:
            raise InvalidInput("choose the customer to merge", field="source_id")
        source = access.access_customer_by_id(session, user, source_id)
        actions.do_merge_customers(session, source=source, target=target, by=user)
    return see_other(f"/customers/{target.id}?merged=1")
