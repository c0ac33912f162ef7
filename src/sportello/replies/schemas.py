"""Pydantic shapes of canned replies, macros, saved views and bulk changes for the API."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from sportello.conversations.models import Priority, Status


class CannedReplyRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    title: str
    shortcut: str
    body: str
    owner_id: int | None = Field(description="null: shared")
    team_id: int | None = Field(description="shared with this team only")
    created_at: datetime
    updated_at: datetime


class CannedReplyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(max_length=300, examples=["Etichetta di reso"])
    shortcut: str = Field(default="", max_length=100, examples=["reso-etichetta"])
    body: str = Field(max_length=21_000, examples=["Gentile {{cliente.nome}}, ..."])
    shared: bool = Field(default=False, description="Supervisors: shared with everyone")
    team_id: int | None = Field(default=None, description="Supervisors: shared with one team")


class CannedReplyUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(default=None, max_length=300)
    shortcut: str | None = Field(default=None, max_length=100)
    body: str | None = Field(default=None, max_length=21_000)


class RenderedReply(BaseModel):
    text: str
    missing: list[str] = Field(description="Known placeholders without a value here")
    unknown: list[str] = Field(description="Placeholders Sportello does not know")


class MacroRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    owner_id: int | None
    canned_reply_id: int | None
    status: Status | None
    priority: Priority | None
    add_tags: list[str]
    assign: str = Field(description='"" (leave), "me", "nobody" or "user" (assignee_id)')
    assignee_id: int | None


class MacroWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=300, examples=["Reso avviato"])
    canned_reply_id: int | None = None
    status: Status | None = None
    priority: Priority | None = None
    add_tags: list[str] = Field(default_factory=list, max_length=50)
    assign: str = Field(default="", max_length=20)
    assignee_id: int | None = None
    shared: bool = False


class SavedViewRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    owner_id: int | None
    filters: dict[str, str]
    sort: str


class SavedViewCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=200, examples=["Urgenti senza risposta"])
    filters: dict[str, str] = Field(
        default_factory=dict,
        examples=[{"status": "active", "priority": "urgent", "assignee": "none"}],
        description="status, channel, queue, assignee (me/none/id), tag, priority, sla",
    )
    sort: str = Field(default="newest", examples=["sla"])
    shared: bool = False


class BulkUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    conversation_ids: list[int] = Field(min_length=1, max_length=500)
    assignee: str | None = Field(
        default=None, description='"me", "none" or a user id; left out: unchanged'
    )
    status: Status | None = None
    priority: Priority | None = None
    add_tags: list[str] = Field(default_factory=list, max_length=20)
    macro_id: int | None = Field(default=None, description="Apply a macro (on its own)")


class BulkSkipped(BaseModel):
    number: int
    reason: str


class BulkResultRead(BaseModel):
    updated: list[int] = Field(description="Numbers of the conversations changed")
    skipped: list[BulkSkipped]
    not_found: int = Field(description="Ids outside what the caller may see, or gone")
