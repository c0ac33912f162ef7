"""The email channel's adapter: a mailbox (IMAP in, SMTP out) is a channel of kind "email".

Inbound mail does not come by webhook: the poller (``poller.py``) fetches it over IMAP and passes
each message through the one door. ``send`` delivers agent replies over SMTP, threaded.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from sportello.channels.base import (
    ChannelConfig,
    ChannelSetup,
    ExternalRef,
    InboundMessage,
    OutboundMessage,
    WebhookRejected,
    WebhookRequest,
)
from sportello.channels.email import mailbox, smtp
from sportello.channels.email.mailbox import MailboxSettings
from sportello.channels.registry import register
from sportello.config import get_settings


class EmailAdapter:
    kind: ClassVar[str] = "email"
    label: ClassVar[str] = "Email"

    def configure(self, data: Mapping[str, str]) -> ChannelSetup:
        return ChannelSetup(
            settings=mailbox.validate(data),
            secrets=mailbox.secrets_from(data, required=True),
        )

    def verify(self, channel: ChannelConfig, request: WebhookRequest) -> None:
        raise WebhookRejected("email channels receive mail over IMAP, not by webhook")

    def parse_inbound(
        self, channel: ChannelConfig, request: WebhookRequest
    ) -> list[InboundMessage]:
        raise WebhookRejected("email channels receive mail over IMAP, not by webhook")

    def send(self, channel: ChannelConfig, message: OutboundMessage) -> ExternalRef:
        settings = MailboxSettings.from_settings(channel.settings)
        msg = smtp.build_reply(
            settings, message, key=get_settings().effective_secret_key(), channel_id=channel.id
        )
        smtp.send(
            settings, channel.secrets.get("smtp_password", ""), msg, message.recipient["email"]
        )
        return ExternalRef(str(msg["Message-ID"]), {"subject": str(msg["Subject"])})

    def test_connection(self, channel: ChannelConfig) -> list[smtp.CheckResult]:
        """Both servers, each with its own verdict in plain words."""
        from sportello.channels.email import imap

        settings = MailboxSettings.from_settings(channel.settings)
        return [
            imap.check(settings, channel.secrets.get("imap_password", "")),
            smtp.check(settings, channel.secrets.get("smtp_password", "")),
        ]


adapter = register(EmailAdapter())

# Delivery of acknowledgements is a job kind of this channel: register it with the adapter.
from sportello.channels.email import acknowledge as _acknowledge  # noqa: E402

__all__ = ["EmailAdapter", "_acknowledge", "adapter"]
