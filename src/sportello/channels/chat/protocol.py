"""The widget's protocol: visitor tokens, host-site identity verification, widget settings.

Pure functions over plain data; the socket (routes.py) and the timeline (service.py) use them.

Frames (JSON text; ``t`` names the type). Visitor → server::

    hello       {token?, last, page, title, lang, user?: {id, hash, name?}}   first frame, once
    msg         {cid, text}                        cid: a uuid the widget made; resent until acked
    choice      {id}                               a button under a team message (a survey score)
    typing      {on}
    delivered   {ids: [...]}                       agent messages the widget displayed
    read        {up_to}                            the visitor saw agent messages up to this id
    page        {url, title}                       navigation inside a single-page app
    prechat     {name, email, topic}
    offline     {cid, name, email, text}           a message left when nobody can answer live
    transcript  {email}
    "ping"                                         plain text; answered "pong"

Server → visitor::

    welcome     {token, visitor, conv, open, online, prechat_done}
    history     {messages: [...], conv}            what the visitor has not seen yet, in order
    ack         {cid, id, conv, dup}
    typing      {on, name}
    seen        {up_to}                            the agent saw visitor messages up to this id
    offline_ok  {cid, conv}
    choice_ok   {id, taken}
    transcript_ok {status}
    error       {code, message}
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from itsdangerous import BadSignature, URLSafeTimedSerializer

from sportello.channels.base import Identity

TOKEN_SALT = "sportello-chat-visitor"  # noqa: S105 (a salt, not a password)
TOKEN_MAX_AGE = 400 * 24 * 3600  # a visitor coming back within a year keeps their chat
CLIENT_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
MAX_TEXT = 5_000
PRECHAT_MODES = ("off", "optional", "required")
DEFAULT_TYPES = (
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "application/pdf",
    "text/plain",
)
DEFAULT_GREETING = {
    "it": "Ciao! Come possiamo aiutarti?",
    "en": "Hi! How can we help you?",
}


class ProtocolError(ValueError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Visitor:
    """Who is at the other end of a widget socket, as far as the signed token and the host site's
    signature tell."""

    public_id: str
    visitor_id: str
    verified_kind: str | None = None  # "external" or "email"
    verified_value: str | None = None

    @property
    def primary(self) -> Identity:
        if self.verified_kind and self.verified_value:
            return Identity(self.verified_kind, self.verified_value)
        return Identity("visitor", self.visitor_id)

    @property
    def identities(self) -> list[Identity]:
        found = [self.primary]
        if self.verified_kind:
            found.append(Identity("visitor", self.visitor_id))
        return found

    def keys(self) -> list[str]:
        from sportello.channels.chat.hub import visitor_key

        return [visitor_key(self.public_id, i.kind, i.value) for i in self.identities]


def new_visitor_id() -> str:
    return uuid.uuid4().hex


def _serializer(secret_key: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret_key, salt=TOKEN_SALT)


def make_token(visitor: Visitor, secret_key: str) -> str:
    data: dict[str, str] = {"c": visitor.public_id, "v": visitor.visitor_id}
    if visitor.verified_kind and visitor.verified_value:
        data["k"] = visitor.verified_kind
        data["u"] = visitor.verified_value
    return _serializer(secret_key).dumps(data)


def read_token(token: str, public_id: str, secret_key: str) -> Visitor | None:
    """The visitor a token names, or None when it is forged, expired or for another channel."""
    if not token or len(token) > 1000:
        return None
    try:
        data = _serializer(secret_key).loads(token, max_age=TOKEN_MAX_AGE)
    except BadSignature:
        return None
    if not isinstance(data, dict) or data.get("c") != public_id:
        return None
    visitor_id = data.get("v")
    if not isinstance(visitor_id, str) or not visitor_id:
        return None
    kind, value = data.get("k"), data.get("u")
    if isinstance(kind, str) and isinstance(value, str):
        return Visitor(public_id, visitor_id, kind, value)
    return Visitor(public_id, visitor_id)


def user_hash(identity_secret: str, user_id: str) -> str:
    """What the host site puts in ``data-user-hash``: hex HMAC-SHA256(identity secret, user id)."""
    return hmac.new(identity_secret.encode(), user_id.encode(), hashlib.sha256).hexdigest()


def verify_user(identity_secret: str, user_id: str, given_hash: str) -> Identity:
    """The identity a host site vouches for; raises ProtocolError on a bad signature."""
    user_id = user_id.strip()
    if not identity_secret or not user_id or len(user_id) > 320:
        raise ProtocolError("identity_rejected", "identity verification failed")
    expected = user_hash(identity_secret, user_id)
    if not hmac.compare_digest(expected, given_hash.strip().lower()):
        raise ProtocolError("identity_rejected", "identity verification failed")
    if "@" in user_id and " " not in user_id:
        return Identity("email", user_id.lower())
    return Identity("external", user_id)


def check_client_id(value: Any) -> str:
    if not isinstance(value, str) or not CLIENT_ID.match(value):
        raise ProtocolError(
            "bad_client_id", "every message needs a client id (8-64 of A-Z a-z 0-9 _ -)"
        )
    return value


def check_text(value: Any, *, limit: int = MAX_TEXT) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ProtocolError("empty", "write a message first")
    if len(value) > limit:
        raise ProtocolError("too_long", f"a message is at most {limit} characters")
    return value


def clip(value: Any, limit: int) -> str:
    return value.strip()[:limit] if isinstance(value, str) else ""


def clean_page(url: Any) -> str:
    """Only http(s) URLs are kept (a page address is shown to agents as a link)."""
    text = clip(url, 2000)
    return text if urlsplit(text).scheme in ("http", "https") else ""


def parse_frame(text: str) -> dict[str, Any]:
    if len(text) > 64_000:
        raise ProtocolError("too_large", "frame too large")
    try:
        data = json.loads(text)
    except ValueError:
        raise ProtocolError("bad_frame", "frames are JSON objects") from None
    if not isinstance(data, dict) or not isinstance(data.get("t"), str):
        raise ProtocolError("bad_frame", "frames are JSON objects with a type 't'")
    return data


def normalize_origin(value: str) -> str:
    parts = urlsplit(value.strip().lower())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return ""
    default = {"http": 80, "https": 443}[parts.scheme]
    port = f":{parts.port}" if parts.port and parts.port != default else ""
    return f"{parts.scheme}://{parts.hostname}{port}"


@dataclass(frozen=True)
class WidgetSettings:
    color: str = "#0b6e4f"
    title: str = ""
    greeting: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_GREETING))
    prechat: str = "off"
    topics: tuple[str, ...] = ()
    allowed_origins: tuple[str, ...] = ()
    hours: Mapping[str, Any] | None = None
    offline_when_no_agent: bool = True
    max_upload_bytes: int = 10 * 1024 * 1024
    upload_types: tuple[str, ...] = DEFAULT_TYPES
    position: str = "right"  # the corner of the page: "right" or "left"

    @classmethod
    def from_settings(cls, data: Mapping[str, Any]) -> WidgetSettings:
        greeting = data.get("greeting")
        hours = data.get("hours")
        return cls(
            color=str(data.get("color") or cls.color),
            title=str(data.get("title") or ""),
            greeting=dict(greeting) if isinstance(greeting, Mapping) else dict(DEFAULT_GREETING),
            prechat=str(data.get("prechat") or "off"),
            topics=tuple(str(t) for t in data.get("topics") or ()),
            allowed_origins=tuple(str(o) for o in data.get("allowed_origins") or ()),
            hours=dict(hours) if isinstance(hours, Mapping) and hours else None,
            offline_when_no_agent=bool(data.get("offline_when_no_agent", True)),
            max_upload_bytes=int(data.get("max_upload_bytes") or cls.max_upload_bytes),
            upload_types=tuple(str(t) for t in data.get("upload_types") or DEFAULT_TYPES),
            position="left" if data.get("position") == "left" else "right",
        )

    def origin_allowed(self, origin: str | None, own_host: str | None) -> bool:
        """A browser always sends Origin on a WebSocket; other clients may not (allowed: a
        non-browser client gains nothing it could not do with the token alone)."""
        if not origin:
            return True
        normalized = normalize_origin(origin)
        if own_host and urlsplit(normalized).netloc == own_host.lower():
            return True
        if not self.allowed_origins:
            return True
        return normalized in self.allowed_origins

    def public(self) -> dict[str, Any]:
        """What the widget may know (no origins, no limits it does not need)."""
        return {
            "color": self.color,
            "position": self.position,
            "title": self.title,
            "greeting": dict(self.greeting),
            "prechat": self.prechat,
            "topics": list(self.topics),
            "upload": {"max_bytes": self.max_upload_bytes, "types": list(self.upload_types)},
        }
