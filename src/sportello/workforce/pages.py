"""Workforce pages: forecast and required staff, schedules (generate, edit, publish, export),
set-up (templates, contracts), adherence and what-if, and every agent's "my shifts"."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from sportello.accounts import service as accounts_service
from sportello.accounts.models import User
from sportello.audit import actions as audit
from sportello.core.db import SessionDep, utcnow
from sportello.core.errors import Conflict, InvalidInput, NotFound
from sportello.core.i18n import gettext
from sportello.routing.capacity import CLASSES
from sportello.routing.models import Queue
from sportello.web.auth import CsrfChecked, CurrentUser, SupervisorUser
from sportello.web.helpers import form_error, see_other, translating
from sportello.web.render import render
from sportello.workforce import actions, service, staffing
from sportello.workforce.models import Adjustment, Schedule, Shift, ShiftTemplate

router = APIRouter(dependencies=[CsrfChecked])

WEEKDAYS = range(7)


def _brand_id(session: Session) -> int:
    return accounts_service.default_brand(session).id


def _today() -> date:
    return utcnow().astimezone(service.TZ).date()


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _parse_day(value: str | None, default: date) -> date:
    if not value:
        return default
    try:
        return date.fromisoformat(value)
    except ValueError:
        return default


def _epoch(at: datetime) -> int:
    return int(at.timestamp())


def _chart_payload(
    session: Session, run_id: int | None, start: datetime, end: datetime, minutes: int
) -> dict[str, Any]:
    """Per channel class: contacts, agents required (to schedule) and agents on shift."""
    step = timedelta(minutes=minutes)
    n = int((end - start) / step)
    starts = [start + i * step for i in range(n)]
    shifts = service.published_shifts(session, start=start, end=end)
    on_shift = service.coverage(shifts, starts, minutes)
    per_class: dict[str, dict[str, np.ndarray]] = {}
    if run_id is not None:
        run = service.get_run(session, run_id)
        for req in service.requirements(session, run, start=start, end=end):
            bucket = per_class.setdefault(
                req.channel_class, {"contacts": np.zeros(n), "required": np.zeros(n)}
            )
            for at, c, r in zip(req.starts, req.contacts, req.scheduled, strict=True):
                i = int((at - start) / step)
                if 0 <= i < n:
                    bucket["contacts"][i] += c
                    bucket["required"][i] += r
    series = []
    for cls in CLASSES:
        have = per_class.get(cls)
        if have is None and not on_shift[cls].any():
            continue
        have = have or {"contacts": np.zeros(n), "required": np.zeros(n)}
        series.append(
            {
                "channel": cls,
                "contacts": [round(float(v), 2) for v in have["contacts"]],
                "required": [round(float(v), 2) for v in have["required"]],
                "on_shift": [round(float(v), 2) for v in on_shift[cls]],
            }
        )
    return {"x": [_epoch(s) for s in starts], "series": series}


# --------------------------------------------------------------------------- forecast page


def _forecast_context(session: Session, week: date) -> dict[str, Any]:
    brand_id = _brand_id(session)
    run = service.latest_run(session, brand_id)
    start = service.local_midnight(week)
    end = service.local_midnight(week + timedelta(days=7))
    minutes = run.interval_minutes if run else 15
    rows = []
    if run is not None:
        for req in service.requirements(session, run, start=start, end=end):
            if not req.starts:
                continue
            daily: dict[date, list[float]] = {}
            for at, c, a, r in zip(req.starts, req.contacts, req.aht, req.scheduled, strict=True):
                d = at.astimezone(service.TZ).date()
                acc = daily.setdefault(d, [0.0, 0.0, 0.0])
                acc[0] += c
                acc[1] += c * a
                acc[2] = max(acc[2], float(r))
            rows.append(
                {
                    "queue": req.queue_name,
                    "queue_id": req.queue_id,
                    "channel": req.channel_class,
                    "model": req.model,
                    "plan": req.plan,
                    "days": [
                        {
                            "day": d,
                            "contacts": v[0],
                            "aht": v[1] / v[0] if v[0] else 0,
                            "peak": v[2],
                        }
                        for d, v in sorted(daily.items())
                    ],
                }
            )
    queues = {
        q.id: q.name for q in session.scalars(select(Queue).where(Queue.brand_id == brand_id))
    }
    summary = []
    if run is not None:
        for item in run.summary:
            summary.append({**item, "queue": queues.get(item["queue_id"], "?")})
    return {
        "run": run,
        "week": week,
        "prev_week": week - timedelta(days=7),
        "next_week": week + timedelta(days=7),
        "rows": rows,
        "summary": summary,
        "chart": json.dumps(_chart_payload(session, run.id if run else None, start, end, minutes)),
        "adjustments": service.get_adjustments(session, brand_id),
        "queues": queues,
        "classes": CLASSES,
        "intervals": service.INTERVALS,
        "wfm_tab": "forecast",
        "tz": service.TZ,
    }


@router.get("/wfm", response_class=HTMLResponse, include_in_schema=False)
def forecast_page(
    request: Request,
    session: SessionDep,
    user: SupervisorUser,
    week: Annotated[str | None, Query(max_length=10)] = None,
) -> Response:
    run = service.latest_run(session, _brand_id(session))
    default = _monday(_today() + timedelta(days=7))
    if run is not None and run.start_at.astimezone(service.TZ).date() > default:
        default = _monday(run.start_at.astimezone(service.TZ).date())
    return render(
        request, "workforce/forecast.html", _forecast_context(session, _parse_day(week, default))
    )


@router.post("/wfm/forecast", include_in_schema=False)
def forecast_run(
    request: Request,
    session: SessionDep,
    user: SupervisorUser,
    horizon_days: Annotated[int, Form(ge=1, le=42)] = 14,
    interval: Annotated[int, Form()] = 15,
) -> Response:
    try:
        with translating(request):
            actions.do_run_forecast(
                session,
                brand_id=_brand_id(session),
                now=utcnow(),
                horizon_days=horizon_days,
                interval_minutes=interval,
                by=user,
            )
    except InvalidInput as exc:
        session.rollback()
        ctx = _forecast_context(session, _monday(_today() + timedelta(days=7)))
        return render(
            request, "workforce/forecast.html", {**ctx, "error": form_error(exc)}, status_code=422
        )
    return see_other("/wfm")


@router.post("/wfm/plans/{queue_id}/{channel_class}", include_in_schema=False)
def plan_save(
    request: Request,
    session: SessionDep,
    user: SupervisorUser,
    queue_id: int,
    channel_class: str,
    service_level_target: Annotated[str, Form(max_length=20)],
    answer_within_seconds: Annotated[str, Form(max_length=20)],
    shrinkage: Annotated[str, Form(max_length=20)],
    max_occupancy: Annotated[str, Form(max_length=20)],
    concurrency: Annotated[str, Form(max_length=20)] = "1",
    patience_seconds: Annotated[str, Form(max_length=20)] = "",
    target_asa_seconds: Annotated[str, Form(max_length=20)] = "",
    backlog_sla_seconds: Annotated[str, Form(max_length=20)] = "",
    aht_seconds: Annotated[str, Form(max_length=20)] = "",
    week: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    queue = session.get(Queue, queue_id)
    if queue is None:
        raise NotFound("queue not found")
    data = {
        "service_level_target": service_level_target.replace(",", "."),
        "answer_within_seconds": answer_within_seconds,
        "shrinkage": shrinkage.replace(",", "."),
        "max_occupancy": max_occupancy.replace(",", "."),
        "concurrency": concurrency,
        "patience_seconds": patience_seconds,
        "target_asa_seconds": target_asa_seconds,
        "backlog_sla_seconds": backlog_sla_seconds,
        "aht_seconds": aht_seconds,
    }
    try:
        with translating(request):
            actions.do_save_plan(
                session,
                brand_id=_brand_id(session),
                queue=queue,
                channel_class=channel_class,
                data=data,
            )
    except InvalidInput as exc:
        session.rollback()
        ctx = _forecast_context(session, _parse_day(week, _monday(_today() + timedelta(days=7))))
        return render(
            request, "workforce/forecast.html", {**ctx, "error": form_error(exc)}, status_code=422
        )
    return see_other(f"/wfm?week={week}" if week else "/wfm")


@router.post("/wfm/adjustments", include_in_schema=False)
def adjustment_create(
    request: Request,
    session: SessionDep,
    user: SupervisorUser,
    label: Annotated[str, Form(max_length=200)],
    starts_on: Annotated[date, Form()],
    ends_on: Annotated[date, Form()],
    factor: Annotated[str, Form(max_length=20)],
    queue_id: Annotated[str, Form(max_length=20)] = "",
    channel_class: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    try:
        with translating(request):
            try:
                value = float(factor.replace(",", "."))
            except ValueError:
                raise InvalidInput(gettext("Enter a number."), field="factor") from None
            actions.do_create_adjustment(
                session,
                brand_id=_brand_id(session),
                label=label,
                starts_on=starts_on,
                ends_on=ends_on,
                factor=value,
                queue_id=int(queue_id) if queue_id.isdigit() else None,
                channel_class=channel_class or None,
            )
    except InvalidInput as exc:
        session.rollback()
        ctx = _forecast_context(session, _monday(_today() + timedelta(days=7)))
        return render(
            request, "workforce/forecast.html", {**ctx, "error": form_error(exc)}, status_code=422
        )
    return see_other("/wfm")


@router.post("/wfm/adjustments/{adjustment_id}/delete", include_in_schema=False)
def adjustment_delete(session: SessionDep, user: SupervisorUser, adjustment_id: int) -> Response:
    adj = session.get(Adjustment, adjustment_id)
    if adj is None:
        raise NotFound("adjustment not found")
    actions.do_delete_adjustment(session, adjustment=adj)
    return see_other("/wfm")


@router.get("/wfm/erlang", response_class=HTMLResponse, include_in_schema=False)
def erlang_fragment(
    request: Request,
    user: SupervisorUser,
    calls: Annotated[str, Query(max_length=20)] = "100",
    aht: Annotated[str, Query(max_length=20)] = "180",
    interval: Annotated[str, Query(max_length=20)] = "1800",
    target: Annotated[str, Query(max_length=20)] = "0.8",
    answer_within: Annotated[str, Query(max_length=20)] = "20",
    patience: Annotated[str, Query(max_length=20)] = "",
    shrinkage: Annotated[str, Query(max_length=20)] = "0.3",
    max_occupancy: Annotated[str, Query(max_length=20)] = "0.85",
    agents: Annotated[str, Query(max_length=20)] = "",
) -> Response:
    """The Erlang calculator (what-if on one interval), as an htmx fragment."""
    from sportello.workforce import erlang

    values = {
        "calls": calls, "aht": aht, "interval": interval, "target": target,
        "answer_within": answer_within, "patience": patience, "shrinkage": shrinkage,
        "max_occupancy": max_occupancy, "agents": agents,
    }  # fmt: skip
    result = error = None
    with translating(request):
        try:
            num = {k: float(v.replace(",", ".")) for k, v in values.items() if v.strip()}
            result = erlang.answer(
                calls=num.get("calls", 0),
                aht=num.get("aht", 0),
                interval=num.get("interval", 1800),
                answer_within=num.get("answer_within", 20),
                target=num.get("target", 0.8),
                agents=int(num["agents"]) if "agents" in num else None,
                patience=num.get("patience"),
                shrinkage=num.get("shrinkage", 0.0),
                max_occupancy=num.get("max_occupancy", 1.0),
            )
        except ValueError:
            error = gettext("Enter a number.")
        except InvalidInput as exc:
            error = exc.message
    return render(
        request, "workforce/_erlang.html", {"result": result, "error": error, "values": values}
    )


# --------------------------------------------------------------------------- set-up


def _setup_page(request: Request, session: Session, *, error: object = None) -> Response:
    brand_id = _brand_id(session)
    contracts = {c.user_id: c for c in service.get_contracts(session, brand_id)}
    users = [u for u in accounts_service.get_all_users(session, active_only=True)]
    return render(
        request,
        "workforce/setup.html",
        {
            "templates": service.get_templates(session, brand_id, active_only=False),
            "users": users,
            "contracts": contracts,
            "classes": CLASSES,
            "error": error,
            "wfm_tab": "setup",
        },
        status_code=422 if error else 200,
    )


@router.get("/wfm/setup", response_class=HTMLResponse, include_in_schema=False)
def setup_page(request: Request, session: SessionDep, user: SupervisorUser) -> Response:
    return _setup_page(request, session)


@router.post("/wfm/templates", include_in_schema=False)
def template_save(
    request: Request,
    session: SessionDep,
    user: SupervisorUser,
    name: Annotated[str, Form(max_length=100)],
    start: Annotated[str, Form(max_length=5)],
    end: Annotated[str, Form(max_length=5)],
    break_minutes: Annotated[int, Form(ge=0, le=60)] = 15,
    lunch_minutes: Annotated[int, Form(ge=0, le=120)] = 0,
    template_id: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    template = session.get(ShiftTemplate, int(template_id)) if template_id.isdigit() else None
    try:
        with translating(request):
            actions.do_save_template(
                session,
                brand_id=_brand_id(session),
                name=name,
                start=start,
                end=end,
                break_minutes=break_minutes,
                lunch_minutes=lunch_minutes,
                template=template,
            )
    except (InvalidInput, Conflict) as exc:
        session.rollback()
        return _setup_page(request, session, error=form_error(exc))
    return see_other("/wfm/setup")


@router.post("/wfm/contracts/{user_id}", include_in_schema=False)
def contract_save(
    request: Request,
    session: SessionDep,
    user: SupervisorUser,
    user_id: int,
    hours_per_week: Annotated[float, Form(ge=0, le=100)],
    days_per_week: Annotated[int, Form(ge=0, le=7)],
    days_off: Annotated[list[int] | None, Form()] = None,
    channels: Annotated[list[str] | None, Form()] = None,
    preferred: Annotated[list[int] | None, Form()] = None,
    part_time: Annotated[bool, Form()] = False,
) -> Response:
    agent = session.get(User, user_id)
    if agent is None:
        raise NotFound("user not found")
    try:
        with translating(request):
            actions.do_save_contract(
                session,
                brand_id=_brand_id(session),
                user=agent,
                hours_per_week=hours_per_week,
                days_per_week=days_per_week,
                days_off=days_off or [],
                channels=channels or [],
                preferred_template_ids=preferred or [],
                part_time=part_time,
            )
    except InvalidInput as exc:
        session.rollback()
        return _setup_page(request, session, error=form_error(exc))
    return see_other("/wfm/setup")


# --------------------------------------------------------------------------- schedules


def _schedules_page(request: Request, session: Session, *, error: object = None) -> Response:
    brand_id = _brand_id(session)
    return render(
        request,
        "workforce/schedules.html",
        {
            "schedules": service.get_schedules(session, brand_id),
            "run": service.latest_run(session, brand_id),
            "default_start": _monday(_today() + timedelta(days=7)),
            "error": error,
            "wfm_tab": "schedules",
        },
        status_code=422 if error else 200,
    )


@router.get("/wfm/schedules", response_class=HTMLResponse, include_in_schema=False)
def schedules_page(request: Request, session: SessionDep, user: SupervisorUser) -> Response:
    return _schedules_page(request, session)


@router.post("/wfm/schedules", include_in_schema=False)
def schedule_generate(
    request: Request,
    session: SessionDep,
    user: SupervisorUser,
    starts_on: Annotated[date, Form()],
    days: Annotated[int, Form(ge=1, le=42)] = 7,
) -> Response:
    try:
        with translating(request):
            schedule = actions.do_generate_schedule(
                session, brand_id=_brand_id(session), starts_on=starts_on, days=days, by=user
            )
    except InvalidInput as exc:
        session.rollback()
        return _schedules_page(request, session, error=form_error(exc))
    return see_other(f"/wfm/schedules/{schedule.id}")


def _break_times(shifts: list[Shift]) -> dict[int, list[tuple[str, str]]]:
    """Each shift's breaks as (kind, local HH:MM)."""
    return {
        s.id: [
            (b["kind"], f"{datetime.fromisoformat(b['start_at']).astimezone(service.TZ):%H:%M}")
            for b in s.breaks
        ]
        for s in shifts
    }


