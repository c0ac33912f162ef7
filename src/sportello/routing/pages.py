"""Admin pages of routing: queues (list, create, rename, and each queue's settings), skills and
the skills matrix, capacity, pause reasons, business calendars, SLA policies."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from holidays.countries.italy import Italy
from starlette.datastructures import FormData

from sportello.accounts import service as accounts_service
from sportello.accounts.models import Team, User
from sportello.conversations.models import Priority
from sportello.core.db import SessionDep, utcnow
from sportello.core.errors import Conflict, InvalidInput, NotFound, SportelloError
from sportello.routing import actions, capacity, messages, presence, service, skills, sla
from sportello.routing.calendar import WEEKDAY_KEYS, BusinessCalendar
from sportello.routing.models import BusinessCalendarRow, Queue, SlaPolicy, TeamRouting
from sportello.web.auth import AdminUser, CsrfChecked, SupervisorUser
from sportello.web.helpers import form_error, see_other, translating
from sportello.web.render import render

router = APIRouter(dependencies=[CsrfChecked])


def _team(session: SessionDep, team_id: str) -> Team | None:
    if not team_id:
        return None
    team = session.get(Team, int(team_id)) if team_id.isdigit() else None
    if team is None:
        raise InvalidInput("choose a team", field="team_id")
    return team


def _page(request: Request, session: SessionDep, *, error: object = None) -> Response:
    return render(
        request,
        "routing/queues.html",
        {
            "queues": service.get_all(session),
            "modes": service.routing_modes(session),
            "teams": accounts_service.get_all_teams(session),
            "error": error,
            "admin_tab": "queues",
        },
        status_code=422 if error else 200,
    )


@router.get("/admin/queues", response_class=HTMLResponse, include_in_schema=False)
def queues(request: Request, session: SessionDep, user: SupervisorUser) -> Response:
    return _page(request, session)


@router.post("/admin/queues", response_class=HTMLResponse, include_in_schema=False)
def queue_create(
    request: Request,
    session: SessionDep,
    user: AdminUser,
    name: Annotated[str, Form(max_length=200)],
    team_id: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    try:
        queue = actions.do_create_queue(
            session,
            brand_id=accounts_service.default_brand(session).id,
            name=name,
            team=_team(session, team_id),
        )
    except (InvalidInput, Conflict) as exc:
        session.rollback()
        return _page(request, session, error=form_error(exc))
    return see_other(f"/admin/queues/{queue.id}")


@router.post("/admin/queues/{queue_id}", response_class=HTMLResponse, include_in_schema=False)
def queue_save(
    request: Request,
    session: SessionDep,
    user: AdminUser,
    queue_id: int,
    name: Annotated[str, Form(max_length=200)],
    team_id: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    queue = service.get(session, queue_id)
    try:
        actions.do_update_queue(session, queue=queue, name=name, team=_team(session, team_id))
    except (InvalidInput, Conflict) as exc:
        session.rollback()
        return _page(request, session, error=form_error(exc))
    return see_other("/admin/queues")


# =============================================================================================
# Routing settings: skills and the skills matrix, queue settings, capacity, pause reasons,
# business calendars, SLA policies. Supervisors look, admins change.
# =============================================================================================

CLASSES = capacity.CLASSES
WEEKDAYS = WEEKDAY_KEYS
RANGES_PER_DAY = 3
TIME_UNITS = {"minutes": 60, "hours": 3600}


def _brand_id(session: SessionDep) -> int:
    return accounts_service.default_brand(session).id


async def _posted_form(request: Request) -> FormData:
    """The whole posted form, for forms whose fields depend on the data (one per skill, per
    weekday range); parsed here so that the view stays a plain ``def``."""
    return await request.form()


PostedForm = Annotated[FormData, Depends(_posted_form)]


def _problem(request: Request, exc: SportelloError) -> dict[str, str | None]:
    """The error in the caller's language, with the field it belongs to (shown beside it)."""
    with translating(request):
        return {"message": messages.translated(exc), "field": getattr(exc, "field", None)}


