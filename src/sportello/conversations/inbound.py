"""What the one door (``conversations.actions.do_receive_message``) takes in: a customer's message
as a channel adapter understood it, before anything is stored. Plain data, no ORM: adapters build
it from a provider's payload (``channels/<kind>/adapter.py``), the door threads and stores it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class Identity:
    kind: str  # an IdentityKind value: email, phone, visitor, whatsapp, telegram, external
    value: str


@dataclass(frozen=True)
class InboundAttachment:
    filename: str
    content_type: str
    data: bytes
    content_id: str | None = None
    inline: bool = False


@dataclass(frozen=True)
class PendingMedia:
    """A file the provider holds for a message: fetched by a durable job once the message is
    stored, never while the webhook waits (a replayed webhook must not download it again, and a
    failed download is retried). ``ref`` is the adapter's own JSON-safe reference; ``label``
    names the file for the agent meanwhile ("image", "video", "document")."""

    ref: Mapping[str, Any]
    label: str


@dataclass
class InboundMessage:
    identity: Identity
    text: str
    sender_name: str = ""
    html: str | None = None
    provider_message_id: str | None = None
    in_reply_to: list[str] = field(default_factory=list)
    conversation_number: int | None = None
    subject: str = ""
    attachments: list[InboundAttachment] = field(default_factory=list)
    extra_identities: list[Identity] = field(default_factory=list)
    received_at: datetime | None = None
    client_id: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    # Auto-replies, bounces, list mail: stored, but never answered automatically.
    automated: bool = False
    # Files still at the provider (see PendingMedia and FetchesMedia).
    pending_media: list[PendingMedia] = field(default_factory=list)

    def __post_init__(self) -> None:
        # An empty or blank provider id means "no id" (the replay check needs a real one; an
        # empty string stored once would make every later empty-id message a duplicate key).
        if self.provider_message_id is not None and not self.provider_message_id.strip():
            self.provider_message_id = None
