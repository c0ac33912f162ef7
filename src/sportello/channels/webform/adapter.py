from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar
from urllib.parse import parse_qs

from sportello.channels.base import (
    ChannelConfig,
    ChannelError,
    ChannelSetup,
    ExternalRef,
    Identity,
    InboundMessage,
    OutboundMessage,
    WebhookRequest,
)
from sportello.channels.registry import register
from sportello.core.errors import InvalidInput

HONEYPOT_FIELD = "website"
MAX_MESSAGE = 20_000


class WebformAdapter:
    """A public contact form. Spam defences: a honeypot field and a per-IP rate limit (route)."""

    kind: ClassVar[str] = "webform"
    label: ClassVar[str] = "Web form"

    def configure(self, data: Mapping[str, str]) -> ChannelSetup:
        topics = [t.strip() for t in data.get("topics", "").split(",") if t.strip()][:20]
        return ChannelSetup(
            settings={
                "title": data.get("title", "").strip()[:200],
                "intro": data.get("intro", "").strip()[:1000],
                "topics": topics,
            }
        )

    def verify(self, channel: ChannelConfig, request: WebhookRequest) -> None:
        """Public by design: nothing to verify."""

    def parse_inbound(
        self, channel: ChannelConfig, request: WebhookRequest
    ) -> list[InboundMessage]:
        fields = {
            k: v[0]
            for k, v in parse_qs(
                request.body.decode("utf-8", "replace"), keep_blank_values=True
            ).items()
        }
        if fields.get(HONEYPOT_FIELD, "").strip():
            return []  # a bot filled the invisible field: accept silently, store nothing
        email = fields.get("email", "").strip()
        text = fields.get("message", "").strip()
        if not email:
            raise InvalidInput("please give your email address", field="email")
        if not text:
            raise InvalidInput("please write a message", field="message")
        if len(text) > MAX_MESSAGE:
            raise InvalidInput(f"the message is over {MAX_MESSAGE} characters", field="message")
        topic = fields.get("topic", "").strip()[:100]
        subject = fields.get("subject", "").strip()[:300] or topic
        meta = {"topic": topic} if topic else {}
        if request.headers.get("referer"):
            meta["page"] = request.headers["referer"][:500]
        extra = []
        if fields.get("phone", "").strip():
            extra.append(Identity("phone", fields["phone"].strip()))
        return [
            InboundMessage(
                identity=Identity("email", email),
                sender_name=fields.get("name", "").strip()[:200],
                text=text,
                subject=subject,
                extra_identities=extra,
                meta=meta,
            )
        ]

    def send(self, channel: ChannelConfig, message: OutboundMessage) -> ExternalRef:
        raise ChannelError(
            "a web form cannot carry replies: answer this customer by email", permanent=True
        )


adapter = register(WebformAdapter())
