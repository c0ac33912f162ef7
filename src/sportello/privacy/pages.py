"""GDPR pages: the privacy panel on the customer page (consents; export and erasure for
admins) and the retention policies (admins) with their dry-run counts."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from sportello.accounts.models import Brand
from sportello.channels.models import Channel
from sportello.core import access
from sportello.core.db import SessionDep
from sportello.core.errors import InvalidInput, NotFound
from sportello.privacy import actions, handlers, service
from sportello.privacy.models import RetentionKind
from sportello.web.auth import AdminUser, CsrfChecked, CurrentUser
from sportello.web.helpers import form_error, see_other, user_errors
from sportello.web.render import render

router = APIRouter(dependencies=[CsrfChecked])


# --------------------------------------------------------------------------- the customer


def _panel(
    request: Request, session: SessionDep, customer_id: int, *, error: object = None
) -> Response:
    return render(
        request,
        "privacy/_customer_panel.html",
        {
            "customer_id": customer_id,
            "consents": service.consents(session, customer_id),
            "error": error,
        },
        status_code=422 if error else 200,
    )


@router.get(
    "/customers/{customer_id}/privacy", response_class=HTMLResponse, include_in_schema=False
)
def customer_panel(
    request: Request, session: SessionDep, user: CurrentUser, customer_id: int
) -> Response:
    customer = access.access_customer_by_id(session, user, customer_id)
    return _panel(request, session, customer.id)


@router.post(
    "/customers/{customer_id}/consents", response_class=HTMLResponse, include_in_schema=False
)
def consent_create(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    customer_id: int,
    purpose: Annotated[str, Form(max_length=80)] = "",
    source: Annotated[str, Form(max_length=80)] = "",
    text: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    customer = access.access_customer_by_id(session, user, customer_id)
    try:
        actions.do_record_consent(
            session, customer=customer, purpose=purpose, source=source, text=text, by=user
        )
    except InvalidInput as exc:
        session.rollback()
        return _panel(request, session, customer_id, error=form_error(exc))
    return see_other(f"/customers/{customer_id}#privacy")


@router.post("/customers/{customer_id}/consents/{consent_id}/withdraw", include_in_schema=False)
def consent_withdraw(
    session: SessionDep, user: CurrentUser, customer_id: int, consent_id: int
) -> Response:
    customer = access.access_customer_by_id(session, user, customer_id)
    consent = actions.get_consent(session, consent_id)
    if consent.customer_id != customer.id:
        raise NotFound("consent not found")
    actions.do_withdraw_consent(session, consent=consent, by=user)
    return see_other(f"/customers/{customer_id}#privacy")


@router.post("/customers/{customer_id}/export", include_in_schema=False)
def customer_export(session: SessionDep, user: AdminUser, customer_id: int) -> Response:
    customer = access.access_customer_by_id(session, user, customer_id)
    data = actions.build_export(session, customer=customer, by=user)
    return Response(
        data,
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="customer-{customer.id}.zip"'},
    )


@router.post("/customers/{customer_id}/erase", include_in_schema=False)
def customer_erase(
    request: Request,
    session: SessionDep,
    user: AdminUser,
    customer_id: int,
    mode: Annotated[str, Form(max_length=20)] = "erase",
    confirm: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    customer = access.access_customer_by_id(session, user, customer_id)
    with user_errors(request):
        if confirm.strip().lstrip("#") != str(customer.id):
            raise InvalidInput("type the customer's number to confirm", field="confirm")
        actions.do_erase_customer(session, customer=customer, mode=mode, by=user)
    if mode == "anonymise":
        return see_other(f"/customers/{customer_id}")
    return see_other(f"/admin/audit?target=customer:{customer_id}")


# --------------------------------------------------------------------------- retention


def _policies_page(
    request: Request, session: SessionDep, *, error: object = None, saved: bool = False
) -> Response:
    return render(
        request,
        "privacy/admin.html",
        {
            "rows": service.policies(session),
            "kinds": list(RetentionKind),
            "brands": list(session.query(Brand).order_by(Brand.name)),
            "channels": list(session.query(Channel).order_by(Channel.name)),
            "error": error,
            "saved": saved,
            "admin_tab": "privacy",
        },
        status_code=422 if error else 200,
    )


@router.get("/admin/privacy", response_class=HTMLResponse, include_in_schema=False)
def admin_privacy(
    request: Request, session: SessionDep, user: AdminUser, saved: int = 0
) -> Response:
    return _policies_page(request, session, saved=bool(saved))


def _optional_id(value: str, field: str) -> int | None:
    value = value.strip()
    if not value:
        return None
    if not value.isdigit() or len(value) > 9:
        raise InvalidInput("choose from the list", field=field)
    return int(value)


@router.post("/admin/privacy/policies", response_class=HTMLResponse, include_in_schema=False)
@router.post(
    "/admin/privacy/policies/{policy_id}", response_class=HTMLResponse, include_in_schema=False
)
def policy_save(
    request: Request,
    session: SessionDep,
    user: AdminUser,
    policy_id: int | None = None,
    kind: Annotated[str, Form(max_length=40)] = "",
    days: Annotated[str, Form(max_length=10)] = "",
    brand_id: Annotated[str, Form(max_length=12)] = "",
    channel_id: Annotated[str, Form(max_length=12)] = "",
    active: Annotated[str, Form(max_length=5)] = "",
) -> Response:
    try:
        policy = actions.get_policy(session, policy_id) if policy_id is not None else None
        if not days.strip().isdigit() or len(days.strip()) > 6:
            raise InvalidInput("keep it from 1 to 36500 days", field="days")
        actions.do_save_policy(
            session,
            kind=kind,
            days=int(days),
            brand_id=_optional_id(brand_id, "brand_id"),
            channel_id=_optional_id(channel_id, "channel_id"),
            is_active=bool(active) or policy_id is None,
            policy=policy,
        )
    except (InvalidInput, NotFound) as exc:
        session.rollback()
        if isinstance(exc, NotFound):
            raise
        return _policies_page(request, session, error=form_error(exc))
    return see_other("/admin/privacy?saved=1")


@router.post("/admin/privacy/policies/{policy_id}/delete", include_in_schema=False)
def policy_delete(session: SessionDep, user: AdminUser, policy_id: int) -> Response:
    actions.do_delete_policy(session, policy=actions.get_policy(session, policy_id))
    return see_other("/admin/privacy")


@router.post("/admin/privacy/run", include_in_schema=False)
def policies_run(session: SessionDep, user: AdminUser) -> Response:
    handlers.enqueue_now(session)
    return see_other("/admin/privacy?saved=1")
