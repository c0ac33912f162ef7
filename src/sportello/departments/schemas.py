"""API shapes for departments, side conversations and hand-offs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class DepartmentData(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=100)
    emails: list[str] = Field(min_length=1, max_length=10)
    description: str = Field(default="", max_length=1000)
    is_active: bool = True


class DepartmentRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    emails: list[str]
    description: str
    is_active: bool


class SideCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    department_id: int | None = Field(default=None, ge=1, le=2**31 - 1)
    to: str = Field(default="", max_length=1000, description="Addresses; empty: the department's")
    subject: str = Field(max_length=200)
    text: str = Field(max_length=20_000)
    quote_message_ids: list[int] = Field(default_factory=list, max_length=20)
    quote_attachment_ids: list[int] = Field(default_factory=list, max_length=20)


class SideReplyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(max_length=20_000)
    quote_message_ids: list[int] = Field(default_factory=list, max_length=20)
    quote_attachment_ids: list[int] = Field(default_factory=list, max_length=20)


class SideMessageRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    direction: str
    sender: str
    text: str
    quoted: dict[str, Any]
    sent_at: datetime | None
    error: str | None
    created_at: datetime


class SideRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    conversation_id: int
    department_id: int | None
    to_address: str
    subject: str
    status: str
    created_at: datetime
    closed_at: datetime | None
    messages: list[SideMessageRead] = Field(default_factory=list)


class HandoffCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    department_id: int = Field(ge=1, le=2**31 - 1)
    kind: str = Field(max_length=20, description="sales, technical or other")
    summary: str = Field(max_length=5000)


class HandoffOutcome(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: str = Field(max_length=20, description="accepted, won, lost, solved or rejected")
    note: str = Field(default="", max_length=2000)


class HandoffRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    conversation_id: int
    department_id: int
    kind: str
    summary: str
    context: dict[str, Any]
    status: str
    outcome_note: str
    outcome_by: str
    created_at: datetime
    updated_at: datetime
    sent_at: datetime | None


class HandoffCountRead(BaseModel):
    department_id: int
    department: str
    status: str
    count: int