def _schedule_context(
    session: Session, schedule: Schedule, day: date | None, error: object = None
) -> dict[str, Any]:
    days = [schedule.starts_on + timedelta(days=i) for i in range(schedule.days)]
    if day not in days:
        day = _today() if _today() in days else days[0]
    shifts = service.schedule_shifts(session, schedule)
    grid: dict[int, dict[date, Shift]] = {}
    people: dict[int, User] = {}
    for s in shifts:
        grid.setdefault(s.user_id, {})[s.start_at.astimezone(service.TZ).date()] = s
        people[s.user_id] = s.user
    brand_id = schedule.brand_id
    contracts = service.get_contracts(session, brand_id)
    for c in contracts:
        people.setdefault(c.user_id, c.user)
    templates = service.get_templates(session, brand_id, active_only=False)
    run_id = schedule.forecast_run_id
    minutes = 15
    if run_id is not None:
        minutes = service.get_run(session, run_id).interval_minutes
    # the coverage chart of the chosen day, from THIS schedule's shifts (draft or not)
    start = service.local_midnight(day)
    end = service.local_midnight(day + timedelta(days=1))
    step = timedelta(minutes=minutes)
    starts = [start + i * step for i in range(int((end - start) / step))]
    on = service.coverage(
        [s for s in shifts if s.start_at < end and s.end_at > start], starts, minutes
    )
    chart = _chart_payload(session, run_id, start, end, minutes)
    for item in chart["series"]:
        item["on_shift"] = [round(float(v), 2) for v in on[item["channel"]]]
    hours = {
        uid: sum(
            (s.end_at - s.start_at).total_seconds() / 3600
            - sum(
                (
                    datetime.fromisoformat(b["end_at"]) - datetime.fromisoformat(b["start_at"])
                ).total_seconds()
                / 3600
                for b in s.breaks
                if b["kind"] == "lunch"
            )
            for s in row.values()
        )
        for uid, row in grid.items()
    }
    return {
        "schedule": schedule,
        "breaks": _break_times(shifts),
        "days": days,
        "day": day,
        "grid": grid,
        "people": sorted(people.values(), key=lambda u: u.name),
        "hours": hours,
        "templates": templates,
        "classes": CLASSES,
        "chart": json.dumps(chart),
        "error": error,
        "wfm_tab": "schedules",
        "tz": service.TZ,
    }


