"""REST API v1: outgoing webhook subscriptions, their delivery log and replay (admins)."""

from __future__ import annotations

from fastapi import Response

from sportello.accounts import service as accounts_service
from sportello.core.db import SessionDep
from sportello.web.api import (
    AdminCaller,
    Cursor,
    Limit,
    Page,
    api_router,
    decode_cursor,
)
from sportello.webhooks import actions, service
from sportello.webhooks.schemas import (
    DeliveryRead,
    SecretRead,
    SubscriptionCreated,
    SubscriptionData,
    SubscriptionRead,
)

router = api_router("webhooks")


@router.get("/webhooks/events", summary="The event types a webhook can subscribe to")
def list_events(caller: AdminCaller) -> list[str]:
    return actions.subscribable_events()


@router.get(
    "/webhooks", summary="List webhook subscriptions", response_model=list[SubscriptionRead]
)
def list_subscriptions(session: SessionDep, caller: AdminCaller) -> list[SubscriptionRead]:
    return [SubscriptionRead.model_validate(s) for s in service.subscriptions(session)]


@router.post(
    "/webhooks",
    summary="Subscribe a URL to events (the answer carries the signing secret, once)",
    response_model=SubscriptionCreated,
    status_code=201,
)
def create_subscription(
    data: SubscriptionData, session: SessionDep, caller: AdminCaller
) -> SubscriptionCreated:
    subscription, secret = actions.do_create_subscription(
        session,
        brand_id=accounts_service.default_brand(session).id,
        name=data.name,
        url=data.url,
        event_names=data.events,
        allow_private=data.allow_private,
        max_failures=data.max_failures,
        is_active=data.is_active,
    )
    read = SubscriptionRead.model_validate(subscription)
    return SubscriptionCreated(**read.model_dump(), secret=secret)


@router.get(
    "/webhooks/{subscription_id}",
    summary="One webhook subscription",
    response_model=SubscriptionRead,
)
def get_subscription(
    subscription_id: int, session: SessionDep, caller: AdminCaller
) -> SubscriptionRead:
    return SubscriptionRead.model_validate(service.get_subscription(session, subscription_id))


@router.put(
    "/webhooks/{subscription_id}",
    summary="Change a webhook subscription (re-enable it)",
    response_model=SubscriptionRead,
)
def update_subscription(
    subscription_id: int, data: SubscriptionData, session: SessionDep, caller: AdminCaller
) -> SubscriptionRead:
    subscription = actions.do_update_subscription(
        session,
        subscription=service.get_subscription(session, subscription_id),
        name=data.name,
        url=data.url,
        event_names=data.events,
        allow_private=data.allow_private,
        max_failures=data.max_failures,
        is_active=data.is_active,
    )
    return SubscriptionRead.model_validate(subscription)


@router.post(
    "/webhooks/{subscription_id}/secret",
    summary="Rotate the signing secret",
    response_model=SecretRead,
)
def rotate_secret(subscription_id: int, session: SessionDep, caller: AdminCaller) -> SecretRead:
    secret = actions.do_rotate_secret(
        session, subscription=service.get_subscription(session, subscription_id)
    )
    return SecretRead(secret=secret)


@router.delete(
    "/webhooks/{subscription_id}", summary="Delete a webhook subscription", status_code=204
)
def delete_subscription(subscription_id: int, session: SessionDep, caller: AdminCaller) -> Response:
    actions.do_delete_subscription(
        session, subscription=service.get_subscription(session, subscription_id)
    )
    return Response(status_code=204)


@router.get(
    "/webhooks/{subscription_id}/deliveries",
    summary="The delivery log, newest first",
    response_model=Page[DeliveryRead],
)
def list_deliveries(
    subscription_id: int,
    session: SessionDep,
    caller: AdminCaller,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> Page[DeliveryRead]:
    service.get_subscription(session, subscription_id)
    before = decode_cursor(cursor, 1)[0] if cursor else None
    rows = service.deliveries(session, subscription_id, before_id=before, limit=limit)
    return Page.of(rows, DeliveryRead, limit)


@router.post(
    "/webhooks/deliveries/{delivery_id}/replay",
    summary="Send a logged delivery again",
    response_model=DeliveryRead,
    status_code=201,
)
def replay_delivery(delivery_id: int, session: SessionDep, caller: AdminCaller) -> DeliveryRead:
    copy = actions.do_replay(session, delivery=service.get_delivery(session, delivery_id))
    return DeliveryRead.model_validate(copy)
