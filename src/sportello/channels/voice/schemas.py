from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class CallRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    sip_call_id: str
    direction: str
    caller: str
    did: str
    state: str
    outcome: str | None
    conversation_id: int | None
    customer_id: int | None
    queue_id: int | None
    agent_id: int | None
    started_at: datetime
    answered_at: datetime | None
    ended_at: datetime | None
    wrapup_ended_at: datetime | None
    hold_seconds: int
    ring_attempts: int
    wait_seconds: int | None = None
    talk_seconds: int | None = None
    wrapup_seconds: int | None = None


class SipCredentials(BaseModel):
    """Shown once: the password is not kept (only its digest HA1)."""

    user_id: int
    username: str
    realm: str
    password: str
    ws_url: str


class SoftphoneConfig(BaseModel):
    """What the console softphone registers with (its own user's account)."""

    uri: str
    username: str
    realm: str
    ha1: str
    ws_url: str


class OutboundCallCreate(BaseModel):
    number: str = Field(min_length=3, max_length=40)
    sip_call_id: str = Field(default="", max_length=255)
    conversation_id: int | None = None


class WrapupDone(BaseModel):
    resolve: bool = True


class LiveCalls(BaseModel):
    waiting: int
    talking: int


class Announcement(BaseModel):
    kind: str  # greeting, music, closed, offer, booked, pos1 to pos5, pos_more
    custom: bool  # an uploaded file (else the generated default plays)
    seconds: float | None = None
