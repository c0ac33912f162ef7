"""What GET /api/v1/search returns: one page per group, each saying whether there is more."""

from __future__ import annotations

from pydantic import BaseModel

from sportello.conversations.schemas import ConversationRead, MessageRead
from sportello.customers.schemas import CustomerRead


class CustomerGroup(BaseModel):
    items: list[CustomerRead]
    offset: int
    more: bool


class ConversationGroup(BaseModel):
    items: list[ConversationRead]
    offset: int
    more: bool


class MessageHitRead(BaseModel):
    message: MessageRead
    conversation_number: int
    snippet: str


class MessageGroup(BaseModel):
    items: list[MessageHitRead]
    offset: int
    more: bool


class SearchRead(BaseModel):
    q: str
    corrections: dict[str, str]
    customers: CustomerGroup | None = None
    conversations: ConversationGroup | None = None
    messages: MessageGroup | None = None
