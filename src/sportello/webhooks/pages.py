"""Admin pages for outgoing webhooks: list, create (the secret is shown once), edit, delivery
log with replay, secret rotation, deletion."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from sportello.accounts import service as accounts_service
from sportello.core.db import SessionDep
from sportello.core.errors import InvalidInput
from sportello.web.auth import AdminUser, CsrfChecked
from sportello.web.helpers import form_error, see_other
from sportello.web.render import render
from sportello.webhooks import actions, handlers, service
from sportello.webhooks.models import WebhookSubscription

__all__ = ["handlers", "router"]  # handlers: importing it registers the webhooks' wiring

router = APIRouter(dependencies=[CsrfChecked])


async def _form(request: Request) -> dict[str, Any]:
    form = await request.form()
    data: dict[str, Any] = {k: v for k, v in form.items() if isinstance(v, str)}
    data["events"] = [v for v in form.getlist("events") if isinstance(v, str)]
    return data


Form = Annotated[dict[str, Any], Depends(_form)]


def _page(
    request: Request,
    session: SessionDep,
    *,
    editing: WebhookSubscription | None = None,
    error: Any = None,
    values: dict[str, Any] | None = None,
    secret: str | None = None,
) -> Response:
    return render(
        request,
        "webhooks/admin.html",
        {
            "admin_tab": "webhooks",
            "subscriptions": service.subscriptions(session),
            "editing": editing,
            "deliveries": service.deliveries(session, editing.id) if editing else [],
            "event_names": actions.subscribable_events(),
            "error": error,
            "values": values or {},
            "secret": secret,
        },
        status_code=422 if error else 200,
        headers={"Cache-Control": "no-store"},
    )


def _max_failures(form: dict[str, Any]) -> int:
    raw = str(form.get("max_failures", "")).strip() or "10"
    if not raw.isdigit():
        raise InvalidInput("give a whole number", field="max_failures")
    return int(raw)


@router.get("/admin/webhooks", response_class=HTMLResponse, include_in_schema=False)
def admin_webhooks(
    request: Request, session: SessionDep, user: AdminUser, edit: int | None = None
) -> Response:
    editing = service.get_subscription(session, edit) if edit else None
    return _page(request, session, editing=editing)


@router.post("/admin/webhooks", response_class=HTMLResponse, include_in_schema=False)
def admin_webhook_save(
    request: Request, session: SessionDep, user: AdminUser, form: Form
) -> Response:
    raw_id = str(form.get("subscription_id", ""))
    editing = service.get_subscription(session, int(raw_id)) if raw_id.isdigit() else None
    try:
        name = str(form.get("name", ""))
        url = str(form.get("url", ""))
        event_names = list(form["events"])
        allow_private = bool(form.get("allow_private"))
        max_failures = _max_failures(form)
        is_active = bool(form.get("is_active"))
        if editing is None:
            created, secret = actions.do_create_subscription(
                session,
                brand_id=accounts_service.default_brand(session).id,
                name=name,
                url=url,
                event_names=event_names,
                allow_private=allow_private,
                max_failures=max_failures,
                is_active=is_active,
            )
            session.commit()
            return _page(request, session, editing=created, secret=secret)
        actions.do_update_subscription(
            session,
            subscription=editing,
            name=name,
            url=url,
            event_names=event_names,
            allow_private=allow_private,
            max_failures=max_failures,
            is_active=is_active,
        )
    except InvalidInput as exc:
        session.rollback()
        if editing is not None:
            editing = service.get_subscription(session, editing.id)
        return _page(request, session, editing=editing, error=form_error(exc), values=form)
    return see_other(f"/admin/webhooks?edit={editing.id}&saved=1")


@router.post(
    "/admin/webhooks/{subscription_id}/secret", response_class=HTMLResponse, include_in_schema=False
)
def admin_webhook_secret(
    request: Request, session: SessionDep, user: AdminUser, subscription_id: int
) -> Response:
    subscription = service.get_subscription(session, subscription_id)
    secret = actions.do_rotate_secret(session, subscription=subscription)
    session.commit()
    return _page(request, session, editing=subscription, secret=secret)


@router.post("/admin/webhooks/{subscription_id}/delete", include_in_schema=False)
def admin_webhook_delete(
    request: Request, session: SessionDep, user: AdminUser, subscription_id: int
) -> Response:
    actions.do_delete_subscription(
        session, subscription=service.get_subscription(session, subscription_id)
    )
    return see_other("/admin/webhooks")


@router.post("/admin/webhooks/deliveries/{delivery_id}/replay", include_in_schema=False)
def admin_webhook_replay(
    request: Request, session: SessionDep, user: AdminUser, delivery_id: int
) -> Response:
    delivery = service.get_delivery(session, delivery_id)
    actions.do_replay(session, delivery=delivery)
    return see_other(f"/admin/webhooks?edit={delivery.subscription_id}&replayed=1#deliveries")