def _admin_page(
    request: Request,
    template: str,
    context: dict[str, Any],
    *,
    tab: str,
    problem: dict[str, str | None] | None = None,
    fields: tuple[str, ...] = (),
) -> Response:
    """An admin page; an error whose field is on the form shows beside it, else at the top."""
    return render(
        request,
        template,
        {
            **context,
            "admin_tab": tab,
            "problem": problem,
            "problem_on_top": problem is not None and problem.get("field") not in fields,
        },
        status_code=422 if problem else 200,
    )


def _opt_int(value: str, field: str) -> int | None:
    value = value.strip()
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        raise messages.invalid(messages._("give a whole number"), field=field) from None


def _req_int(value: str, field: str) -> int:
    number = _opt_int(value, field)
    if number is None:
        raise messages.invalid(messages._("give a whole number"), field=field)
    return number


def _user(session: SessionDep, user_id: int) -> User:
    found = session.get(User, user_id)
    if found is None:
        raise NotFound("user not found")
    return found


# --------------------------------------------------------------------------------- skills


def _skills_page(
    request: Request, session: SessionDep, problem: dict[str, str | None] | None = None
) -> Response:
    brand_id = _brand_id(session)
    levels = service.skill_levels(session)
    counts: dict[int, int] = {}
    for _uid, sid in levels:
        counts[sid] = counts.get(sid, 0) + 1
    return _admin_page(
        request,
        "routing/skills.html",
        {
            "skills": service.skills(session, brand_id),
            "use": service.skill_use(session),
            "people": service.people(session),
            "levels": levels,
            "counts": counts,
            "max_level": skills.MAX_LEVEL,
        },
        tab="skills",
        problem=problem,
        fields=("name",),
    )


@router.get("/admin/skills", response_class=HTMLResponse, include_in_schema=False)
def skills_page(request: Request, session: SessionDep, user: SupervisorUser) -> Response:
    return _skills_page(request, session)


