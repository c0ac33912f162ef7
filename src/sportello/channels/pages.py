"""Admin pages for channels: list (with the public URLs and embed snippets), create, edit.

The secrets a new channel gets (the api channel's token and signing secret, WhatsApp's verify
token, Telegram's secret token) are shown once, on the page answering the create request, and
never again. The providers' credentials an admin types (access tokens, app secret, auth token,
bot token) are write-only: never put back into a page, and a blank field on the edit form keeps
the stored value.

Messaging channels (WhatsApp, Telegram, SMS) take the fields their adapter declares
(``form_fields``, ``secret_fields``); the Telegram page can register the webhook with the Bot API,
the WhatsApp page can sync the approved message templates from the Graph API. What their
adapters and provider actions raise is listed for the catalogues in ``web/messages.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, ClassVar, Protocol, runtime_checkable

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from sportello.accounts import service as accounts_service
from sportello.channels import actions, registry
from sportello.channels.base import ChannelError
from sportello.channels.models import Channel
from sportello.channels.telegram import actions as telegram_actions
from sportello.channels.whatsapp import actions as whatsapp_actions
from sportello.core import i18n
from sportello.core.db import SessionDep
from sportello.core.errors import Conflict, InvalidInput, NotFound
from sportello.routing import service as routing_service
from sportello.routing.models import Queue
from sportello.web.auth import AdminUser, CsrfChecked, SupervisorUser
from sportello.web.helpers import form_error, see_other, translating
from sportello.web.render import render

router = APIRouter(dependencies=[CsrfChecked])

CREATABLE_KINDS = ("api", "webform", "chat", "whatsapp", "telegram", "sms")
MAX_FIELD = 2000


@runtime_checkable
class ConfiguredByForm(Protocol):
    """An adapter whose configure() reads a fixed set of form fields, some of them secrets."""

    form_fields: ClassVar[tuple[str, ...]]
    secret_fields: ClassVar[tuple[str, ...]]


def _form_adapter(kind: str) -> ConfiguredByForm | None:
    if kind not in registry.kinds():
        return None
    adapter = registry.get_adapter(kind)
    return adapter if isinstance(adapter, ConfiguredByForm) else None


async def _posted_form(request: Request) -> dict[str, str]:
    """The posted form's text fields (the form was parsed once already; Starlette keeps it)."""
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str)}


PostedForm = Annotated[dict[str, str], Depends(_posted_form)]


def _form_data(adapter: ConfiguredByForm, posted: dict[str, str]) -> dict[str, str]:
    data = {name: posted.get(name, "") for name in adapter.form_fields}
    for name, value in data.items():
        if len(value) > MAX_FIELD:
            raise InvalidInput("a field is too long", field=name)
    return data


def _shown(adapter: ConfiguredByForm, data: dict[str, Any]) -> dict[str, str]:
    """What a form may show back: every field but the secrets."""
    return {
        name: str(data.get(name) or "")
        for name in adapter.form_fields
        if name not in adapter.secret_fields
    }


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
            "form_kind": _form_adapter(kind) is not None,
            "queues": routing_service.get_all(session),
            "error": error,
            "values": values or {},
            "stored_secrets": (),
            "prechat_modes": ("off", "optional", "required"),
            "admin_tab": "channels",
        },
        status_code=422 if error else 200,
        headers={"Cache-Control": "no-store"},
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
    posted: PostedForm,
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
    form_adapter = _form_adapter(kind)
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
    if form_adapter is not None:
        values.update(_shown(form_adapter, posted))
    try:
        if form_adapter is not None:
            data = _form_data(form_adapter, posted)
        elif kind == "api":
            data = {"reply_url": reply_url}
        elif kind == "chat":
            data = {key: values[key] for key in CHAT_FIELDS}
        else:
            data = {"title": title, "intro": intro, "topics": topics}
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


def _provider_error(request: Request, exc: ChannelError) -> str:
    """The provider's error as text for the page: ours translated, the provider's words kept.
    (Plain text, escaped by the template: a provider's answer is never trusted as markup.)"""
    with translating(request):
        return i18n.gettext(exc.message)


def _synced_at(channel: Channel) -> datetime | None:
    value = channel.settings.get("templates_synced_at")
    try:
        return datetime.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