@router.get("/wfm/schedules/{schedule_id}", response_class=HTMLResponse, include_in_schema=False)
def schedule_page(
    request: Request,
    session: SessionDep,
    user: SupervisorUser,
    schedule_id: int,
    day: Annotated[str | None, Query(max_length=10)] = None,
) -> Response:
    schedule = service.get_schedule(session, schedule_id)
    ctx = _schedule_context(session, schedule, _parse_day(day, date.min))
    template = "workforce/_schedule_body.html" if request.headers.get("hx-request") else None
    return render(request, template or "workforce/schedule.html", ctx)


@router.post("/wfm/schedules/{schedule_id}/shifts", include_in_schema=False)
def shift_add(
    request: Request,
    session: SessionDep,
    user: SupervisorUser,
    schedule_id: int,
    user_id: Annotated[int, Form()],
    day: Annotated[date, Form()],
    template_id: Annotated[int, Form()],
    channel_class: Annotated[str, Form(max_length=20)],
) -> Response:
    schedule = service.get_schedule(session, schedule_id)
    agent = session.get(User, user_id)
    template = session.get(ShiftTemplate, template_id)
    if agent is None or template is None:
        raise NotFound("not found")
    error = None
    try:
        with translating(request):
            actions.do_add_shift(
                session,
                schedule=schedule,
                user=agent,
                day=day,
                template=template,
                channel_class=channel_class,
            )
    except (InvalidInput, Conflict) as exc:
        session.rollback()
        schedule = service.get_schedule(session, schedule_id)
        error = form_error(exc)
    return _schedule_body(request, session, schedule, day, error)


