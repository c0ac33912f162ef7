"""Quality writes: scorecards, sampling rules and their runs, reviews (score, acknowledge,
dispute), calibration sessions. ``check_*`` validate, ``do_*`` write and emit; the caller's
transaction commits."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from sportello.accounts.models import User
from sportello.conversations.models import Conversation
from sportello.core.db import utcnow
from sportello.core.errors import Conflict, InvalidInput, PermissionDenied
from sportello.core.events import emit
from sportello.core.i18n import lazy as N_
from sportello.quality import events as quality_events
from sportello.quality.models import (
    SCALE_RANGE,
    Calibration,
    CalibrationStatus,
    Criterion,
    DisputeStatus,
    Rating,
    Review,
    ReviewSource,
    ReviewStatus,
    SampleRule,
    Scale,
    Scorecard,
)
from sportello.quality.schemas import RatingData, RuleData, ScorecardData

SAMPLE_JOB = "quality.sample"

# The default scorecard (names translated when it is created): empathy and emotions weigh as
# much as accuracy and resolution; privacy is a critical (auto-fail) yes/no check.
DEFAULT_CRITERIA: list[dict[str, Any]] = [
    {
        "name": N_("Greeting"),
        "description": N_("Greets the customer by name, introduces themselves, sets the tone."),
        "weight": 10,
    },
    {
        "name": N_("Empathy and emotions"),
        "description": N_(
            "Recognises how the customer feels (worry, anger, haste), names it and adapts; "
            "apologises when it is due."
        ),
        "weight": 25,
    },
    {
        "name": N_("Accuracy"),
        "description": N_("Correct, complete information, in line with the knowledge base."),
        "weight": 25,
    },
    {
        "name": N_("Resolution"),
        "description": N_("Solves the request, or says clearly what happens next and when."),
        "weight": 25,
    },
    {
        "name": N_("Tone"),
        "description": N_("Clear, kind, professional language; no jargon, no copy-paste coldness."),
        "weight": 15,
    },
    {
        "name": N_("Privacy and identity checks"),
        "description": N_(
            "Verifies the customer before sharing personal data. Failing it fails the review."
        ),
        "weight": 0,
        "scale": Scale.BINARY,
        "critical": True,
        "allow_na": True,
    },
]


def rome_week(at: datetime) -> date:
    from sportello.reports.kpis import ROME

    local = at.astimezone(ROME).date()
    return local - timedelta(days=local.weekday())


# ---- scorecards ---------------------------------------------------------------------------


def check_scorecard(data: ScorecardData) -> None:
    if not data.name.strip():
        raise InvalidInput("a scorecard needs a name", field="name")
    names = [c.name.strip() for c in data.criteria]
    if any(not n for n in names):
        raise InvalidInput("every criterion needs a name", field="criteria")
    if sum(c.weight for c in data.criteria) <= 0:
        raise InvalidInput("give at least one criterion a weight", field="criteria")


def do_save_scorecard(
    session: Session, *, brand_id: int, data: ScorecardData, scorecard: Scorecard | None = None
) -> Scorecard:
    """Create a scorecard, or change one: criteria named by id are changed, new ones added,
    missing ones retired (kept for the reviews that rated them)."""
    check_scorecard(data)
    if scorecard is None:
        scorecard = Scorecard(brand_id=brand_id, name=data.name.strip())
        session.add(scorecard)
    scorecard.name = data.name.strip()
    scorecard.description = data.description.strip()
    scorecard.pass_score = data.pass_score
    scorecard.is_active = data.is_active
    scorecard.updated_at = utcnow()
    existing = {c.id: c for c in scorecard.criteria}
    kept: set[int] = set()
    for position, item in enumerate(data.criteria):
        criterion = existing.get(item.id) if item.id is not None else None
        if item.id is not None and criterion is None:
            raise InvalidInput("unknown criterion", field="criteria")
        if criterion is None:
            criterion = Criterion(name=item.name.strip())
            scorecard.criteria.append(criterion)
        else:
            kept.add(criterion.id)
        criterion.position = position
        criterion.name = item.name.strip()
        criterion.description = item.description.strip()
        criterion.weight = item.weight
        criterion.scale = item.scale
        criterion.critical = item.critical
        criterion.allow_na = item.allow_na
        criterion.is_active = True
    for criterion_id, criterion in existing.items():
        if criterion_id not in kept:
            criterion.is_active = False
            criterion.position = 1000 + criterion.position
    session.flush()
    if data.is_default or not session.scalar(
        select(Scorecard.id).where(
            Scorecard.brand_id == brand_id, Scorecard.is_default, Scorecard.id != scorecard.id
        )
    ):
        session.execute(
            update(Scorecard)
            .where(Scorecard.brand_id == brand_id, Scorecard.id != scorecard.id)
            .values(is_default=False)
        )
        scorecard.is_default = True
    return scorecard


def default_scorecard_data(name: str, description: str = "") -> ScorecardData:
    """The default scorecard in the current language."""
    from sportello.core.i18n import gettext as _

    return ScorecardData(
        name=name,
        description=description,
        pass_score=80,
        is_default=True,
        criteria=[
            {
                **c,
                "name": _(c["name"]),
                "description": _(c["description"]),
            }
            for c in DEFAULT_CRITERIA
        ],
    )


# ---- sampling rules -----------------------------------------------------------------------


def check_rule(session: Session, data: RuleData) -> None:
    if session.get(Scorecard, data.scorecard_id) is None:
        raise InvalidInput("unknown scorecard", field="scorecard_id")
    if data.reviewer_id is not None:
        reviewer = session.get(User, data.reviewer_id)
        if reviewer is None or not reviewer.is_supervisor:
            raise InvalidInput("choose a supervisor or an admin", field="reviewer_id")
    from sportello.accounts.models import Team
    from sportello.channels.models import Channel
    from sportello.routing.models import Queue

    for field, model in (("team_id", Team), ("queue_id", Queue), ("channel_id", Channel)):
        value = getattr(data, field)
        if value is not None and session.get(model, value) is None:
            raise InvalidInput("choose from the list", field=field)


def do_save_rule(
    session: Session, *, brand_id: int, data: RuleData, rule: SampleRule | None = None
) -> SampleRule:
    check_rule(session, data)
    if rule is None:
        rule = SampleRule(brand_id=brand_id)
        session.add(rule)
    for field, value in data.model_dump().items():
        setattr(rule, field, value)
    session.flush()
    return rule


def do_run_rule(session: Session, *, rule: SampleRule, now: datetime | None = None) -> list[Review]:
    """Top the rule's quota up: per agent, at most ``per_agent`` reviews from this rule in the
    last 7 days, picked among the conversations resolved in those days and never reviewed."""
    from sportello.quality import statements

    now = now or utcnow()
    picks = statements.sample(session, rule=rule, now=now)
    scorecard = session.get(Scorecard, rule.scorecard_id)
    if scorecard is None:
        return []
    reviewers = statements.reviewers(session, rule)
    created: list[Review] = []
    for n, (conversation_id, agent_id, at) in enumerate(picks):
        candidates = [r for r in reviewers if r != agent_id] or reviewers
        if not candidates:
            break
        reviewer_id = candidates[(n + conversation_id) % len(candidates)]
        review = Review(
            brand_id=rule.brand_id,
            scorecard_id=scorecard.id,
            conversation_id=conversation_id,
            agent_id=agent_id,
            reviewer_id=reviewer_id,
            rule_id=rule.id,
            source=ReviewSource(rule.method.value),
            week=rome_week(at),
            created_at=now,
        )
        session.add(review)
        created.append(review)
    rule.last_run_at = now
    session.flush()
    for review in created:
        _emit(session, "quality.review_assigned", review)
    return created


def do_run_rules(
    session: Session, *, brand_id: int | None = None, now: datetime | None = None
) -> list[Review]:
    query = select(SampleRule).where(SampleRule.is_active).order_by(SampleRule.id)
    if brand_id is not None:
        query = query.where(SampleRule.brand_id == brand_id)
    created: list[Review] = []
    for rule in session.scalars(query).all():
        created += do_run_rule(session, rule=rule, now=now)
    return created


# ---- reviews ------------------------------------------------------------------------------


def _emit(session: Session, name: str, review: Review) -> None:
    emit(
        session,
        name,
        quality_events.ReviewChanged(
            review_id=review.id,
            conversation_id=review.conversation_id,
            agent_id=review.agent_id,
            reviewer_id=review.reviewer_id,
            status=review.status.value,
            score=review.score,
            dispute_status=review.dispute_status.value,
        ),
    )


def do_create_review(
    session: Session,
    *,
    conversation: Conversation,
    scorecard: Scorecard,
    reviewer: User,
    source: ReviewSource = ReviewSource.MANUAL,
    calibration_id: int | None = None,
) -> Review:
    if not reviewer.is_supervisor:
        raise InvalidInput("choose a supervisor or an admin", field="reviewer_id")
    if not scorecard.is_active:
        raise InvalidInput("this scorecard is not active", field="scorecard_id")
    if conversation.assignee_id is None and calibration_id is None:
        raise InvalidInput("this conversation has no agent to review", field="conversation_id")
    at = conversation.resolved_at or conversation.last_message_at or utcnow()
    review = Review(
        brand_id=conversation.brand_id,
        scorecard_id=scorecard.id,
        conversation_id=conversation.id,
        agent_id=conversation.assignee_id,
        reviewer_id=reviewer.id,
        calibration_id=calibration_id,
        source=source,
        week=rome_week(at),
    )
    session.add(review)
    session.flush()
    if calibration_id is None:
        _emit(session, "quality.review_assigned", review)
    return review


def score_of(
    criteria: Sequence[Criterion], values: dict[int, int | None]
) -> tuple[float | None, bool]:
    """The review's score (0-100, weighted by the criteria's weights over the rated ones; N/A
    left out) and whether a critical criterion got its lowest mark (then the score is 0)."""
    total = 0.0
    weights = 0
    failed = False
    for criterion in criteria:
        value = values.get(criterion.id)
        if value is None:
            continue
        low, high = SCALE_RANGE[Scale(criterion.scale)]
        if criterion.critical and value == low:
            failed = True
        if criterion.weight > 0:
            total += criterion.weight * (value - low) / (high - low)
            weights += criterion.weight
    if failed:
        return 0.0, True
    if weights == 0:
        return None, False
    return round(100 * total / weights, 1), False


def check_score(
    review: Review, scorecard: Scorecard, ratings: Sequence[RatingData], by: User
) -> dict[int, RatingData]:
    if review.reviewer_id != by.id and not (
        by.is_admin or (by.is_supervisor and review.calibration_id is None)
    ):
        raise PermissionDenied("only the reviewer scores this review")
    if review.calibration_id is not None:
        calibration_status = review_calibration_status(review)
        if calibration_status == CalibrationStatus.REVEALED:
            raise Conflict("this calibration is closed")
    active = {c.id: c for c in scorecard.criteria if c.is_active}
    given: dict[int, RatingData] = {}
    for rating in ratings:
        criterion = active.get(rating.criterion_id)
        if criterion is None:
            raise InvalidInput("unknown criterion", field=f"criterion_{rating.criterion_id}")
        if rating.value is None:
            if not criterion.allow_na:
                raise InvalidInput(
                    "this criterion cannot be N/A", field=f"criterion_{criterion.id}"
                )
        else:
            low, high = SCALE_RANGE[Scale(criterion.scale)]
            if not low <= rating.value <= high:
                raise InvalidInput("choose a score on the scale", field=f"criterion_{criterion.id}")
        given[criterion.id] = rating
    for criterion_id in active:
        if criterion_id not in given:
            raise InvalidInput(
                "score every criterion (or mark it N/A)", field=f"criterion_{criterion_id}"
            )
    return given


def review_calibration_status(review: Review) -> CalibrationStatus | None:
    from sqlalchemy.orm import object_session

    session = object_session(review)
    if review.calibration_id is None or session is None:
        return None
    calibration = session.get(Calibration, review.calibration_id)
    return calibration.status if calibration else None


def do_score_review(
    session: Session,
    *,
    review: Review,
    by: User,
    ratings: Sequence[RatingData],
    comment: str = "",
    coaching_note: str = "",
) -> Review:
    """Score (or re-score) a review; the agent sees it once it is done."""
    scorecard = session.get(Scorecard, review.scorecard_id)
    assert scorecard is not None
    given = check_score(review, scorecard, ratings, by)
    existing = {r.criterion_id: r for r in review.ratings}
    for criterion_id, data in given.items():
        row = existing.get(criterion_id)
        if row is None:
            row = Rating(criterion_id=criterion_id)
            review.ratings.append(row)
        row.value = data.value
        row.comment = data.comment.strip()
    active = [c for c in scorecard.criteria if c.is_active]
    review.score, review.critical_failed = score_of(active, {k: v.value for k, v in given.items()})
    review.comment = comment.strip()
    review.coaching_note = coaching_note.strip()
    first = review.status != ReviewStatus.DONE
    review.status = ReviewStatus.DONE
    review.completed_at = utcnow()
    if not first:
        review.acknowledged_at = None  # a changed review is acknowledged again
    session.flush()
    if review.calibration_id is None:
        _emit(session, "quality.review_completed", review)
    return review


def _own_done_review(review: Review, by: User) -> None:
    if review.agent_id != by.id or review.calibration_id is not None:
        raise PermissionDenied("only the reviewed agent can do this")
    if review.status != ReviewStatus.DONE:
        raise Conflict("this review is not finished yet")


def do_acknowledge(session: Session, *, review: Review, by: User) -> Review:
    _own_done_review(review, by)
    if review.acknowledged_at is None:
        review.acknowledged_at = utcnow()
        session.flush()
        _emit(session, "quality.review_acknowledged", review)
    return review


def do_dispute(session: Session, *, review: Review, by: User, text: str) -> Review:
    _own_done_review(review, by)
    if not text.strip():
        raise InvalidInput("say what you disagree with", field="text")
    if review.dispute_status != DisputeStatus.NONE:
        raise Conflict("this review has been disputed already")
    review.dispute_status = DisputeStatus.OPEN
    review.dispute_text = text.strip()
    session.flush()
    _emit(session, "quality.review_disputed", review)
    return review


def do_answer_dispute(
    session: Session, *, review: Review, by: User, accept: bool, answer: str
) -> Review:
    if not by.is_supervisor:
        raise PermissionDenied("supervisors and admins only")
    if review.dispute_status != DisputeStatus.OPEN:
        raise Conflict("there is no open dispute on this review")
    if not answer.strip():
        raise InvalidInput("write an answer for the agent", field="answer")
    review.dispute_status = DisputeStatus.ACCEPTED if accept else DisputeStatus.REJECTED
    review.dispute_answer = answer.strip()
    session.flush()
    _emit(session, "quality.dispute_answered", review)
    return review


# ---- calibration --------------------------------------------------------------------------


def do_create_calibration(
    session: Session,
    *,
    title: str,
    conversation: Conversation,
    scorecard: Scorecard,
    reviewers: Sequence[User],
    by: User,
) -> Calibration:
    if not title.strip():
        raise InvalidInput("a calibration session needs a title", field="title")
    unique = {r.id: r for r in reviewers}
    if len(unique) < 2:
        raise InvalidInput("choose at least two reviewers", field="reviewer_ids")
    calibration = Calibration(
        brand_id=conversation.brand_id,
        title=title.strip(),
        scorecard_id=scorecard.id,
        conversation_id=conversation.id,
        created_by_id=by.id,
    )
    session.add(calibration)
    session.flush()
    for reviewer in unique.values():
        do_create_review(
            session,
            conversation=conversation,
            scorecard=scorecard,
            reviewer=reviewer,
            source=ReviewSource.CALIBRATION,
            calibration_id=calibration.id,
        )
    return calibration


def do_reveal_calibration(session: Session, *, calibration: Calibration, by: User) -> Calibration:
    if not by.is_supervisor:
        raise PermissionDenied("supervisors and admins only")
    if calibration.status == CalibrationStatus.REVEALED:
        return calibration
    done = session.scalars(
        select(Review.reviewer_id).where(
            Review.calibration_id == calibration.id, Review.status == ReviewStatus.DONE
        )
    ).all()
    if len(done) < 2:
        raise Conflict("at least two reviewers must score before the reveal")
    calibration.status = CalibrationStatus.REVEALED
    calibration.revealed_at = utcnow()
    session.flush()
    emit(
        session,
        "quality.calibration_revealed",
        quality_events.CalibrationRevealed(
            calibration_id=calibration.id, reviewer_ids=[r for r in done if r is not None]
        ),
    )
    return calibration


# ---- the durable job ----------------------------------------------------------------------


def _sample_job(db: Any, _payload: dict[str, Any]) -> None:
    from sportello.quality import handlers

    try:
        with db.transaction() as session:
            do_run_rules(session)
    finally:
        handlers.ensure_scheduled(db)
