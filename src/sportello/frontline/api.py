"""REST API v1 for the front line: briefings (supervisors write; agents read, acknowledge),
proposals (everyone proposes, votes, comments; supervisors triage), training (supervisors write
modules and approve levels; agents complete), the caller's notifications."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Response

from sportello.accounts import service as accounts_service
from sportello.core.db import SessionDep
from sportello.core.errors import NotFound
from sportello.frontline import actions, notify, service
from sportello.frontline.models import Briefing, BriefingStatus, ProposalStatus
from sportello.frontline.schemas import (
    AcknowledgeIn,
    AcknowledgeOut,
    BriefingData,
    BriefingForAgent,
    BriefingRead,
    CommentIn,
    CommentRead,
    CompletionDecision,
    CompletionRead,
    ModuleData,
    ModuleRead,
    NotificationRead,
    ProposalCreate,
    ProposalRead,
    ProposalTriage,
    ReceiptRead,
    TopicRead,
)
from sportello.web.api import ReadCaller, WriteCaller, api_router

router = api_router("frontline")


def _agent_view(session: SessionDep, briefing: Briefing, user_id: int) -> BriefingForAgent:
    row = service.receipt(session, briefing.id, user_id)
    return BriefingForAgent(
        id=briefing.id,
        title=briefing.title,
        body_html=briefing.body_html,
        required=briefing.required,
        campaign=briefing.campaign,
        questions=[
            {"question": q["question"], "options": q["options"]} for q in briefing.quiz or []
        ],
        read_at=row.read_at if row else None,
        acknowledged_at=row.acknowledged_at if row else None,
    )


# ---- briefings -------------------------------------------------------------------------------


@router.get(
    "/briefings",
    summary="List briefings (supervisors: all of them)",
    response_model=list[BriefingRead],
)
def list_briefings(
    session: SessionDep,
    caller: ReadCaller,
    status: Annotated[BriefingStatus | None, Query()] = None,
) -> list[BriefingRead]:
    service.require_supervisor(caller.user)
    return [BriefingRead.model_validate(b) for b in service.briefings(session, status=status)]


@router.get(
    "/briefings/mine",
    summary="The briefings meant for the caller, valid now",
    response_model=list[BriefingForAgent],
)
def my_briefings(session: SessionDep, caller: ReadCaller) -> list[BriefingForAgent]:
    return [
        _agent_view(session, b, caller.user.id) for b in service.briefings_for(session, caller.user)
    ]


@router.get(
    "/briefings/required",
    summary="Required briefings the caller must acknowledge before taking offers",
    response_model=list[BriefingForAgent],
)
def required_briefings(session: SessionDep, caller: ReadCaller) -> list[BriefingForAgent]:
    pending = service.pending_required(session, [caller.user.id]).get(caller.user.id, [])
    return [
        _agent_view(session, service.get_briefing(session, bid), caller.user.id) for bid in pending
    ]


@router.post(
    "/briefings", summary="Write a briefing (a draft)", response_model=BriefingRead, status_code=201
)
def create_briefing(data: BriefingData, session: SessionDep, caller: WriteCaller) -> BriefingRead:
    briefing = actions.do_save_briefing(
        session, brand_id=accounts_service.default_brand(session).id, data=data, by=caller.user
    )
    return BriefingRead.model_validate(briefing)


@router.put("/briefings/{briefing_id}", summary="Change a briefing", response_model=BriefingRead)
def update_briefing(
    briefing_id: int, data: BriefingData, session: SessionDep, caller: WriteCaller
) -> BriefingRead:
    service.require_supervisor(caller.user)
    briefing = service.get_briefing(session, briefing_id)
    briefing = actions.do_save_briefing(
        session, brand_id=briefing.brand_id, data=data, by=caller.user, briefing=briefing
    )
    return BriefingRead.model_validate(briefing)


@router.delete("/briefings/{briefing_id}", summary="Delete a draft briefing", status_code=204)
def delete_briefing(briefing_id: int, session: SessionDep, caller: WriteCaller) -> Response:
    service.require_supervisor(caller.user)
    actions.do_delete_briefing(
        session, briefing=service.get_briefing(session, briefing_id), by=caller.user
    )
    return Response(status_code=204)


@router.post(
    "/briefings/{briefing_id}/publish",
    summary="Publish a briefing to its audience",
    response_model=BriefingRead,
)
def publish_briefing(briefing_id: int, session: SessionDep, caller: WriteCaller) -> BriefingRead:
    service.require_supervisor(caller.user)
    briefing = service.get_briefing(session, briefing_id)
    actions.do_publish_briefing(session, briefing=briefing, by=caller.user)
    return BriefingRead.model_validate(briefing)


@router.post(
    "/briefings/{briefing_id}/archive", summary="Archive a briefing", response_model=BriefingRead
)
def archive_briefing(briefing_id: int, session: SessionDep, caller: WriteCaller) -> BriefingRead:
    service.require_supervisor(caller.user)
    briefing = service.get_briefing(session, briefing_id)
    actions.do_archive_briefing(session, briefing=briefing, by=caller.user)
    return BriefingRead.model_validate(briefing)


@router.post(
    "/briefings/{briefing_id}/remind",
    summary="Remind whoever has not acknowledged yet; returns how many",
    response_model=int,
)
def remind_briefing(briefing_id: int, session: SessionDep, caller: WriteCaller) -> int:
    service.require_supervisor(caller.user)
    briefing = service.get_briefing(session, briefing_id)
    return actions.do_remind(session, briefing=briefing, by=caller.user)


@router.get(
    "/briefings/{briefing_id}/receipts",
    summary="Who has read, acknowledged and passed",
    response_model=list[ReceiptRead],
)
def briefing_receipts(
    briefing_id: int, session: SessionDep, caller: ReadCaller
) -> list[ReceiptRead]:
    service.require_supervisor(caller.user)
    briefing = service.get_briefing(session, briefing_id)
    return [
        ReceiptRead(
            user_id=line.user.id,
            name=line.user.name,
            read_at=line.receipt.read_at if line.receipt else None,
            acknowledged_at=line.receipt.acknowledged_at if line.receipt else None,
            passed_at=line.receipt.passed_at if line.receipt else None,
            attempts=line.receipt.attempts if line.receipt else 0,
            reminded_at=line.receipt.reminded_at if line.receipt else None,
        )
        for line in service.receipts(session, briefing)
    ]


@router.post(
    "/briefings/{briefing_id}/read",
    summary="Mark a briefing as read",
    response_model=BriefingForAgent,
)
def read_briefing(briefing_id: int, session: SessionDep, caller: WriteCaller) -> BriefingForAgent:
    briefing = service.access_briefing_by_id(session, caller.user, briefing_id)
    if briefing.status != BriefingStatus.PUBLISHED:
        raise NotFound("briefing not found")
    actions.do_mark_read(session, briefing=briefing, user=caller.user)
    session.flush()
    return _agent_view(session, briefing, caller.user.id)


@router.post(
    "/briefings/{briefing_id}/acknowledge",
    summary="Acknowledge a briefing, with the quiz's answers (option indexes) if it has one",
    response_model=AcknowledgeOut,
)
def acknowledge_briefing(
    briefing_id: int, data: AcknowledgeIn, session: SessionDep, caller: WriteCaller
) -> AcknowledgeOut:
    briefing = service.access_briefing_by_id(session, caller.user, briefing_id)
    passed, score = actions.do_acknowledge(
        session, briefing=briefing, user=caller.user, answers=data.answers
    )
    row = service.receipt(session, briefing.id, caller.user.id)
    return AcknowledgeOut(
        passed=passed,
        score=score,
        of=len(briefing.quiz or []),
        acknowledged_at=row.acknowledged_at if row else None,
    )


# ---- proposals -------------------------------------------------------------------------------


@router.get(
    "/proposals", summary="List proposals, most voted first", response_model=list[ProposalRead]
)
def list_proposals(
    session: SessionDep,
    caller: ReadCaller,
    status: Annotated[ProposalStatus | None, Query()] = None,
) -> list[ProposalRead]:
    return [ProposalRead.model_validate(p) for p in service.proposals(session, status=status)]


@router.post(
    "/proposals", summary="Propose an improvement", response_model=ProposalRead, status_code=201
)
def create_proposal(data: ProposalCreate, session: SessionDep, caller: WriteCaller) -> ProposalRead:
    proposal = actions.do_create_proposal(
        session,
        brand_id=accounts_service.default_brand(session).id,
        author=caller.user,
        data=data,
    )
    return ProposalRead.model_validate(proposal)


@router.get(
    "/proposals/report",
    summary="Most-raised topics and the median time to a first answer",
    response_model=list[TopicRead],
)
def proposals_report(session: SessionDep, caller: ReadCaller) -> list[TopicRead]:
    service.require_supervisor(caller.user)
    return [TopicRead(**line.__dict__) for line in service.proposal_report(session)]


@router.get("/proposals/{proposal_id}", summary="One proposal", response_model=ProposalRead)
def get_proposal(proposal_id: int, session: SessionDep, caller: ReadCaller) -> ProposalRead:
    return ProposalRead.model_validate(service.get_proposal(session, proposal_id))


@router.patch(
    "/proposals/{proposal_id}",
    summary="Triage a proposal (supervisors); the author is told",
    response_model=ProposalRead,
)
def triage_proposal(
    proposal_id: int, data: ProposalTriage, session: SessionDep, caller: WriteCaller
) -> ProposalRead:
    service.require_supervisor(caller.user)
    proposal = service.get_proposal(session, proposal_id)
    actions.do_triage(
        session, proposal=proposal, by=caller.user, status=data.status, answer=data.answer
    )
    return ProposalRead.model_validate(proposal)


@router.post(
    "/proposals/{proposal_id}/vote",
    summary="Upvote a proposal, or take the vote back",
    response_model=ProposalRead,
)
def vote_proposal(proposal_id: int, session: SessionDep, caller: WriteCaller) -> ProposalRead:
    proposal = service.get_proposal(session, proposal_id)
    actions.do_toggle_vote(session, proposal=proposal, user=caller.user)
    return ProposalRead.model_validate(proposal)


@router.get(
    "/proposals/{proposal_id}/comments",
    summary="A proposal's comments",
    response_model=list[CommentRead],
)
def list_comments(proposal_id: int, session: SessionDep, caller: ReadCaller) -> list[CommentRead]:
    proposal = service.get_proposal(session, proposal_id)
    return [CommentRead.model_validate(c) for c in service.comments(session, proposal.id)]


@router.post(
    "/proposals/{proposal_id}/comments",
    summary="Comment on a proposal",
    response_model=CommentRead,
    status_code=201,
)
def add_comment(
    proposal_id: int, data: CommentIn, session: SessionDep, caller: WriteCaller
) -> CommentRead:
    proposal = service.get_proposal(session, proposal_id)
    comment = actions.do_comment(session, proposal=proposal, user=caller.user, body=data.body)
    return CommentRead.model_validate(comment)


# ---- training --------------------------------------------------------------------------------


@router.get("/training/modules", summary="Training modules", response_model=list[ModuleRead])
def list_modules(session: SessionDep, caller: ReadCaller) -> list[ModuleRead]:
    return [ModuleRead.model_validate(m) for m in service.modules(session)]


@router.post(
    "/training/modules",
    summary="Create a training module",
    response_model=ModuleRead,
    status_code=201,
)
def create_module(data: ModuleData, session: SessionDep, caller: WriteCaller) -> ModuleRead:
    module = actions.do_save_module(
        session, brand_id=accounts_service.default_brand(session).id, data=data, by=caller.user
    )
    return ModuleRead.model_validate(module)


@router.put(
    "/training/modules/{module_id}", summary="Change a training module", response_model=ModuleRead
)
def update_module(
    module_id: int, data: ModuleData, session: SessionDep, caller: WriteCaller
) -> ModuleRead:
    service.require_supervisor(caller.user)
    module = service.get_module(session, module_id)
    actions.do_save_module(
        session, brand_id=module.brand_id, data=data, by=caller.user, module=module
    )
    return ModuleRead.model_validate(module)


@router.post(
    "/training/modules/{module_id}/complete",
    summary="Complete a module (with the quiz's answers)",
    response_model=CompletionRead,
    status_code=201,
)
def complete_module(
    module_id: int, data: AcknowledgeIn, session: SessionDep, caller: WriteCaller
) -> CompletionRead:
    module = service.get_module(session, module_id)
    completion = actions.do_complete_module(
        session, module=module, user=caller.user, answers=data.answers
    )
    return CompletionRead.model_validate(completion)


@router.get(
    "/training/completions",
    summary="Completions (supervisors: everyone's; agents: their own)",
    response_model=list[CompletionRead],
)
def list_completions(session: SessionDep, caller: ReadCaller) -> list[CompletionRead]:
    user_id = None if caller.user.is_supervisor else caller.user.id
    return [CompletionRead.model_validate(c) for c in service.completions(session, user_id=user_id)]


@router.post(
    "/training/completions/{completion_id}/decision",
    summary="Approve (raise the agent's level) or keep the level",
    response_model=CompletionRead,
)
def decide_completion(
    completion_id: int, data: CompletionDecision, session: SessionDep, caller: WriteCaller
) -> CompletionRead:
    service.require_supervisor(caller.user)
    completion = service.get_completion(session, completion_id)
    actions.do_decide_completion(
        session, completion=completion, by=caller.user, approve=data.approve
    )
    return CompletionRead.model_validate(completion)


# ---- notifications ---------------------------------------------------------------------------


@router.get(
    "/notifications", summary="The caller's notifications", response_model=list[NotificationRead]
)
def list_notifications(session: SessionDep, caller: ReadCaller) -> list[NotificationRead]:
    return [
        NotificationRead.model_validate(n) for n in service.notifications(session, caller.user.id)
    ]


@router.post(
    "/notifications/read",
    summary="Mark one notification (or, without id, all of them) as read; returns how many",
    response_model=int,
)
def read_notifications(
    session: SessionDep,
    caller: WriteCaller,
    notification_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
) -> int:
    if notification_id is not None:
        service.access_notification(session, caller.user, notification_id)
    return notify.do_mark_read(session, user=caller.user, notification_id=notification_id)