@router.post("/wfm/shifts/{shift_id}/delete", include_in_schema=False)
def shift_delete(
    request: Request,
    session: SessionDep,
    user: SupervisorUser,
    shift_id: int,
    day: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    shift = session.get(Shift, shift_id)
    if shift is None:
        raise NotFound("shift not found")
    schedule = service.get_schedule(session, shift.schedule_id)
    actions.do_delete_shift(session, shift=shift)
    return _schedule_body(request, session, schedule, _parse_day(day, schedule.starts_on), None)


def _schedule_body(
    request: Request, session: Session, schedule: Schedule, day: date, error: object
) -> Response:
    ctx = _schedule_context(session, schedule, day, error)
    if request.headers.get("hx-request"):
        return render(
            request, "workforce/_schedule_body.html", ctx, status_code=422 if error else 200
        )
    if error:
        return render(request, "workforce/schedule.html", ctx, status_code=422)
    return see_other(f"/wfm/schedules/{schedule.id}?day={day.isoformat()}")


@router.post("/wfm/schedules/{schedule_id}/publish", include_in_schema=False)
def schedule_publish(session: SessionDep, user: SupervisorUser, schedule_id: int) -> Response:
    schedule = service.get_schedule(session, schedule_id)
    actions.do_publish_schedule(session, schedule=schedule)
    return see_other(f"/wfm/schedules/{schedule.id}")


@router.post("/wfm/schedules/{schedule_id}/delete", include_in_schema=False)
def schedule_delete(session: SessionDep, user: SupervisorUser, schedule_id: int) -> Response:
    schedule = service.get_schedule(session, schedule_id)
    actions.do_delete_schedule(session, schedule=schedule)
    return see_other("/wfm/schedules")


def _csv(shifts: list[Shift], filename: str) -> Response:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["agent", "email", "date", "start", "end", "channel", "breaks"])
    for s in shifts:
        start = s.start_at.astimezone(service.TZ)
        end = s.end_at.astimezone(service.TZ)
        breaks = "; ".join(
            f"{b['kind']} {datetime.fromisoformat(b['start_at']).astimezone(service.TZ):%H:%M}-"
            f"{datetime.fromisoformat(b['end_at']).astimezone(service.TZ):%H:%M}"
            for b in s.breaks
        )
        writer.writerow(
            [s.user.name, s.user.email, f"{start:%Y-%m-%d}", f"{start:%H:%M}", f"{end:%H:%M}",
             s.channel_class, breaks]
        )  # fmt: skip
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _ical(shifts: list[Shift], name: str) -> Response:
    from icalendar import Calendar, Event

    cal = Calendar()
    cal.add("prodid", "-//Sportello//Turni//IT")
    cal.add("version", "2.0")
    cal.add("x-wr-calname", name)
    for s in shifts:
        event = Event()
        event.add("uid", f"shift-{s.id}@sportello")
        event.add("summary", f"{name}: {s.channel_class}")
        event.add("dtstart", s.start_at.astimezone(UTC))
        event.add("dtend", s.end_at.astimezone(UTC))
        event.add("dtstamp", utcnow())
        breaks = ", ".join(
            f"{b['kind']} {datetime.fromisoformat(b['start_at']).astimezone(service.TZ):%H:%M}"
            for b in s.breaks
        )
        if breaks:
            event.add("description", breaks)
        cal.add_component(event)
    return Response(
        cal.to_ical(),
        media_type="text/calendar; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="turni.ics"'},
    )


