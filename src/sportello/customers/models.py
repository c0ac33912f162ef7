from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import Enum, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from sportello.core.db import Base, utcnow


class IdentityKind(enum.StrEnum):
    EMAIL = "email"
    PHONE = "phone"  # E.164
    VISITOR = "visitor"  # web chat visitor id
    WHATSAPP = "whatsapp"
    TELEGRAM = "telegram"
    EXTERNAL = "external"  # an integrator's own customer id (api channel)


class Customer(Base):
    __tablename__ = "customer"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    language: Mapped[str | None] = mapped_column(String(8))
    notes: Mapped[str] = mapped_column(String(4000), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("customer.id"), index=True)

    identities: Mapped[list[CustomerIdentity]] = relationship(
        back_populates="customer", lazy="selectin", order_by="CustomerIdentity.id"
    )

    @property
    def display_name(self) -> str:
        """The name, else an email or number; a chat visitor's random id is no name: "Visitor
        #<id>" in the reader's language (``core.i18n.current_language``)."""
        if self.name:
            return self.name
        for identity in self.identities:
            if identity.kind != IdentityKind.VISITOR:
                return identity.value
        if self.identities:
            from sportello.core.i18n import gettext

            return gettext("Visitor #%(number)s", number=self.id)
        return f"#{self.id}"

    def identity(self, kind: IdentityKind) -> str | None:
        for identity in self.identities:
            if identity.kind == kind:
                return identity.value
        return None


class CustomerIdentity(Base):
    __tablename__ = "customer_identity"
    __table_args__ = (UniqueConstraint("kind", "value"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customer.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[IdentityKind] = mapped_column(
        Enum(
            IdentityKind,
            native_enum=False,
            length=20,
            values_callable=lambda e: [m.value for m in e],
        )
    )
    value: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    customer: Mapped[Customer] = relationship(back_populates="identities")


class CustomerMerge(Base):
    """The record of a merge: who, when, and what moved."""

    __tablename__ = "customer_merge"

    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("customer.id"))
    target_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), index=True)
    merged_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    merged_at: Mapped[datetime] = mapped_column(default=utcnow)
    details: Mapped[dict[str, Any]]
