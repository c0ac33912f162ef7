"""Canned replies, macros and saved inbox views: the agent's everyday tools.

A canned reply or a view with no ``owner_id`` is shared: with everyone (no ``team_id``) or with
one team. A personal one belongs to its owner alone.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from sportello.accounts.models import Team, User
from sportello.core.db import Base, utcnow


class CannedReply(Base):
    __tablename__ = "canned_reply"
    __table_args__ = (Index("ix_canned_reply_owner", "owner_id", "team_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brand.id"))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("team.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(200))
    shortcut: Mapped[str] = mapped_column(String(60))
    body: Mapped[str] = mapped_column(Text)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    owner: Mapped[User | None] = relationship(foreign_keys=[owner_id], lazy="joined")
    team: Mapped[Team | None] = relationship(lazy="joined")

    @property
    def is_shared(self) -> bool:
        return self.owner_id is None


class Macro(Base):
    """One click: a canned reply (optional), then tags, priority, assignment and status."""

    __tablename__ = "macro"

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brand.id"))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    canned_reply_id: Mapped[int | None] = mapped_column(
        ForeignKey("canned_reply.id", ondelete="RESTRICT"), index=True
    )
    status: Mapped[str | None] = mapped_column(String(20))
    priority: Mapped[str | None] = mapped_column(String(20))
    add_tags: Mapped[list[str]] = mapped_column(default=list)
    # "" leaves the assignee alone; "me": whoever applies it; "nobody"; "user": assignee_id
    assign: Mapped[str] = mapped_column(String(20), default="")
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    canned_reply: Mapped[CannedReply | None] = relationship(lazy="joined")
    assignee: Mapped[User | None] = relationship(foreign_keys=[assignee_id], lazy="joined")

    @property
    def is_shared(self) -> bool:
        return self.owner_id is None


class SavedView(Base):
    """A named inbox filter and sort, in the sidebar: personal, or shared with everyone."""

    __tablename__ = "saved_view"

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brand.id"))
    owner_id: Mapped[int | None] = mapped_column(
        ForeignKey("user.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(120))
    filters: Mapped[dict[str, Any]] = mapped_column(default=dict)
    sort: Mapped[str] = mapped_column(String(20), default="newest")
    position: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    @property
    def is_shared(self) -> bool:
        return self.owner_id is None
