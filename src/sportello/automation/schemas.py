"""API shapes for rules."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from sportello.automation.models import RuleKind


class Condition(BaseModel):
    model_config = ConfigDict(extra="forbid")

    field: str = Field(max_length=60, description="GET /api/v1/rules/registry lists them")
    op: str = Field(max_length=20, examples=["contains"])
    value: str = Field(default="", max_length=500)


class Action(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: str = Field(max_length=60, examples=["set_priority"])
    value: str = Field(default="", max_length=5000, examples=["urgent"])


class RuleData(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=200, examples=["Reclami urgenti"])
    kind: RuleKind = RuleKind.EVENT
    events: list[str] = Field(default_factory=list, max_length=20)
    match_all: bool = True
    conditions: list[Condition] = Field(default_factory=list, max_length=30)
    actions: list[Action] = Field(max_length=20)
    is_active: bool = True
    stop_after: bool = Field(
        default=False, description="Later rules skip a conversation this one acted on"
    )
    position: int | None = Field(default=None, ge=0, le=1_000_000)


class RuleRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    kind: str
    events: list[str]
    match_all: bool
    conditions: list[Condition]
    actions: list[Action]
    position: int
    is_active: bool
    stop_after: bool
    updated_at: datetime


class RunRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    rule_id: int
    conversation_id: int
    trigger: str
    done: list[str]
    error: str | None
    created_at: datetime


class MatchRead(BaseModel):
    conversation_id: int
    number: int
    subject: str
    status: str


class RegistryRead(BaseModel):
    events: list[str]
    conditions: dict[str, list[str]]
    actions: list[str]
