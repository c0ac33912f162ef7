from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from sportello.core.db import Base, utcnow


class PbxLink(Base):
    """The state of a PBX channel's AMI connection, written by the worker's link (or by a
    connection check from the admin page): ``connected`` or ``error`` with the last error."""

    __tablename__ = "pbx_link"

    channel_id: Mapped[int] = mapped_column(
        ForeignKey("channel.id", ondelete="CASCADE"), primary_key=True
    )
    state: Mapped[str] = mapped_column(String(16), default="unknown")
    detail: Mapped[str] = mapped_column(String(300), default="")
    last_error: Mapped[str] = mapped_column(String(300), default="")
    last_error_at: Mapped[datetime | None]
    connected_at: Mapped[datetime | None]
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)
