"""The voice channel kind: a company number (one or more DIDs) whose calls go to the channel's
queue. Calls do not come through webhooks: Kamailio asks ``/voice/kamailio/route`` (see
``api.py``); this adapter only configures the channel and refuses text replies."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar

from sportello.channels.base import (
    Capabilities,
    ChannelConfig,
    ChannelError,
    ChannelSetup,
    ExternalRef,
    OutboundMessage,
    Parsed,
    ReplyTarget,
    WebhookRejected,
    WebhookRequest,
)
from sportello.channels.registry import register
from sportello.channels.voice.messages import _, invalid
from sportello.core.errors import InvalidInput

KIND = "voice"
DID_RE = re.compile(r"^\+?[0-9]{2,20}$")
RECORDING = ("off", "all")
DEFAULTS = {
    "ring_seconds": 20,
    "max_wait_seconds": 120,
    "short_abandon_seconds": 5,
    "position_every_seconds": 60,
}


def parse_dids(text: str) -> list[str]:
    dids = []
    for part in re.split(r"[\s,;]+", text.strip()):
        if not part:
            continue
        compact = part.replace("-", "").replace(".", "")
        if not DID_RE.match(compact):
            raise invalid(_("not a phone number: %(value)s"), field="dids", value=part)
        if compact not in dids:
            dids.append(compact)
    if not dids:
        raise InvalidInput("give at least one number (DID)", field="dids")
    return dids


def _seconds(data: Mapping[str, str], name: str, low: int, high: int) -> int:
    raw = (data.get(name) or "").strip()
    if not raw:
        return DEFAULTS[name]
    try:
        value = int(raw)
    except ValueError:
        raise InvalidInput("give a whole number of seconds", field=name) from None
    if not low <= value <= high:
        raise invalid(_("give a number from %(low)s to %(high)s"), field=name, low=low, high=high)
    return value


class VoiceAdapter:
    kind: ClassVar[str] = KIND
    label: ClassVar[str] = "Phone"
    capacity_class: ClassVar[str] = "voice"
    capabilities: ClassVar[Capabilities] = Capabilities(replies=False)
    form_fields: ClassVar[tuple[str, ...]] = (
        "dids",
        "ring_seconds",
        "max_wait_seconds",
        "short_abandon_seconds",
        "position_every_seconds",
        "callback",
        "recording",
        "trunk_host",
        "trunk_username",
        "trunk_password",
    )
    secret_fields: ClassVar[tuple[str, ...]] = ("trunk_password",)

    def configure(self, data: Mapping[str, str]) -> ChannelSetup:
        recording = (data.get("recording") or "off").strip()
        if recording not in RECORDING:
            raise InvalidInput("recording is off or all", field="recording")
        trunk_host = (data.get("trunk_host") or "").strip()
        if trunk_host and not re.match(r"^[A-Za-z0-9.\-]+(:[0-9]{1,5})?$", trunk_host):
            raise InvalidInput("give a host name or host:port", field="trunk_host")
        secrets: dict[str, str] = {}
        password = (data.get("trunk_password") or "").strip()
        if password:
            secrets["trunk_password"] = password
        return ChannelSetup(
            settings={
                "dids": parse_dids(data.get("dids") or ""),
                "ring_seconds": _seconds(data, "ring_seconds", 5, 120),
                "max_wait_seconds": _seconds(data, "max_wait_seconds", 0, 3600),
                "short_abandon_seconds": _seconds(data, "short_abandon_seconds", 0, 60),
                "position_every_seconds": _seconds(data, "position_every_seconds", 0, 600),
                "callback": (data.get("callback") or "").strip() in ("1", "on", "true", "yes"),
                "recording": recording,
                "trunk_host": trunk_host,
                "trunk_username": (data.get("trunk_username") or "").strip()[:100],
            },
            secrets=secrets,
        )

    def form_values(self, settings: Mapping[str, Any]) -> dict[str, str]:
        values = {k: str(settings.get(k, DEFAULTS.get(k, ""))) for k in self.form_fields}
        values["dids"] = ", ".join(settings.get("dids") or [])
        values["callback"] = "on" if settings.get("callback") else ""
        values["trunk_password"] = ""
        return values

    def reply_problem(self, channel: ChannelConfig, target: ReplyTarget) -> str | None:
        return "a phone channel carries calls, not written replies"

    def verify(self, channel: ChannelConfig, request: WebhookRequest) -> None:
        raise WebhookRejected("calls arrive through Kamailio, not webhooks")

    def parse(self, channel: ChannelConfig, request: WebhookRequest) -> Parsed:
        return Parsed()

    def send(self, channel: ChannelConfig, message: OutboundMessage) -> ExternalRef:
        raise ChannelError("a phone channel carries calls, not written replies", permanent=True)


register(VoiceAdapter())
