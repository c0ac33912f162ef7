"""Channels in the demo: every reply the visitor sends must really be delivered.

* The demo's API channel ("App mobile") posts its replies to a receiver Sportello itself serves,
  ``POST /demo/app-inbox/<public id>``: the shop's app inbox of the demo. It checks the
  ``X-Sportello-Signature`` of every delivery with the channel's signing secret, as a real app
  must, and answers with an id; an unsigned or wrongly signed post is refused (401), so a reply
  marked "sent" was really posted and verified. It answers only for channels the demo marked
  (``settings["demo_inbox"]``): on any other channel it is a 404.
* The knowledge bot answers first on the App mobile channel (handover words included), so a
  visitor sees the bot and its settings page at work.
* ``mailbox_data`` / ``create_mailbox`` give the search-demo helper a mailbox channel pointed at
  a local SMTP catcher (e.g. ``python -m aiosmtpd -n -l 127.0.0.1:1025``), or paused when none
  runs: web form and app customers are then answered by email through it ("Reply via").
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from sportello.channels import actions
from sportello.channels.models import Channel
from sportello.channels.service import config_for
from sportello.channels.webhooks import WebhookRequestDep
from sportello.config import get_settings
from sportello.core.db import Database, SessionDep
from sportello.core.security import SIGNATURE_HEADER, verify_webhook
from sportello.routing.models import Queue

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)

INBOX_PATH = "/demo/app-inbox"

# The bot's settings as the channel's bot form takes them.
BOT_FORM = {
    "enabled": "on",
    "name": "Lavanda",
    "greeting": "Ciao! Sono Lavanda, l'assistente virtuale di Casa Lavanda: chiedimi di ordini, "
    "spedizioni e resi, oppure scrivi «operatore» per parlare con una persona.",
    "threshold": "55",
    "handover_words": "avvocato, reclamo, danneggiato, rimborso urgente",
}


def inbox_url(public_id: str, base_url: str | None = None) -> str:
    base = (base_url or str(get_settings().base_url)).rstrip("/")
    return f"{base}{INBOX_PATH}/{public_id}"


def load(db: Database, *, now: datetime, seed: int, base_url: str | None = None) -> None:
    """Point the demo's API channels without a reply URL at the demo app inbox (on
    ``base_url``, by default the configured SPORTELLO_BASE_URL: the address Sportello serves
    on), and switch the bot on for them."""
    with db.transaction() as session:
        for channel in session.scalars(select(Channel).where(Channel.kind == "api")):
            if channel.settings.get("reply_url") and not channel.settings.get("demo_inbox"):
                continue  # a real reply URL: leave it alone
            actions.do_update_channel(
                session,
                channel=channel,
                settings={
                    "reply_url": inbox_url(channel.public_id, base_url),
                    "demo_inbox": True,
                },
            )
            actions.do_configure_bot(session, channel=channel, data=BOT_FORM)


def mailbox_data(*, smtp_host: str = "127.0.0.1", smtp_port: int = 1025) -> dict[str, str]:
    """A demo mailbox's form fields: outgoing mail to a local catcher (no TLS, no login),
    incoming from a local IMAP server that may not exist (keep the mailbox paused then)."""
    return {
        "address": "assistenza@casalavanda.example",
        "display_name": "Casa Lavanda · Assistenza",
        "imap_host": "127.0.0.1",
        "imap_port": "1143",
        "imap_security": "none",
        "imap_user": "assistenza",
        "imap_password": "demo",
        "smtp_host": smtp_host,
        "smtp_port": str(smtp_port),
        "smtp_security": "none",
        "smtp_user": "",
        "smtp_password": "",
        "language": "it",
    }


def create_mailbox(
    session: Session,
    *,
    brand_id: int,
    queue: Queue | None,
    name: str = "Email assistenza",
    smtp_host: str = "127.0.0.1",
    smtp_port: int = 1025,
    paused: bool = True,
) -> Channel:
    """A mailbox channel for the demo. ``paused``: not fetched over IMAP (the channel list shows
    it off); replies "via" it still go out over SMTP to ``smtp_host:smtp_port``."""
    channel, _ = actions.do_create_channel(
        session,
        brand_id=brand_id,
        kind="email",
        name=name,
        queue=queue,
        data=mailbox_data(smtp_host=smtp_host, smtp_port=smtp_port),
        is_active=not paused,
    )
    return channel


@router.post(f"{INBOX_PATH}/{{public_id}}")
def app_inbox(public_id: str, request: WebhookRequestDep, session: SessionDep) -> JSONResponse:
    """The demo's app inbox: verifies the signed delivery of a reply like a real app would."""
    body = request.body
    channel = session.scalar(select(Channel).where(Channel.public_id == public_id))
    if channel is None or channel.kind != "api" or not channel.settings.get("demo_inbox"):
        return JSONResponse({"error": "not a demo channel"}, status_code=404)
    secret = config_for(channel).secrets.get("signing_secret", "")
    if not verify_webhook(body, request.headers.get(SIGNATURE_HEADER.lower(), ""), secret):
        return JSONResponse({"error": "bad signature"}, status_code=401)
    try:
        payload: dict[str, Any] = json.loads(body)
    except ValueError:
        return JSONResponse({"error": "not JSON"}, status_code=400)
    message_id = payload.get("message_id")
    log.info(
        "demo app inbox: reply %s for conversation %s",
        message_id,
        payload.get("conversation_number"),
    )
    return JSONResponse({"id": f"demo-app-{message_id}", "received": True})
