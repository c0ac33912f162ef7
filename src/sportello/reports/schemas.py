from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class KpiRowRead(BaseModel):
    period: datetime | None = Field(description="Start of the period (Europe/Rome for days)")
    key: int | str | None = Field(description="The group's id (queue, agent, ...) or tag")
    label: str
    kpis: dict[str, Any] = Field(description="KPI values: ratios as fractions, times in seconds")
    sums: dict[str, int] = Field(description="The interval sums behind them")


class ReportRead(BaseModel):
    filters: dict[str, str]
    totals: KpiRowRead
    rows: list[KpiRowRead]


class DefinitionRead(BaseModel):
    key: str
    label: str
    unit: str
    definition: str


class DrillRow(BaseModel):
    id: int
    number: int
    subject: str
    status: str
    created_at: datetime
    queue_id: int | None
    assignee_id: int | None
    channel_id: int | None


class SettingsUpdate(BaseModel):
    sl_seconds: int | None = None
    short_abandon_seconds: int | None = None
    short_abandons: str | None = None
    fcr_days: int | None = None
    sl_warning: float | None = None
    sl_critical: float | None = None
    wait_warning: int | None = None
    wait_critical: int | None = None
    weekly_email: bool | None = None
