"""Writes on a Telegram channel that need the Bot API: registering the webhook."""

from __future__ import annotations

from sqlalchemy.orm import Session

from sportello.channels.models import Channel
from sportello.channels.service import config_for
from sportello.channels.telegram.adapter import TelegramAdapter
from sportello.core.errors import InvalidInput
from sportello.core.security import hash_token, new_token


def do_register_webhook(session: Session, *, channel: Channel, url: str) -> str:
    """Point the bot at ``url`` with a new secret token (``setWebhook``) and keep the token's
    hash; returns Telegram's answer. Only the hash of the token shown at creation is stored, so
    registering sets a fresh one; if Telegram refuses (ChannelError), nothing changes here and
    the bot keeps its previous webhook."""
    if channel.kind != TelegramAdapter.kind:
        raise InvalidInput("only Telegram channels register a webhook", field="kind")
    secret_token = new_token("tg_")
    answer = TelegramAdapter().set_webhook(config_for(channel), url=url, secret_token=secret_token)
    channel.token_hash = hash_token(secret_token)
    return answer
