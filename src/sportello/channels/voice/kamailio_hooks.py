"""The HTTP endpoints Kamailio calls (form posts carrying the derived token, see
``daemons.kamailio_token``): the routing question for a call, call events, and the digest HA1 of
an agent registering. Plain form posts, answered in JSON or plain text: Kamailio's config reads
them with ``json_get_field``. Not part of the public API (no OpenAPI entries)."""

from __future__ import annotations

import hmac
import logging
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from sportello.channels.voice import actions, media, service
from sportello.channels.voice.daemons import kamailio_token
from sportello.core.db import Database
from sportello.core.errors import InvalidInput

log = logging.getLogger(__name__)
router = APIRouter(prefix="/voice/kamailio", include_in_schema=False)


def _authorised(token: str) -> bool:
    return hmac.compare_digest(token.encode(), kamailio_token().encode())


def _denied() -> Response:
    log.warning("voice: a Kamailio hook was called without the right credentials")
    return PlainTextResponse("unauthorised", status_code=401)


@router.post("/route")
def route(
    request: Request,
    token: Annotated[str, Form(max_length=100)] = "",
    call_id: Annotated[str, Form(max_length=255)] = "",
    to: Annotated[str, Form(max_length=100)] = "",
    from_: Annotated[str, Form(alias="from", max_length=100)] = "",
    display: Annotated[str, Form(max_length=200)] = "",
    tag: Annotated[str, Form(max_length=200)] = "",
    ng: Annotated[str, Form(max_length=100)] = "",
    sdp: Annotated[str, Form(max_length=20000)] = "",
    attempt: Annotated[int, Form(ge=0, le=1000)] = 0,
    branches: Annotated[int, Form(ge=0, le=1000)] = 0,
) -> Response:
    if not _authorised(token):
        return _denied()
    db: Database = request.app.state.db
    media = actions.MediaRequest(ng=ng, from_tag=tag, sdp=sdp) if ng and tag and sdp else None
    try:
        answer = actions.route_call(
            db,
            sip_call_id=call_id,
            caller=from_,
            did=to,
            display=display,
            media_request=media,
            questions_left=branches - attempt if branches else None,
        )
    except InvalidInput as exc:
        log.warning("voice: routing request refused: %s", exc)
        answer = actions.RouteAnswer("reject", code=400, reason="Bad Request")
    return JSONResponse(answer.as_json())


@router.post("/event")
def event(
    request: Request,
    token: Annotated[str, Form(max_length=100)] = "",
    call_id: Annotated[str, Form(max_length=255)] = "",
    event: Annotated[str, Form(max_length=20)] = "",
    by: Annotated[str, Form(max_length=100)] = "",
    ng: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    if not _authorised(token):
        return _denied()
    db: Database = request.app.state.db
    try:
        with db.transaction() as session:
            call = actions.do_call_event(session, sip_call_id=call_id, event=event, by=by)
            answered = call is not None and call.answered_at is not None
    except InvalidInput as exc:
        log.warning("voice: call event refused: %s", exc)
        return JSONResponse({"ok": False, "error": str(exc)}, status_code=422)
    if event == "hangup" and answered and ng:
        _check_media(ng, call_id)
    return JSONResponse({"ok": True})


def _check_media(ng: str, call_id: str) -> None:
    """At the hang-up of an answered call (before Kamailio deletes it), ask rtpengine about the
    call's media: a restarted rtpengine no longer knows it. The record is kept either way."""
    try:
        media.Rtpengine(ng, timeout=0.5).command("query", **{"call-id": call_id})
    except media.MediaError as exc:
        log.warning(
            "voice: rtpengine lost the media of call %s during the call (restarted?): %s; "
            "the call record is complete",
            call_id,
            exc,
        )


@router.post("/auth")
def auth(
    request: Request,
    token: Annotated[str, Form(max_length=100)] = "",
    user: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    """The HA1 of a SIP user for Kamailio's digest check; 404 for an unknown user."""
    if not _authorised(token):
        return _denied()
    with request.app.state.db.session() as session:
        account = service.account_by_username(session, user[:64])
        if account is None:
            return PlainTextResponse("", status_code=404)
        return PlainTextResponse(account.ha1)
