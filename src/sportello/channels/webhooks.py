"""Public routes of the channels: provider webhooks, the api channel's inbound REST endpoint,
and the embeddable web form. Each verifies the caller its own way before anything is stored."""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response

from sportello.channels import registry, service
from sportello.channels.api.adapter import InboundMessageIn
from sportello.channels.base import AcknowledgesWebhook, WebhookRejected, WebhookRequest
from sportello.channels.models import Channel
from sportello.core import ratelimit
from sportello.core.db import SessionDep
from sportello.core.errors import InvalidInput, NotFound, SportelloError
from sportello.web.render import render

log = logging.getLogger(__name__)
router = APIRouter()


class Unauthorized(SportelloError):
    status_code = 401
    title = "Unauthorized"


class Forbidden(SportelloError):
    status_code = 403
    title = "Forbidden"


async def webhook_request(request: Request) -> WebhookRequest:
    return WebhookRequest(
        method=request.method,
        url=str(request.url),
        headers={k.lower(): v for k, v in request.headers.items()},
        query=dict(request.query_params),
        body=await request.body(),
        client_ip=request.client.host if request.client else None,
    )


WebhookRequestDep = Annotated[WebhookRequest, Depends(webhook_request)]


def _channel(session: SessionDep, public_id: str, kind: str | None = None) -> Channel:
    channel = service.get_active_channel(session, public_id)
    if channel is None or (kind is not None and channel.kind != kind):
        # Unknown channel and bad token answer alike, so neither can be probed.
        raise Unauthorized("unknown channel or invalid credentials")
    return channel


def _result_body(outcome: service.WebhookOutcome) -> dict[str, Any]:
    return {
        "received": [
            {
                "message_id": r.message_id,
                "conversation_id": r.conversation_id,
                "conversation_number": r.conversation_number,
                "customer_id": r.customer_id,
                "duplicate": r.duplicate,
            }
            for r in outcome.results
        ]
    }


def _verified_api_channel(
    public_id: str, session: SessionDep, request: WebhookRequestDep
) -> Channel:
    """Checked before the body is validated, so a stranger learns nothing from 422s."""
    channel = _channel(session, public_id, "api")
    try:
        registry.get_adapter("api").verify(service.config_for(channel), request)
    except WebhookRejected:
        raise Unauthorized("unknown channel or invalid credentials") from None
    return channel


@router.post(
    "/api/v1/channels/{public_id}/messages",
    tags=["channels"],
    summary="Send a customer's message in through an api channel",
    status_code=201,
    responses={
        200: {"description": "A replay of a message already received (same id)"},
        401: {"description": "Unknown channel or invalid token"},
    },
)
def api_inbound(
    channel: Annotated[Channel, Depends(_verified_api_channel)],
    body: InboundMessageIn,
    session: SessionDep,
    request: WebhookRequestDep,
    authorization: Annotated[str | None, Header(description="Bearer <channel token>")] = None,
) -> JSONResponse:
    try:
        # Verified by the dependency already, before the body was validated.
        outcome = service.receive_webhook(session, channel=channel, request=request, verified=True)
    except WebhookRejected:
        raise Unauthorized("unknown channel or invalid credentials") from None
    status = 200 if all(r.duplicate for r in outcome.results) else 201
    return JSONResponse(_result_body(outcome), status_code=status)


@router.api_route("/hooks/{public_id}", methods=["POST"], include_in_schema=False)
def provider_webhook(public_id: str, session: SessionDep, request: WebhookRequestDep) -> Response:
    """Provider webhooks (WhatsApp, Telegram, SMS...): verified by the adapter's scheme."""
    channel = _channel(session, public_id)
    try:
        outcome = service.receive_webhook(session, channel=channel, request=request)
    except WebhookRejected:
        raise Unauthorized("unknown channel or invalid credentials") from None
    adapter = registry.get_adapter(channel.kind)
    if isinstance(adapter, AcknowledgesWebhook):
        media_type, content = adapter.webhook_ack()
        return Response(content, media_type=media_type)
    return JSONResponse(_result_body(outcome))


@router.get("/hooks/{public_id}", include_in_schema=False)
def provider_webhook_handshake(
    public_id: str, session: SessionDep, request: WebhookRequestDep
) -> Response:
    """A provider's GET check of the webhook URL (WhatsApp's hub.challenge)."""
    channel = _channel(session, public_id)
    try:
        answer = service.webhook_handshake(channel, request)
    except LookupError:
        raise NotFound("this channel has no webhook handshake") from None
    if answer is None:
        raise Forbidden("the verification token does not match")
    return PlainTextResponse(answer)


def _webform(session: SessionDep, public_id: str) -> Channel:
    channel = service.get_active_channel(session, public_id)
    if channel is None or channel.kind != "webform":
        raise NotFound("this form does not exist")
    return channel


@router.get("/f/{public_id}", response_class=HTMLResponse, include_in_schema=False)
def webform_page(public_id: str, request: Request, session: SessionDep) -> HTMLResponse:
    channel = _webform(session, public_id)
    return render(request, "webform/form.html", {"channel": channel, "values": {}, "error": None})


@router.post("/f/{public_id}", response_class=HTMLResponse, include_in_schema=False)
def webform_submit(
    public_id: str, request: Request, session: SessionDep, hook: WebhookRequestDep
) -> HTMLResponse:
    channel = _webform(session, public_id)
    settings = request.app.state.settings
    ip = hook.client_ip or "unknown"
    if not ratelimit.hit(
        settings.webform_rate_limit, "webform", public_id, ip, redis_url=settings.redis_url
    ):
        wait = ratelimit.retry_after(
            settings.webform_rate_limit, "webform", public_id, ip, redis_url=settings.redis_url
        )
        return render(
            request,
            "webform/form.html",
            {"channel": channel, "values": {}, "error": "rate_limited", "retry_after": wait},
            status_code=429,
            headers={"Retry-After": str(wait)},
        )
    from urllib.parse import parse_qs

    values = {k: v[0] for k, v in parse_qs(hook.body.decode("utf-8", "replace")).items()}
    try:
        outcome = service.receive_webhook(session, channel=channel, request=hook)
    except InvalidInput as exc:
        return render(
            request,
            "webform/form.html",
            {"channel": channel, "values": values, "error": exc.message, "field": exc.field},
            status_code=422,
        )
    number = outcome.results[0].conversation.number if outcome.results else None
    return render(request, "webform/thanks.html", {"channel": channel, "number": number})
