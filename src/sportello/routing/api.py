"""REST API v1 of the routing settings: skills and levels, queue routing, capacity, pause reasons,
business calendars, SLA policies. Supervisors (and read tokens of supervisors) read; admins
(admin-scoped tokens) write. Agents get 403."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import Depends, Query, Response
from sqlalchemy.orm import Session

from sportello.accounts import service as accounts_service
from sportello.accounts.models import Team, User
from sportello.core.access import require_supervisor
from sportello.core.db import SessionDep, utcnow
from sportello.core.errors import NotFound
from sportello.routing import actions, capacity, presence, service, skills, sla
from sportello.routing.calendar import BusinessCalendar
from sportello.routing.models import BusinessCalendarRow, TeamRouting
from sportello.routing.schemas import (
    AgentLevel,
    CalendarRead,
    CalendarWrite,
    Capacity,
    Closure,
    Holiday,
    PauseReasonRead,
    PauseReasonWrite,
    QueueRoutingRead,
    QueueRoutingWrite,
    Released,
    Requirement,
    SkillLevel,
    SkillMatrix,
    SkillRead,
    SkillWrite,
    SlaPolicyRead,
    SlaPolicyWrite,
    TeamCalendar,
)
from sportello.web.api import AdminCaller, ReadCaller, api_router, problem_response
from sportello.web.auth import ApiCaller

router = api_router("routing settings")
CONFLICT: dict[int | str, dict[str, Any]] = {
    409: problem_response("In use, or the name is taken: `detail` says by what")
}


def _supervisor(caller: ReadCaller) -> ApiCaller:
    require_supervisor(caller.user)
    return caller


SupervisorCaller = Annotated[ApiCaller, Depends(_supervisor)]


def _brand_id(session: Session) -> int:
    return accounts_service.default_brand(session).id


def _user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound("user not found")
    return user


def _team(session: Session, team_id: int) -> Team:
    team = session.get(Team, team_id)
    if team is None:
        raise NotFound("team not found")
    return team


# ------------------------------------------------------------------------------------- skills


@router.get("/skills", summary="Skills and every person's levels", response_model=SkillMatrix)
def list_skills(session: SessionDep, caller: SupervisorCaller) -> SkillMatrix:
    return SkillMatrix(
        skills=[SkillRead.model_validate(s) for s in service.skills(session, _brand_id(session))],
        levels=[
            AgentLevel(user_id=uid, skill_id=sid, level=level)
            for (uid, sid), level in sorted(service.skill_levels(session).items())
        ],
    )


@router.post(
    "/skills", summary="Create a skill", status_code=201, response_model=SkillRead,
    responses=CONFLICT,
)  # fmt: skip
def create_skill(body: SkillWrite, session: SessionDep, caller: AdminCaller) -> SkillRead:
    return SkillRead.model_validate(
        skills.do_create_skill(session, brand_id=_brand_id(session), name=body.name)
    )


@router.patch(
    "/skills/{skill_id}", summary="Rename a skill", response_model=SkillRead, responses=CONFLICT
)
def rename_skill(
    skill_id: int, body: SkillWrite, session: SessionDep, caller: AdminCaller
) -> SkillRead:
    skill = service.get_skill(session, skill_id)
    return SkillRead.model_validate(skills.do_rename_skill(session, skill=skill, name=body.name))


@router.delete(
    "/skills/{skill_id}",
    summary="Delete a skill (409 naming the queues that require it, unless force=true)",
    status_code=204,
    responses=CONFLICT,
)
def delete_skill(
    skill_id: int,
    session: SessionDep,
    caller: AdminCaller,
    force: Annotated[bool, Query(description="Drop it from the queues that require it")] = False,
) -> Response:
    skills.do_delete_skill(session, skill=service.get_skill(session, skill_id), force=force)
    return Response(status_code=204)


@router.put(
    "/users/{user_id}/skills/{skill_id}",
    summary="Set a person's level on a skill (null takes it away)",
    status_code=204,
)
def set_level(
    user_id: int, skill_id: int, body: SkillLevel, session: SessionDep, caller: AdminCaller
) -> Response:
    skills.do_set_agent_skill(
        session,
        user=_user(session, user_id),
        skill=service.get_skill(session, skill_id),
        level=body.level,
    )
    return Response(status_code=204)


# ------------------------------------------------------------------------------------- queues


def _queue_routing(session: Session, queue_id: int) -> QueueRoutingRead:
    s = service.queue_settings(session, service.get(session, queue_id))
    return QueueRoutingRead(
        queue_id=queue_id,
        mode="auto" if s.mode == "auto" else "push",
        offer_timeout_seconds=s.offer_timeout_seconds,
        overflow_queue_id=s.overflow_queue_id,
        overflow_after_seconds=s.overflow_after_seconds,
        calendar_id=s.calendar_id,
        member_ids=s.member_ids,
        requirements=[
            Requirement(skill_id=sid, min_level=level) for sid, level in s.requirements.items()
        ],
    )


@router.get(
    "/queues/{queue_id}/routing", summary="How a queue routes", response_model=QueueRoutingRead
)
def get_queue_routing(
    queue_id: int, session: SessionDep, caller: SupervisorCaller
) -> QueueRoutingRead:
    return _queue_routing(session, queue_id)


@router.put(
    "/queues/{queue_id}/routing",
    summary="Set how a queue routes: mode, timeout, overflow, calendar, members, skills",
    response_model=QueueRoutingRead,
)
def set_queue_routing(
    queue_id: int, body: QueueRoutingWrite, session: SessionDep, caller: AdminCaller
) -> QueueRoutingRead:
    queue = service.get(session, queue_id)
    wanted = {r.skill_id: r.min_level for r in body.requirements}
    requirements: dict[int, int | None] = {
        s.id: wanted.pop(s.id, None) for s in service.skills(session, queue.brand_id)
    }
    requirements.update(wanted)  # unknown skill ids: refused by the action
    actions.do_configure_queue(
        session,
        queue=queue,
        mode=body.mode,
        offer_timeout_seconds=body.offer_timeout_seconds,
        overflow_queue_id=body.overflow_queue_id,
        overflow_after_seconds=body.overflow_after_seconds,
        calendar_id=body.calendar_id,
        members=[_user(session, uid) for uid in body.member_ids],
        requirements=requirements,
    )
    session.flush()
    return _queue_routing(session, queue_id)


@router.delete(
    "/queues/{queue_id}",
    summary="Delete a queue (409 while channels or open conversations use it, unless move_to)",
    status_code=204,
    responses=CONFLICT,
)
def delete_queue(
    queue_id: int,
    session: SessionDep,
    caller: AdminCaller,
    move_to: Annotated[
        int | None, Query(description="Queue that takes its conversations and channels")
    ] = None,
) -> Response:
    target = service.get(session, move_to) if move_to is not None else None
    actions.do_delete_queue(
        session, queue=service.get(session, queue_id), move_to=target, by=caller.user
    )
    return Response(status_code=204)


# ------------------------------------------------------------------------------------- capacity


def _capacity(config: dict[str, Any] | None) -> Capacity:
    config = config or {}
    return Capacity(**{c: config.get(c) for c in capacity.CLASSES})


def _merged(body: Capacity, previous: dict[str, Any] | None) -> dict[str, Any]:
    config: dict[str, Any] = {k: v for k, v in body.model_dump().items() if v is not None}
    if previous and "blocks" in previous:
        config["blocks"] = previous["blocks"]
    return config


@router.get("/teams/{team_id}/capacity", summary="A team's capacity", response_model=Capacity)
def get_team_capacity(team_id: int, session: SessionDep, caller: SupervisorCaller) -> Capacity:
    row = session.get(TeamRouting, _team(session, team_id).id)
    return _capacity(row.capacity if row else None)


@router.put("/teams/{team_id}/capacity", summary="Set a team's capacity", response_model=Capacity)
def set_team_capacity(
    team_id: int, body: Capacity, session: SessionDep, caller: AdminCaller
) -> Capacity:
    team = _team(session, team_id)
    row = session.get(TeamRouting, team.id)
    capacity.do_set_team_capacity(
        session, team_id=team.id, capacity=_merged(body, row.capacity if row else None)
    )
    return _capacity(session.get_one(TeamRouting, team.id).capacity)


@router.get(
    "/users/{user_id}/capacity",
    summary="A person's own capacity (null: inherited)",
    response_model=Capacity,
)
def get_user_capacity(user_id: int, session: SessionDep, caller: SupervisorCaller) -> Capacity:
    return _capacity(service.agent_capacities(session).get(_user(session, user_id).id))


@router.put(
    "/users/{user_id}/capacity", summary="Set a person's own capacity", response_model=Capacity
)
def set_user_capacity(
    user_id: int, body: Capacity, session: SessionDep, caller: AdminCaller
) -> Capacity:
    user = _user(session, user_id)
    previous = service.agent_capacities(session).get(user.id)
    config = _merged(body, previous)
    capacity.do_set_agent_capacity(session, user=user, capacity=config)
    return _capacity(config)


@router.post(
    "/users/{user_id}/release",
    summary="Put a person's open conversations and offers back in their queues; set them offline",
    response_model=Released,
)
def release_user(user_id: int, session: SessionDep, caller: AdminCaller) -> Released:
    count = actions.do_release_agent(session, user=_user(session, user_id), by=caller.user)
    return Released(released=count)


# ------------------------------------------------------------------------------------- pauses


@router.get("/pause-reasons", summary="Pause reasons", response_model=list[PauseReasonRead])
def list_pause_reasons(session: SessionDep, caller: SupervisorCaller) -> list[PauseReasonRead]:
    return [
        PauseReasonRead.model_validate(r)
        for r in service.pause_reasons(session, _brand_id(session))
    ]


@router.post(
    "/pause-reasons",
    summary="Create a pause reason (or bring a retired one back)",
    status_code=201,
    response_model=PauseReasonRead,
)
def create_pause_reason(
    body: PauseReasonWrite, session: SessionDep, caller: AdminCaller
) -> PauseReasonRead:
    reason = presence.do_create_pause_reason(session, brand_id=_brand_id(session), name=body.name)
    return PauseReasonRead.model_validate(reason)


@router.delete(
    "/pause-reasons/{reason_id}",
    summary="Retire a pause reason (the history keeps it)",
    status_code=204,
)
def retire_pause_reason(reason_id: int, session: SessionDep, caller: AdminCaller) -> Response:
    presence.do_retire_pause_reason(session, reason=service.get_pause_reason(session, reason_id))
    return Response(status_code=204)


# ------------------------------------------------------------------------------------- calendars


def _calendar_config(body: CalendarWrite) -> dict[str, Any]:
    return {
        "weekly": {day: [list(r) for r in ranges] for day, ranges in body.weekly.items()},
        "country_holidays": body.country_holidays,
        "subdiv": body.subdiv,
        "patron_day": list(body.patron_day) if body.patron_day else None,
        "closures": [
            {"start": c.start.isoformat(), "end": c.end.isoformat()} for c in body.closures
        ],
    }


def _calendar_read(row: BusinessCalendarRow) -> CalendarRead:
    calendar = BusinessCalendar.from_dict(row.config)
    config = calendar.to_dict()
    closures = [
        Closure(start=start.date(), end=(end - timedelta(microseconds=1)).date())
        for start, end in calendar.closures
    ]
    year = utcnow().astimezone(calendar.tz).year
    return CalendarRead(
        id=row.id,
        name=row.name,
        weekly={
            day: [(a, b) for a, b in ranges] for day, ranges in config["weekly"].items() if ranges
        },
        country_holidays=config["country_holidays"],
        subdiv=config["subdiv"],
        patron_day=tuple(config["patron_day"]) if config["patron_day"] else None,
        closures=closures,
        holidays=[Holiday(day=d, name=n) for d, n in calendar.holidays(year)],
    )


@router.get("/calendars", summary="Business calendars", response_model=list[CalendarRead])
def list_calendars(session: SessionDep, caller: SupervisorCaller) -> list[CalendarRead]:
    return [_calendar_read(row) for row in service.calendars(session, _brand_id(session))]


@router.get("/calendars/{calendar_id}", summary="A business calendar", response_model=CalendarRead)
def get_calendar(calendar_id: int, session: SessionDep, caller: SupervisorCaller) -> CalendarRead:
    return _calendar_read(service.get_calendar(session, calendar_id))


@router.post(
    "/calendars",
    summary="Create a business calendar (overlapping hours or closures: 422)",
    status_code=201,
    response_model=CalendarRead,
    responses=CONFLICT,
)
def create_calendar(body: CalendarWrite, session: SessionDep, caller: AdminCaller) -> CalendarRead:
    row = sla.do_create_calendar(
        session, brand_id=_brand_id(session), name=body.name, config=_calendar_config(body)
    )
    return _calendar_read(row)


@router.put(
    "/calendars/{calendar_id}",
    summary="Replace a business calendar (running SLA clocks keep their copy)",
    response_model=CalendarRead,
    responses=CONFLICT,
)
def update_calendar(
    calendar_id: int, body: CalendarWrite, session: SessionDep, caller: AdminCaller
) -> CalendarRead:
    row = service.get_calendar(session, calendar_id)
    sla.do_update_calendar(session, calendar=row, config=_calendar_config(body), name=body.name)
    return _calendar_read(row)


@router.put(
    "/teams/{team_id}/calendar",
    summary="Set the calendar a team's queues count in (null: always open)",
    response_model=TeamCalendar,
)
def set_team_calendar(
    team_id: int, body: TeamCalendar, session: SessionDep, caller: AdminCaller
) -> TeamCalendar:
    sla.do_set_team_calendar(
        session, team_id=_team(session, team_id).id, calendar_id=body.calendar_id
    )
    return body


# ------------------------------------------------------------------------------------- SLA


@router.get("/sla-policies", summary="SLA policies", response_model=list[SlaPolicyRead])
def list_sla_policies(session: SessionDep, caller: SupervisorCaller) -> list[SlaPolicyRead]:
    return [
        SlaPolicyRead.model_validate(p) for p in service.sla_policies(session, _brand_id(session))
    ]


@router.post(
    "/sla-policies",
    summary="Create an SLA policy (a target of 0 or less: 422)",
    status_code=201,
    response_model=SlaPolicyRead,
)
def create_sla_policy(
    body: SlaPolicyWrite, session: SessionDep, caller: AdminCaller
) -> SlaPolicyRead:
    policy = sla.do_create_sla_policy(session, brand_id=_brand_id(session), **body.model_dump())
    return SlaPolicyRead.model_validate(policy)


@router.put(
    "/sla-policies/{policy_id}", summary="Replace an SLA policy", response_model=SlaPolicyRead
)
def update_sla_policy(
    policy_id: int, body: SlaPolicyWrite, session: SessionDep, caller: AdminCaller
) -> SlaPolicyRead:
    policy = service.get_sla_policy(session, policy_id)
    sla.do_update_sla_policy(session, policy=policy, **body.model_dump())
    return SlaPolicyRead.model_validate(policy)


@router.delete(
    "/sla-policies/{policy_id}",
    summary="Retire an SLA policy (clocks already running finish)",
    status_code=204,
)
def retire_sla_policy(policy_id: int, session: SessionDep, caller: AdminCaller) -> Response:
    sla.do_retire_sla_policy(session, policy=service.get_sla_policy(session, policy_id))
    return Response(status_code=204)
