"""Pydantic shapes of customers for the API."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from sportello.customers.models import IdentityKind


class IdentityRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: IdentityKind
    value: str
    created_at: datetime


class IdentityCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: IdentityKind = Field(examples=["email"])
    value: str = Field(min_length=1, max_length=320, examples=["mario.rossi@example.it"])


class CustomerRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    display_name: str
    language: str | None
    notes: str
    identities: list[IdentityRead]
    created_at: datetime
    updated_at: datetime


class CustomerCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(default="", max_length=200, examples=["Mario Rossi"])
    identities: list[IdentityCreate] = Field(default_factory=list, max_length=20)


class CustomerUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, max_length=200)
    notes: str | None = Field(default=None, max_length=4000)


class CustomerMergeCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    target_id: int = Field(description="The customer who remains; this one becomes an alias")
