"""Pydantic shapes of accounts for the API: users, teams, API tokens."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from zoneinfo import available_timezones

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from sportello.accounts.models import Role

Scope = Literal["read", "write", "admin"]


# The IANA names the server accepts, listed in the OpenAPI document.
TIME_ZONES: list[JsonValue] = [*sorted(available_timezones())]


class TeamRef(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str


class UserRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    email: str
    name: str
    role: Role
    language: str
    timezone: str
    is_active: bool
    teams: list[TeamRef]
    created_at: datetime
    last_login_at: datetime | None
    has_two_factor: bool


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str = Field(max_length=320, pattern=r"^[^\s@]\S*@[^\s@]+$", examples=["anna@negozio.it"])
    name: str = Field(min_length=1, max_length=200, examples=["Anna Verdi"])
    role: Role = Role.AGENT
    password: str | None = Field(
        default=None,
        min_length=10,
        max_length=200,
        description="Leave out for a user who logs in by invite",
    )
    language: Literal["it", "en"] = "it"
    timezone: str = Field(
        default="Europe/Rome", max_length=64, json_schema_extra={"enum": TIME_ZONES}
    )
    team_ids: list[int] = Field(default_factory=list, max_length=50)


class ApiTokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, examples=["Gestionale"])
    scopes: list[Scope] = Field(
        min_length=1,
        examples=[["read", "write"]],
        description="`read` for GET, `write` for changes, `admin` (admins only) for everything",
    )


class ApiTokenRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    prefix: str = Field(description="The first characters of the token, to recognise it")
    scopes: list[str]
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiTokenCreated(ApiTokenRead):
    token: str = Field(description="The token itself: shown this once, store it now")


class SecurityPolicyRead(BaseModel):
    two_factor_roles: list[Role] = Field(
        description="Roles whose members must sign in with a second factor (TOTP)"
    )


class SecurityPolicyUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    two_factor_roles: list[Role] = Field(max_length=3)
