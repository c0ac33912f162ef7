"""The email channel's adapter: a mailbox (IMAP in, SMTP out) is a channel of kind "email".

Inbound mail does not come by webhook: the poller (``poller.py``) fetches it over IMAP and passes
each message through the one door. ``send`` delivers agent replies over SMTP, threaded.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from sportello.channels.base import (
    Capabilities,
    ChannelConfig,
    ChannelSetup,
    ExternalRef,
    OutboundMessage,
    Parsed,
    ReplyTarget,
    WebhookRejected,
    WebhookRequest,
)
from sportello.channels.email import mailbox, smtp
from sportello.channels.email.mailbox import MailboxSettings
from sportello.channels.registry import register
from sportello.config import get_settings

NO_ADDRESS = "this customer has no email address to reply to"


class EmailAdapter:
    kind: ClassVar[str] = "email"
    label: ClassVar[str] = "Email"
    # A mailbox can write to any email address: it answers customers of forms and apps too.
    capabilities: ClassVar[Capabilities] = Capabilities(replies=True, reaches="email")

    # The mailbox form's fields (the API takes them too); the passwords are write-only.
    form_fields: ClassVar[tuple[str, ...]] = (
        "address", "display_name", "imap_host", "imap_port", "imap_security", "imap_user",
        "imap_password", "folder", "processed_action", "processed_folder", "smtp_host",
        "smtp_port", "smtp_security", "smtp_user", "smtp_password", "poll_seconds", "use_idle",
        "acknowledge", "language", "rate_limit", "rate_window_minutes",
    )  # fmt: skip
    secret_fields: ClassVar[tuple[str, ...]] = ("imap_password", "smtp_password")

    def update_channel(self, session: Any, channel: Any, data: Mapping[str, str]) -> None:
        from sportello.channels.email import actions

        actions.do_update_mailbox(
            session, channel=channel, data=data, key=get_settings().effective_secret_key()
        )

    def admin_url(self, channel_id: int | None) -> str:
        """Mailboxes have pages of their own (server settings, connection test, fetching)."""
        if channel_id is None:
            return "/admin/email/mailboxes/new"
        return f"/admin/email/mailboxes/{channel_id}"

    def reply_problem(self, channel: ChannelConfig, target: ReplyTarget) -> str | None:
        if not target.recipient.get("email"):
            return NO_ADDRESS
        if not channel.settings.get("smtp_host"):
            return "this mailbox has no outgoing mail server (SMTP)"
        return None

    def configure(self, data: Mapping[str, str]) -> ChannelSetup:
        return ChannelSetup(
            settings=mailbox.validate(data),
            secrets=mailbox.secrets_from(data, required=True),
        )

    def verify(self, channel: ChannelConfig, request: WebhookRequest) -> None:
        raise WebhookRejected("email channels receive mail over IMAP, not by webhook")

    def parse(self, channel: ChannelConfig, request: WebhookRequest) -> Parsed:
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
