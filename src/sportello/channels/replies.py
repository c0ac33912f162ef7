"""Which channels can carry an agent's reply to a customer, and why one cannot.

A conversation's own channel answers by default. A web form carries nothing back, an api channel
without a reply URL cannot deliver, WhatsApp's window closes: then another channel that reaches the
customer (a mailbox reaches an email address, ``Capabilities.reaches``) may carry the reply. The
composer shows these options ("Reply via") and warns, before sending, when none can deliver.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from sportello.channels import registry, service
from sportello.channels.base import ExplainsReplies, ReplyTarget
from sportello.channels.models import Channel
from sportello.conversations.models import Conversation
from sportello.core.db import utcnow
from sportello.core.errors import InvalidInput
from sportello.customers.models import CustomerIdentity

CANNOT_REPLY = "this channel cannot carry replies"
INACTIVE = "this channel is switched off"


@dataclass(frozen=True)
class ReplyOption:
    channel_id: int
    name: str
    kind: str
    own: bool  # the conversation's own channel
    problem: str | None  # a catalogue message: why a reply here would not be delivered

    @property
    def can_deliver(self) -> bool:
        return self.problem is None


def _recipient(session: Session, customer_id: int) -> dict[str, str]:
    rows = session.execute(
        select(CustomerIdentity.kind, CustomerIdentity.value)
        .where(CustomerIdentity.customer_id == customer_id)
        .order_by(CustomerIdentity.id)
    )
    found: dict[str, str] = {}
    for kind, value in rows:
        found.setdefault(str(getattr(kind, "value", kind)), value)
    return found


def _problem(
    session: Session, channel: Channel, customer_id: int, recipient: dict[str, str]
) -> str | None:
    if channel.kind not in registry.kinds():
        return CANNOT_REPLY
    adapter = registry.get_adapter(channel.kind)
    if isinstance(adapter, ExplainsReplies):
        target = ReplyTarget(
            recipient=recipient,
            last_inbound_at=service.last_inbound_at(
                session, channel_id=channel.id, customer_id=customer_id
            ),
            now=utcnow(),
        )
        problem = adapter.reply_problem(service.config_for(channel), target)
        if problem:
            return problem
    if not registry.capabilities(channel.kind).replies:
        return CANNOT_REPLY
    return None


def reply_options(session: Session, conversation: Conversation) -> list[ReplyOption]:
    """The conversation's channel first, then the brand's other active channels that reach one
    of the customer's identities (the mailbox for a customer with an email address)."""
    recipient = _recipient(session, conversation.customer_id)
    options: list[ReplyOption] = []
    own = conversation.channel
    if own is not None:
        options.append(
            ReplyOption(
                own.id,
                own.name,
                own.kind,
                True,
                _problem(session, own, conversation.customer_id, recipient),
            )
        )
    reaching = [
        kind for kind in registry.kinds() if registry.capabilities(kind).reaches in recipient
    ]
    if reaching:
        others = session.scalars(
            select(Channel)
            .where(
                Channel.brand_id == conversation.brand_id,
                Channel.kind.in_(reaching),
                Channel.is_active.is_(True),
            )
            .order_by(Channel.name, Channel.id)
        )
        for channel in others:
            if own is not None and channel.id == own.id:
                continue
            options.append(
                ReplyOption(
                    channel.id,
                    channel.name,
                    channel.kind,
                    False,
                    _problem(session, channel, conversation.customer_id, recipient),
                )
            )
    return options


def default_option(options: list[ReplyOption]) -> ReplyOption | None:
    """The conversation's channel when it can deliver, else the first that can, else (nothing
    can: the composer warns) the conversation's channel."""
    for option in options:
        if option.own and option.can_deliver:
            return option
    for option in options:
        if option.can_deliver:
            return option
    return options[0] if options else None


def check_reply_via(session: Session, conversation: Conversation, channel_id: int) -> ReplyOption:
    """The option the agent chose, if it is one of this conversation's."""
    for option in reply_options(session, conversation):
        if option.channel_id == channel_id:
            return option
    raise InvalidInput("this channel cannot reach this customer", field="via")
