"""The demo's channel setup: replies on the demo's API channel are really POSTed to the demo app
inbox Sportello serves, which checks their signature; the bot is on; a demo mailbox can be made
paused or pointed at a local SMTP catcher."""

from __future__ import annotations

import time

import httpx
from sqlalchemy import select

from sportello.channels import demo as channels_demo
from sportello.channels.models import Channel
from sportello.conversations import actions as conversations_actions
from sportello.conversations.models import Conversation, DeliveryState, Message
from sportello.core.db import utcnow
from sportello.core.security import SIGNATURE_HEADER, sign_webhook
from sportello.knowledge.bot import BotConfig
from tests.factories import inbound, receive
from tests.web.conftest import live_server  # noqa: F401  (the fixture)


def test_demo_replies_on_the_api_channel_are_delivered_to_the_signed_demo_inbox(
    db,
    personas,
    live_server,  # noqa: F811
):
    result = receive(db, personas.api_channel, inbound("Dov'è il mio ordine?", provider_id="d1"))
    channels_demo.load(db, now=utcnow(), seed=1, base_url=live_server)
    with db.session() as s:
        channel = s.get(Channel, personas.api_channel.id)
        assert channel.settings["reply_url"] == (
            f"{live_server}/demo/app-inbox/{channel.public_id}"
        )
        assert BotConfig.from_settings(channel.settings).enabled
    with db.transaction() as s:
        reply = conversations_actions.do_send_reply(
            s,
            conversation=s.get_one(Conversation, result.conversation.id),
            author=None,
            text="Arriva domani entro le 13.",
        )
        reply_id = reply.id
    deadline = time.monotonic() + 15  # the live server's own workers deliver it
    while True:
        with db.session() as s:
            message = s.get_one(Message, reply_id)
            state, provider_id, error = (
                message.delivery_state,
                message.provider_message_id,
                message.error,
            )
        if state != DeliveryState.QUEUED or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert state == DeliveryState.SENT, error
    assert provider_id == f"demo-app-{reply_id}"
    # the inbox checks signatures: a forged or unsigned post is refused
    url = f"{live_server}/demo/app-inbox/{personas.api_channel.public_id}"
    body = b'{"message_id": 1}'
    assert httpx.post(url, content=body).status_code == 401
    forged = {SIGNATURE_HEADER: sign_webhook(body, "whsec_not-the-secret")}
    assert httpx.post(url, content=body, headers=forged).status_code == 401
    signed = {SIGNATURE_HEADER: sign_webhook(body, personas.api_signing_secret)}
    assert httpx.post(url, content=body, headers=signed).status_code == 200
    # and it serves no channel the demo did not mark
    other = f"{live_server}/demo/app-inbox/{personas.webform.public_id}"
    assert httpx.post(other, content=body, headers=signed).status_code == 404


def test_a_real_reply_url_is_left_alone_and_the_demo_mailbox_starts_paused(db, personas):
    with db.transaction() as s:
        channel = s.get_one(Channel, personas.api_channel.id)
        channel.settings = {**channel.settings, "reply_url": "https://app.example.it/hook"}
    channels_demo.load(db, now=utcnow(), seed=1, base_url="http://127.0.0.1:8000")
    with db.transaction() as s:
        assert s.get_one(Channel, personas.api_channel.id).settings["reply_url"] == (
            "https://app.example.it/hook"
        )
        mailbox = channels_demo.create_mailbox(
            s, brand_id=personas.brand_id, queue=personas.queue_vendite
        )
        assert mailbox.is_active is False
        assert (
            mailbox.settings["smtp_host"] == "127.0.0.1" and mailbox.settings["smtp_port"] == 1025
        )
    with db.session() as s:
        assert s.scalar(select(Channel).where(Channel.kind == "email")) is not None
