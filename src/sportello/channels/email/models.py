"""Email tables: every fetched message kept raw first, and each mailbox's IMAP position."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import BigInteger, Enum, ForeignKey, Index, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from sportello.core.db import Base, utcnow


class RawStatus(enum.StrEnum):
    RECEIVED = "received"  # stored, not yet parsed and passed to the one door
    PROCESSED = "processed"  # in a conversation, or attached to the message it reports on
    QUARANTINED = "quarantined"  # could not be processed: kept with the error for an admin


class EmailRaw(Base):
    """One message as fetched from a mailbox. Its exact bytes are in ``EmailRawData``, written in
    the same transaction (a table of their own, so that status updates never rewrite them); a
    large message's bytes go to disk instead, content-addressed by ``sha256`` (written, and
    fsynced by the OS like attachments, before the row commits)."""

    __tablename__ = "email_raw"
    __table_args__ = (
        UniqueConstraint("channel_id", "folder", "uidvalidity", "uid"),
        Index("ix_email_raw_status", "status", "channel_id"),
        Index("ix_email_raw_sender", "channel_id", "sender", "received_at"),
        Index("ix_email_raw_message_id", "channel_id", "message_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("channel.id", ondelete="CASCADE"))
    folder: Mapped[str] = mapped_column(String(200), default="INBOX")
    uidvalidity: Mapped[int] = mapped_column(BigInteger)
    uid: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int]
    message_id: Mapped[str | None] = mapped_column(String(300))
    sender: Mapped[str | None] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(300), default="")
    status: Mapped[RawStatus] = mapped_column(
        Enum(
            RawStatus, native_enum=False, length=20, values_callable=lambda e: [m.value for m in e]
        ),
        default=RawStatus.RECEIVED,
    )
    # What processing did: "message", "duplicate", "bounce", "pec", "ignored".
    outcome: Mapped[str | None] = mapped_column(String(20))
    error: Mapped[str | None] = mapped_column(String(2000))
    attempts: Mapped[int] = mapped_column(default=0)
    conversation_message_id: Mapped[int | None] = mapped_column(
        ForeignKey("conversation_message.id", ondelete="SET NULL")
    )
    # Flagged or moved on the IMAP server after processing (or quarantine).
    server_done: Mapped[bool] = mapped_column(default=False)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    processed_at: Mapped[datetime | None]


class EmailRawData(Base):
    __tablename__ = "email_raw_data"

    raw_id: Mapped[int] = mapped_column(
        ForeignKey("email_raw.id", ondelete="CASCADE"), primary_key=True
    )
    # None: the bytes are on disk under data/mail/, by the raw row's sha256.
    data: Mapped[bytes | None] = mapped_column(LargeBinary)


class MailboxState(Base):
    """Where a mailbox's fetching stands, and who fetches it (a lease, for several workers)."""

    __tablename__ = "email_mailbox_state"

    channel_id: Mapped[int] = mapped_column(
        ForeignKey("channel.id", ondelete="CASCADE"), primary_key=True
    )
    folder: Mapped[str] = mapped_column(String(200), default="INBOX")
    uidvalidity: Mapped[int | None] = mapped_column(BigInteger)
    last_uid: Mapped[int] = mapped_column(BigInteger, default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(120))
    lease_until: Mapped[datetime | None]
    last_poll_at: Mapped[datetime | None]
    last_ok_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(2000))
    idle: Mapped[bool] = mapped_column(default=False)
