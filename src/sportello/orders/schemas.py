"""API shapes for the orders connector."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from sportello.orders.models import AuthKind, ConnectorKind


class ConnectorData(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=200, examples=["Negozio WooCommerce"])
    kind: ConnectorKind = Field(
        description="The reference adapter whose templates are the defaults"
    )
    base_url: str = Field(max_length=2000, examples=["https://shop.casalavanda.example"])
    auth_kind: AuthKind = AuthKind.NONE
    settings: dict[str, Any] = Field(
        default_factory=dict,
        description="Overrides of the adapter's templates: lookup_email, lookup_phone, get, "
        "create, create_method, create_body, cancel, cancel_method, cancel_body, cancellable, "
        "username, api_key_header, mapping {list, id, number, status, total, currency, "
        "created_at, items} (JMESPath)",
    )
    secrets: dict[str, str] = Field(
        default_factory=dict,
        description="token | password | api_key | consumer_key + consumer_secret; "
        "leave out to keep the stored ones. Never returned.",
    )
    timeout_seconds: float = Field(default=8.0, ge=1, le=60)
    allow_private: bool = False
    is_active: bool = True


class ConnectorRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    kind: str
    base_url: str
    auth_kind: str
    settings: dict[str, Any]
    timeout_seconds: float
    allow_private: bool
    is_active: bool
    created_at: datetime


class OrderRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    connector_id: int
    id: str
    number: str
    status: str
    total: str
    currency: str
    created_at: str
    items: list[str]
    cancellable: bool


class ShopOrdersRead(BaseModel):
    connector_id: int
    connector: str
    orders: list[OrderRead]
    error: str | None = Field(description="Why this shop could not be asked, if it failed")


class OrderCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    connector_id: int = Field(ge=1, le=2**31 - 1)
    product: str = Field(min_length=1, max_length=100, description="Product id or SKU")
    quantity: int = Field(default=1, ge=1, le=1000)
    note: str = Field(default="", max_length=1000)


class OrderCancel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    connector_id: int = Field(ge=1, le=2**31 - 1)
    reason: str = Field(default="", max_length=500)
