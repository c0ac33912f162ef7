"""Writes for the orders connector: saving connectors, and creating or cancelling an order at the
shop from a conversation. Every create and cancel leaves an internal note in the conversation's
timeline and emits ``order.created`` / ``order.cancelled`` (webhooks and rules may follow)."""

from __future__ import annotations

import copy
import json
from typing import Any

from jmespath import compile as jmespath_compile
from jmespath.exceptions import JMESPathError
from sqlalchemy.orm import Session

from sportello.accounts.models import User
from sportello.config import get_settings
from sportello.conversations.models import Conversation, Direction, Message
from sportello.core import i18n
from sportello.core.db import utcnow
from sportello.core.errors import InvalidInput
from sportello.core.events import EventPayload, emit, register_event
from sportello.core.security import encrypt_secret
from sportello.orders import presets
from sportello.orders.connector import Client, Order
from sportello.orders.models import AuthKind, ConnectorKind, OrderConnector
from sportello.webhooks import ssrf

SECRET_NAMES = {
    AuthKind.NONE.value: (),
    AuthKind.BEARER.value: ("token",),
    AuthKind.BASIC.value: ("password",),
    AuthKind.API_KEY.value: ("api_key",),
    AuthKind.WOOCOMMERCE.value: ("consumer_key", "consumer_secret"),
}
TEMPLATE_KEYS = ("lookup_email", "lookup_phone", "get", "create", "cancel")
MAPPING_KEYS = ("list", "id", "number", "status", "total", "currency", "created_at", "items")


class OrderEvent(EventPayload):
    conversation_id: int
    connector_id: int
    order_id: str
    number: str
    status: str
    by_user_id: int | None


register_event("order.created", OrderEvent)
register_event("order.cancelled", OrderEvent)


def check_connector(
    *,
    name: str,
    kind: str,
    base_url: str,
    auth_kind: str,
    settings: dict[str, Any],
    timeout_seconds: float,
    allow_private: bool,
) -> tuple[str, str, dict[str, Any]]:
    name = " ".join((name or "").split())
    if not name:
        raise InvalidInput("give the connector a name", field="name")
    if kind not in {k.value for k in ConnectorKind}:
        raise InvalidInput("choose from the list", field="kind")
    if auth_kind not in SECRET_NAMES:
        raise InvalidInput("choose from the list", field="auth_kind")
    base_url = ssrf.check_url(base_url, field="base_url")
    ssrf.guard(base_url, allow_private=allow_private, field="base_url")
    if not 1 <= timeout_seconds <= 60:
        raise InvalidInput("between 1 and 60 seconds", field="timeout_seconds")
    merged = copy.deepcopy(presets.PRESETS[kind])
    for key, value in settings.items():
        if key == "mapping" and isinstance(value, dict):
            merged["mapping"].update({k: v for k, v in value.items() if v is not None})
        elif value is not None:
            merged[key] = value
    for key in TEMPLATE_KEYS:
        template = merged.get(key) or ""
        if not isinstance(template, str) or len(template) > 500:
            raise InvalidInput("check this address template", field=key)
    if not merged.get("get") or not merged.get("lookup_email"):
        raise InvalidInput("the lookup and get addresses are needed", field="lookup_email")
    for key in MAPPING_KEYS:
        expression = merged["mapping"].get(key)
        if expression:
            try:
                jmespath_compile(str(expression))
            except JMESPathError:
                raise InvalidInput("this field mapping is not valid", field=f"map_{key}") from None
    for key in ("create_method", "cancel_method"):
        if str(merged.get(key) or "POST").upper() not in ("POST", "PUT", "PATCH", "DELETE"):
            raise InvalidInput("choose from the list", field=key)
        merged[key] = str(merged.get(key) or "POST").upper()
    return name, base_url, merged


