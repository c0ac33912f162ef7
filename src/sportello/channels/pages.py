"""Admin pages for channels: list (with the public URLs and embed snippets), create, edit.

The secrets a new channel gets (the api channel's token and signing secret) are shown once, on
the page answering the create request, and never again.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from sportello.accounts import service as accounts_service
from sportello.channels import actions, registry
from sportello.channels.models import Channel
from sportello.core.db import SessionDep
from sportello.core.errors import Conflict, InvalidInput, NotFound
from sportello.routing import service as routing_service
from sportello.routing.models import Queue
from sportello.web.auth import AdminUser, CsrfChecked, SupervisorUser
from sportello.web.helpers import form_error, see_other
from sportello.web.render import render

router = APIRouter(dependencies=[CsrfChecked])

CREATABLE_KINDS = ("api", "webform", "chat")
# The chat channel's form fields, as the chat adapter's configure() reads them.
CHAT_FIELDS = (
    "title",
    "color",
    "greeting_it",
    "greeting_en",
    "allowed_origins",
    "prechat",
    "topics",
    "offline_when_no_agent",
    "max_upload_mb",
    "upload_types",
    "hours",
)


def _all_channels(session: Session) -> list[Channel]:
    return list(session.scalars(select(Channel).order_by(Channel.name, Channel.id)))


def _channel(session: Session, channel_id: int) -> Channel:
    channel = session.get(Channel, channel_id)
    if channel is None:
        raise NotFound("channel not found")
    return channel


def _queue(session: Session, queue_id: str) -> Queue | None:
    if not queue_id:
        return None
    if not queue_id.isdigit():
        raise InvalidInput("choose a queue", field="queue_id")
    return routing_service.get(session, int(queue_id))


def _base_url(request: Request) -> str:
    return str(request.app.state.settings.base_url).rstrip("/")


@router.get("/admin/channels", response_class=HTMLResponse, include_in_schema=False)
def channels(request: Request, session: SessionDep, user: SupervisorUser) -> Response:
    return render(
        request,
        "channels/list.html",
        {
            "channels": _all_channels(session),
            "base_url": _base_url(request),
            "kinds": [k for k in CREATABLE_KINDS if k in registry.kinds()],
            "admin_tab": "channels",
        },
    )


def _new_form(
    request: Request,
    session: Session,
    kind: str,
    *,
    error: object = None,
    values: dict[str, str] | None = None,
) -> Response:
    if kind not in CREATABLE_KINDS:
        raise NotFound("no such channel kind")
    return render(
        request,
        "channels/new.html",
        {
            "kind": kind,
            "queues": routing_service.get_all(session),
            "error": error,
            "values": values or {},
            "prechat_modes": ("off", "optional", "required"),
            "admin_tab": "channels",
        },
        status_code=422 if error else 200,
    )


@router.get("/admin/channels/new", response_class=HTMLResponse, include_in_schema=False)
def channel_new(
    request: Request, session: SessionDep, user: AdminUser, kind: str = "webform"
) -> Response:
    return _new_form(request, session, kind)


@router.post("/admin/channels", response_class=HTMLResponse, include_in_schema=False)
def channel_create(
    request: Request,
    session: SessionDep,
    user: AdminUser,
    kind: Annotated[str, Form(max_length=32)],
    name: Annotated[str, Form(max_length=200)],
    queue_id: Annotated[str, Form(max_length=20)] = "",
    reply_url: Annotated[str, Form(max_length=2000)] = "",
    title: Annotated[str, Form(max_length=200)] = "",
    intro: Annotated[str, Form(max_length=1000)] = "",
    topics: Annotated[str, Form(max_length=2000)] = "",
    color: Annotated[str, Form(max_length=20)] = "",
    greeting_it: Annotated[str, Form(max_length=500)] = "",
    greeting_en: Annotated[str, Form(max_length=500)] = "",
    allowed_origins: Annotated[str, Form(max_length=4000)] = "",
    prechat: Annotated[str, Form(max_length=20)] = "off",
    offline_when_no_agent: Annotated[str, Form(max_length=10)] = "",
    max_upload_mb: Annotated[str, Form(max_length=10)] = "",
    upload_types: Annotated[str, Form(max_length=2000)] = "",
    hours: Annotated[str, Form(max_length=20_000)] = "",
) -> Response:
    if kind not in CREATABLE_KINDS:
        raise NotFound("no such channel kind")
    values = {
        "name": name,
        "queue_id": queue_id,
        "reply_url": reply_url,
        "title": title,
        "intro": intro,
        "topics": topics,
        "color": color,
        "greeting_it": greeting_it,
        "greeting_en": greeting_en,
        "allowed_origins": allowed_origins,
        "prechat": prechat,
        # an unticked checkbox is not sent: "off", so that the adapter's default (on) is not used
        "offline_when_no_agent": offline_when_no_agent or "off",
        "max_upload_mb": max_upload_mb,
        "upload_types": upload_types,
        "hours": hours,
    }
    if kind == "api":
        data = {"reply_url": reply_url}
    elif kind == "chat":
        data = {key: values[key] for key in CHAT_FIELDS}
    else:
        data = {"title": title, "intro": intro, "topics": topics}
    try:
        channel, shown_once = actions.do_create_channel(
            session,
            brand_id=accounts_service.default_brand(session).id,
            kind=kind,
            name=name,
            queue=_queue(session, queue_id),
            data=data,
        )
    except (InvalidInput, Conflict) as exc:
        session.rollback()
        return _new_form(request, session, kind, error=form_error(exc), values=values)
    return render(
        request,
        "channels/created.html",
        {
            "channel": channel,
            "secrets": shown_once,
            "base_url": _base_url(request),
            "admin_tab": "channels",
        },
        status_code=201,
        headers={"Cache-Control": "no-store"},
    )


@router.get("/admin/channels/{channel_id}", response_class=HTMLResponse, include_in_schema=False)
def channel_page(
    request: Request, session: SessionDep, user: SupervisorUser, channel_id: int
) -> Response:
    return render(
        request,
        "channels/edit.html",
        {
            "channel": _channel(session, channel_id),
            "queues": routing_service.get_all(session),
            "base_url": _base_url(request),
            "error": None,
            "admin_tab": "channels",
        },
    )


@router.post("/admin/channels/{channel_id}", response_class=HTMLResponse, include_in_schema=False)
def channel_save(
    request: Request,
    session: SessionDep,
    user: AdminUser,
    channel_id: int,
    name: Annotated[str, Form(max_length=200)],
    queue_id: Annotated[str, Form(max_length=20)] = "",
    active: Annotated[str, Form()] = "",
) -> Response:
    channel = _channel(session, channel_id)
    try:
        actions.do_update_channel(
            session,
            channel=channel,
            name=name,
            queue=_queue(session, queue_id),
            is_active=bool(active),
        )
    except InvalidInput as exc:
        session.rollback()
        return render(
            request,
            "channels/edit.html",
            {
                "channel": _channel(session, channel_id),
                "queues": routing_service.get_all(session),
                "base_url": _base_url(request),
                "error": form_error(exc),
                "admin_tab": "channels",
            },
            status_code=422,
        )
    return see_other("/admin/channels")
