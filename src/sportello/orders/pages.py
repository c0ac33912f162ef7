"""Order pages: the connectors' admin page, and the orders panel beside a conversation (look up,
register, cancel), errors shown to the agent in their language."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from sportello.accounts import service as accounts_service
from sportello.accounts.models import User
from sportello.core import access, i18n
from sportello.core.db import SessionDep
from sportello.core.errors import InvalidInput
from sportello.orders import actions, presets, service
from sportello.orders.connector import ConnectorError
from sportello.orders.models import AuthKind, ConnectorKind, OrderConnector
from sportello.web.auth import AdminUser, CsrfChecked, CurrentUser
from sportello.web.helpers import form_error, see_other, translating
from sportello.web.render import render

router = APIRouter(dependencies=[CsrfChecked])


async def _form(request: Request) -> dict[str, Any]:
    return {k: v for k, v in (await request.form()).items() if isinstance(v, str)}


Form = Annotated[dict[str, Any], Depends(_form)]


# --- admin ---------------------------------------------------------------------------------


def _admin(
    request: Request,
    session: SessionDep,
    *,
    editing: OrderConnector | None = None,
    kind: str = ConnectorKind.WOOCOMMERCE.value,
    error: Any = None,
    values: dict[str, Any] | None = None,
) -> Response:
    settings = dict(editing.settings) if editing else dict(presets.PRESETS[kind])
    return render(
        request,
        "orders/admin.html",
        {
            "admin_tab": "orders",
            "connectors": service.connectors(session),
            "editing": editing,
            "kind": editing.kind if editing else kind,
            "kinds": list(ConnectorKind),
            "auth_kinds": list(AuthKind),
            "s": settings,
            "bodies": {
                k: json.dumps(settings.get(k) or {}, ensure_ascii=False, indent=1)
                for k in ("create_body", "cancel_body")
            },
            "secret_names": actions.SECRET_NAMES,
            "mapping_keys": actions.MAPPING_KEYS,
            "template_keys": actions.TEMPLATE_KEYS,
            "error": error,
            "values": values or {},
        },
        status_code=422 if error else 200,
        headers={"Cache-Control": "no-store"},
    )


@router.get("/admin/orders", response_class=HTMLResponse, include_in_schema=False)
def admin_orders(
    request: Request,
    session: SessionDep,
    user: AdminUser,
    edit: int | None = None,
    kind: str = ConnectorKind.WOOCOMMERCE.value,
) -> Response:
    editing = service.get_connector(session, edit) if edit else None
    if kind not in presets.PRESETS:
        kind = ConnectorKind.WOOCOMMERCE.value
    return _admin(request, session, editing=editing, kind=kind)


def _settings_from(form: dict[str, Any]) -> dict[str, Any]:
    settings: dict[str, Any] = {}
    for key in actions.TEMPLATE_KEYS:
        if key in form:
            settings[key] = form[key].strip()
    for key in ("create_method", "cancel_method", "username", "api_key_header"):
        if key in form:
            settings[key] = form[key].strip()
    for key in ("create_body", "cancel_body"):
        raw = form.get(key, "").strip()
        if raw:
            try:
                settings[key] = json.loads(raw)
            except ValueError:
                raise InvalidInput("this is not valid JSON", field=key) from None
    if "cancellable" in form:
        settings["cancellable"] = [s.strip() for s in form["cancellable"].split(",") if s.strip()]
    mapping = {k: form[f"map_{k}"].strip() for k in actions.MAPPING_KEYS if f"map_{k}" in form}
    if mapping:
        settings["mapping"] = mapping
    return settings


@router.post("/admin/orders", response_class=HTMLResponse, include_in_schema=False)
def admin_order_save(
    request: Request, session: SessionDep, user: AdminUser, form: Form
) -> Response:
    raw_id = str(form.get("connector_id", ""))
    editing = service.get_connector(session, int(raw_id)) if raw_id.isdigit() else None
    try:
        try:
            timeout = float(form.get("timeout_seconds") or 8)
        except ValueError:
            raise InvalidInput("between 1 and 60 seconds", field="timeout_seconds") from None
        connector = actions.do_save_connector(
            session,
            brand_id=accounts_service.default_brand(session).id,
            connector=editing,
            name=str(form.get("name", "")),
            kind=str(form.get("kind", "")),
            base_url=str(form.get("base_url", "")),
            auth_kind=str(form.get("auth_kind", "none")),
            settings=_settings_from(form),
            secrets={k[7:]: v for k, v in form.items() if k.startswith("secret_") and v},
            timeout_seconds=timeout,
            allow_private=bool(form.get("allow_private")),
            is_active=bool(form.get("is_active")),
        )
    except InvalidInput as exc:
        session.rollback()
        if editing is not None:
            editing = service.get_connector(session, editing.id)
        return _admin(
            request,
            session,
            editing=editing,
            kind=str(form.get("kind") or "woocommerce")
            if str(form.get("kind")) in presets.PRESETS
            else "woocommerce",
            error=form_error(exc),
            values=form,
        )
    return see_other(f"/admin/orders?edit={connector.id}&saved=1")


@router.post("/admin/orders/{connector_id}/delete", include_in_schema=False)
def admin_order_delete(
    request: Request, session: SessionDep, user: AdminUser, connector_id: int
) -> Response:
    actions.do_delete_connector(session, connector=service.get_connector(session, connector_id))
    return see_other("/admin/orders")


# --- the panel beside a conversation -------------------------------------------------------


def _panel(
    request: Request,
    session: SessionDep,
    user: User,
    number: int,
    *,
    lookup: str | None = None,
    done: str | None = None,
    error: str | None = None,
) -> Response:
    conversation = access.access_conversation_by_number(session, user, number)
    shops = service.orders_for(session, conversation, number=lookup or None)
    return render(
        request,
        "orders/_panel.html",
        {
            "c": conversation,
            "shops": shops,
            "lookup": lookup or "",
            "done": done,
            "error": error,
        },
        status_code=200,
    )


@router.get("/c/{number}/orders", response_class=HTMLResponse, include_in_schema=False)
def orders_panel(
    request: Request, session: SessionDep, user: CurrentUser, number: int, q: str = ""
) -> Response:
    q = q.strip()[:100]
    return _panel(request, session, user, number, lookup=q or None)


def _connector_of(session: SessionDep, form: dict[str, Any]) -> OrderConnector:
    raw = str(form.get("connector_id", ""))
    if not raw.isdigit() or len(raw) > 9:
        raise InvalidInput("choose a shop", field="connector_id")
    return service.get_connector(session, int(raw))


@router.post("/c/{number}/orders/cancel", response_class=HTMLResponse, include_in_schema=False)
def orders_cancel(
    request: Request, session: SessionDep, user: CurrentUser, number: int, form: Form
) -> Response:
    conversation = access.access_conversation_by_number(session, user, number)
    with translating(request):
        try:
            order = actions.do_cancel_order(
                session,
                conversation=conversation,
                connector=_connector_of(session, form),
                order_id=str(form.get("order_id", "")),
                by=user,
                reason=str(form.get("reason", "")),
            )
        except (ConnectorError, InvalidInput) as exc:
            session.rollback()
            return _panel(request, session, user, number, error=i18n.gettext(exc.message))
        done = i18n.gettext("Order %(number)s cancelled.") % {"number": order.number}
    session.commit()
    return _panel(request, session, user, number, done=done)


@router.post("/c/{number}/orders", response_class=HTMLResponse, include_in_schema=False)
def orders_create(
    request: Request, session: SessionDep, user: CurrentUser, number: int, form: Form
) -> Response:
    conversation = access.access_conversation_by_number(session, user, number)
    emails, phones = service.contact_of(conversation)
    with translating(request):
        try:
            raw_quantity = str(form.get("quantity", "1")).strip() or "1"
            if not raw_quantity.isdigit() or len(raw_quantity) > 4:
                raise InvalidInput("between 1 and 1000", field="quantity")
            order = actions.do_create_order(
                session,
                conversation=conversation,
                connector=_connector_of(session, form),
                product=str(form.get("product", "")),
                quantity=int(raw_quantity),
                note=str(form.get("note", "")),
                by=user,
                email=emails[0] if emails else "",
                phone=phones[0] if phones else "",
            )
        except (ConnectorError, InvalidInput) as exc:
            session.rollback()
            return _panel(request, session, user, number, error=i18n.gettext(exc.message))
        done = i18n.gettext("Order %(number)s registered.") % {"number": order.number}
    session.commit()
    return _panel(request, session, user, number, done=done)