def _edit_page(
    request: Request,
    session: Session,
    channel: Channel,
    *,
    values: dict[str, str] | None = None,
    error: object = None,
    notice: dict[str, Any] | None = None,
    provider_error: str | None = None,
    status_code: int = 200,
) -> Response:
    form_adapter = _form_adapter(channel.kind)
    if values is None:
        values = _shown(form_adapter, channel.settings) if form_adapter else {}
    return render(
        request,
        "channels/edit.html",
        {
            "channel": channel,
            "form_kind": form_adapter is not None,
            "values": values,
            # Which secrets are stored (never their values): their fields say "leave blank".
            "stored_secrets": sorted(channel.secrets),
            "queues": routing_service.get_all(session),
            "base_url": _base_url(request),
            "error": error,
            "notice": notice,
            "provider_error": provider_error,
            "templates_synced_at": _synced_at(channel),
            "admin_tab": "channels",
        },
        status_code=422 if error else status_code,
        headers={"Cache-Control": "no-store"},
    )


@router.get("/admin/channels/{channel_id}", response_class=HTMLResponse, include_in_schema=False)
def channel_page(
    request: Request, session: SessionDep, user: SupervisorUser, channel_id: int
) -> Response:
    return _edit_page(request, session, _channel(session, channel_id))


@router.post("/admin/channels/{channel_id}", response_class=HTMLResponse, include_in_schema=False)
def channel_save(
    request: Request,
    session: SessionDep,
    user: AdminUser,
    posted: PostedForm,
    channel_id: int,
    name: Annotated[str, Form(max_length=200)],
    queue_id: Annotated[str, Form(max_length=20)] = "",
    active: Annotated[str, Form()] = "",
) -> Response:
    channel = _channel(session, channel_id)
    form_adapter = _form_adapter(channel.kind)
    try:
        if form_adapter is not None:
            actions.do_reconfigure_channel(
                session, channel=channel, data=_form_data(form_adapter, posted)
            )
        actions.do_update_channel(
            session,
            channel=channel,
            name=name,
            queue=_queue(session, queue_id),
            is_active=bool(active),
        )
    except InvalidInput as exc:
        session.rollback()
        shown = _shown(form_adapter, posted) if form_adapter else {}
        return _edit_page(
            request,
            session,
            _channel(session, channel_id),
            values=shown,
            error=form_error(exc),
        )
    return see_other("/admin/channels")


def _kind_channel(session: Session, channel_id: int, kind: str) -> Channel:
    channel = _channel(session, channel_id)
    if channel.kind != kind:
        raise NotFound("channel not found")
    return channel


def _provider_call(
    request: Request,
    session: Session,
    channel_id: int,
    kind: str,
    call: Callable[[Channel], dict[str, Any]],
) -> Response:
    """The edit page after ``call`` asked the provider of a ``kind`` channel for something: with
    the notice ``call`` returns, or with the provider's error (502) and nothing changed."""
    channel = _kind_channel(session, channel_id, kind)
    try:
        notice = call(channel)
    except ChannelError as exc:
        session.rollback()
        return _edit_page(
            request,
            session,
            _channel(session, channel_id),
            provider_error=_provider_error(request, exc),
            status_code=502,
        )
    return _edit_page(request, session, channel, notice=notice)


@router.post(
    "/admin/channels/{channel_id}/telegram-webhook",
    response_class=HTMLResponse,
    include_in_schema=False,
)
def channel_register_webhook(
    request: Request, session: SessionDep, user: AdminUser, channel_id: int
) -> Response:
    """Call the Bot API's setWebhook with our hook URL and a new secret token."""

    def register(channel: Channel) -> dict[str, Any]:
        url = f"{_base_url(request)}/hooks/{channel.public_id}"
        return {"webhook": telegram_actions.do_register_webhook(session, channel=channel, url=url)}

    return _provider_call(request, session, channel_id, "telegram", register)


@router.post(
    "/admin/channels/{channel_id}/whatsapp-templates",
    response_class=HTMLResponse,
    include_in_schema=False,
)
def channel_sync_templates(
    request: Request, session: SessionDep, user: AdminUser, channel_id: int
) -> Response:
    """Fetch the approved message templates from the Graph API and store them on the channel."""

    def sync(channel: Channel) -> dict[str, Any]:
        parsed = whatsapp_actions.do_sync_templates(session, channel=channel)
        return {"templates": len(parsed.templates), "skipped": len(parsed.skipped)}

    return _provider_call(request, session, channel_id, "whatsapp", sync)
