from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict


class ImportRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    format: str
    filename: str
    size: int
    status: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    total: int
    processed: int
    preview: dict[str, Any] | None
    report: dict[str, Any] | None
    failure: str | None
