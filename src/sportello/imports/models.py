"""An import (one uploaded file, its check and its run) and the map from the exported system's
ids to ours that makes a second run of the same file create nothing twice."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from sportello.core.db import Base, utcnow


class ImportFormat(enum.StrEnum):
    CSV_CUSTOMERS = "csv-customers"
    CSV_CONVERSATIONS = "csv-conversations"
    ZENDESK = "zendesk"
    FRESHDESK = "freshdesk"
    ZAMMAD = "zammad"


class ImportStatus(enum.StrEnum):
    CHECKING = "checking"  # the dry run is queued or running
    CHECKED = "checked"  # the dry run's counts are ready: the admin may start it
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class ImportJob(Base):
    """One uploaded file. ``preview`` is the dry run's report, ``report`` the real run's: each
    ``{"created": {...}, "updated": {...}, "skipped": {...}, "errors": [{"line", "message"}],
    "error_count": n}``."""

    __tablename__ = "import_job"

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brand.id"))
    format: Mapped[str] = mapped_column(String(30))
    filename: Mapped[str] = mapped_column(String(300))
    size: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20), default=ImportStatus.CHECKING.value)
    mapping: Mapped[dict[str, Any] | None]  # CSV: our field -> the file's header, if chosen
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    total: Mapped[int] = mapped_column(default=0)
    processed: Mapped[int] = mapped_column(default=0)
    preview: Mapped[dict[str, Any] | None]
    report: Mapped[dict[str, Any] | None]
    failure: Mapped[str | None] = mapped_column(String(500))

    __table_args__ = (Index("ix_import_job_created", "created_at"),)


class ImportSourceMap(Base):
    """``(source, kind, external id)`` -> our row: a ticket imported once is skipped after."""

    __tablename__ = "import_source_map"
    __table_args__ = (UniqueConstraint("source", "kind", "external_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(30))
    kind: Mapped[str] = mapped_column(String(20))
    external_id: Mapped[str] = mapped_column(String(200))
    local_id: Mapped[int]
    import_id: Mapped[int | None] = mapped_column(ForeignKey("import_job.id", ondelete="SET NULL"))
