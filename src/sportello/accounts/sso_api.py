"""REST API v1: single sign-on providers (admins). The client secret is write-only."""

from __future__ import annotations

from datetime import datetime

from fastapi import Response
from pydantic import BaseModel, ConfigDict, Field

from sportello.accounts import sso
from sportello.accounts.models import Role
from sportello.core.db import SessionDep
from sportello.web.api import AdminCaller, api_router

router = api_router("sso")


class OidcProviderData(BaseModel):
    slug: str = Field(min_length=1, max_length=40, examples=["google"])
    name: str = Field(default="", max_length=80)
    preset: str = Field(default="generic", max_length=20, examples=["google"])
    issuer: str = Field(default="", max_length=500)
    client_id: str = Field(min_length=1, max_length=300)
    client_secret: str = Field(default="", max_length=1000, description="blank keeps it")
    allowed_domains: list[str] = Field(default_factory=list, max_length=50)
    auto_provision: bool = False
    default_role: Role = Role.AGENT
    is_active: bool = True


class OidcProviderRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    slug: str
    name: str
    preset: str
    issuer: str
    client_id: str
    allowed_domains: list[str]
    auto_provision: bool
    default_role: Role
    is_active: bool
    updated_at: datetime


@router.get(
    "/sso/providers",
    summary="Single sign-on providers (admins)",
    response_model=list[OidcProviderRead],
)
def list_providers(session: SessionDep, caller: AdminCaller) -> list[OidcProviderRead]:
    return [OidcProviderRead.model_validate(p) for p in sso.providers(session)]


@router.post(
    "/sso/providers",
    summary="Add a single sign-on provider (admins)",
    response_model=OidcProviderRead,
    status_code=201,
)
def create_provider(
    body: OidcProviderData, session: SessionDep, caller: AdminCaller
) -> OidcProviderRead:
    return OidcProviderRead.model_validate(sso.do_save_provider(session, **body.model_dump()))


@router.put(
    "/sso/providers/{provider_id}",
    summary="Change a single sign-on provider (admins; a blank secret keeps the stored one)",
    response_model=OidcProviderRead,
)
def update_provider(
    provider_id: int, body: OidcProviderData, session: SessionDep, caller: AdminCaller
) -> OidcProviderRead:
    provider = sso.get_provider(session, provider_id)
    return OidcProviderRead.model_validate(
        sso.do_save_provider(session, provider=provider, **body.model_dump())
    )


@router.delete(
    "/sso/providers/{provider_id}",
    summary="Remove a single sign-on provider (admins)",
    status_code=204,
    response_class=Response,
)
def delete_provider(provider_id: int, session: SessionDep, caller: AdminCaller) -> Response:
    sso.do_delete_provider(session, provider=sso.get_provider(session, provider_id))
    return Response(status_code=204)
