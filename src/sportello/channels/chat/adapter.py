"""The live chat channel: a widget on the customer's website, talking over a WebSocket.

Visitors' messages do not arrive as provider webhooks: the widget socket (routes.py) passes them
through the one door itself. ``send`` stores nothing and calls no provider: the reply is already in
the timeline, so it pokes the visitor's sockets (in this process, or through Redis) and they read
it from there; a visitor who is away gets it when the widget resumes.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from typing import Any, ClassVar

from sportello.channels.base import (
    Capabilities,
    ChannelConfig,
    ChannelSetup,
    ExternalRef,
    OutboundMessage,
    Parsed,
    WebhookRejected,
    WebhookRequest,
)
from sportello.channels.chat import hub
from sportello.channels.chat.protocol import (
    COLOR,
    DEFAULT_GREETING,
    DEFAULT_TYPES,
    PRECHAT_MODES,
    WidgetSettings,
    normalize_origin,
)
from sportello.channels.registry import register
from sportello.config import get_settings
from sportello.core.errors import InvalidInput
from sportello.core.security import new_token

log = logging.getLogger(__name__)

POSITIONS = ("right", "left")

# Identity kinds a widget socket listens on (see hub.py); others (phone...) never reach a widget.
PUSH_KINDS = ("visitor", "external", "email")


def _truthy(value: str | None, default: bool) -> bool:
    if value is None or value.strip() == "":
        return default
    return value.strip().lower() in ("1", "true", "yes", "on", "si", "sì")


def parse_settings(data: Mapping[str, str]) -> dict[str, Any]:
    """Channel settings from the admin's form fields (all strings)."""
    color = (data.get("color") or "#0b6e4f").strip()
    if not COLOR.match(color):
        raise InvalidInput("the colour must look like #1a2b3c", field="color")
    origins = []
    for raw in re.split(r"[\s,]+", data.get("allowed_origins", "")):
        if not raw:
            continue
        origin = normalize_origin(raw)
        if not origin:
            raise InvalidInput(
                "write each site as an address such as https://www.example.it",
                field="allowed_origins",
            )
        origins.append(origin)
    position = (data.get("position") or "right").strip()
    if position not in POSITIONS:
        raise InvalidInput("choose one of the options offered", field="position")
    prechat = (data.get("prechat") or "off").strip()
    if prechat not in PRECHAT_MODES:
        raise InvalidInput("pre-chat form: off, optional or required", field="prechat")
    hours: dict[str, Any] | None = None
    if (data.get("hours") or "").strip():
        from sportello.routing.calendar import BusinessCalendar, CalendarError

        try:
            hours = json.loads(data["hours"])
            BusinessCalendar.from_dict(hours or {})
        except (ValueError, CalendarError) as exc:
            log.info("chat opening hours refused: %s", exc)
            raise InvalidInput(
                "the opening hours are not valid: copy them from a queue's business hours",
                field="hours",
            ) from None
    try:
        max_mb = float(data.get("max_upload_mb") or 10)
    except ValueError:
        raise InvalidInput("upload limit: a number of megabytes", field="max_upload_mb") from None
    if not 0 < max_mb <= 100:
        raise InvalidInput("upload limit: between 0 and 100 MB", field="max_upload_mb")
    types = [t for t in re.split(r"[\s,]+", data.get("upload_types", "")) if t]
    topics = [t.strip()[:100] for t in data.get("topics", "").split(",") if t.strip()][:20]
    return {
        "color": color,
        "position": position,
        "title": data.get("title", "").strip()[:100],
        "greeting": {
            "it": (data.get("greeting_it") or DEFAULT_GREETING["it"]).strip()[:500],
            "en": (data.get("greeting_en") or DEFAULT_GREETING["en"]).strip()[:500],
        },
        "prechat": prechat,
        "topics": topics,
        "allowed_origins": origins,
        "hours": hours,
        "offline_when_no_agent": _truthy(data.get("offline_when_no_agent"), True),
        "max_upload_bytes": int(max_mb * 1024 * 1024),
        "upload_types": types or list(DEFAULT_TYPES),
    }


class ChatAdapter:
    kind: ClassVar[str] = "chat"
    label: ClassVar[str] = "Live chat"
    inline_delivery: ClassVar[bool] = True  # send() pokes the widget sockets (DeliversInline)
    capabilities: ClassVar[Capabilities] = Capabilities(replies=True, bot=True)
    form_fields: ClassVar[tuple[str, ...]] = (
        "title",
        "color",
        "position",
        "greeting_it",
        "greeting_en",
        "allowed_origins",
        "prechat",
        "topics",
        "offline_when_no_agent",
        "max_upload_mb",
        "upload_types",
        "hours",
    )
    secret_fields: ClassVar[tuple[str, ...]] = ()

    # The widget shows meta["choices"] as buttons; a tap is a "choice" frame (OffersChoices).
    max_choices: ClassVar[int] = 11

    def configure(self, data: Mapping[str, str]) -> ChannelSetup:
        """At creation a new identity secret, shown once; on the edit form the stored one comes
        back in ``data`` and is kept."""
        if data.get("identity_secret"):
            return ChannelSetup(
                settings=parse_settings(data),
                secrets={"identity_secret": data["identity_secret"]},
            )
        secret = new_token("chid_")
        return ChannelSetup(
            settings=parse_settings(data),
            secrets={"identity_secret": secret},
            shown_once={"identity_secret": secret},
        )

    def rotate(self, channel: ChannelConfig) -> ChannelSetup:
        """A new identity secret: logged-in visitors' hashes must be recomputed with it."""
        secret = new_token("chid_")
        return ChannelSetup(
            settings={},
            secrets={"identity_secret": secret},
            shown_once={"identity_secret": secret},
        )

    def form_values(self, settings: Mapping[str, Any]) -> dict[str, str]:
        widget = WidgetSettings.from_settings(settings)
        mb = widget.max_upload_bytes / (1024 * 1024)
        return {
            "title": widget.title,
            "color": widget.color,
            "position": widget.position,
            "greeting_it": str(widget.greeting.get("it", "")),
            "greeting_en": str(widget.greeting.get("en", "")),
            "allowed_origins": "\n".join(widget.allowed_origins),
            "prechat": widget.prechat,
            "topics": ", ".join(widget.topics),
            "offline_when_no_agent": "on" if widget.offline_when_no_agent else "off",
            "max_upload_mb": f"{mb:g}",
            "upload_types": ", ".join(widget.upload_types),
            "hours": json.dumps(widget.hours, ensure_ascii=False) if widget.hours else "",
        }

    def widget_settings(self, channel: ChannelConfig) -> WidgetSettings:
        return WidgetSettings.from_settings(channel.settings)

    def verify(self, channel: ChannelConfig, request: WebhookRequest) -> None:
        raise WebhookRejected("chat messages arrive over the widget socket, not as webhooks")

    def parse(self, channel: ChannelConfig, request: WebhookRequest) -> Parsed:
        return Parsed()

    def send(self, channel: ChannelConfig, message: OutboundMessage) -> ExternalRef:
        keys = [
            hub.visitor_key(channel.public_id, kind, value)
            for kind, value in message.recipient.items()
            if kind in PUSH_KINDS
        ]
        frame = {"t": "new", "conv": message.conversation_id, "id": message.message_id}
        hub.publish(keys, frame, redis_url=get_settings().redis_url)
        return ExternalRef(None, {"pushed_to": len(keys)})


adapter = register(ChatAdapter())

import sportello.channels.chat.transcripts  # noqa: E402, F401  (registers the transcript job)
