"""API shapes of the campaigns."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from sportello.campaigns.models import (
    CampaignKind,
    CampaignStatus,
    ContactStatus,
    DialMode,
    LegalBasis,
    ListSource,
    Purpose,
)


class ListRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    source: ListSource
    total_rows: int
    valid_rows: int
    invalid_rows: int
    duplicate_rows: int
    created_customers: int
    problems: list[dict[str, Any]]
    columns: list[str]
    created_at: datetime


class SegmentCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    tag: str = Field(default="", max_length=100)
    channel_kind: str = Field(default="", max_length=20)
    contacted_within_days: int | None = Field(default=None, ge=1, le=3650)
    not_contacted_for_days: int | None = Field(default=None, ge=1, le=3650)


class Disposition(BaseModel):
    code: str = Field(pattern=r"^[a-z0-9_]{1,40}$")
    label: str = Field(min_length=1, max_length=100)
    final: bool = False
    success: bool = False
    callback: bool = False
    opt_out: bool = False
    escalate: bool = False
    retry_max: int | None = Field(default=None, ge=0, le=20)
    retry_minutes: int | None = Field(default=None, ge=0, le=43200)


class ScriptQuestion(BaseModel):
    key: str = Field(default="", max_length=40)
    question: str = Field(min_length=1, max_length=500)


class CallingWindow(BaseModel):
    timezone: str = Field(default="Europe/Rome", max_length=64)
    weekdays: list[str] | None = Field(default=["09:00", "20:00"], max_length=2)
    saturday: list[str] | None = Field(default=["10:00", "14:00"], max_length=2)
    sunday: list[str] | None = Field(default=None, max_length=2)
    holidays: bool = False


class CampaignData(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    kind: CampaignKind
    mode: DialMode = DialMode.PREVIEW
    list_id: int | None = Field(default=None, ge=1, le=2**31 - 1)
    channel_id: int | None = Field(default=None, ge=1, le=2**31 - 1)
    legal_basis: LegalBasis | None = None
    purpose: Purpose = Purpose.MARKETING
    template_key: str = Field(default="", max_length=600)
    template_params: list[str] = Field(default=[], max_length=20)
    subject: str = Field(default="", max_length=300)
    message_text: str = Field(default="", max_length=4000)
    rate_per_minute: int = Field(default=60, ge=1, le=6000)
    script: list[ScriptQuestion] = Field(default=[], max_length=20)
    dispositions: list[Disposition] = Field(default=[], max_length=30)
    max_attempts: int = Field(default=3, ge=1, le=20)
    window: CallingWindow | None = None
    followup_team_id: int | None = Field(default=None, ge=1, le=2**31 - 1)
    is_care: bool = False


class CampaignRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    kind: CampaignKind
    mode: DialMode
    status: CampaignStatus
    list_id: int | None
    channel_id: int | None
    legal_basis: LegalBasis | None
    purpose: Purpose
    template_key: str
    template_params: list[str]
    subject: str
    message_text: str
    rate_per_minute: int
    script: list[dict[str, Any]]
    dispositions: list[dict[str, Any]]
    max_attempts: int
    window: dict[str, Any]
    is_care: bool
    held_until: datetime | None
    held_reason: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class ContactRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    campaign_id: int
    customer_id: int | None
    name: str
    phone: str | None
    email: str | None
    params: dict[str, Any]
    status: ContactStatus
    block_reason: str | None
    attempts: int
    next_attempt_at: datetime | None
    callback_agent_id: int | None
    last_disposition: str | None
    conversation_id: int | None
    replied_at: datetime | None


class DispositionIn(BaseModel):
    disposition: str = Field(min_length=1, max_length=40)
    answers: dict[str, str] = Field(default={}, max_length=20)
    note: str = Field(default="", max_length=2000)
    callback_at: datetime | None = None
    personal: bool = True


class DoNotCallCreate(BaseModel):
    value: str = Field(min_length=1, max_length=320, description="E.164 number or email")
    global_: bool = Field(default=False, alias="global", description="For every brand")
    note: str = Field(default="", max_length=500)


class DoNotCallRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    brand_id: int | None
    value: str
    source: str
    channel: str | None
    note: str
    created_at: datetime


class ConsentCreate(BaseModel):
    customer_id: int = Field(ge=1, le=2**31 - 1)
    purpose: Purpose
    granted: bool = True
    source: str = Field(min_length=1, max_length=100)
    text_shown: str = Field(default="", max_length=2000)
    given_at: datetime | None = None
    expires_at: datetime | None = None


class ConsentRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    customer_id: int
    purpose: Purpose
    granted: bool
    source: str
    text_shown: str
    given_at: datetime
    expires_at: datetime | None


class OppositionResult(BaseModel):
    registered: int
    free: int
    invalid: int
    problems: list[dict[str, Any]]


class Report(BaseModel):
    total: int
    by_status: dict[str, int]
    blocked: dict[str, int]
    attempted: int
    reached: int
    conversions: int
    average_attempts: float
    outcomes: dict[str, int]
    agents: list[dict[str, Any]]
    messages: dict[str, int]
