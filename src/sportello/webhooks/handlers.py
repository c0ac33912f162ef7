"""The webhooks' wiring: every subscribable event becomes deliveries (one batch handler), each
delivery is a durable job with retries and exponential backoff (core.jobs), and a delivery that
used up its retries counts toward disabling its subscription.

Importing this module registers them (pages.py imports it for ``serve``; the worker imports it).
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select

from sportello.core import jobs
from sportello.core.db import Database
from sportello.core.dispatcher import subscribe_batch_when_registered
from sportello.webhooks import actions, delivery, ssrf
from sportello.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookSubscription

log = logging.getLogger(__name__)


class DeliveryFailed(Exception):
    """A failed attempt: the job queue retries it later."""


class TargetRefused(Exception):
    permanent = True


def _all_names() -> tuple[str, ...]:
    return tuple(dict.fromkeys([*actions.PREFERRED, *actions.subscribable_events()]))


@subscribe_batch_when_registered(*_all_names())
def queue_deliveries(db: Database, batch: list[tuple[str, dict[str, Any]]]) -> None:
    # A read first: most installs have no webhook, and a write transaction takes SQLite's one
    # write lock that the chat and the replies are waiting for.
    with db.session() as session:
        wanted = {
            name
            for events in session.scalars(
                select(WebhookSubscription.events).where(WebhookSubscription.is_active)
            )
            for name in events
        }
    if not wanted or not any(name in wanted or actions.ALL_EVENTS in wanted for name, _ in batch):
        return
    with db.transaction() as session:
        actions.do_queue_events(session, batch=batch)


def deliver(db: Database, payload: dict[str, Any]) -> None:
    with db.session() as session:
        row = session.get(WebhookDelivery, int(payload["delivery_id"]))
        if row is None or row.status in (DeliveryStatus.SUCCEEDED, DeliveryStatus.SKIPPED):
            return
        subscription = session.get(WebhookSubscription, row.subscription_id)
        if subscription is None:
            return
        active, url, allow_private = (
            subscription.is_active,
            subscription.url,
            subscription.allow_private,
        )
        secret = actions.secret_of(subscription)
        body = delivery.body_of(
            row.event_id, row.event_name, row.created_at.isoformat(), dict(row.payload)
        )
        event_id, name, is_replay = row.event_id, row.event_name, row.replay_of_id is not None
    if not active and not is_replay:
        with db.transaction() as session:
            row = session.get(WebhookDelivery, int(payload["delivery_id"]))
            if row is not None:
                actions.do_skip_delivery(session, delivery=row, reason="the webhook is disabled")
        return
    try:
        ssrf.guard(url, allow_private=allow_private)
    except ssrf.BlockedTarget as exc:
        raise TargetRefused(exc.message) from None
    attempt = delivery.post(url, body, secret=secret, event_id=event_id, name=name)
    with db.transaction() as session:
        row = session.get(WebhookDelivery, int(payload["delivery_id"]))
        if row is not None:
            actions.do_record_attempt(
                session,
                delivery=row,
                ok=attempt.ok,
                response_code=attempt.response_code,
                latency_ms=attempt.latency_ms,
                error=attempt.error,
                body=attempt.body,
            )
    if not attempt.ok:
        raise DeliveryFailed(attempt.error or "delivery failed")


def delivery_failed(db: Database, payload: dict[str, Any], error: str) -> None:
    with db.transaction() as session:
        row = session.get(WebhookDelivery, int(payload["delivery_id"]))
        if row is not None:
            actions.do_fail_delivery(session, delivery=row, error=error)


jobs.register_job(
    actions.DELIVER_JOB,
    jobs.JobKind(run=deliver, on_failure=delivery_failed, base_delay=10.0, max_delay=3600.0),
)
