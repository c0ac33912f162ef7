"""Admin pages for channels: list, create, edit, the bot, new secrets, delete; and the composer's
"Reply via" picker and the retry of a failed reply.

Each kind is a plug-in: its adapter declares its form fields (``form_fields``, ``secret_fields``;
the fields are in ``web/templates/channels/_fields_<kind>.html``), how stored settings read back
into the form (``form_values``), what it can do (``capabilities``: replies, bot...), whether its
generated secrets can be replaced (``rotate``) and whether it has pages of its own (the mailbox's
``admin_url``). Nothing here tests a kind by name.

The secrets a channel gets (the api channel's token and signing secret, the chat's identity
secret, WhatsApp's verify token, Telegram's secret token) are shown once, on the page answering
the create (or replace) request, and never again. The providers' credentials an admin types
(access tokens, app secret, auth token, bot token, mailbox passwords) are write-only: never put
back into a page, and a blank field on the edit form keeps the stored value. What the adapters
raise is listed for the catalogues in ``channels/messages.py`` and ``web/messages.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from sportello.accounts import service as accounts_service
from sportello.channels import actions, registry, replies
from sportello.channels.base import (
    ChannelError,
    ConfiguredByForm,
    HasOwnAdminPage,
    RotatesSecrets,
    ShowsForm,
)
from sportello.channels.chat.protocol import PRECHAT_MODES
from sportello.channels.models import Channel
from sportello.channels.telegram import actions as telegram_actions
from sportello.channels.whatsapp import actions as whatsapp_actions
from sportello.conversations.models import Message
from sportello.core import access, i18n
from sportello.core.db import SessionDep
from sportello.core.errors import Conflict, InvalidInput, NotFound
from sportello.routing import service as routing_service
from sportello.routing.models import Queue
from sportello.web.auth import AdminUser, CsrfChecked, CurrentUser, SupervisorUser
from sportello.web.helpers import form_error, see_other, translating, user_errors
from sportello.web.render import render

router = APIRouter(dependencies=[CsrfChecked])

BOT_FIELDS = ("enabled", "name", "greeting", "threshold", "handover_words")

# The order of the "New channel" buttons; a kind installed but not listed comes last.
KIND_ORDER = ("email", "chat", "webform", "api", "whatsapp", "telegram", "sms")
MAX_FIELD = 2000
LONG_FIELDS = {"hours": 20_000, "allowed_origins": 4000}  # the chat's opening hours are JSON


def _kinds() -> list[str]:
    installed = registry.kinds()
    return [k for k in KIND_ORDER if k in installed] + [k for k in installed if k not in KIND_ORDER]


def _form_adapter(kind: str) -> ConfiguredByForm | None:
    if kind not in registry.kinds():
        return None
    adapter = registry.get_adapter(kind)
    return adapter if isinstance(adapter, ConfiguredByForm) else None


def _page_form_adapter(kind: str) -> ConfiguredByForm | None:
    """The adapter whose fields the channel pages show: none for a kind with pages of its own."""
    return None if _own_page(kind, None) else _form_adapter(kind)


def _own_page(kind: str, channel_id: int | None) -> str | None:
    """Where a kind with pages of its own (the mailbox) is configured, or None."""
    if kind not in registry.kinds():
        return None
    adapter = registry.get_adapter(kind)
    return adapter.admin_url(channel_id) if isinstance(adapter, HasOwnAdminPage) else None


async def _posted_form(request: Request) -> dict[str, str]:
    """The posted form's text fields (the form was parsed once already; Starlette keeps it)."""
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str)}


PostedForm = Annotated[dict[str, str], Depends(_posted_form)]


def _form_data(adapter: ConfiguredByForm, posted: dict[str, str]) -> dict[str, str]:
    data = {name: posted.get(name, "") for name in adapter.form_fields}
    for name, value in data.items():
        if len(value) > LONG_FIELDS.get(name, MAX_FIELD):
            raise InvalidInput("a field is too long", field=name)
    return data


def _shown(adapter: ConfiguredByForm, data: Mapping[str, Any]) -> dict[str, str]:
    """What a form may show back: every field but the secrets."""
    return {
        name: str(data.get(name) or "")
        for name in adapter.form_fields
        if name not in adapter.secret_fields
    }


