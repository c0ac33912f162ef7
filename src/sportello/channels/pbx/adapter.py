"""The PBX channel kind: an Asterisk PBX (FreePBX, Issabel, plain Asterisk) that keeps its own
trunks, queues and phones, followed through AMI. Calls do not come through webhooks: the worker's
AMI link (``link.py``) reads the PBX's events; this adapter only configures the channel."""

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
from sportello.channels.pbx.messages import _, invalid
from sportello.channels.registry import register
from sportello.core.errors import InvalidInput

KIND = "pbx"
TECHNOLOGIES = ("PJSIP", "SIP", "IAX2")
DEFAULTS: dict[str, Any] = {
    "ami_port": 5038,
    "inbound_contexts": ["from-trunk", "from-pstn"],
    "originate_context": "from-internal",
    "technology": "PJSIP",
    "short_abandon_seconds": 5,
}
HOST_RE = re.compile(r"^[A-Za-z0-9.\-:\[\]]{1,253}$")
CONTEXT_RE = re.compile(r"^[A-Za-z0-9_\-.]{1,80}$")
EXTENSION_RE = re.compile(r"^[0-9A-Za-z*#+]{1,20}$")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+$")


def parse_extensions(text: str) -> dict[str, str]:
    """``201 = maria@shop.it`` lines (also ``201 maria@shop.it``): extension -> agent e-mail."""
    found: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = [p for p in re.split(r"[\s=,;]+", line) if p]
        if len(parts) != 2 or not EXTENSION_RE.match(parts[0]) or not EMAIL_RE.match(parts[1]):
            raise invalid(
                _("not a valid extension line: %(value)s"), field="extensions", value=line[:80]
            )
        if parts[0] in found:
            raise invalid(
                _("extension %(value)s is listed twice"), field="extensions", value=parts[0]
            )
        found[parts[0]] = parts[1].lower()
    return found


def _contexts(text: str) -> list[str]:
    contexts = []
    for part in re.split(r"[\s,;]+", text.strip()):
        if not part:
            continue
        if not CONTEXT_RE.match(part):
            raise invalid(
                _("not a dialplan context name: %(value)s"),
                field="inbound_contexts",
                value=part[:80],
            )
        if part not in contexts:
            contexts.append(part)
    return contexts or list(DEFAULTS["inbound_contexts"])


def _port(raw: str) -> int:
    raw = raw.strip()
    if not raw:
        return int(DEFAULTS["ami_port"])
    if not raw.isdigit() or not 1 <= int(raw) <= 65535:
        raise InvalidInput("give a port from 1 to 65535", field="ami_port")
    return int(raw)


def _short_abandon(raw: str) -> int:
    raw = raw.strip()
    if not raw:
        return int(DEFAULTS["short_abandon_seconds"])
    if not raw.isdigit() or int(raw) > 60:
        raise invalid(
            _("give a number from %(low)s to %(high)s"),
            field="short_abandon_seconds",
            low=0,
            high=60,
        )
    return int(raw)


class PbxAdapter:
    kind: ClassVar[str] = KIND
    label: ClassVar[str] = "Asterisk PBX"
    capacity_class: ClassVar[str] = "voice"
    capabilities: ClassVar[Capabilities] = Capabilities(replies=False)
    form_fields: ClassVar[tuple[str, ...]] = (
        "ami_host",
        "ami_port",
        "ami_username",
        "ami_secret",
        "extensions",
        "inbound_contexts",
        "originate_context",
        "technology",
        "queue_pause",
        "short_abandon_seconds",
    )
    secret_fields: ClassVar[tuple[str, ...]] = ("ami_secret",)

    def configure(self, data: Mapping[str, str]) -> ChannelSetup:
        host = (data.get("ami_host") or "").strip()
        if not host or not HOST_RE.match(host):
            raise InvalidInput("give the PBX's host name or address", field="ami_host")
        username = (data.get("ami_username") or "").strip()
        if not username or len(username) > 80 or any(c in username for c in "\r\n:"):
            raise InvalidInput("give the AMI user name", field="ami_username")
        technology = (data.get("technology") or DEFAULTS["technology"]).strip().upper()
        if technology not in TECHNOLOGIES:
            raise InvalidInput("the technology is PJSIP, SIP or IAX2", field="technology")
        originate = (data.get("originate_context") or "").strip() or DEFAULTS["originate_context"]
        if not CONTEXT_RE.match(originate):
            raise invalid(
                _("not a dialplan context name: %(value)s"),
                field="originate_context",
                value=originate[:80],
            )
        secrets: dict[str, str] = {}
        secret = (data.get("ami_secret") or "").strip()
        if secret:
            if any(c in secret for c in "\r\n"):
                raise InvalidInput("give the AMI secret", field="ami_secret")
            secrets["ami_secret"] = secret
        return ChannelSetup(
            settings={
                "ami_host": host,
                "ami_port": _port(data.get("ami_port") or ""),
                "ami_username": username,
                "extensions": parse_extensions(data.get("extensions") or ""),
                "inbound_contexts": _contexts(data.get("inbound_contexts") or ""),
                "originate_context": originate,
                "technology": technology,
                "queue_pause": (data.get("queue_pause") or "").strip()
                in ("1", "on", "true", "yes"),
                "short_abandon_seconds": _short_abandon(data.get("short_abandon_seconds") or ""),
            },
            secrets=secrets,
        )

    def form_values(self, settings: Mapping[str, Any]) -> dict[str, str]:
        extensions = settings.get("extensions") or {}
        return {
            "ami_host": str(settings.get("ami_host", "")),
            "ami_port": str(settings.get("ami_port", DEFAULTS["ami_port"])),
            "ami_username": str(settings.get("ami_username", "")),
            "ami_secret": "",  # write-only
            "extensions": "\n".join(f"{ext} = {email}" for ext, email in extensions.items()),
            "inbound_contexts": ", ".join(
                settings.get("inbound_contexts") or DEFAULTS["inbound_contexts"]
            ),
            "originate_context": str(
                settings.get("originate_context", DEFAULTS["originate_context"])
            ),
            "technology": str(settings.get("technology", DEFAULTS["technology"])),
            "queue_pause": "on" if settings.get("queue_pause") else "",
            "short_abandon_seconds": str(
                settings.get("short_abandon_seconds", DEFAULTS["short_abandon_seconds"])
            ),
        }

    def reply_problem(self, channel: ChannelConfig, target: ReplyTarget) -> str | None:
        return "a PBX channel carries calls, not written replies"

    def verify(self, channel: ChannelConfig, request: WebhookRequest) -> None:
        raise WebhookRejected("calls arrive through the PBX's AMI, not webhooks")

    def parse(self, channel: ChannelConfig, request: WebhookRequest) -> Parsed:
        return Parsed()

    def send(self, channel: ChannelConfig, message: OutboundMessage) -> ExternalRef:
        raise ChannelError("a PBX channel carries calls, not written replies", permanent=True)


register(PbxAdapter())
