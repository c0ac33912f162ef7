"""REST API v1: departments (admins), side conversations and hand-offs (agents, on the
conversations they can see), the hand-off list and counts (supervisors)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

from sportello.accounts import service as accounts_service
from sportello.core import access
from sportello.core.access import require_supervisor
from sportello.core.db import SessionDep
from sportello.departments import actions, service
from sportello.departments.models import SideConversation
from sportello.departments.schemas import (
    DepartmentData,
    DepartmentRead,
    HandoffCountRead,
    HandoffCreate,
    HandoffOutcome,
    HandoffRead,
    SideCreate,
    SideMessageRead,
    SideRead,
    SideReplyCreate,
)
from sportello.web.api import AdminCaller, ReadCaller, WriteCaller, api_router

router = api_router("departments")
Id = Annotated[int, Path(ge=1, le=2**31 - 1)]


def _brand(session: SessionDep) -> int:
    return accounts_service.default_brand(session).id


@router.get("/departments", summary="List the departments", response_model=list[DepartmentRead])
def list_departments(session: SessionDep, caller: ReadCaller) -> list[DepartmentRead]:
    return [DepartmentRead.model_validate(d) for d in service.departments(session, _brand(session))]


@router.post(
    "/departments", summary="Create a department", response_model=DepartmentRead, status_code=201
)
def create_department(
    data: DepartmentData, session: SessionDep, caller: AdminCaller
) -> DepartmentRead:
    department = actions.do_save_department(
        session, brand_id=_brand(session), department=None, **data.model_dump()
    )
    return DepartmentRead.model_validate(department)


@router.put(
    "/departments/{department_id}", summary="Change a department", response_model=DepartmentRead
)
def update_department(
    department_id: Id, data: DepartmentData, session: SessionDep, caller: AdminCaller
) -> DepartmentRead:
    brand_id = _brand(session)
    department = service.get_department(session, department_id, brand_id=brand_id)
    department = actions.do_save_department(
        session, brand_id=brand_id, department=department, **data.model_dump()
    )
    return DepartmentRead.model_validate(department)


def _side_read(session: SessionDep, side: SideConversation) -> SideRead:
    thread = next(
        t for t in service.side_threads(session, side.conversation_id) if t.side.id == side.id
    )
    read = SideRead.model_validate(side)
    read.messages = [SideMessageRead.model_validate(m) for m in thread.messages]
    return read


@router.get(
    "/conversations/{number}/side-conversations",
    summary="A conversation's side conversations",
    response_model=list[SideRead],
)
def list_sides(number: Id, session: SessionDep, caller: ReadCaller) -> list[SideRead]:
    conversation = access.access_conversation_by_number(session, caller.user, number)
    result = []
    for thread in service.side_threads(session, conversation.id):
        read = SideRead.model_validate(thread.side)
        read.messages = [SideMessageRead.model_validate(m) for m in thread.messages]
        result.append(read)
    return result


@router.post(
    "/conversations/{number}/side-conversations",
    summary="Write to a department or a colleague by email",
    response_model=SideRead,
    status_code=201,
)
def create_side(number: Id, data: SideCreate, session: SessionDep, caller: WriteCaller) -> SideRead:
    conversation = access.access_conversation_by_number(session, caller.user, number)
    department = (
        service.get_department(session, data.department_id, brand_id=conversation.brand_id)
        if data.department_id
        else None
    )
    side = actions.do_open_side_conversation(
        session,
        conversation=conversation,
        author=caller.user,
        department=department,
        to=data.to,
        subject=data.subject,
        text=data.text,
        quote_message_ids=data.quote_message_ids,
        quote_attachment_ids=data.quote_attachment_ids,
    )
    session.flush()
    return _side_read(session, side)


@router.post(
    "/side-conversations/{side_id}/messages",
    summary="Write again in a side conversation",
    response_model=SideRead,
    status_code=201,
)
def reply_side(
    side_id: Id, data: SideReplyCreate, session: SessionDep, caller: WriteCaller
) -> SideRead:
    side, conversation = service.access_side(session, caller.user, side_id)
    actions.do_reply_side(
        session,
        side=side,
        conversation=conversation,
        author=caller.user,
        text=data.text,
        quote_message_ids=data.quote_message_ids,
        quote_attachment_ids=data.quote_attachment_ids,
    )
    session.flush()
    return _side_read(session, side)


@router.post(
    "/side-conversations/{side_id}/close",
    summary="Close a side conversation",
    response_model=SideRead,
)
def close_side(side_id: Id, session: SessionDep, caller: WriteCaller) -> SideRead:
    side, _ = service.access_side(session, caller.user, side_id)
    actions.do_close_side(session, side=side, author=caller.user)
    return _side_read(session, side)


@router.post(
    "/side-conversations/{side_id}/reopen",
    summary="Open a closed side conversation again",
    response_model=SideRead,
)
def reopen_side(side_id: Id, session: SessionDep, caller: WriteCaller) -> SideRead:
    side, _ = service.access_side(session, caller.user, side_id)
    actions.do_reopen_side(session, side=side, author=caller.user)
    return _side_read(session, side)


@router.post(
    "/conversations/{number}/handoffs",
    summary="Hand a sales opportunity or a technical problem to a department",
    response_model=HandoffRead,
    status_code=201,
)
def create_handoff(
    number: Id, data: HandoffCreate, session: SessionDep, caller: WriteCaller
) -> HandoffRead:
    conversation = access.access_conversation_by_number(session, caller.user, number)
    department = service.get_department(session, data.department_id, brand_id=conversation.brand_id)
    handoff = actions.do_create_handoff(
        session,
        conversation=conversation,
        author=caller.user,
        department=department,
        kind=actions.parse_kind(data.kind),
        summary=data.summary,
    )
    return HandoffRead.model_validate(handoff)


@router.get(
    "/conversations/{number}/handoffs",
    summary="A conversation's hand-offs",
    response_model=list[HandoffRead],
)
def conversation_handoffs(number: Id, session: SessionDep, caller: ReadCaller) -> list[HandoffRead]:
    conversation = access.access_conversation_by_number(session, caller.user, number)
    return [HandoffRead.model_validate(h) for h in service.handoffs_for(session, conversation.id)]


@router.put(
    "/handoffs/{handoff_id}/outcome",
    summary="Set a hand-off's outcome (as an agent)",
    response_model=HandoffRead,
)
def set_outcome(
    handoff_id: Id, data: HandoffOutcome, session: SessionDep, caller: WriteCaller
) -> HandoffRead:
    handoff, _ = service.access_handoff(session, caller.user, handoff_id)
    actions.do_set_handoff_outcome(
        session,
        handoff=handoff,
        status=actions.parse_status(data.status),
        note=data.note,
        by=caller.user.name,
    )
    return HandoffRead.model_validate(handoff)


def _filter(
    department_id: int | None, status: str, kind: str, age_days: int | None
) -> service.HandoffFilter:
    return service.HandoffFilter(department_id, status, kind, age_days)


@router.get("/handoffs", summary="Hand-offs (supervisors)", response_model=list[HandoffRead])
def list_handoffs(
    session: SessionDep,
    caller: ReadCaller,
    department_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    status: Annotated[str, Query(max_length=20)] = "",
    kind: Annotated[str, Query(max_length=20)] = "",
    age_days: Annotated[int | None, Query(ge=1, le=3650)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 200,
) -> list[HandoffRead]:
    require_supervisor(caller.user)
    rows = service.handoffs(
        session, _brand(session), _filter(department_id, status, kind, age_days), limit=limit
    )
    return [HandoffRead.model_validate(r.handoff) for r in rows]


@router.get(
    "/handoffs/counts",
    summary="Hand-offs per department and outcome (supervisors)",
    response_model=list[HandoffCountRead],
)
def handoff_counts(
    session: SessionDep,
    caller: ReadCaller,
    department_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    kind: Annotated[str, Query(max_length=20)] = "",
    age_days: Annotated[int | None, Query(ge=1, le=3650)] = None,
) -> list[HandoffCountRead]:
    require_supervisor(caller.user)
    counts = service.handoff_counts(
        session, _brand(session), _filter(department_id, "", kind, age_days)
    )
    return [HandoffCountRead(**c.__dict__) for c in counts]
