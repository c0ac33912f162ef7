from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class PbxCallCreate(BaseModel):
    number: str = Field(min_length=3, max_length=40, description="The customer's number")
    conversation_id: int | None = Field(
        default=None, description="Record the call in this conversation (else a new one)"
    )


class PbxLinkRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    channel_id: int
    state: str = Field(description="unknown, connected or error")
    detail: str
    last_error: str
    last_error_at: datetime | None
    connected_at: datetime | None
    changed_at: datetime | None