@router.get("/wfm/schedules/{schedule_id}/export.csv", include_in_schema=False)
def schedule_csv(session: SessionDep, user: SupervisorUser, schedule_id: int) -> Response:
    schedule = service.get_schedule(session, schedule_id)
    audit.record(session, "schedule.exported", target=schedule, format="csv")
    return _csv(service.schedule_shifts(session, schedule), f"turni-{schedule.starts_on}.csv")


# --------------------------------------------------------------------------- my shifts


def _my_shifts(session: Session, user: User) -> list[Shift]:
    start = service.local_midnight(_today())
    return service.published_shifts(
        session, start=start, end=start + timedelta(days=42), user_id=user.id
    )


@router.get("/wfm/my-shifts", response_class=HTMLResponse, include_in_schema=False)
def my_shifts_page(request: Request, session: SessionDep, user: CurrentUser) -> Response:
    shifts = _my_shifts(session, user)
    weeks: dict[date, list[Shift]] = {}
    for s in shifts:
        weeks.setdefault(_monday(s.start_at.astimezone(service.TZ).date()), []).append(s)
    return render(
        request,
        "workforce/my_shifts.html",
        {"weeks": weeks, "tz": service.TZ, "today": _today(), "breaks": _break_times(shifts)},
    )


@router.get("/wfm/my-shifts.ics", include_in_schema=False)
def my_shifts_ical(session: SessionDep, user: CurrentUser) -> Response:
    return _ical(_my_shifts(session, user), "Turni Sportello")