@router.post("/admin/skills", response_class=HTMLResponse, include_in_schema=False)
def skill_create(
    request: Request,
    session: SessionDep,
    user: AdminUser,
    name: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    try:
        skills.do_create_skill(session, brand_id=_brand_id(session), name=name)
    except (InvalidInput, Conflict) as exc:
        session.rollback()
        return _skills_page(request, session, _problem(request, exc))
    return see_other("/admin/skills")


@router.post("/admin/skills/{skill_id}", response_class=HTMLResponse, include_in_schema=False)
def skill_rename(
    request: Request,
    session: SessionDep,
    user: AdminUser,
    skill_id: int,
    name: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    try:
        skills.do_rename_skill(session, skill=service.get_skill(session, skill_id), name=name)
    except (InvalidInput, Conflict) as exc:
        session.rollback()
        problem = _problem(request, exc)
        problem["field"] = f"skill-{skill_id}"
        return _skills_page(request, session, problem)
    return see_other("/admin/skills")


@router.post(
    "/admin/skills/{skill_id}/delete", response_class=HTMLResponse, include_in_schema=False
)
def skill_delete(
    request: Request,
    session: SessionDep,
    user: AdminUser,
    skill_id: int,
    force: Annotated[str, Form(max_length=5)] = "",
) -> Response:
    skill = service.get_skill(session, skill_id)
    try:
        skills.do_delete_skill(session, skill=skill, force=force == "1")
    except Conflict as exc:
        session.rollback()
        problem = _problem(request, exc)
        problem["field"] = f"skill-{skill_id}"
        return _skills_page(request, session, problem)
    return see_other("/admin/skills")


@router.post(
    "/admin/skills/matrix/{user_id}/{skill_id}",
    response_class=HTMLResponse,
    include_in_schema=False,
)
def skill_level_set(
    request: Request,
    session: SessionDep,
    user: AdminUser,
    user_id: int,
    skill_id: int,
    level: Annotated[str, Form(max_length=3)] = "",
) -> Response:
    """One cell of the matrix (htmx): the cell comes back, saved or with its error."""
    person = _user(session, user_id)
    skill = service.get_skill(session, skill_id)
    problem = None
    try:
        skills.do_set_agent_skill(session, user=person, skill=skill, level=_opt_int(level, "level"))
    except InvalidInput as exc:
        session.rollback()
        problem = _problem(request, exc)
    current = skills.skills_of(session, person.id).get(skill.id)
    return render(
        request,
        "routing/_matrix_cell.html",
        {
            "person": person,
            "skill": skill,
            "level": current,
            "max_level": skills.MAX_LEVEL,
            "saved": problem is None,
            "problem": problem,
            "count": sum(1 for _uid, sid in service.skill_levels(session) if sid == skill.id),
        },
        status_code=200,
    )


# --------------------------------------------------------------------------------- queue settings


QUEUE_FIELDS = (
    "mode",
    "offer_timeout_seconds",
    "overflow_queue_id",
    "overflow_after_seconds",
    "calendar_id",
    "member_ids",
    "min_level",
    "skills",
    "move_to",
)


def _queue_page(
    request: Request,
    session: SessionDep,
    queue: Queue,
    problem: dict[str, str | None] | None = None,
    form: dict[str, Any] | None = None,
) -> Response:
    brand_id = _brand_id(session)
    settings = service.queue_settings(session, queue)
    return _admin_page(
        request,
        "routing/queue.html",
        {
            "queue": queue,
            "s": settings,
            "form": form or {},
            "queues": [q for q in service.get_all(session) if q.id != queue.id],
            "people": service.people(session),
            "skills": service.skills(session, brand_id),
            "calendars": service.calendars(session, brand_id),
            "team_members": list(queue.team.members) if queue.team else [],
            "max_level": skills.MAX_LEVEL,
            "min_timeout": actions.MIN_OFFER_TIMEOUT,
            "max_timeout": actions.MAX_OFFER_TIMEOUT,
        },
        tab="queues",
        problem=problem,
        fields=QUEUE_FIELDS,
    )


@router.get("/admin/queues/{queue_id}", response_class=HTMLResponse, include_in_schema=False)
def queue_settings_page(
    request: Request, session: SessionDep, user: SupervisorUser, queue_id: int
) -> Response:
    return _queue_page(request, session, service.get(session, queue_id))


@router.post(
    "/admin/queues/{queue_id}/routing", response_class=HTMLResponse, include_in_schema=False
)
def queue_settings_save(
    request: Request, session: SessionDep, user: AdminUser, queue_id: int, form: PostedForm
) -> Response:
    queue = service.get(session, queue_id)
    member_ids = [int(v) for v in form.getlist("member_ids") if isinstance(v, str) and v.isdigit()]
    values: dict[str, Any] = {k: str(form.get(k, "")) for k in form}
    values["member_ids"] = member_ids
    try:
        requirements: dict[int, int | None] = {}
        for skill in service.skills(session, queue.brand_id):
            raw = str(form.get(f"skill_{skill.id}", ""))
            requirements[skill.id] = _opt_int(raw, "min_level")
        overflow_queue_id = _opt_int(str(form.get("overflow_queue_id", "")), "overflow_queue_id")
        after_minutes = _opt_int(
            str(form.get("overflow_after_minutes", "")), "overflow_after_seconds"
        )
        actions.do_configure_queue(
            session,
            queue=queue,
            mode=str(form.get("mode", "push")),
            offer_timeout_seconds=_req_int(
                str(form.get("offer_timeout_seconds", "")), "offer_timeout_seconds"
            ),
            overflow_queue_id=overflow_queue_id,
            overflow_after_seconds=after_minutes * 60 if after_minutes is not None else None,
            calendar_id=_opt_int(str(form.get("calendar_id", "")), "calendar_id"),
            members=[_user(session, uid) for uid in member_ids],
            requirements=requirements,
        )
    except (InvalidInput, Conflict) as exc:
        session.rollback()
        return _queue_page(request, session, queue, _problem(request, exc), values)
    return see_other(f"/admin/queues/{queue.id}?saved=1")


@router.post(
    "/admin/queues/{queue_id}/delete", response_class=HTMLResponse, include_in_schema=False
)
def queue_delete(
    request: Request,
    session: SessionDep,
    user: AdminUser,
    queue_id: int,
    move_to: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    queue = service.get(session, queue_id)
    try:
        target_id = _opt_int(move_to, "move_to")
        target = service.get(session, target_id) if target_id is not None else None
        actions.do_delete_queue(session, queue=queue, move_to=target, by=user)
    except (InvalidInput, Conflict) as exc:
        session.rollback()
        return _queue_page(request, session, queue, _problem(request, exc))
    return see_other("/admin/queues")


# --------------------------------------------------------------------------------- capacity


def _capacity_page(
    request: Request, session: SessionDep, problem: dict[str, str | None] | None = None
) -> Response:
    people = service.people(session)
    own = service.agent_capacities(session)
    effective = capacity.limits_for(session, [p.id for p in people]) if people else {}
    return _admin_page(
        request,
        "routing/capacity.html",
        {
            "teams": accounts_service.get_all_teams(session),
            "team_routing": service.team_routing(session),
            "people": people,
            "own": own,
            "effective": effective,
            "active": service.active_counts(session),
            "states": service.agent_states(session),
            "reasons": {r.id: r.name for r in service.pause_reasons(session, _brand_id(session))},
            "classes": CLASSES,
            "defaults": capacity.DEFAULT_CAPACITY,
            "max_per_class": capacity.MAX_PER_CLASS,
        },
        tab="capacity",
        problem=problem,
    )


@router.get("/admin/capacity", response_class=HTMLResponse, include_in_schema=False)
def capacity_page(request: Request, session: SessionDep, user: SupervisorUser) -> Response:
    return _capacity_page(request, session)


def _capacity_form(form: FormData, previous: dict[str, Any]) -> dict[str, Any]:
    """The four numbers of a capacity row (blank: inherit); the combined rule is kept."""
    config: dict[str, Any] = {}
    for cls in CLASSES:
        number = _opt_int(str(form.get(cls, "")), cls)
        if number is not None:
            config[cls] = number
    if "blocks" in previous:
        config["blocks"] = previous["blocks"]
    return config


@router.post(
    "/admin/capacity/teams/{team_id}", response_class=HTMLResponse, include_in_schema=False
)
def team_capacity_save(
    request: Request, session: SessionDep, user: AdminUser, team_id: int, form: PostedForm
) -> Response:
    team = session.get(Team, team_id)
    if team is None:
        raise NotFound("team not found")
    row = session.get(TeamRouting, team_id)
    try:
        config = _capacity_form(form, dict(row.capacity) if row else {})
        capacity.do_set_team_capacity(session, team_id=team.id, capacity=config)
    except InvalidInput as exc:
        session.rollback()
        problem = _problem(request, exc)
        problem["field"] = f"team-{team_id}"
        return _capacity_page(request, session, problem)
    return see_other("/admin/capacity")


@router.post(
    "/admin/capacity/agents/{user_id}", response_class=HTMLResponse, include_in_schema=False
)
def agent_capacity_save(
    request: Request, session: SessionDep, user: AdminUser, user_id: int, form: PostedForm
) -> Response:
    person = _user(session, user_id)
    own = service.agent_capacities(session)
    try:
        config = _capacity_form(form, dict(own.get(person.id) or {}))
        capacity.do_set_agent_capacity(session, user=person, capacity=config)
    except InvalidInput as exc:
        session.rollback()
        problem = _problem(request, exc)
        problem["field"] = f"agent-{user_id}"
        return _capacity_page(request, session, problem)
    return see_other("/admin/capacity")


@router.post(
    "/admin/capacity/agents/{user_id}/release",
    response_class=HTMLResponse,
    include_in_schema=False,
)
def agent_release(request: Request, session: SessionDep, user: AdminUser, user_id: int) -> Response:
    """Hand an absent agent's open conversations and offers back to their queues."""
    actions.do_release_agent(session, user=_user(session, user_id), by=user)
    return see_other("/admin/capacity")


# --------------------------------------------------------------------------------- pause reasons


def _pauses_page(
    request: Request, session: SessionDep, problem: dict[str, str | None] | None = None
) -> Response:
    return _admin_page(
        request,
        "routing/pauses.html",
        {"reasons": service.pause_reasons(session, _brand_id(session))},
        tab="pauses",
        problem=problem,
        fields=("name",),
    )


@router.get("/admin/pause-reasons", response_class=HTMLResponse, include_in_schema=False)
def pauses_page(request: Request, session: SessionDep, user: SupervisorUser) -> Response:
    return _pauses_page(request, session)


@router.post("/admin/pause-reasons", response_class=HTMLResponse, include_in_schema=False)
def pause_create(
    request: Request,
    session: SessionDep,
    user: AdminUser,
    name: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    try:
        presence.do_create_pause_reason(session, brand_id=_brand_id(session), name=name)
    except InvalidInput as exc:
        session.rollback()
        return _pauses_page(request, session, _problem(request, exc))
    return see_other("/admin/pause-reasons")


@router.post(
    "/admin/pause-reasons/{reason_id}/retire",
    response_class=HTMLResponse,
    include_in_schema=False,
)
def pause_retire(
    request: Request, session: SessionDep, user: AdminUser, reason_id: int
) -> Response:
    presence.do_retire_pause_reason(session, reason=service.get_pause_reason(session, reason_id))
    return see_other("/admin/pause-reasons")


# --------------------------------------------------------------------------------- calendars

DEFAULT_HOURS: dict[str, list[list[str]]] = {
    day: [["09:00", "18:00"]] for day in ("mon", "tue", "wed", "thu", "fri")
}


def provinces() -> list[tuple[str, str]]:
    """(code, name) of the Italian provinces and cities with a patron-saint holiday."""
    names: dict[str, str] = {}
    for alias, code in Italy.subdivisions_aliases.items():
        names.setdefault(code, alias)
    return sorted(((c, names.get(c, c)) for c in Italy.subdivisions), key=lambda p: p[1])


def _calendars_page(
    request: Request, session: SessionDep, problem: dict[str, str | None] | None = None
) -> Response:
    brand_id = _brand_id(session)
    rows = service.calendars(session, brand_id)
    return _admin_page(
        request,
        "routing/calendars.html",
        {
            "calendars": rows,
            "parsed": {row.id: BusinessCalendar.from_dict(row.config) for row in rows},
            "teams": accounts_service.get_all_teams(session),
            "team_routing": service.team_routing(session),
            "weekdays": WEEKDAYS,
        },
        tab="calendars",
        problem=problem,
        fields=("name",),
    )


@router.get("/admin/calendars", response_class=HTMLResponse, include_in_schema=False)
def calendars_page(request: Request, session: SessionDep, user: SupervisorUser) -> Response:
    return _calendars_page(request, session)


@router.post("/admin/calendars", response_class=HTMLResponse, include_in_schema=False)
def calendar_create(
    request: Request,
    session: SessionDep,
    user: AdminUser,
    name: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """A new calendar opens Monday to Friday 9-18 with Italy's holidays; edit it next."""
    try:
        row = sla.do_create_calendar(
            session,
            brand_id=_brand_id(session),
            name=name,
            config={"weekly": DEFAULT_HOURS, "country_holidays": True},
        )
    except (InvalidInput, Conflict) as exc:
        session.rollback()
        return _calendars_page(request, session, _problem(request, exc))
    return see_other(f"/admin/calendars/{row.id}")


@router.post("/admin/calendars/teams", response_class=HTMLResponse, include_in_schema=False)
def team_calendars_save(
    request: Request, session: SessionDep, user: AdminUser, form: PostedForm
) -> Response:
    try:
        for team in accounts_service.get_all_teams(session):
            raw = str(form.get(f"team_{team.id}", ""))
            sla.do_set_team_calendar(
                session, team_id=team.id, calendar_id=_opt_int(raw, "calendar_id")
            )
    except InvalidInput as exc:
        session.rollback()
        return _calendars_page(request, session, _problem(request, exc))
    return see_other("/admin/calendars")


CALENDAR_FIELDS = ("name", "weekly", "config", "closures", "patron_day", "subdiv")


def _calendar_page(
    request: Request,
    session: SessionDep,
    row: BusinessCalendarRow,
    problem: dict[str, str | None] | None = None,
    *,
    year: int | None = None,
    form: dict[str, Any] | None = None,
) -> Response:
    calendar = BusinessCalendar.from_dict(row.config)
    year = year or utcnow().astimezone(calendar.tz).year
    config = calendar.to_dict()
    return _admin_page(
        request,
        "routing/calendar.html",
        {
            "row": row,
            "config": config,
            "form": form,
            "weekdays": WEEKDAYS,
            "ranges": RANGES_PER_DAY,
            "year": year,
            "holidays": calendar.holidays(year),
            "closures": [
                (n, sla.closure_label(a, b)) for n, (a, b) in enumerate(calendar.closures)
            ],
            "provinces": provinces(),
            "teams": [
                t
                for t in accounts_service.get_all_teams(session)
                if (tr := service.team_routing(session).get(t.id)) and tr.calendar_id == row.id
            ],
        },
        tab="calendars",
        problem=problem,
        fields=CALENDAR_FIELDS,
    )


@router.get("/admin/calendars/{calendar_id}", response_class=HTMLResponse, include_in_schema=False)
def calendar_page(
    request: Request,
    session: SessionDep,
    user: SupervisorUser,
    calendar_id: int,
    year: Annotated[int | None, Query(ge=1970, le=2100)] = None,
) -> Response:
    return _calendar_page(request, session, service.get_calendar(session, calendar_id), year=year)


def _clock(value: str) -> int:
    """Minutes after midnight of ``9:00`` / ``09:00`` / ``24:00``; ``ValueError`` otherwise."""
    hours_s, minutes_s = value.replace(".", ":").split(":")
    hours, minutes = int(hours_s), int(minutes_s)
    if not (0 <= hours <= 24 and 0 <= minutes < 60) or (hours == 24 and minutes):
        raise ValueError(value)
    return hours * 60 + minutes


def weekly_from_form(form: Any) -> dict[str, list[list[str]]]:
    """``mon_0_start`` / ``mon_0_end`` ... into ``{"mon": [["09:00", "13:00"], ...]}``; a range
    with only one end filled in is an error (nothing is guessed)."""
    weekly: dict[str, list[list[str]]] = {}
    for day in WEEKDAYS:
        ranges = []
        for n in range(RANGES_PER_DAY):
            start = str(form.get(f"{day}_{n}_start", "")).strip()
            end = str(form.get(f"{day}_{n}_end", "")).strip()
            if not start and not end:
                continue
            if not start or not end:
                raise messages.invalid(
                    messages._("give both the opening and the closing time of each range"),
                    field="weekly",
                )
            try:
                opens, closes = _clock(start), _clock(end)
            except ValueError:
                raise messages.invalid(
                    messages._("write times as hours:minutes, e.g. 9:00 or 18:30"),
                    field="weekly",
                ) from None
            closes = closes or 24 * 60  # 00:00 as an end is midnight
            if closes <= opens:
                raise messages.invalid(
                    messages._("a range closes after it opens (%(start)s–%(end)s)"),
                    field="weekly",
                    start=start,
                    end=end,
                )
            ranges.append(
                [f"{opens // 60:02d}:{opens % 60:02d}", f"{closes // 60:02d}:{closes % 60:02d}"]
            )
        if ranges:
            weekly[day] = ranges
    if not weekly:
        raise messages.invalid(messages._("open at least one range in the week"), field="weekly")
    return weekly


def _patron(value: str) -> list[int] | None:
    value = value.strip()
    if not value:
        return None
    try:
        day_s, month_s = value.replace("-", "/").split("/")
        day, month = int(day_s), int(month_s)
        date(2000, month, day)
    except ValueError:
        raise messages.invalid(
            messages._("write the patron saint's day as day/month, e.g. 7/12"),
            field="patron_day",
        ) from None
    return [month, day]


@router.post("/admin/calendars/{calendar_id}", response_class=HTMLResponse, include_in_schema=False)
def calendar_save(
    request: Request, session: SessionDep, user: AdminUser, calendar_id: int, form: PostedForm
) -> Response:
    row = service.get_calendar(session, calendar_id)
    config = dict(row.config)
    try:
        config["weekly"] = weekly_from_form(form)
        config["country_holidays"] = form.get("country_holidays") == "1"
        config["subdiv"] = str(form.get("subdiv", "")) or None
        config["patron_day"] = _patron(str(form.get("patron_day", "")))
        sla.do_update_calendar(session, calendar=row, config=config, name=str(form.get("name", "")))
    except (InvalidInput, Conflict) as exc:
        session.rollback()
        return _calendar_page(
            request,
            session,
            service.get_calendar(session, calendar_id),
            _problem(request, exc),
            form={k: str(form.get(k, "")) for k in form},
        )
    return see_other(f"/admin/calendars/{calendar_id}?saved=1")


@router.post(
    "/admin/calendars/{calendar_id}/closures",
    response_class=HTMLResponse,
    include_in_schema=False,
)
def calendar_closure_add(
    request: Request,
    session: SessionDep,
    user: AdminUser,
    calendar_id: int,
    start: Annotated[str, Form(max_length=20)] = "",
    end: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    """A closure from one day to another, both included."""
    row = service.get_calendar(session, calendar_id)
    try:
        config = dict(row.config)
        config["closures"] = [*config.get("closures", []), closure_from_dates(start, end)]
        sla.do_update_calendar(session, calendar=row, config=config)
    except InvalidInput as exc:
        session.rollback()
        return _calendar_page(
            request, session, service.get_calendar(session, calendar_id), _problem(request, exc)
        )
    return see_other(f"/admin/calendars/{calendar_id}#closures")


def closure_from_dates(start: str, end: str) -> dict[str, str]:
    try:
        first = date.fromisoformat(start.strip())
        last = date.fromisoformat((end or start).strip())
    except ValueError:
        raise messages.invalid(
            messages._("give the first and the last day of the closure"), field="closures"
        ) from None
    if last < first:
        raise messages.invalid(
            messages._("the last day of a closure comes after the first"), field="closures"
        )
    return {"start": first.isoformat(), "end": last.isoformat()}


@router.post(
    "/admin/calendars/{calendar_id}/closures/{index}/delete",
    response_class=HTMLResponse,
    include_in_schema=False,
)
def calendar_closure_delete(
    request: Request, session: SessionDep, user: AdminUser, calendar_id: int, index: int
) -> Response:
    row = service.get_calendar(session, calendar_id)
    closures = list(BusinessCalendar.from_dict(row.config).to_dict()["closures"])
    if not 0 <= index < len(closures):
        raise NotFound("closure not found")
    del closures[index]
    sla.do_update_calendar(session, calendar=row, config={**row.config, "closures": closures})
    return see_other(f"/admin/calendars/{calendar_id}#closures")


# --------------------------------------------------------------------------------- SLA policies

SLA_FIELDS = (
    "name",
    "first_response_seconds",
    "next_response_seconds",
    "resolution_seconds",
    "targets",
    "warning",
    "queue_id",
    "channel_id",
    "priority",
    "calendar_id",
    "escalate_queue_id",
)


def _sla_page(
    request: Request,
    session: SessionDep,
    *,
    editing: SlaPolicy | None = None,
    problem: dict[str, str | None] | None = None,
    form: dict[str, str] | None = None,
) -> Response:
    brand_id = _brand_id(session)
    return _admin_page(
        request,
        "routing/sla.html",
        {
            "policies": service.sla_policies(session, brand_id),
            "editing": editing,
            "form": form if form is not None else (sla_form_values(editing) if editing else {}),
            "queues": service.get_all(session),
            "channels": service.channels(session, brand_id),
            "calendars": service.calendars(session, brand_id),
            "priorities": [p.value for p in Priority],
        },
        tab="sla",
        problem=problem,
        fields=SLA_FIELDS,
    )


def sla_form_values(policy: SlaPolicy) -> dict[str, str]:
    """A policy as the form shows it (targets in the largest whole unit)."""

    def split(seconds: int | None) -> tuple[str, str]:
        if seconds is None:
            return "", "minutes"
        if seconds % 3600 == 0:
            return str(seconds // 3600), "hours"
        return str(max(1, seconds // 60)), "minutes"

    first, first_unit = split(policy.first_response_seconds)
    following, following_unit = split(policy.next_response_seconds)
    resolution, resolution_unit = split(policy.resolution_seconds)
    return {
        "name": policy.name,
        "queue_id": str(policy.queue_id or ""),
        "channel_id": str(policy.channel_id or ""),
        "priority": policy.priority or "",
        "first_response": first,
        "first_response_unit": first_unit,
        "next_response": following,
        "next_response_unit": following_unit,
        "resolution": resolution,
        "resolution_unit": resolution_unit,
        "calendar_id": str(policy.calendar_id or ""),
        "warning_percent": str(round(policy.warning_fraction * 100)),
        "escalate_priority": "1" if policy.escalate_priority else "",
        "escalate_queue_id": str(policy.escalate_queue_id or ""),
        "notify_supervisor": "1" if policy.notify_supervisor else "",
        "position": str(policy.position),
    }


def sla_fields_from_form(form: dict[str, str]) -> dict[str, Any]:
    def target(name: str) -> int | None:
        amount = _opt_int(form.get(name, ""), f"{name}_seconds")
        if amount is None:
            return None
        return amount * TIME_UNITS.get(form.get(f"{name}_unit", "minutes"), 60)

    percent = _opt_int(form.get("warning_percent", "80"), "warning") or 0
    return {
        "name": form.get("name", ""),
        "queue_id": _opt_int(form.get("queue_id", ""), "queue_id"),
        "channel_id": _opt_int(form.get("channel_id", ""), "channel_id"),
        "priority": form.get("priority") or None,
        "first_response_seconds": target("first_response"),
        "next_response_seconds": target("next_response"),
        "resolution_seconds": target("resolution"),
        "calendar_id": _opt_int(form.get("calendar_id", ""), "calendar_id"),
        "warning_fraction": percent / 100,
        "escalate_priority": form.get("escalate_priority") == "1",
        "escalate_queue_id": _opt_int(form.get("escalate_queue_id", ""), "escalate_queue_id"),
        "notify_supervisor": form.get("notify_supervisor") == "1",
        "position": _opt_int(form.get("position", ""), "position") or 0,
    }


@router.get("/admin/sla", response_class=HTMLResponse, include_in_schema=False)
def sla_page(request: Request, session: SessionDep, user: SupervisorUser) -> Response:
    return _sla_page(request, session)


@router.get("/admin/sla/{policy_id}", response_class=HTMLResponse, include_in_schema=False)
def sla_edit_page(
    request: Request, session: SessionDep, user: SupervisorUser, policy_id: int
) -> Response:
    return _sla_page(request, session, editing=service.get_sla_policy(session, policy_id))


def _form_dict(form: FormData) -> dict[str, str]:
    return {k: v for k, v in form.items() if isinstance(v, str)}


@router.post("/admin/sla", response_class=HTMLResponse, include_in_schema=False)
def sla_create(
    request: Request, session: SessionDep, user: AdminUser, posted: PostedForm
) -> Response:
    form = _form_dict(posted)
    try:
        sla.do_create_sla_policy(session, brand_id=_brand_id(session), **sla_fields_from_form(form))
    except (InvalidInput, Conflict) as exc:
        session.rollback()
        return _sla_page(request, session, problem=_problem(request, exc), form=form)
    return see_other("/admin/sla")


@router.post("/admin/sla/{policy_id}", response_class=HTMLResponse, include_in_schema=False)
def sla_save(
    request: Request, session: SessionDep, user: AdminUser, policy_id: int, posted: PostedForm
) -> Response:
    form = _form_dict(posted)
    policy = service.get_sla_policy(session, policy_id)
    try:
        sla.do_update_sla_policy(session, policy=policy, **sla_fields_from_form(form))
    except (InvalidInput, Conflict) as exc:
        session.rollback()
        return _sla_page(
            request,
            session,
            editing=service.get_sla_policy(session, policy_id),
            problem=_problem(request, exc),
            form=form,
        )
    return see_other("/admin/sla")


@router.post("/admin/sla/{policy_id}/retire", response_class=HTMLResponse, include_in_schema=False)
def sla_retire(request: Request, session: SessionDep, user: AdminUser, policy_id: int) -> Response:
    sla.do_retire_sla_policy(session, policy=service.get_sla_policy(session, policy_id))
    return see_other("/admin/sla")
