from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from sportello.privacy.models import RetentionKind


class ConsentCreate(BaseModel):
    purpose: str = Field(min_length=1, max_length=80, examples=["service"])
    source: str = Field(min_length=1, max_length=80, examples=["chat widget"])
    text: str = Field(min_length=1, max_length=4000)
    given_at: datetime | None = None


class ConsentRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    customer_id: int
    purpose: str
    source: str
    text: str
    given_at: datetime
    withdrawn_at: datetime | None
    recorded_by_id: int | None


class ErasureCreate(BaseModel):
    mode: Literal["erase", "anonymise"] = "erase"


class ErasureRead(BaseModel):
    customer_id: int
    mode: str
    rows: dict[str, int]


class RetentionPolicyData(BaseModel):
    kind: RetentionKind
    days: int = Field(ge=1, le=36500)
    brand_id: int | None = Field(default=None, ge=1, le=2**31 - 1)
    channel_id: int | None = Field(default=None, ge=1, le=2**31 - 1)
    is_active: bool = True


class RetentionPolicyRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: RetentionKind
    days: int
    brand_id: int | None
    channel_id: int | None
    is_active: bool
    last_run_at: datetime | None
    last_run_count: int | None


class DryRunRead(BaseModel):
    policy_id: int
    due: int
