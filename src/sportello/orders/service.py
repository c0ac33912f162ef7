"""Reads for the orders connector: connectors, and a conversation customer's orders."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from sportello.conversations.models import Conversation
from sportello.core.errors import NotFound
from sportello.orders.connector import Client, ConnectorError, Order
from sportello.orders.models import OrderConnector


def connectors(session: Session, *, active_only: bool = False) -> Sequence[OrderConnector]:
    query = select(OrderConnector).order_by(OrderConnector.name)
    if active_only:
        query = query.where(OrderConnector.is_active)
    return session.scalars(query).all()


def get_connector(session: Session, connector_id: int) -> OrderConnector:
    found = session.get(OrderConnector, connector_id)
    if found is None:
        raise NotFound("connector not found")
    return found


def contact_of(conversation: Conversation) -> tuple[list[str], list[str]]:
    """The customer's e-mail addresses and phone numbers, to look orders up by."""
    emails: list[str] = []
    phones: list[str] = []
    for identity in conversation.customer.identities:
        if identity.kind == "email":
            emails.append(identity.value)
        elif identity.kind in ("phone", "whatsapp", "sms"):
            phones.append(identity.value)
    return emails, phones


@dataclass
class ShopOrders:
    connector: OrderConnector
    orders: list[Order] = field(default_factory=list)
    error: ConnectorError | None = None


def orders_for(
    session: Session, conversation: Conversation, *, number: str | None = None
) -> list[ShopOrders]:
    """Each active connector's orders of the customer (or the order ``number``), with the
    error of a shop that failed (the others still show)."""
    emails, phones = contact_of(conversation)
    out: list[ShopOrders] = []
    for connector in connectors(session, active_only=True):
        found = ShopOrders(connector)
        try:
            client = Client(connector)
            if number:
                found.orders = [client.get(number)]
            else:
                found.orders = client.lookup(emails=emails, phones=phones)
        except ConnectorError as exc:
            found.error = exc
        out.append(found)
    return out