def do_save_connector(
    session: Session,
    *,
    brand_id: int,
    connector: OrderConnector | None,
    name: str,
    kind: str,
    base_url: str,
    auth_kind: str,
    settings: dict[str, Any],
    secrets: dict[str, str],
    timeout_seconds: float = 8.0,
    allow_private: bool = False,
    is_active: bool = True,
) -> OrderConnector:
    """Create or change a connector. Secrets left empty keep their stored value."""
    name, base_url, merged = check_connector(
        name=name,
        kind=kind,
        base_url=base_url,
        auth_kind=auth_kind,
        settings=settings,
        timeout_seconds=timeout_seconds,
        allow_private=allow_private,
    )
    if connector is None:
        connector = OrderConnector(brand_id=brand_id, name=name, base_url=base_url)
        session.add(connector)
    from sportello.orders.connector import secrets_of

    stored = secrets_of(connector) if connector.secrets else {}
    wanted = SECRET_NAMES[auth_kind]
    kept = {k: (secrets.get(k) or stored.get(k) or "") for k in wanted}
    for key in wanted:
        if not kept[key]:
            raise InvalidInput("this credential is needed", field=f"secret_{key}")
    connector.name = name
    connector.kind = kind
    connector.base_url = base_url
    connector.auth_kind = auth_kind
    connector.settings = merged
    connector.secrets = (
        encrypt_secret(json.dumps(kept), get_settings().effective_secret_key()) if kept else ""
    )
    connector.timeout_seconds = timeout_seconds
    connector.allow_private = allow_private
    connector.is_active = is_active
    connector.updated_at = utcnow()
    session.flush()
    return connector


def do_delete_connector(session: Session, *, connector: OrderConnector) -> None:
    session.delete(connector)


def _note(
    session: Session, conversation: Conversation, user: User, text: str, meta: dict[str, Any]
) -> Message:
    message = Message(
        conversation_id=conversation.id,
        direction=Direction.NOTE,
        author_id=user.id,
        sender_name=user.name,
        text=text,
        delivery_state=None,
        meta=meta,
    )
    session.add(message)
    session.flush()
    conversation.updated_at = utcnow()
    from sportello.conversations.actions import _message_event

    emit(session, "message.created", _message_event(conversation, message))
    return message


def _event(
    conversation: Conversation, connector: OrderConnector, order: Order, user: User
) -> OrderEvent:
    return OrderEvent(
        conversation_id=conversation.id,
        connector_id=connector.id,
        order_id=order.id,
        number=order.number,
        status=order.status,
        by_user_id=user.id,
    )


def do_cancel_order(
    session: Session,
    *,
    conversation: Conversation,
    connector: OrderConnector,
    order_id: str,
    by: User,
    reason: str = "",
) -> Order:
    """Cancel the order at the shop (ConnectorError when it fails), then note it."""
    order_id = order_id.strip()
    if not order_id or len(order_id) > 100:
        raise InvalidInput("choose an order", field="order_id")
    reason = reason.strip()[:500]
    order = Client(connector).cancel(order_id)
    text = i18n.gettext("Order %(number)s cancelled at %(shop)s.") % {
        "number": order.number,
        "shop": connector.name,
    }
    if reason:
        text += " " + i18n.gettext("Reason: %(reason)s") % {"reason": reason}
    _note(
        session,
        conversation,
        by,
        text,
        {"event": "order.cancelled", "order_id": order.id, "connector_id": connector.id},
    )
    emit(session, "order.cancelled", _event(conversation, connector, order, by))
    return order


def do_create_order(
    session: Session,
    *,
    conversation: Conversation,
    connector: OrderConnector,
    product: str,
    quantity: int,
    note: str,
    by: User,
    email: str = "",
    phone: str = "",
) -> Order:
    """Register an order at the shop for the conversation's customer, then note it."""
    product = product.strip()
    if not product or len(product) > 100:
        raise InvalidInput("give the product", field="product")
    if not 1 <= quantity <= 1000:
        raise InvalidInput("between 1 and 1000", field="quantity")
    values = {
        "email": email,
        "phone": phone,
        "name": conversation.customer.name if conversation.customer else "",
        "product": product,
        "quantity": str(quantity),
        "note": note.strip()[:1000],
    }
    order = Client(connector).create(values)
    text = i18n.gettext("Order %(number)s registered at %(shop)s: %(items)s.") % {
        "number": order.number,
        "shop": connector.name,
        "items": ", ".join(order.items) or f"{quantity} × {product}",
    }
    _note(
        session,
        conversation,
        by,
        text,
        {"event": "order.created", "order_id": order.id, "connector_id": connector.id},
    )
    emit(session, "order.created", _event(conversation, connector, order, by))
    return order
