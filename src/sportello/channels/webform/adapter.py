from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import parse_qs

from sportello.channels.base import (
    Capabilities,
    ChannelConfig,
    ChannelError,
    ChannelSetup,
    ExternalRef,
    Identity,
    InboundMessage,
    OutboundMessage,
    Parsed,
    ReplyTarget,
    WebhookRequest,
)
from sportello.channels.registry import register
from sportello.core.errors import InvalidInput

HONEYPOT_FIELD = "website"
CANNOT_REPLY = "a web form cannot carry replies: answer this customer by email"
MAX_MESSAGE = 20_000


class WebformAdapter:
    """A public contact form. Spam defences: a honeypot field and a per-IP rate limit (route)."""

    kind: ClassVar[str] = "webform"
    label: ClassVar[str] = "Web form"
    # A form carries nothing back: its customers are answered through a channel that reaches
    # the email address they gave (the brand's mailbox).
    capabilities: ClassVar[Capabilities] = Capabilities(replies=False)
    form_fields: ClassVar[tuple[str, ...]] = ("title", "intro", "topics", "ask_phone")
    secret_fields: ClassVar[tuple[str, ...]] = ()

    def configure(self, data: Mapping[str, str]) -> ChannelSetup:
        topics = [t.strip()[:100] for t in data.get("topics", "").split(",") if t.strip()][:20]
        return ChannelSetup(
            settings={
                "title": data.get("title", "").strip()[:200],
                "intro": data.get("intro", "").strip()[:1000],
                "topics": topics,
                # an unticked box is not posted: the form sends "off" explicitly
                "ask_phone": data.get("ask_phone", "on") not in ("", "off", "0"),
            }
        )

    def form_values(self, settings: Mapping[str, Any]) -> dict[str, str]:
        return {
            "title": str(settings.get("title") or ""),
            "intro": str(settings.get("intro") or ""),
            "topics": ", ".join(settings.get("topics") or []),
            "ask_phone": "on" if settings.get("ask_phone", True) else "off",
        }

    def reply_problem(self, channel: ChannelConfig, target: ReplyTarget) -> str | None:
        return CANNOT_REPLY

    def verify(self, channel: ChannelConfig, request: WebhookRequest) -> None:
        """Public by design: nothing to verify."""

    def parse(self, channel: ChannelConfig, request: WebhookRequest) -> Parsed:
        fields = {
            k: v[0]
            for k, v in parse_qs(
                request.body.decode("utf-8", "replace"), keep_blank_values=True
            ).items()
        }
        if fields.get(HONEYPOT_FIELD, "").strip():
            return Parsed()  # a bot filled the invisible field: accept silently, store nothing
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
        if fields.get("phone", "").strip() and channel.settings.get("ask_phone", True):
            extra.append(Identity("phone", fields["phone"].strip()))
        return Parsed(
            [
                InboundMessage(
                    identity=Identity("email", email),
                    sender_name=fields.get("name", "").strip()[:200],
                    text=text,
                    subject=subject,
                    extra_identities=extra,
                    meta=meta,
                )
            ]
        )

    def send(self, channel: ChannelConfig, message: OutboundMessage) -> ExternalRef:
        raise ChannelError(CANNOT_REPLY, permanent=True)


adapter = register(WebformAdapter())
