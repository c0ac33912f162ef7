"""REST API v1 for reports: one endpoint for every report, scoped like the console."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import Response

from sportello.accounts import service as accounts_service
from sportello.audit import actions as audit
from sportello.core import i18n
from sportello.core.db import SessionDep
from sportello.reports import actions, exports, kpis, service
from sportello.reports.schemas import (
    DefinitionRead,
    DrillRow,
    KpiRowRead,
    ReportRead,
    SettingsUpdate,
)
from sportello.web.api import AdminCaller, ReadCaller, api_router

router = api_router("reports")


def _filters(request: Request) -> service.Filters:
    return service.parse_filters(dict(request.query_params))


def _row(row: service.ReportRow) -> KpiRowRead:
    return KpiRowRead(period=row.period, key=row.key, label=row.label, kpis=row.kpis, sums=row.sums)


@router.get(
    "/reports/definitions", summary="What each KPI means", response_model=list[DefinitionRead]
)
def definitions(request: Request, caller: ReadCaller) -> list[DefinitionRead]:
    """In English, the source, unless the caller asks for a language (Accept-Language: it)."""
    asked = request.headers.get("accept-language")
    language = i18n.pick_language(asked) if asked else None
    tr = i18n.translations(language).gettext if language else (lambda text: text)
    return [
        DefinitionRead(key=k.key, label=tr(k.label), unit=k.unit, definition=tr(k.definition))
        for k in kpis.KPIS
    ]


@router.get(
    "/reports/kpis",
    summary="KPIs by period and group (start, end, interval, group, queue_id, team_id, agent_id, "
    "channel_id, brand_id, tag, sl_seconds); format=csv or xlsx to export",
    response_model=ReportRead,
)
def kpi_report(request: Request, session: SessionDep, caller: ReadCaller) -> Any:
    f = _filters(request)
    rep = service.report(session, caller.user, f)
    fmt = request.query_params.get("format", "json")
    if fmt in ("csv", "xlsx"):
        audit.record(session, "report.exported", format=fmt, filters=f.query())
    if fmt == "csv":
        return Response(
            exports.to_csv(rep),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="report-{f.start}-{f.end}.csv"'},
        )
    if fmt == "xlsx":
        return Response(
            exports.to_xlsx(rep),
            media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            headers={
                "Content-Disposition": f'attachment; filename="report-{f.start}-{f.end}.xlsx"'
            },
        )
    return ReportRead(filters=f.query(), totals=_row(rep.totals), rows=[_row(r) for r in rep.rows])


@router.get("/reports/heatmap", summary="Volume by weekday (Monday first) and hour, Europe/Rome")
def heatmap(request: Request, session: SessionDep, caller: ReadCaller) -> dict[str, Any]:
    return {"grid": service.heatmap(session, caller.user, _filters(request))}


@router.get(
    "/reports/agents",
    summary="The agent league table, with occupancy",
    response_model=list[KpiRowRead],
)
def league(request: Request, session: SessionDep, caller: ReadCaller) -> list[KpiRowRead]:
    return [_row(r) for r in service.league(session, caller.user, _filters(request))]


@router.get("/reports/scores", summary="Survey score distributions (CSAT 1-5, NPS 0-10, CES 1-7)")
def scores(request: Request, session: SessionDep, caller: ReadCaller) -> dict[str, list[int]]:
    return service.score_distribution(session, caller.user, _filters(request))


@router.get("/reports/backlog", summary="Open work now and its age (seconds)")
def backlog(request: Request, session: SessionDep, caller: ReadCaller) -> dict[str, Any]:
    return service.backlog(session, service.scope_for(session, caller.user), _filters(request))


@router.get(
    "/reports/conversations",
    summary="The conversations behind a number (metric=volume, answered, abandoned, resolved, ...;"
    " weekday=0-6 and hour=0-23: a heatmap cell's)",
    response_model=list[DrillRow],
)
def drill(request: Request, session: SessionDep, caller: ReadCaller, metric: str) -> list[DrillRow]:
    cell = service.parse_hour_of_week(dict(request.query_params))
    rows = service.drill_down(session, caller.user, _filters(request), metric, hour_of_week=cell)
    return [
        DrillRow(
            id=c.id,
            number=c.number,
            subject=c.subject,
            status=c.status.value,
            created_at=c.created_at,
            queue_id=c.queue_id,
            assignee_id=c.assignee_id,
            channel_id=c.channel_id,
        )
        for c in rows
    ]


@router.get("/reports/wallboard", summary="The live wallboard snapshot")
def wallboard(session: SessionDep, caller: ReadCaller) -> dict[str, Any]:
    from sportello.core import access

    access.require_supervisor(caller.user)
    return service.wallboard(session, caller.user)


@router.put("/reports/settings", summary="Change the report settings (admins)")
def update_settings(
    body: SettingsUpdate, session: SessionDep, caller: AdminCaller
) -> dict[str, Any]:
    brand = accounts_service.default_brand(session)
    cfg = actions.do_update_settings(
        session,
        brand_id=brand.id,
        values=body.model_dump(exclude_none=True),
        by=caller.user,
    )
    return dict(cfg.__dict__)


@router.post("/reports/rebuild", summary="Recompute the aggregates from the raw tables (admins)")
def rebuild(request: Request, session: SessionDep, caller: AdminCaller) -> dict[str, int]:
    """In short transactions of a few thousand conversations each, so that the service goes on
    meanwhile (reports show partial figures until it ends)."""
    session.commit()  # the request's transaction ends here: the rebuild commits chunk by chunk
    return {"conversations": actions.do_rebuild_in_chunks(request.app.state.db)}
