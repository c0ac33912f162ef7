from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import urlsplit, urlunsplit

import httpx
from pydantic import BaseModel, Field, ValidationError

from sportello.channels.base import (
    Capabilities,
    ChannelConfig,
    ChannelError,
    ChannelSetup,
    ExternalRef,
    Identity,
    InboundAttachment,
    InboundMessage,
    OutboundMessage,
    Parsed,
    ReplyTarget,
    WebhookRejected,
    WebhookRequest,
)
from sportello.channels.registry import register
from sportello.core.errors import InvalidInput
from sportello.core.security import SIGNATURE_HEADER, new_token, sign_webhook


class SenderIn(BaseModel):
    kind: str = Field(description="email, phone, external, ...", examples=["email"])
    value: str = Field(max_length=320, examples=["mario.rossi@example.it"])
    name: str = Field(default="", max_length=200, examples=["Mario Rossi"])


class AttachmentIn(BaseModel):
    filename: str = Field(max_length=300)
    content_type: str = Field(default="application/octet-stream", max_length=200)
    data_base64: str


class InboundMessageIn(BaseModel):
    """A customer's message arriving through the api channel."""

    model_config = {"extra": "forbid"}

    id: str | None = Field(
        default=None, max_length=300, description="Your id for the message: replays are ignored"
    )
    sender: SenderIn = Field(alias="from")
    text: str = Field(default="", max_length=200_000)
    html: str | None = Field(default=None, max_length=1_000_000)
    subject: str = Field(default="", max_length=300)
    in_reply_to: list[str] = Field(default_factory=list, max_length=50)
    conversation_number: int | None = None
    attachments: list[AttachmentIn] = Field(default_factory=list, max_length=20)
    metadata: dict[str, Any] = Field(default_factory=dict)


def _without_query(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path, "", ""))


def _check_url(url: str) -> str:
    url = url.strip()
    if url and not url.startswith(("http://", "https://")):
        raise InvalidInput("the reply URL must start with http:// or https://", field="reply_url")
    return url


NO_REPLY_URL = "this API channel has no reply URL: set one in Administration → Channels"


class ApiAdapter:
    kind: ClassVar[str] = "api"
    label: ClassVar[str] = "API"
    timeout: ClassVar[float] = 10.0
    capabilities: ClassVar[Capabilities] = Capabilities(replies=True, bot=True)
    form_fields: ClassVar[tuple[str, ...]] = ("reply_url",)
    secret_fields: ClassVar[tuple[str, ...]] = ()

    def configure(self, data: Mapping[str, str]) -> ChannelSetup:
        """At creation: a new token and signing secret, shown once. On the edit form (the stored
        signing secret comes back in ``data``) only the reply URL changes."""
        settings = {"reply_url": _check_url(data.get("reply_url", ""))}
        if data.get("signing_secret"):
            return ChannelSetup(
                settings=settings, secrets={"signing_secret": data["signing_secret"]}
            )
        token = new_token("spch_")
        signing_secret = new_token("whsec_")
        return ChannelSetup(
            settings=settings,
            secrets={"signing_secret": signing_secret},
            token=token,
            shown_once={"token": token, "signing_secret": signing_secret},
        )

    def rotate(self, channel: ChannelConfig) -> ChannelSetup:
        """A new token and signing secret: the old ones stop working at once."""
        return self.configure({"reply_url": str(channel.settings.get("reply_url") or "")})

    def reply_problem(self, channel: ChannelConfig, target: ReplyTarget) -> str | None:
        return None if channel.settings.get("reply_url") else NO_REPLY_URL

    def verify(self, channel: ChannelConfig, request: WebhookRequest) -> None:
        from sportello.channels.service import token_matches

        auth = request.headers.get("authorization", "")
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or not token or not token_matches(channel, token.strip()):
            raise WebhookRejected("invalid channel token")

    def parse(self, channel: ChannelConfig, request: WebhookRequest) -> Parsed:
        try:
            data = InboundMessageIn.model_validate_json(request.body)
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first.get("loc", ())) or "body"
            raise InvalidInput(f"{field}: {first.get('msg', 'invalid')}", field=field) from None
        return Parsed([self.to_inbound(data)])

    def to_inbound(self, data: InboundMessageIn) -> InboundMessage:
        attachments = []
        for i, item in enumerate(data.attachments):
            try:
                raw = base64.b64decode(item.data_base64, validate=True)
            except (binascii.Error, ValueError):
                raise InvalidInput(
                    "not valid base64", field=f"attachments.{i}.data_base64"
                ) from None
            attachments.append(InboundAttachment(item.filename, item.content_type, raw))
        return InboundMessage(
            identity=Identity(data.sender.kind, data.sender.value),
            sender_name=data.sender.name,
            text=data.text,
            html=data.html,
            provider_message_id=data.id,
            in_reply_to=data.in_reply_to,
            conversation_number=data.conversation_number,
            subject=data.subject,
            attachments=attachments,
            meta={"metadata": data.metadata} if data.metadata else {},
        )

    def send(self, channel: ChannelConfig, message: OutboundMessage) -> ExternalRef:
        url = str(channel.settings.get("reply_url") or "")
        if not url:
            raise ChannelError(NO_REPLY_URL, permanent=True)
        body = json.dumps(
            {
                "event": "message.outbound",
                "message_id": message.message_id,
                "conversation_id": message.conversation_id,
                "conversation_number": message.conversation_number,
                "to": dict(message.recipient),
                "to_name": message.recipient_name,
                "author": message.author_name,
                "subject": message.subject,
                "text": message.text,
                "html": message.html,
                "attachments": [
                    {"filename": a.filename, "content_type": a.content_type}
                    for a in message.attachments
                ],
            },
            separators=(",", ":"),
        ).encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "Sportello-Webhook/1",
            "Idempotency-Key": f"sportello-message-{message.message_id}",
            SIGNATURE_HEADER: sign_webhook(body, channel.secrets["signing_secret"]),
        }
        shown = _without_query(url)  # a key in the query string stays out of the stored reason
        try:
            response = httpx.post(url, content=body, headers=headers, timeout=self.timeout)
        except httpx.HTTPError as exc:
            raise ChannelError(
                "the reply URL could not be reached",
                permanent=False,
                detail=f"{shown}: {str(exc).replace(url, shown) or type(exc).__name__}",
            ) from exc
        if response.status_code in (408, 425, 429) or response.status_code >= 500:
            raise ChannelError(
                "the reply URL is not answering right now: it will be retried",
                permanent=False,
                detail=f"{shown}: HTTP {response.status_code}",
            )
        if response.status_code >= 400:
            raise ChannelError(
                "the reply URL refused the message",
                permanent=True,
                detail=f"{shown}: HTTP {response.status_code}",
            )
        provider_id: str | None = None
        try:
            answer = response.json()
            if isinstance(answer, dict) and answer.get("id") is not None:
                provider_id = str(answer["id"])[:300]
        except ValueError:
            pass
        return ExternalRef(provider_id or f"api-{message.message_id}")


adapter = register(ApiAdapter())
