"""API shapes for outgoing webhooks."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class SubscriptionData(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=200, examples=["Gestionale ordini"])
    url: str = Field(max_length=2000, examples=["https://hooks.casalavanda.example/sportello"])
    events: list[str] = Field(
        max_length=50,
        description="Event names (GET /api/v1/webhooks/events), or ['*'] for every event",
        examples=[["conversation.created", "message.received"]],
    )
    allow_private: bool = Field(
        default=False, description="Allow targets on private or loopback networks"
    )
    max_failures: int = Field(
        default=10, ge=1, le=1000, description="Failed deliveries in a row before disabling"
    )
    is_active: bool = True


class SubscriptionRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    url: str
    events: list[str]
    is_active: bool
    allow_private: bool
    max_failures: int
    consecutive_failures: int
    disabled_reason: str | None
    disabled_at: datetime | None
    created_at: datetime


class SubscriptionCreated(SubscriptionRead):
    secret: str = Field(description="The signing secret: shown only now, keep it safe")


class SecretRead(BaseModel):
    secret: str = Field(description="The new signing secret: shown only now")


class DeliveryRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    subscription_id: int
    event_name: str
    event_id: str
    payload: dict[str, Any]
    status: str
    attempts: int
    response_code: int | None
    latency_ms: int | None
    error: str | None
    replay_of_id: int | None
    created_at: datetime
    last_attempt_at: datetime | None
    delivered_at: datetime | None
