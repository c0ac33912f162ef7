from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from sportello.core.db import Base, utcnow
from sportello.routing.models import Queue


class Channel(Base):
    """One configured way in and out: a mailbox, a chat widget, a WhatsApp number, an API."""

    __tablename__ = "channel"

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brand.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))
    public_id: Mapped[str] = mapped_column(String(40), unique=True)
    queue_id: Mapped[int | None] = mapped_column(ForeignKey("queue.id", ondelete="SET NULL"))
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Secrets the adapter must read back (signing keys, passwords): Fernet-encrypted values.
    secrets: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Secrets we only check (inbound tokens): SHA-256 hashes.
    token_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    queue: Mapped[Queue | None] = relationship(lazy="select")
