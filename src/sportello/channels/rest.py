"""REST API v1 for channels (admins): list, read, create, change settings, the bot, replace the
generated secrets, delete; and, for any agent who may see the conversation, retrying a reply that
could not be delivered. Secrets are write-only.

(``channels/api/`` is the api *kind* of channel, hence this module's name.)"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from sportello.accounts import service as accounts_service
from sportello.channels import actions, registry, replies
from sportello.channels.base import ConfiguredByForm, ShowsForm
from sportello.channels.models import Channel
from sportello.channels.schemas import (
    BotCalibration,
    BotCalibrationRow,
    BotRead,
    BotSettings,
    CapabilitiesRead,
    ChannelCreate,
    ChannelCreated,
    ChannelRead,
    ChannelUpdate,
    ReplyOptionRead,
    SecretsRotated,
)
from sportello.conversations.models import Message
from sportello.core import access, i18n
from sportello.core.db import SessionDep
from sportello.core.errors import Conflict, InvalidInput, NotFound
from sportello.routing import service as routing_service
from sportello.routing.models import Queue
from sportello.web.api import AdminCaller, ReadCaller, WriteCaller, api_router, problem_response

router = APIRouter()
channels = api_router("channels")


def _shown_settings(channel: Channel) -> dict[str, Any]:
    adapter = registry.get_adapter(channel.kind) if channel.kind in registry.kinds() else None
    if isinstance(adapter, ShowsForm):
        return dict(adapter.form_values(channel.settings))
    secret: set[str] = (
        set(adapter.secret_fields) if isinstance(adapter, ConfiguredByForm) else set()
    )
    return {k: v for k, v in channel.settings.items() if k not in secret}


def _read(channel: Channel) -> ChannelRead:
    caps = registry.capabilities(channel.kind)
    return ChannelRead(
        id=channel.id,
        kind=channel.kind,
        name=channel.name,
        public_id=channel.public_id,
        queue_id=channel.queue_id,
        is_active=channel.is_active,
        settings=_shown_settings(channel),
        secrets_stored=sorted(channel.secrets),
        capabilities=CapabilitiesRead(
            replies=caps.replies,
            reaches=caps.reaches,
            bot=caps.bot,
            buttons=caps.buttons,
            templates=caps.templates,
        ),
        created_at=channel.created_at,
    )


def _get(session: Session, channel_id: int) -> Channel:
    channel = session.get(Channel, channel_id)
    if channel is None:
        raise NotFound("channel not found")
    return channel


def _queue(session: Session, queue_id: int | None) -> Queue | None:
    return routing_service.get(session, queue_id) if queue_id else None


def _form_data(kind: str, settings: dict[str, str]) -> dict[str, str]:
    adapter = registry.get_adapter(kind)
    fields = adapter.form_fields if isinstance(adapter, ConfiguredByForm) else ()
    unknown = sorted(set(settings) - set(fields))
    if unknown:
        raise InvalidInput("this kind of channel has no such setting", field=unknown[0])
    return dict(settings)


@channels.get("/channels", summary="List channels (admins)", response_model=list[ChannelRead])
def list_channels(session: SessionDep, caller: AdminCaller) -> list[ChannelRead]:
    rows = session.scalars(select(Channel).order_by(Channel.name, Channel.id))
    return [_read(c) for c in rows]


@channels.get(
    "/channels/{channel_id}", summary="Get a channel (admins)", response_model=ChannelRead
)
def get_channel(channel_id: int, session: SessionDep, caller: AdminCaller) -> ChannelRead:
    return _read(_get(session, channel_id))


@channels.post(
    "/channels",
    summary="Create a channel (admins); generated secrets are returned once",
    status_code=201,
    response_model=ChannelCreated,
)
def create_channel(body: ChannelCreate, session: SessionDep, caller: AdminCaller) -> ChannelCreated:
    if body.kind not in registry.kinds():
        raise InvalidInput("no such channel kind", field="kind")
    channel, shown_once = actions.do_create_channel(
        session,
        brand_id=accounts_service.default_brand(session).id,
        kind=body.kind,
        name=body.name,
        queue=_queue(session, body.queue_id),
        data=_form_data(body.kind, body.settings),
        is_active=body.is_active,
    )
    return ChannelCreated(channel=_read(channel), secrets=shown_once)


@channels.patch(
    "/channels/{channel_id}",
    summary="Change a channel's name, queue, state or settings (admins)",
    response_model=ChannelRead,
)
def update_channel(
    channel_id: int, body: ChannelUpdate, session: SessionDep, caller: AdminCaller
) -> ChannelRead:
    channel = _get(session, channel_id)
    if body.settings is not None:
        current = _shown_settings(channel)
        data = {k: str(v) for k, v in current.items() if isinstance(v, str | int | float | bool)}
        data.update(_form_data(channel.kind, body.settings))
        actions.do_reconfigure_channel(session, channel=channel, data=data)
    queue: Queue | bool | None = False
    if body.queue_id is not None:
        queue = _queue(session, body.queue_id)
    actions.do_update_channel(
        session, channel=channel, name=body.name, queue=queue, is_active=body.is_active
    )
    return _read(channel)


@channels.get("/channels/{channel_id}/bot", summary="The bot on a channel", response_model=BotRead)
def get_bot(channel_id: int, session: SessionDep, caller: AdminCaller) -> BotRead:
    bot = _get(session, channel_id).settings.get("bot")
    bot = bot if isinstance(bot, dict) else {}
    return BotRead(
        enabled=bool(bot.get("enabled")),
        name=str(bot.get("name") or ""),
        greeting=str(bot.get("greeting") or ""),
        threshold=round(float(bot.get("threshold", 0.5)) * 100, 1),
        handover_words=[str(w) for w in bot.get("blocked_topics") or []],
    )


@channels.get(
    "/channels/{channel_id}/bot/calibration",
    summary="What each candidate threshold would have done with the bot's judged answers",
    response_model=BotCalibration,
)
def get_bot_calibration(
    channel_id: int, session: SessionDep, caller: AdminCaller
) -> BotCalibration:
    from sportello.knowledge import service as kb_service  # the bot lives in knowledge

    calibration = kb_service.bot_calibration(session, channel_id=_get(session, channel_id).id)
    return BotCalibration(
        cases=calibration.cases,
        enough=calibration.enough,
        source="evaluation" if calibration.source == "evaluation" else "channel",
        source_cases=calibration.source_cases,
        rows=[
            BotCalibrationRow(
                threshold=round(r.threshold * 100, 1),
                right=r.right,
                wrong=r.wrong,
                handed_over=r.handed_over,
            )
            for r in calibration.rows
        ],
    )


@channels.put(
    "/channels/{channel_id}/bot",
    summary="Switch the bot on or off on a channel and set how it answers (admins)",
    response_model=BotRead,
)
def put_bot(
    channel_id: int, body: BotSettings, session: SessionDep, caller: AdminCaller
) -> BotRead:
    channel = _get(session, channel_id)
    actions.do_configure_bot(
        session,
        channel=channel,
        data={
            "enabled": "on" if body.enabled else "",
            "name": body.name,
            "greeting": body.greeting,
            "threshold": str(body.threshold),
            "handover_words": ",".join(body.handover_words),
        },
    )
    return get_bot(channel_id, session, caller)


@channels.post(
    "/channels/{channel_id}/rotate-secrets",
    summary="Replace the channel's generated secrets (admins); the new ones are returned once",
    response_model=SecretsRotated,
)
def rotate_secrets(channel_id: int, session: SessionDep, caller: AdminCaller) -> SecretsRotated:
    return SecretsRotated(
        secrets=actions.do_rotate_secrets(session, channel=_get(session, channel_id))
    )


@channels.delete(
    "/channels/{channel_id}",
    summary="Delete a channel nothing uses (admins)",
    status_code=204,
    responses={409: problem_response("The channel is in use: the answer says by what")},
)
def delete_channel(channel_id: int, session: SessionDep, caller: AdminCaller) -> Response:
    channel = _get(session, channel_id)
    try:
        actions.do_delete_channel(session, channel=channel)
    except Conflict as exc:
        params = exc.extra.get("params", {})
        token = i18n.current_language.set(caller.user.language or i18n.DEFAULT_LANGUAGE)
        try:
            message = i18n.gettext(exc.message, **params)
        finally:
            i18n.current_language.reset(token)
        raise Conflict(message, uses=params) from None
    return Response(status_code=204)


@channels.get(
    "/conversations/{conversation_id}/reply-options",
    summary="The channels that can carry a reply to this conversation's customer, and why not",
    response_model=list[ReplyOptionRead],
)
def reply_options(
    conversation_id: int, session: SessionDep, caller: ReadCaller
) -> list[ReplyOptionRead]:
    conversation = access.access_conversation_by_id(session, caller.user, conversation_id)
    options = replies.reply_options(session, conversation)
    chosen = replies.default_option(options)
    token = i18n.current_language.set(caller.user.language or i18n.DEFAULT_LANGUAGE)
    try:
        return [
            ReplyOptionRead(
                channel_id=o.channel_id,
                name=o.name,
                kind=o.kind,
                own=o.own,
                can_deliver=o.can_deliver,
                problem=i18n.gettext(o.problem) if o.problem else None,
                default=chosen is not None and o.channel_id == chosen.channel_id,
            )
            for o in options
        ]
    finally:
        i18n.current_language.reset(token)


@channels.post(
    "/messages/{message_id}/retry",
    summary="Send a reply that could not be delivered again",
    status_code=202,
    responses={422: problem_response("The message is not a failed reply")},
)
def retry_message(message_id: int, session: SessionDep, caller: WriteCaller) -> dict[str, Any]:
    message = session.get(Message, message_id)
    if message is None:
        raise NotFound("message not found")
    access.check_conversation_access(session, caller.user, message.conversation_id)
    actions.do_retry_delivery(session, message=message)
    state = message.delivery_state.value if message.delivery_state else None
    return {"message_id": message.id, "delivery_state": state}


router.include_router(channels)
