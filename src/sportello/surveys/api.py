"""REST API v1: survey settings (admins), answers and follow-ups (supervisors; agents see the
follow-ups in their scope)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

from sportello.accounts import service as accounts_service
from sportello.accounts.models import User
from sportello.core.access import require_supervisor
from sportello.core.db import SessionDep
from sportello.core.errors import InvalidInput
from sportello.surveys import actions, service
from sportello.surveys.models import ResponseStatus
from sportello.surveys.schemas import (
    FollowupRead,
    FollowupUpdate,
    SurveyConfigData,
    SurveyConfigRead,
    SurveyResponseRead,
)
from sportello.web.api import (
    DEFAULT_LIMIT,
    AdminCaller,
    Cursor,
    Limit,
    Page,
    ReadCaller,
    WriteCaller,
    api_router,
    decode_cursor,
)

router = api_router("surveys")


@router.get(
    "/surveys/configs", summary="List the survey settings", response_model=list[SurveyConfigRead]
)
def list_configs(session: SessionDep, caller: ReadCaller) -> list[SurveyConfigRead]:
    require_supervisor(caller.user)
    return [SurveyConfigRead.model_validate(c) for c in service.configs(session)]


@router.post(
    "/surveys/configs",
    summary="Create a survey",
    response_model=SurveyConfigRead,
    status_code=201,
)
def create_config(
    data: SurveyConfigData, session: SessionDep, caller: AdminCaller
) -> SurveyConfigRead:
    config = actions.do_save_config(
        session, brand_id=accounts_service.default_brand(session).id, data=data
    )
    return SurveyConfigRead.model_validate(config)


@router.put(
    "/surveys/configs/{config_id}", summary="Change a survey", response_model=SurveyConfigRead
)
def update_config(
    config_id: int, data: SurveyConfigData, session: SessionDep, caller: AdminCaller
) -> SurveyConfigRead:
    config = service.get_config(session, config_id)
    config = actions.do_save_config(session, brand_id=config.brand_id, data=data, config=config)
    return SurveyConfigRead.model_validate(config)


@router.get(
    "/surveys/responses",
    summary="List surveys sent and answered, newest first",
    response_model=Page[SurveyResponseRead],
)
def list_responses(
    session: SessionDep,
    caller: ReadCaller,
    status: Annotated[ResponseStatus | None, Query()] = None,
    customer_id: Annotated[int | None, Query()] = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[SurveyResponseRead]:
    require_supervisor(caller.user)
    after = decode_cursor(cursor, 1)[0] if cursor else None
    rows = service.responses(
        session, status=status, customer_id=customer_id, after_id=after, limit=limit
    )
    return Page.of(rows, SurveyResponseRead, limit)


@router.get(
    "/surveys/followups",
    summary="List the follow-ups (to call back) in the caller's scope",
    response_model=list[FollowupRead],
)
def list_followups(
    session: SessionDep,
    caller: ReadCaller,
    status: Annotated[str, Query(pattern="^(active|open|in_progress|done)$")] = "active",
) -> list[FollowupRead]:
    return [
        FollowupRead.model_validate(f)
        for f in service.followups(session, caller.user, status=status)
    ]


@router.patch(
    "/surveys/followups/{followup_id}",
    summary="Take, reassign or finish a follow-up",
    response_model=FollowupRead,
)
def update_followup(
    followup_id: int, data: FollowupUpdate, session: SessionDep, caller: WriteCaller
) -> FollowupRead:
    followup = service.access_followup_by_id(session, caller.user, followup_id)
    fields = data.model_fields_set
    assignee: User | None = None
    if "assignee_id" in fields and data.assignee_id is not None:
        assignee = session.get(User, data.assignee_id)
        if assignee is None:
            raise InvalidInput("unknown user", field="assignee_id")
    followup = actions.do_update_followup(
        session,
        followup=followup,
        by=caller.user,
        status=data.status,
        outcome=data.outcome,
        reassign="assignee_id" in fields,
        assignee=assignee,
        resurvey=data.resurvey,
    )
    return FollowupRead.model_validate(followup)
