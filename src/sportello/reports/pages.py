"""Report pages: the overview with charts, drill-down lists, settings, the wallboard (TV) and
its compact console panel. Views parse, scope through service, call one action, render."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup
from sqlalchemy import select

from sportello.accounts import service as accounts_service
from sportello.accounts.models import Team, User
from sportello.channels.models import Channel
from sportello.core import access, i18n
from sportello.core.db import SessionDep
from sportello.core.errors import InvalidInput, SportelloError
from sportello.reports import actions, charts, exports, kpis, service, weekly
from sportello.reports.models import SL_EDGES
from sportello.routing.models import Queue
from sportello.web.auth import AdminUser, CsrfChecked, CurrentUser, SupervisorUser
from sportello.web.helpers import form_error, see_other
from sportello.web.render import render, request_language

router = APIRouter(dependencies=[CsrfChecked])


def _link(base: str, query: dict[str, str], **extra: Any) -> str:
    params = {**query, **{k: str(v) for k, v in extra.items() if v is not None}}
    return f"{base}?{urlencode(params)}"


def _options(session: SessionDep, user: User) -> dict[str, Any]:
    scope = service.scope_for(session, user)
    queues = [
        q for q in session.scalars(select(Queue).order_by(Queue.name)) if scope.sees_queue(q.id)
    ]
    agents: list[User] = []
    if user.is_supervisor:
        agents = [
            a
            for a in session.scalars(select(User).where(User.is_active).order_by(User.name))
            if scope.sees_agent(a.id)
        ]
    return {
        "queues": queues,
        "teams": list(session.scalars(select(Team).order_by(Team.name)))
        if user.is_supervisor
        else [],
        "agents": agents,
        "channels": list(session.scalars(select(Channel).order_by(Channel.name))),
        "sl_edges": SL_EDGES,
        "intervals": kpis.INTERVALS,
        "groups": service.GROUPS,
    }


def _charts(session: SessionDep, user: User, rep: service.Report) -> dict[str, Markup]:
    _ = i18n.gettext
    f = rep.filters
    by_period: dict[datetime, dict[str, Any]] = {}
    for row in rep.rows:
        slot = by_period.setdefault(row.period, kpis.empty_sums())  # type: ignore[arg-type]
        kpis.add_into(slot, row.sums)
    periods = sorted(by_period)
    computed = [kpis.compute(by_period[p], rep.config) for p in periods]
    labels = [
        exports.period_label(service.ReportRow(p, None, "", {}), f.interval)[5:] for p in periods
    ]
    grid = service.heatmap(session, user, f)
    scores = service.score_distribution(session, user, f)
    out = {
        "volume": charts.trend(
            periods,
            {
                _("Volume"): [c["volume"] for c in computed],
                _("Resolved"): [c["resolved"] for c in computed],
            },
            labels=labels,
        ),
        "service": charts.trend(
            periods,
            {
                _("Service level"): [c["service_level"] for c in computed],
                _("Abandonment"): [c["abandonment_rate"] for c in computed],
                _("FCR"): [c["fcr"] for c in computed],
            },
            labels=labels,
            percent=True,
        ),
        "times": charts.trend(
            periods,
            {
                _("ASA"): [None if c["asa"] is None else c["asa"] / 60 for c in computed],
                _("First response"): [
                    None if c["frt"] is None else c["frt"] / 60 for c in computed
                ],
                _("AHT"): [None if c["aht"] is None else c["aht"] / 60 for c in computed],
            },
            labels=labels,
        ),
        "heatmap": charts.heatmap(
            grid,
            days=weekly.day_names(),
            links=[
                [
                    "/reports/conversations?"
                    + urlencode({**f.query(), "metric": "volume", "weekday": d, "hour": h})
                    for h in range(24)
                ]
                for d in range(7)
            ],
        ),
        "csat": charts.bars([str(i) for i in range(1, 6)], scores["csat"], color=charts.COLORS[1]),
        "nps": charts.bars([str(i) for i in range(0, 11)], scores["nps"], color=charts.COLORS[0]),
        "ces": charts.bars([str(i) for i in range(1, 8)], scores["ces"], color=charts.COLORS[3]),
    }
    return {k: Markup(v if isinstance(v, str) else "") for k, v in out.items()}  # noqa: S704 (matplotlib's own SVG)


def _filters(request: Request) -> service.Filters:
    return service.parse_filters(dict(request.query_params))


@router.get("/reports", response_class=HTMLResponse, include_in_schema=False)
def overview(request: Request, session: SessionDep, user: CurrentUser) -> Response:
    try:
        f = _filters(request)
    except InvalidInput as exc:
        f = service.parse_filters({})
        error: dict[str, Any] | None = form_error(exc)
    else:
        error = None
    rep = service.report(session, user, f)
    query = f.query()
    league = service.league(session, user, f)  # an agent sees their own line
    token = i18n.current_language.set(request_language(request))  # the charts' labels
    try:
        drawn = _charts(session, user, rep)
    finally:
        i18n.current_language.reset(token)
    return render(
        request,
        "reports/overview.html",
        {
            "rep": rep,
            "f": f,
            "query": query,
            "columns": exports.COLUMNS,
            "charts": drawn,
            "league": league,
            "fmt": weekly.fmt,
            "link": _link,
            "period_label": exports.period_label,
            "error": error,
            "definitions": kpis.KPI_BY_KEY,
            **_options(session, user),
        },
        status_code=422 if error else 200,
    )


@router.get("/reports/conversations", response_class=HTMLResponse, include_in_schema=False)
def conversations(request: Request, session: SessionDep, user: CurrentUser) -> Response:
    f = _filters(request)
    metric = request.query_params.get("metric", "volume")
    period_raw = request.query_params.get("period")
    period = None
    if period_raw:
        try:
            period = datetime.fromisoformat(period_raw)
        except ValueError:
            raise InvalidInput("not a time", field="period") from None
    cell = service.parse_hour_of_week(dict(request.query_params))
    rows = service.drill_down(session, user, f, metric, period=period, hour_of_week=cell)
    return render(
        request,
        "reports/conversations.html",
        {
            "rows": rows,
            "metric": metric,
            "f": f,
            "query": f.query(),
            "limit": service.DRILL_LIMIT,
            "period": period,
            "cell": cell,
            "day_names": weekly.day_names(),
        },
    )


@router.get("/reports/settings", response_class=HTMLResponse, include_in_schema=False)
def settings_page(request: Request, session: SessionDep, user: SupervisorUser) -> Response:
    return _settings(request, session)


def _settings(
    request: Request, session: SessionDep, *, error: object = None, saved: bool = False
) -> Response:
    brand = accounts_service.default_brand(session)
    return render(
        request,
        "reports/settings.html",
        {
            "cfg": service.config(session, brand.id),
            "sl_edges": SL_EDGES,
            "error": error,
            "saved": saved,
            "mailbox": weekly.mailbox(session, brand.id),
        },
        status_code=422 if error else 200,
    )


@router.post("/reports/settings", response_class=HTMLResponse, include_in_schema=False)
def settings_save(
    request: Request,
    session: SessionDep,
    user: AdminUser,
    sl_seconds: Annotated[str, Form(max_length=10)],
    short_abandon_seconds: Annotated[str, Form(max_length=10)],
    short_abandons: Annotated[str, Form(max_length=10)],
    fcr_days: Annotated[str, Form(max_length=10)],
    sl_warning: Annotated[str, Form(max_length=10)],
    sl_critical: Annotated[str, Form(max_length=10)],
    wait_warning: Annotated[str, Form(max_length=10)],
    wait_critical: Annotated[str, Form(max_length=10)],
    weekly_email: Annotated[str, Form(max_length=5)] = "",
) -> Response:
    brand = accounts_service.default_brand(session)
    try:
        actions.do_update_settings(
            session,
            brand_id=brand.id,
            values={
                "sl_seconds": sl_seconds,
                "short_abandon_seconds": short_abandon_seconds,
                "short_abandons": short_abandons,
                "fcr_days": fcr_days,
                "sl_warning": sl_warning,
                "sl_critical": sl_critical,
                "wait_warning": wait_warning,
                "wait_critical": wait_critical,
                "weekly_email": bool(weekly_email),
            },
            by=user,
        )
    except InvalidInput as exc:
        session.rollback()
        return _settings(request, session, error=form_error(exc))
    return _settings(request, session, saved=True)


@router.post("/reports/rebuild", response_class=HTMLResponse, include_in_schema=False)
def rebuild(request: Request, session: SessionDep, user: AdminUser) -> Response:
    session.commit()  # the request's transaction ends here: the rebuild commits chunk by chunk
    actions.do_rebuild_in_chunks(request.app.state.db)
    return see_other("/reports/settings?rebuilt=1")


@router.post("/reports/weekly/send", response_class=HTMLResponse, include_in_schema=False)
def weekly_send(request: Request, session: SessionDep, user: SupervisorUser) -> Response:
    """Send last week's report to me now (to check how it looks)."""
    try:
        actions.do_send_weekly_report(request.app.state.db, only=user)
    except SportelloError as exc:
        return _settings(request, session, error=form_error(exc))
    except Exception as exc:  # ChannelError from the mailbox: say it in plain words
        return _settings(request, session, error={"message": str(exc), "field": None})
    return see_other("/reports/settings?sent=1")


@router.get("/wallboard", response_class=HTMLResponse, include_in_schema=False)
def wallboard(request: Request, session: SessionDep, user: SupervisorUser) -> Response:
    return render(
        request,
        "reports/wallboard.html",
        {"snapshot": service.wallboard(session, user), "fmt": weekly.fmt},
    )


@router.get("/reports/live-panel", response_class=HTMLResponse, include_in_schema=False)
def live_panel(request: Request, session: SessionDep, user: CurrentUser) -> Response:
    """The compact wallboard in the console's sidebar (supervisors)."""
    access.require_supervisor(user)
    return render(
        request,
        "reports/_panel.html",
        {"snapshot": service.wallboard(session, user), "fmt": weekly.fmt},
    )
