"""Pydantic shapes of conversations and messages for the API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from sportello.conversations.models import DeliveryState, Direction, Priority, Status


class _Ref(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str


class ChannelRef(_Ref):
    kind: str


class QueueRef(_Ref):
    pass


class UserRef(_Ref):
    pass


class CustomerRef(_Ref):
    display_name: str


class ConversationRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    number: int
    status: Status
    priority: Priority
    subject: str
    channel: ChannelRef | None
    customer: CustomerRef
    queue: QueueRef | None
    assignee: UserRef | None
    tags: list[str]
    message_count: int
    preview: str
    created_at: datetime
    updated_at: datetime
    last_message_at: datetime
    last_inbound_at: datetime | None
    first_response_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None

    @field_validator("tags", mode="before")
    @classmethod
    def _tag_names(cls, value: Any) -> Any:
        return [getattr(tag, "name", tag) for tag in value]


class AttachmentRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    filename: str
    content_type: str
    size: int


class MessageRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    conversation_id: int
    direction: Direction
    author_id: int | None
    sender_name: str
    text: str
    html: str | None = Field(description="Sanitised HTML, when the message had any")
    delivery_state: DeliveryState | None
    error: str | None
    attachments: list[AttachmentRead]
    created_at: datetime


class ReplyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(max_length=200_000, examples=["Buongiorno, il pacco parte oggi."])
    html: str | None = Field(default=None, max_length=1_000_000)
    client_id: str | None = Field(
        default=None, max_length=80, description="Your id for the reply, echoed back"
    )


class NoteCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=200_000)


class ConversationUpdate(BaseModel):
    """Only the fields sent change; `queue_id: null` takes the conversation out of any queue."""

    model_config = ConfigDict(extra="forbid")

    priority: Priority | None = None
    queue_id: int | None = None
    subject: str | None = Field(default=None, max_length=300)
    tags: list[str] | None = Field(default=None, max_length=20)


class StatusUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Status


class AssigneeUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    assignee_id: int | None = Field(description="A user id, or null to unassign")
