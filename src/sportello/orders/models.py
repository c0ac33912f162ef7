"""Order connectors: how Sportello talks to the shop's order system over HTTP, configured
without code (base URL, authentication, URL templates, JSON field mapping)."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from sportello.core.db import Base, utcnow


class ConnectorKind(enum.StrEnum):
    REST = "rest"
    WOOCOMMERCE = "woocommerce"


class AuthKind(enum.StrEnum):
    NONE = "none"
    BEARER = "bearer"
    BASIC = "basic"
    API_KEY = "api_key"
    WOOCOMMERCE = "woocommerce"


class OrderConnector(Base):
    __tablename__ = "order_connector"

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brand.id"))
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20), default=ConnectorKind.REST.value)
    base_url: Mapped[str] = mapped_column(String(2000))
    auth_kind: Mapped[str] = mapped_column(String(20), default=AuthKind.NONE.value)
    # URL and body templates, field mapping, auth names (never secrets).
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    secrets: Mapped[str] = mapped_column(Text, default="")  # encrypted JSON object
    timeout_seconds: Mapped[float] = mapped_column(default=8.0)
    allow_private: Mapped[bool] = mapped_column(default=False)
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
