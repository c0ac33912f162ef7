"""REST API v1: order connectors (admins) and a conversation customer's orders (agents):
look up, register, cancel."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query, Response

from sportello.accounts import service as accounts_service
from sportello.core import access
from sportello.core.db import SessionDep
from sportello.core.errors import SportelloError
from sportello.orders import actions, service
from sportello.orders.connector import ConnectorError, Order
from sportello.orders.schemas import (
    ConnectorData,
    ConnectorRead,
    OrderCancel,
    OrderCreate,
    OrderRead,
    ShopOrdersRead,
)
from sportello.web.api import AdminCaller, ReadCaller, WriteCaller, api_router

router = api_router("orders")
OrderId = Annotated[str, Path(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._-]+$")]


class ShopFailed(SportelloError):
    status_code = 502
    title = "The shop failed"


def _order(order: Order) -> OrderRead:
    return OrderRead.model_validate(order)


@router.get(
    "/orders/connectors", summary="List order connectors", response_model=list[ConnectorRead]
)
def list_connectors(session: SessionDep, caller: AdminCaller) -> list[ConnectorRead]:
    return [ConnectorRead.model_validate(c) for c in service.connectors(session)]


@router.post(
    "/orders/connectors",
    summary="Create an order connector",
    response_model=ConnectorRead,
    status_code=201,
)
def create_connector(
    data: ConnectorData, session: SessionDep, caller: AdminCaller
) -> ConnectorRead:
    connector = actions.do_save_connector(
        session,
        brand_id=accounts_service.default_brand(session).id,
        connector=None,
        **data.model_dump(),
    )
    return ConnectorRead.model_validate(connector)


@router.put(
    "/orders/connectors/{connector_id}",
    summary="Change an order connector",
    response_model=ConnectorRead,
)
def update_connector(
    connector_id: int, data: ConnectorData, session: SessionDep, caller: AdminCaller
) -> ConnectorRead:
    connector = service.get_connector(session, connector_id)
    connector = actions.do_save_connector(
        session, brand_id=connector.brand_id, connector=connector, **data.model_dump()
    )
    return ConnectorRead.model_validate(connector)


@router.delete(
    "/orders/connectors/{connector_id}", summary="Delete an order connector", status_code=204
)
def delete_connector(connector_id: int, session: SessionDep, caller: AdminCaller) -> Response:
    actions.do_delete_connector(session, connector=service.get_connector(session, connector_id))
    return Response(status_code=204)


@router.get(
    "/conversations/{conversation_id}/orders",
    summary="The customer's orders at each shop (or one order by number)",
    response_model=list[ShopOrdersRead],
)
def conversation_orders(
    conversation_id: int,
    session: SessionDep,
    caller: ReadCaller,
    number: Annotated[str | None, Query(max_length=100, pattern=r"^[A-Za-z0-9._-]+$")] = None,
) -> list[ShopOrdersRead]:
    conversation = access.access_conversation_by_id(session, caller.user, conversation_id)
    return [
        ShopOrdersRead(
            connector_id=found.connector.id,
            connector=found.connector.name,
            orders=[_order(o) for o in found.orders],
            error=found.error.message if found.error else None,
        )
        for found in service.orders_for(session, conversation, number=number)
    ]


@router.post(
    "/conversations/{conversation_id}/orders",
    summary="Register an order for the customer (an internal note records it)",
    response_model=OrderRead,
    status_code=201,
    responses={502: {"description": "The shop failed or refused"}},
)
def create_order(
    conversation_id: int, data: OrderCreate, session: SessionDep, caller: WriteCaller
) -> OrderRead:
    conversation = access.access_conversation_by_id(session, caller.user, conversation_id)
    connector = service.get_connector(session, data.connector_id)
    emails, phones = service.contact_of(conversation)
    try:
        order = actions.do_create_order(
            session,
            conversation=conversation,
            connector=connector,
            product=data.product,
            quantity=data.quantity,
            note=data.note,
            by=caller.user,
            email=emails[0] if emails else "",
            phone=phones[0] if phones else "",
        )
    except ConnectorError as exc:
        raise ShopFailed(exc.message) from None
    return _order(order)


@router.post(
    "/conversations/{conversation_id}/orders/{order_id}/cancel",
    summary="Cancel an order at the shop (an internal note records it)",
    response_model=OrderRead,
    responses={502: {"description": "The shop failed or refused"}},
)
def cancel_order(
    conversation_id: int,
    order_id: OrderId,
    data: OrderCancel,
    session: SessionDep,
    caller: WriteCaller,
) -> OrderRead:
    conversation = access.access_conversation_by_id(session, caller.user, conversation_id)
    connector = service.get_connector(session, data.connector_id)
    try:
        order = actions.do_cancel_order(
            session,
            conversation=conversation,
            connector=connector,
            order_id=order_id,
            by=caller.user,
            reason=data.reason,
        )
    except ConnectorError as exc:
        raise ShopFailed(exc.message) from None
    return _order(order)