@router.get("/wfm/my-shifts.csv", include_in_schema=False)
def my_shifts_csv(session: SessionDep, user: CurrentUser) -> Response:
    return _csv(_my_shifts(session, user), "turni.csv")


# --------------------------------------------------------------------------- adherence


def _adherence_context(
    session: Session, day: date, *, volume: float, absent: int
) -> dict[str, Any]:
    now = utcnow()
    start = service.local_midnight(day)
    end = min(now, service.local_midnight(day + timedelta(days=1)))
    rows = service.adherence(session, start=start, end=end) if end > start else []
    future = end <= start
    scheduled = sum(r.scheduled_minutes for r in rows)
    adherent = sum(r.adherent_minutes for r in rows)
    whatif = _whatif(session, day, volume=volume, absent=absent)
    return {
        "day": day,
        "is_today": day == _today(),
        "is_future": future,
        "rows": rows,
        "total": adherent / scheduled if scheduled else None,
        "volume": volume,
        "absent": absent,
        "whatif": whatif,
        "wfm_tab": "adherence",
        "prev_day": day - timedelta(days=1),
        "next_day": day + timedelta(days=1),
    }


def _whatif(session: Session, day: date, *, volume: float, absent: int) -> list[dict[str, Any]]:
    """Per queue and channel: the day's expected service level with the published shifts, as
    forecast and with the scenario (volume x ``volume``, ``absent`` agents fewer all day)."""
    brand_id = _brand_id(session)
    run = service.latest_run(session, brand_id)
    if run is None:
        return []
    start = service.local_midnight(day)
    end = service.local_midnight(day + timedelta(days=1))
    out = []
    shifts = service.published_shifts(session, start=start, end=end)
    reqs = service.requirements(session, run, start=start, end=end)
    now = utcnow()
    intraday = service.reforecast_today(session, run, reqs, now) if start <= now < end else {}
    planned: dict[tuple[int, str], float] = {}
    so_far: dict[tuple[int, str], tuple[float | None, float | None]] = {}
    for req in reqs:
        key = (req.queue_id, req.channel_class)
        planned[key] = float(req.contacts.sum())
        so_far[key] = (None, None)
        if key in intraday:
            req.contacts, actual, expected = intraday[key]
            so_far[key] = (actual, expected)
    # agents on a channel serve all its queues: each queue gets its share of the channel's work
    work_by_class: dict[str, np.ndarray] = {}
    for req in reqs:
        if req.starts:
            total = work_by_class.setdefault(req.channel_class, np.zeros(len(req.starts)))
            total += req.contacts * req.aht
    for req in reqs:
        if not req.starts or req.contacts.sum() <= 0:
            continue
        key = (req.queue_id, req.channel_class)
        planned_total = planned[key]
        actual_so_far, forecast_so_far = so_far[key]
        total = work_by_class[req.channel_class]
        with np.errstate(divide="ignore", invalid="ignore"):
            share = np.where(total > 0, req.contacts * req.aht / total, 0.0)
        on_class = service.coverage(shifts, req.starts, run.interval_minutes)[req.channel_class]
        on = on_class * share
        absent_share = absent * share
        base, scen = (
            staffing.service_level_with(
                contacts=req.contacts * factor,
                aht=req.aht,
                interval_seconds=run.interval_minutes * 60,
                channel_class=req.channel_class,
                plan=req.plan,
                scheduled_agents=np.maximum(on - away, 0),
            )
            for factor, away in ((1.0, 0.0 * share), (volume, absent_share))
        )
        weights = req.contacts / req.contacts.sum()
        out.append(
            {
                "queue": req.queue_name,
                "channel": req.channel_class,
                "model": req.model,
                "planned": planned_total,
                "contacts": float(req.contacts.sum()),
                "actual_so_far": actual_so_far,
                "forecast_so_far": forecast_so_far,
                "base": float((base * weights).sum()),
                "scenario": float((scen * weights).sum()),
                "worst": float(scen[req.contacts > 0].min()) if (req.contacts > 0).any() else 1.0,
            }
        )
    return out


@router.get("/wfm/adherence", response_class=HTMLResponse, include_in_schema=False)
def adherence_page(
    request: Request,
    session: SessionDep,
    user: SupervisorUser,
    day: Annotated[str | None, Query(max_length=10)] = None,
    volume: Annotated[float, Query(ge=0.1, le=5)] = 1.3,
    absent: Annotated[int, Query(ge=0, le=500)] = 2,
) -> Response:
    ctx = _adherence_context(session, _parse_day(day, _today()), volume=volume, absent=absent)
    if request.headers.get("hx-request"):
        return render(request, "workforce/_adherence_body.html", ctx)
    return render(request, "workforce/adherence.html", ctx)
