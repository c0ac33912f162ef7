"""The channel adapter protocol.

An adapter turns a provider's webhook into ``InboundMessage`` objects and sends ``OutboundMessage``
objects through the provider. Adapters see plain data (``ChannelConfig``, ``WebhookRequest``), never
ORM rows or the web framework, so each can be tested from fixture payloads alone.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Protocol, runtime_checkable

# What the one door takes in lives beside the door; adapters build it, so it is named here too.
from sportello.conversations.inbound import Identity as Identity
from sportello.conversations.inbound import InboundAttachment as InboundAttachment
from sportello.conversations.inbound import InboundMessage as InboundMessage
from sportello.conversations.inbound import PendingMedia as PendingMedia

log = logging.getLogger(__name__)


class ChannelError(Exception):
    """A provider or configuration error. ``permanent`` ones are not retried.

    ``message`` is our own words, a catalogue entry (English source, shown translated);
    ``detail`` is what the provider or the server said (status codes, their text), shown as it
    is. A failed delivery stores ``str(exc)``: the message, then the detail on the next line (see
    ``delivery_reason``), so the reason reads in the agent's language."""

    def __init__(self, message: str, *, permanent: bool = False, detail: str | None = None) -> None:
        super().__init__(f"{message}\n{detail}" if detail else message)
        self.message = message
        self.detail = detail
        self.permanent = permanent


def delivery_reason(error: str | None) -> tuple[str, str]:
    """A stored delivery error split into (reason to translate, provider detail as is)."""
    reason, _, detail = (error or "").partition("\n")
    return reason.strip(), detail.strip()


class WebhookRejected(Exception):
    """The request is not from the provider (bad signature or token): 401, nothing stored."""


@dataclass(frozen=True)
class ChannelConfig:
    id: int
    public_id: str
    kind: str
    name: str
    brand_id: int
    settings: Mapping[str, Any]
    secrets: Mapping[str, str]  # decrypted
    token_hash: str | None


@dataclass(frozen=True)
class WebhookRequest:
    method: str
    url: str
    headers: Mapping[str, str]  # lower-case names
    query: Mapping[str, str]
    body: bytes
    client_ip: str | None = None


@dataclass(frozen=True)
class OutboundAttachment:
    filename: str
    content_type: str
    path: str


@dataclass(frozen=True)
class OutboundMessage:
    message_id: int
    conversation_id: int
    conversation_number: int
    text: str
    html: str | None
    subject: str
    recipient: Mapping[str, str]  # identity kind -> value, e.g. {"email": "a@b.it"}
    recipient_name: str
    author_name: str
    attachments: tuple[OutboundAttachment, ...] = ()
    reply_to_provider_ids: tuple[str, ...] = ()  # provider ids of earlier messages in the thread
    meta: Mapping[str, Any] = field(default_factory=dict)
    # When this customer last wrote on this channel (WhatsApp's 24-hour window needs it).
    last_inbound_at: datetime | None = None


@dataclass(frozen=True)
class ExternalRef:
    provider_message_id: str | None
    meta: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StatusUpdate:
    """The provider's news about a message we sent: ``state`` is a DeliveryState value
    (``sent``, ``delivered``, ``read``, ``failed``)."""

    provider_message_id: str
    state: str
    error: str | None = None
    at: datetime | None = None


@dataclass(frozen=True)
class Parsed:
    """What one webhook carried: customers' messages (for the one door) and the provider's
    delivery reports for messages we sent (WhatsApp and Twilio mix both in one callback)."""

    messages: list[InboundMessage] = field(default_factory=list)
    statuses: list[StatusUpdate] = field(default_factory=list)


@dataclass(frozen=True)
class ChannelSetup:
    """What creating a channel produces: settings to store, secrets to encrypt, a token to hash,
    and what to show the admin once."""

    settings: dict[str, Any]
    secrets: dict[str, str] = field(default_factory=dict)
    token: str | None = None
    shown_once: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Capabilities:
    """What a kind of channel can do, declared by its adapter (``capabilities``), so that shared
    code asks instead of testing the kind.

    ``replies``: an agent's reply can go out on it; ``reaches``: the identity kind by which it can
    write to a customer who wrote on another channel (a mailbox reaches an email address);
    ``bot``: the knowledge bot may answer on it; ``buttons``: quick-reply buttons;
    ``templates``: approved message templates (WhatsApp)."""

    replies: bool = True
    reaches: str | None = None
    bot: bool = False
    buttons: bool = False
    templates: bool = False


DEFAULT_CAPABILITIES = Capabilities()


def capabilities_of(adapter: object) -> Capabilities:
    found = getattr(adapter, "capabilities", None)
    return found if isinstance(found, Capabilities) else DEFAULT_CAPABILITIES


