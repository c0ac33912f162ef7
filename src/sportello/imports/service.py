"""Reads for imports."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from sportello.core.errors import NotFound
from sportello.imports.models import ImportJob


def imports(session: Session, limit: int = 50) -> list[ImportJob]:
    return list(
        session.scalars(
            select(ImportJob)
            .order_by(ImportJob.created_at.desc(), ImportJob.id.desc())
            .limit(limit)
        )
    )


def get_import(session: Session, import_id: int) -> ImportJob:
    job = session.get(ImportJob, import_id) if 0 < import_id < 2**31 else None
    if job is None:
        raise NotFound("import not found")
    return job