def _stored_values(adapter: ConfiguredByForm, channel: Channel) -> dict[str, str]:
    """The edit form's values from the stored settings."""
    if isinstance(adapter, ShowsForm):
        return adapter.form_values(channel.settings)
    return _shown(adapter, channel.settings)


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
    listed = _all_channels(session)
    return render(
        request,
        "channels/list.html",
        {
            "channels": listed,
            "base_url": _base_url(request),
            "kinds": [(k, _own_page(k, None) or f"/admin/channels/new?kind={k}") for k in _kinds()],
            "own_pages": {c.id: _own_page(c.kind, c.id) for c in listed},
            "has_mailboxes": any(c.kind == "email" for c in listed),
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
    adapter = _page_form_adapter(kind)
    if adapter is None:
        raise NotFound("no such channel kind")
    return render(
        request,
        "channels/new.html",
        {
            "kind": kind,
            "form_kind": True,
            "has_secret_fields": bool(adapter.secret_fields),
            "queues": routing_service.get_all(session),
            "error": error,
            "values": values or {"active": "on"},
            "stored_secrets": (),
            "prechat_modes": PRECHAT_MODES,
            "admin_tab": "channels",
        },
        status_code=422 if error else 200,
        headers={"Cache-Control": "no-store"},
    )


@router.get("/admin/channels/new", response_class=HTMLResponse, include_in_schema=False)
def channel_new(
    request: Request, session: SessionDep, user: AdminUser, kind: str = "webform"
) -> Response:
    own = _own_page(kind, None)
    if own is not None:
        return see_other(own)
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
    # the form always sends it ("off" from a hidden field when unticked); absent: active
    active: Annotated[str, Form(max_length=10)] = "on",
) -> Response:
    form_adapter = _page_form_adapter(kind)
    if form_adapter is None:
        raise NotFound("no such channel kind")
    values = {"name": name, "queue_id": queue_id, "active": active, **_shown(form_adapter, posted)}
    try:
        channel, shown_once = actions.do_create_channel(
            session,
            brand_id=accounts_service.default_brand(session).id,
            kind=kind,
            name=name,
            queue=_queue(session, queue_id),
            data=_form_data(form_adapter, posted),
            is_active=active not in ("", "off"),
        )
    except (InvalidInput, Conflict) as exc:
        session.rollback()
        return _new_form(request, session, kind, error=form_error(exc), values=values)
    return _shown_once_page(request, channel, shown_once, status_code=201, rotated=False)


def _shown_once_page(
    request: Request,
    channel: Channel,
    shown_once: dict[str, str],
    *,
    status_code: int = 200,
    rotated: bool = True,
) -> Response:
    """The page that shows new secrets, once (after creating a channel or replacing them)."""
    return render(
        request,
        "channels/created.html",
        {
            "channel": channel,
            "secrets": shown_once,
            "rotated": rotated,
            "base_url": _base_url(request),
            "admin_tab": "channels",
        },
        status_code=status_code,
        headers={"Cache-Control": "no-store"},
    )


def _provider_error(request: Request, exc: ChannelError) -> str:
    """The provider's error as text for the page: ours translated, the provider's words kept.
    (Plain text, escaped by the template: a provider's answer is never trusted as markup.)"""
    with translating(request):
        text = i18n.gettext(exc.message)
    return f"{text} ({exc.detail})" if exc.detail else text


def _synced_at(channel: Channel) -> datetime | None:
    value = channel.settings.get("templates_synced_at")
    try:
        return datetime.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


def _bot_values(channel: Channel) -> dict[str, str]:
    bot = channel.settings.get("bot")
    bot = bot if isinstance(bot, dict) else {}
    try:
        threshold = float(bot.get("threshold", 0.5))
    except (TypeError, ValueError):
        threshold = 0.5
    return {
        "enabled": "on" if bot.get("enabled") else "",
        "name": str(bot.get("name") or ""),
        "greeting": str(bot.get("greeting") or ""),
        "threshold": f"{threshold * 100:g}",
        "handover_words": ", ".join(str(w) for w in bot.get("blocked_topics") or []),
    }


def _calibration(session: Session, channel: Channel) -> Any:
    """The bot's answers judged by customers, replayed at each candidate threshold."""
    from sportello.knowledge import service as kb_service  # the bot lives in knowledge

    if not registry.capabilities(channel.kind).bot:
        return None
    return kb_service.bot_calibration(session, channel_id=channel.id)


def _edit_page(
    request: Request,
    session: Session,
    channel: Channel,
    *,
    values: dict[str, str] | None = None,
    error: object = None,
    bot_values: dict[str, str] | None = None,
    bot_error: object = None,
    delete_error: str | None = None,
    notice: dict[str, Any] | None = None,
    provider_error: str | None = None,
    status_code: int = 200,
) -> Response:
    form_adapter = _page_form_adapter(channel.kind)
    if values is None:
        values = _stored_values(form_adapter, channel) if form_adapter else {}
    adapter = registry.get_adapter(channel.kind) if channel.kind in registry.kinds() else None
    failed = error or bot_error or delete_error
    return render(
        request,
        "channels/edit.html",
        {
            "channel": channel,
            "form_kind": form_adapter is not None,
            "own_page": _own_page(channel.kind, channel.id),
            "values": values,
            # Which secrets are stored (never their values): their fields say "leave blank".
            "stored_secrets": sorted(channel.secrets),
            "queues": routing_service.get_all(session),
            "base_url": _base_url(request),
            "error": error,
            "capabilities": registry.capabilities(channel.kind),
            "bot": bot_values or _bot_values(channel),
            "bot_error": bot_error,
            "calibration": _calibration(session, channel),
            "can_rotate": isinstance(adapter, RotatesSecrets),
            "uses": actions.channel_uses(session, channel),
            "delete_error": delete_error,
            "prechat_modes": PRECHAT_MODES,
            "notice": notice,
            "provider_error": provider_error,
            "templates_synced_at": _synced_at(channel),
            "admin_tab": "channels",
        },
        status_code=422 if failed else status_code,
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
    form_adapter = _page_form_adapter(channel.kind)
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
            is_active=active not in ("", "off"),
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
    return see_other(f"/admin/channels/{channel.id}?saved=1")


@router.post(
    "/admin/channels/{channel_id}/bot", response_class=HTMLResponse, include_in_schema=False
)
def channel_bot(
    request: Request, session: SessionDep, user: AdminUser, posted: PostedForm, channel_id: int
) -> Response:
    """The knowledge bot on this channel: on or off, its threshold, handover words, greeting."""
    channel = _channel(session, channel_id)
    data = {k: posted.get(k, "")[:MAX_FIELD] for k in BOT_FIELDS}
    try:
        actions.do_configure_bot(session, channel=channel, data=data)
    except InvalidInput as exc:
        session.rollback()
        return _edit_page(
            request,
            session,
            _channel(session, channel_id),
            bot_values=data,
            bot_error=form_error(exc),
        )
    return see_other(f"/admin/channels/{channel.id}?saved=bot#bot")


@router.post(
    "/admin/channels/{channel_id}/bot/threshold",
    response_class=HTMLResponse,
    include_in_schema=False,
)
def channel_bot_threshold(
    request: Request,
    session: SessionDep,
    user: AdminUser,
    channel_id: int,
    threshold: Annotated[str, Form(max_length=20)],
) -> Response:
    """A row of the calibration table picked: the bot's threshold set to it, the rest kept."""
    channel = _channel(session, channel_id)
    data = {**_bot_values(channel), "threshold": threshold}
    try:
        actions.do_configure_bot(session, channel=channel, data=data)
    except InvalidInput as exc:
        session.rollback()
        return _edit_page(
            request, session, _channel(session, channel_id), bot_error=form_error(exc)
        )
    return see_other(f"/admin/channels/{channel.id}?saved=bot#bot")


@router.post(
    "/admin/channels/{channel_id}/rotate", response_class=HTMLResponse, include_in_schema=False
)
def channel_rotate(
    request: Request, session: SessionDep, user: AdminUser, channel_id: int
) -> Response:
    """New generated secrets, shown once on the answer; the old ones stop working now."""
    channel = _channel(session, channel_id)
    try:
        shown_once = actions.do_rotate_secrets(session, channel=channel)
    except InvalidInput as exc:
        session.rollback()
        return _edit_page(request, session, _channel(session, channel_id), error=form_error(exc))
    return _shown_once_page(request, channel, shown_once)


@router.post(
    "/admin/channels/{channel_id}/delete", response_class=HTMLResponse, include_in_schema=False
)
def channel_delete(
    request: Request, session: SessionDep, user: AdminUser, channel_id: int
) -> Response:
    channel = _channel(session, channel_id)
    try:
        actions.do_delete_channel(session, channel=channel)
    except Conflict as exc:
        session.rollback()
        with translating(request):
            message = i18n.gettext(exc.message, **exc.extra.get("params", {}))
        return _edit_page(request, session, _channel(session, channel_id), delete_error=message)
    return see_other("/admin/channels?deleted=1")


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


# --- the composer's "Reply via" and the retry of a failed delivery ------------------------------


@router.get("/c/{number}/reply-via", response_class=HTMLResponse, include_in_schema=False)
def reply_via(
    request: Request, session: SessionDep, user: CurrentUser, number: int, via: str = ""
) -> Response:
    """The composer's channel picker and its warning, loaded with the page and again when the
    agent picks another channel: which channels reach this customer, and whether the chosen one
    can deliver (a web form cannot, an API channel needs its reply URL, WhatsApp its window)."""
    conversation = access.access_conversation_by_number(session, user, number)
    options = replies.reply_options(session, conversation)
    chosen = replies.default_option(options)
    if via.isdigit():
        chosen = next((o for o in options if o.channel_id == int(via)), chosen)
    return render(
        request,
        "conversations/_reply_via.html",
        {"c": conversation, "options": options, "chosen": chosen},
        headers={"Cache-Control": "no-store"},
    )


@router.post(
    "/c/{number}/messages/{message_id}/retry", response_class=HTMLResponse, include_in_schema=False
)
def retry_delivery(
    request: Request, session: SessionDep, user: CurrentUser, number: int, message_id: int
) -> Response:
    """Send a reply that could not be delivered again, through the delivery job."""
    conversation = access.access_conversation_by_number(session, user, number)
    message = session.get(Message, message_id)
    if message is None or message.conversation_id != conversation.id:
        raise NotFound("message not found")
    with user_errors(request):
        actions.do_retry_delivery(session, message=message)
    return see_other(f"/c/{conversation.number}#m{message.id}")