@dataclass(frozen=True)
class ReplyTarget:
    """Who a reply would go to, for an adapter's ``reply_problem``."""

    recipient: Mapping[str, str]  # identity kind -> value
    last_inbound_at: datetime | None  # the customer's last message on this channel
    now: datetime


@runtime_checkable
class ExplainsReplies(Protocol):
    """An adapter that can tell, before a reply is written, why it could not deliver it: the
    composer warns the agent. Returns a catalogue message, or None when it can deliver."""

    def reply_problem(self, channel: ChannelConfig, target: ReplyTarget) -> str | None: ...


@runtime_checkable
class ConfiguredByForm(Protocol):
    """An adapter whose configure() reads a fixed set of form fields, some of them secrets.
    Its fields are in ``web/templates/channels/_fields_<kind>.html``."""

    form_fields: ClassVar[tuple[str, ...]]
    secret_fields: ClassVar[tuple[str, ...]]


@runtime_checkable
class ShowsForm(Protocol):
    """An adapter whose stored settings differ in shape from its form fields (lists, nested
    greetings): ``form_values`` turns settings back into what the edit form shows."""

    def form_values(self, settings: Mapping[str, Any]) -> dict[str, str]: ...


@runtime_checkable
class HasOwnAdminPage(Protocol):
    """A kind configured on pages of its own (the mailbox): the channel pages link there."""

    def admin_url(self, channel_id: int | None) -> str: ...


@runtime_checkable
class UpdatesItself(Protocol):
    """A kind whose settings change needs more than new settings (the mailbox: a new folder
    restarts fetching): ``update_channel`` applies the form's fields to the ORM channel."""

    def update_channel(self, session: Any, channel: Any, data: Mapping[str, str]) -> None: ...


@runtime_checkable
class RotatesSecrets(Protocol):
    """An adapter whose generated credentials (tokens, signing secrets) can be replaced: the new
    ones are shown once, the old ones stop working at once."""

    def rotate(self, channel: ChannelConfig) -> ChannelSetup: ...


class ChannelAdapter(Protocol):
    kind: ClassVar[str]
    label: ClassVar[str]

    def configure(self, data: Mapping[str, str]) -> ChannelSetup: ...

    def verify(self, channel: ChannelConfig, request: WebhookRequest) -> None: ...

    def parse(self, channel: ChannelConfig, request: WebhookRequest) -> Parsed:
        """The body, read once: the customers' messages in it and the delivery reports for
        ours. Raises InvalidInput (422) for a body the provider would never send."""
        ...

    def send(self, channel: ChannelConfig, message: OutboundMessage) -> ExternalRef: ...


@runtime_checkable
class FetchesMedia(Protocol):
    """An adapter whose inbound messages name files at the provider (``pending_media``)."""

    def fetch_media(self, channel: ChannelConfig, ref: Mapping[str, Any]) -> InboundAttachment:
        """Download one file. Raises ChannelError: ``permanent`` when retrying cannot help."""
        ...


@runtime_checkable
class AnswersHandshake(Protocol):
    """An adapter whose provider checks the webhook URL with a GET first (WhatsApp's
    hub.challenge). ``handshake`` returns the text to answer, or None to refuse."""

    def handshake(self, channel: ChannelConfig, request: WebhookRequest) -> str | None: ...


@runtime_checkable
class AcknowledgesWebhook(Protocol):
    """An adapter whose provider expects a particular body in the webhook's 200 answer (Twilio
    reads TwiML): returns (media type, body)."""

    def webhook_ack(self) -> tuple[str, str]: ...


@runtime_checkable
class DeliversInline(Protocol):
    """An adapter whose ``send`` reaches no provider, only this installation's own sockets (the
    chat widget reads its timeline; send is a poke). Its replies are delivered in the dispatcher
    round that saw them, without a job: a job's retries and backoff buy nothing when there is no
    provider to be down, and they cost a round trip through the jobs table per reply."""

    inline_delivery: ClassVar[bool]


@runtime_checkable
class OffersChoices(Protocol):
    """An adapter that shows a message's ``meta["choices"]`` (a list of ``{"id", "title"}``, at
    most ``max_choices``) as buttons under it (Telegram's inline keyboard, WhatsApp's
    interactive buttons or list). A tap comes back through the webhook as an InboundMessage
    whose ``meta["choice"]`` is the button's id (see ``channels.service.on_choice``)."""

    max_choices: ClassVar[int]


_ignored_logged: set[tuple[str, str]] = set()


def ignore_update(channel_kind: str, update_kind: str) -> None:
    """Record that a webhook carried something we do not handle: accepted (200) and dropped.
    Logged once per kind and process, so a chatty provider does not flood the log."""
    key = (channel_kind, update_kind)
    if key not in _ignored_logged:
        _ignored_logged.add(key)
        log.info("%s webhook: ignoring %r updates", channel_kind, update_kind)
