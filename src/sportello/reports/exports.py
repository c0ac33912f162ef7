"""The report table's columns (shared by the page, the API, CSV and XLSX) and the exports."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any

from sportello.core.i18n import gettext as _
from sportello.core.i18n import lazy as N_
from sportello.reports import kpis
from sportello.reports.service import Report, ReportRow


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    unit: str
    drill: str | None  # the drill-down measure behind the number


COLUMNS: tuple[Column, ...] = (
    Column("volume", N_("Volume"), "count", "volume"),
    Column("answered", N_("Answered"), "count", "answered"),
    Column("abandoned", N_("Abandoned"), "count", "abandoned"),
    Column("service_level", N_("Service level"), "percent", "not_answered_within"),
    Column("asa", N_("ASA"), "seconds", "answered"),
    Column("frt", N_("First response"), "seconds", "responded"),
    Column("aht", N_("AHT"), "seconds", "resolved"),
    Column("resolved", N_("Resolved"), "count", "resolved"),
    Column("resolution_time", N_("Resolution time"), "seconds", "resolved"),
    Column("abandonment_rate", N_("Abandonment"), "percent", "abandoned"),
    Column("fcr", N_("FCR"), "percent", "not_fcr"),
    Column("reopen_rate", N_("Reopens"), "percent", "reopened"),
    Column("transfers", N_("Transfers"), "count", "transfers"),
    Column("sla_compliance", N_("SLA"), "percent", "sla_missed"),
    Column("csat", N_("CSAT"), "percent", None),
    Column("nps", N_("NPS"), "score", None),
    Column("ces", N_("CES"), "score", None),
)


def period_label(row: ReportRow, interval: str) -> str:
    if row.period is None:
        return ""
    local = row.period.astimezone(kpis.ROME)
    if interval in ("15min", "30min", "60min"):
        return local.strftime("%Y-%m-%d %H:%M")
    if interval == "month":
        return local.strftime("%Y-%m")
    return local.strftime("%Y-%m-%d")


def table(rep: Report) -> tuple[list[str], list[list[Any]]]:
    """Header and rows with raw values (ratios as fractions, times in seconds)."""
    header = [_("Period"), _("Group")] + [
        _(c.label) + (" (s)" if c.unit == "seconds" else "") for c in COLUMNS
    ]
    rows = []
    for row in [*rep.rows, rep.totals]:
        label = period_label(row, rep.filters.interval) if row.period is not None else ""
        if row is rep.totals:
            label = _("Total")
        values: list[Any] = [label, row.label]
        for c in COLUMNS:
            value = row.kpis.get(c.key)
            values.append(round(value, 4) if isinstance(value, float) else value)
        rows.append(values)
    return header, rows


def to_csv(rep: Report) -> str:
    header, rows = table(rep)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def to_xlsx(rep: Report) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    header, rows = table(rep)
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = _("Report")[:31]
    sheet.append(header)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for values in rows:
        sheet.append(values)
    for index, column in enumerate(COLUMNS, start=3):
        if column.unit == "percent":
            for (cell,) in sheet.iter_rows(min_row=2, min_col=index, max_col=index):
                cell.number_format = "0.0%"
    sheet.freeze_panes = "C2"
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
