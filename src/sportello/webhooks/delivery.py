"""Sending one webhook delivery over HTTP: the signed request and its headers.

Headers of every request (Stripe / Standard Webhooks style):

- ``X-Sportello-Event``: the event name (``message.received``);
- ``X-Sportello-Delivery``: the event id (``evt_...``), the same on retries and replays, so a
  receiver can drop duplicates;
- ``X-Sportello-Timestamp``: Unix seconds when this attempt was signed;
- ``X-Sportello-Signature``: ``t=<timestamp>,v1=<hex HMAC-SHA256 of "<timestamp>." + body>``
  keyed with the subscription's secret (``whsec_...``). Receivers recompute it over the raw body,
  compare in constant time and refuse timestamps older than five minutes.

The body is JSON: ``{"id", "type", "created_at", "data"}`` where ``data`` is the event payload.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import httpx

from sportello import __version__
from sportello.core.security import SIGNATURE_HEADER, sign_webhook

TIMEOUT = httpx.Timeout(10.0, connect=5.0)


@dataclass(frozen=True)
class Attempt:
    ok: bool
    response_code: int | None
    latency_ms: int
    error: str | None
    body: str | None


def body_of(event_id: str, name: str, created_at: str, payload: dict[str, Any]) -> bytes:
    return json.dumps(
        {"id": event_id, "type": name, "created_at": created_at, "data": payload},
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode()


def post(url: str, body: bytes, *, secret: str, event_id: str, name: str) -> Attempt:
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": f"Sportello-Webhooks/{__version__}",
        "X-Sportello-Event": name,
        "X-Sportello-Delivery": event_id,
        "X-Sportello-Timestamp": str(timestamp),
        SIGNATURE_HEADER: sign_webhook(body, secret, timestamp=timestamp),
    }
    started = time.perf_counter()
    try:
        with httpx.Client(timeout=TIMEOUT, follow_redirects=False) as client:
            response = client.post(url, content=body, headers=headers)
    except httpx.HTTPError as exc:
        elapsed = int((time.perf_counter() - started) * 1000)
        return Attempt(False, None, elapsed, f"{type(exc).__name__}: {exc}"[:500], None)
    elapsed = int((time.perf_counter() - started) * 1000)
    ok = 200 <= response.status_code < 300
    return Attempt(
        ok,
        response.status_code,
        elapsed,
        None if ok else f"HTTP {response.status_code}",
        response.text[:1000],
    )
