"""REST API v1 for quality reviews: scorecards and sampling rules (supervisors and admins),
reviews (agents: their own finished ones, to acknowledge or dispute), calibration, trends."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import Query
from sqlalchemy import select

from sportello.accounts import service as accounts_service
from sportello.accounts.models import User
from sportello.conversations.models import Conversation
from sportello.core.access import require_supervisor
from sportello.core.db import SessionDep, utcnow
from sportello.core.errors import InvalidInput
from sportello.quality import actions, service
from sportello.quality.models import Calibration, ReviewStatus, Scorecard
from sportello.quality.schemas import (
    CalibrationCreate,
    CalibrationDetail,
    CalibrationRead,
    CriterionSpread,
    DisputeAnswer,
    DisputeData,
    ReviewCreate,
    ReviewRead,
    ReviewScore,
    RuleData,
    RuleRead,
    SampleResult,
    ScorecardData,
    ScorecardRead,
    TrendPoint,
)
from sportello.web.api import (
    DEFAULT_LIMIT,
    Cursor,
    Limit,
    Page,
    ReadCaller,
    WriteCaller,
    api_router,
    decode_cursor,
)

router = api_router("quality")


def _conversation(session: SessionDep, conversation_id: int) -> Conversation:
    conversation = session.get(Conversation, conversation_id)
    if conversation is None:
        raise InvalidInput("conversation not found", field="conversation_id")
    return conversation


def _scorecard(session: SessionDep, scorecard_id: int | None, brand_id: int) -> Scorecard:
    if scorecard_id is None:
        scorecard = service.default_scorecard(session, brand_id)
    else:
        scorecard = session.get(Scorecard, scorecard_id)
    if scorecard is None:
        raise InvalidInput("unknown scorecard", field="scorecard_id")
    return scorecard


# ---- scorecards -------------------------------------------------------------------------------


@router.get(
    "/quality/scorecards", summary="List the scorecards", response_model=list[ScorecardRead]
)
def list_scorecards(session: SessionDep, caller: ReadCaller) -> list[ScorecardRead]:
    require_supervisor(caller.user)
    return [ScorecardRead.model_validate(s) for s in service.scorecards(session)]


@router.post(
    "/quality/scorecards",
    summary="Create a scorecard",
    response_model=ScorecardRead,
    status_code=201,
)
def create_scorecard(
    data: ScorecardData, session: SessionDep, caller: WriteCaller
) -> ScorecardRead:
    require_supervisor(caller.user)
    scorecard = actions.do_save_scorecard(
        session, brand_id=accounts_service.default_brand(session).id, data=data
    )
    return ScorecardRead.model_validate(scorecard)


@router.put(
    "/quality/scorecards/{scorecard_id}",
    summary="Change a scorecard (criteria by id are kept; missing ones are retired)",
    response_model=ScorecardRead,
)
def update_scorecard(
    scorecard_id: int, data: ScorecardData, session: SessionDep, caller: WriteCaller
) -> ScorecardRead:
    require_supervisor(caller.user)
    scorecard = service.get_scorecard(session, scorecard_id)
    scorecard = actions.do_save_scorecard(
        session, brand_id=scorecard.brand_id, data=data, scorecard=scorecard
    )
    return ScorecardRead.model_validate(scorecard)


# ---- sampling rules ---------------------------------------------------------------------------


@router.get("/quality/rules", summary="List the sampling rules", response_model=list[RuleRead])
def list_rules(session: SessionDep, caller: ReadCaller) -> list[RuleRead]:
    require_supervisor(caller.user)
    return [RuleRead.model_validate(r) for r in service.rules(session)]


@router.post(
    "/quality/rules", summary="Create a sampling rule", response_model=RuleRead, status_code=201
)
def create_rule(data: RuleData, session: SessionDep, caller: WriteCaller) -> RuleRead:
    require_supervisor(caller.user)
    rule = actions.do_save_rule(
        session, brand_id=accounts_service.default_brand(session).id, data=data
    )
    return RuleRead.model_validate(rule)


@router.put("/quality/rules/{rule_id}", summary="Change a sampling rule", response_model=RuleRead)
def update_rule(rule_id: int, data: RuleData, session: SessionDep, caller: WriteCaller) -> RuleRead:
    require_supervisor(caller.user)
    rule = service.get_rule(session, rule_id)
    rule = actions.do_save_rule(session, brand_id=rule.brand_id, data=data, rule=rule)
    return RuleRead.model_validate(rule)


@router.post(
    "/quality/rules/{rule_id}/run",
    summary="Run a sampling rule now (top up its weekly quota)",
    response_model=SampleResult,
)
def run_rule(rule_id: int, session: SessionDep, caller: WriteCaller) -> SampleResult:
    require_supervisor(caller.user)
    created = actions.do_run_rule(session, rule=service.get_rule(session, rule_id))
    return SampleResult(created=len(created), review_ids=[r.id for r in created])


@router.post(
    "/quality/rules/run",
    summary="Run every active sampling rule now",
    response_model=SampleResult,
)
def run_rules(session: SessionDep, caller: WriteCaller) -> SampleResult:
    require_supervisor(caller.user)
    created = actions.do_run_rules(session)
    return SampleResult(created=len(created), review_ids=[r.id for r in created])


# ---- reviews ----------------------------------------------------------------------------------


@router.get(
    "/quality/reviews",
    summary="List reviews, newest first (agents: their own finished reviews)",
    response_model=Page[ReviewRead],
)
def list_reviews(
    session: SessionDep,
    caller: ReadCaller,
    status: Annotated[ReviewStatus | None, Query()] = None,
    agent_id: Annotated[int | None, Query(ge=1)] = None,
    reviewer_id: Annotated[int | None, Query(ge=1)] = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[ReviewRead]:
    after = decode_cursor(cursor, 1)[0] if cursor else None
    rows = service.reviews(
        session,
        caller.user,
        status=status,
        agent_id=agent_id,
        reviewer_id=reviewer_id,
        after_id=after,
        limit=limit,
    )
    return Page.of(rows, ReviewRead, limit)


@router.post(
    "/quality/reviews",
    summary="Assign a review of a conversation (to the caller, or to a reviewer)",
    response_model=ReviewRead,
    status_code=201,
)
def create_review(data: ReviewCreate, session: SessionDep, caller: WriteCaller) -> ReviewRead:
    require_supervisor(caller.user)
    conversation = _conversation(session, data.conversation_id)
    reviewer = caller.user
    if data.reviewer_id is not None:
        chosen = session.get(User, data.reviewer_id)
        if chosen is None:
            raise InvalidInput("choose a supervisor or an admin", field="reviewer_id")
        reviewer = chosen
    review = actions.do_create_review(
        session,
        conversation=conversation,
        scorecard=_scorecard(session, data.scorecard_id, conversation.brand_id),
        reviewer=reviewer,
    )
    return ReviewRead.model_validate(review)


@router.get("/quality/reviews/{review_id}", summary="One review", response_model=ReviewRead)
def get_review(review_id: int, session: SessionDep, caller: ReadCaller) -> ReviewRead:
    return ReviewRead.model_validate(service.access_review_by_id(session, caller.user, review_id))


@router.put(
    "/quality/reviews/{review_id}/score",
    summary="Score a review: every criterion on its scale (null = N/A), comment, coaching note",
    response_model=ReviewRead,
)
def score_review(
    review_id: int, data: ReviewScore, session: SessionDep, caller: WriteCaller
) -> ReviewRead:
    require_supervisor(caller.user)
    review = service.access_review_by_id(session, caller.user, review_id)
    review = actions.do_score_review(
        session,
        review=review,
        by=caller.user,
        ratings=data.ratings,
        comment=data.comment,
        coaching_note=data.coaching_note,
    )
    return ReviewRead.model_validate(review)


@router.post(
    "/quality/reviews/{review_id}/acknowledge",
    summary="The reviewed agent acknowledges the review and its coaching note",
    response_model=ReviewRead,
)
def acknowledge(review_id: int, session: SessionDep, caller: WriteCaller) -> ReviewRead:
    review = service.access_review_by_id(session, caller.user, review_id)
    return ReviewRead.model_validate(actions.do_acknowledge(session, review=review, by=caller.user))


@router.post(
    "/quality/reviews/{review_id}/dispute",
    summary="The reviewed agent disputes the review",
    response_model=ReviewRead,
)
def dispute(
    review_id: int, data: DisputeData, session: SessionDep, caller: WriteCaller
) -> ReviewRead:
    review = service.access_review_by_id(session, caller.user, review_id)
    review = actions.do_dispute(session, review=review, by=caller.user, text=data.text)
    return ReviewRead.model_validate(review)


@router.post(
    "/quality/reviews/{review_id}/dispute/answer",
    summary="A supervisor accepts or rejects the agent's dispute",
    response_model=ReviewRead,
)
def answer_dispute(
    review_id: int, data: DisputeAnswer, session: SessionDep, caller: WriteCaller
) -> ReviewRead:
    require_supervisor(caller.user)
    review = service.access_review_by_id(session, caller.user, review_id)
    review = actions.do_answer_dispute(
        session, review=review, by=caller.user, accept=data.accept, answer=data.answer
    )
    return ReviewRead.model_validate(review)


# ---- calibration ------------------------------------------------------------------------------


def _detail(session: SessionDep, calibration: Calibration, user: User) -> CalibrationDetail:
    reviews = service.calibration_reviews(session, calibration.id)
    scorecard = service.get_scorecard(session, calibration.scorecard_id)
    done = [r for r in reviews if r.status == ReviewStatus.DONE]
    shown = service.revealed(calibration)
    return CalibrationDetail(
        **CalibrationRead.model_validate(calibration).model_dump(),
        reviewer_ids=[r.reviewer_id for r in reviews if r.reviewer_id is not None],
        done=len(done),
        scores=[r.score for r in done] if shown else [],
        criteria=[
            CriterionSpread(
                criterion_id=s.criterion.id,
                name=s.criterion.name,
                values=s.values,
                mean=s.mean,
                spread=s.spread,
            )
            for s in service.spread(scorecard, reviews)
        ]
        if shown
        else [],
    )


@router.get(
    "/quality/calibrations",
    summary="List calibration sessions",
    response_model=list[CalibrationRead],
)
def list_calibrations(session: SessionDep, caller: ReadCaller) -> list[CalibrationRead]:
    require_supervisor(caller.user)
    return [CalibrationRead.model_validate(c) for c in service.calibrations(session)]


@router.post(
    "/quality/calibrations",
    summary="Start a calibration session: each reviewer scores the conversation blind",
    response_model=CalibrationDetail,
    status_code=201,
)
def create_calibration(
    data: CalibrationCreate, session: SessionDep, caller: WriteCaller
) -> CalibrationDetail:
    require_supervisor(caller.user)
    conversation = _conversation(session, data.conversation_id)
    reviewers = list(session.scalars(select(User).where(User.id.in_(data.reviewer_ids))))
    if len(reviewers) != len(set(data.reviewer_ids)):
        raise InvalidInput("choose a supervisor or an admin", field="reviewer_ids")
    calibration = actions.do_create_calibration(
        session,
        title=data.title,
        conversation=conversation,
        scorecard=_scorecard(session, data.scorecard_id, conversation.brand_id),
        reviewers=reviewers,
        by=caller.user,
    )
    return _detail(session, calibration, caller.user)


@router.get(
    "/quality/calibrations/{calibration_id}",
    summary="A calibration session; the spread per criterion once revealed",
    response_model=CalibrationDetail,
)
def get_calibration(
    calibration_id: int, session: SessionDep, caller: ReadCaller
) -> CalibrationDetail:
    require_supervisor(caller.user)
    return _detail(session, service.get_calibration(session, calibration_id), caller.user)


@router.post(
    "/quality/calibrations/{calibration_id}/reveal",
    summary="Close the blind scoring and show everyone the spread",
    response_model=CalibrationDetail,
)
def reveal_calibration(
    calibration_id: int, session: SessionDep, caller: WriteCaller
) -> CalibrationDetail:
    require_supervisor(caller.user)
    calibration = actions.do_reveal_calibration(
        session, calibration=service.get_calibration(session, calibration_id), by=caller.user
    )
    return _detail(session, calibration, caller.user)


# ---- trends -----------------------------------------------------------------------------------


@router.get(
    "/quality/trends",
    summary="IQS and per-criterion means per week, per agent, team or overall",
    response_model=list[TrendPoint],
)
def trends(
    session: SessionDep,
    caller: ReadCaller,
    by: Annotated[str, Query(pattern="^(agent|team|all)$")] = "agent",
    weeks: Annotated[int, Query(ge=1, le=104)] = 12,
    scorecard_id: Annotated[int | None, Query(ge=1)] = None,
) -> list[TrendPoint]:
    agent_id = None if caller.user.is_supervisor else caller.user.id
    if agent_id is not None:
        by = "agent"
    today: date = utcnow().date()
    rows = service.trends(
        session, by=by, weeks=weeks, today=today, agent_id=agent_id, scorecard_id=scorecard_id
    )
    return [
        TrendPoint(
            week=r.week, key=r.key, name=r.name, reviews=r.reviews, iqs=r.iqs, criteria=r.criteria
        )
        for r in rows
    ]
