"""Quality reads: scorecards, rules, reviews in the caller's scope (agents: their own finished
reviews; supervisors and admins: all), calibration spreads and the IQS trends."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from statistics import mean

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.orm import Session

from sportello.accounts.models import Team, User, team_member
from sportello.core.errors import NotFound
from sportello.quality.models import (
    SCALE_RANGE,
    Calibration,
    CalibrationStatus,
    Criterion,
    Rating,
    Review,
    ReviewStatus,
    SampleRule,
    Scale,
    Scorecard,
)


def scorecards(session: Session, *, active_only: bool = False) -> list[Scorecard]:
    query = select(Scorecard).order_by(Scorecard.is_default.desc(), Scorecard.name)
    if active_only:
        query = query.where(Scorecard.is_active)
    return list(session.scalars(query))


def get_scorecard(session: Session, scorecard_id: int) -> Scorecard:
    scorecard = session.get(Scorecard, scorecard_id)
    if scorecard is None:
        raise NotFound("scorecard not found")
    return scorecard


def default_scorecard(session: Session, brand_id: int) -> Scorecard | None:
    return session.scalar(
        select(Scorecard)
        .where(Scorecard.brand_id == brand_id, Scorecard.is_active)
        .order_by(Scorecard.is_default.desc(), Scorecard.id)
        .limit(1)
    )


def rules(session: Session) -> list[SampleRule]:
    return list(session.scalars(select(SampleRule).order_by(SampleRule.id)))


def get_rule(session: Session, rule_id: int) -> SampleRule:
    rule = session.get(SampleRule, rule_id)
    if rule is None:
        raise NotFound("sampling rule not found")
    return rule


def _visible(user: User) -> list[ColumnElement[bool]]:
    if user.is_supervisor:
        return []
    return [
        Review.agent_id == user.id,
        Review.calibration_id.is_(None),
        Review.status == ReviewStatus.DONE,
    ]


def access_review_by_id(session: Session, user: User, review_id: int) -> Review:
    review: Review | None = session.scalar(
        select(Review).where(Review.id == review_id, *_visible(user))
    )
    if review is None:
        raise NotFound("review not found")
    return review


def reviews_query(
    user: User,
    *,
    status: ReviewStatus | None = None,
    agent_id: int | None = None,
    reviewer_id: int | None = None,
    calibration: bool = False,
) -> Select[Review]:
    query = select(Review).where(*_visible(user))
    query = query.where(
        Review.calibration_id.is_not(None) if calibration else Review.calibration_id.is_(None)
    )
    if status is not None:
        query = query.where(Review.status == status)
    if agent_id is not None:
        query = query.where(Review.agent_id == agent_id)
    if reviewer_id is not None:
        query = query.where(Review.reviewer_id == reviewer_id)
    return query


def reviews(
    session: Session,
    user: User,
    *,
    status: ReviewStatus | None = None,
    agent_id: int | None = None,
    reviewer_id: int | None = None,
    after_id: int | None = None,
    limit: int = 50,
) -> list[Review]:
    query = reviews_query(user, status=status, agent_id=agent_id, reviewer_id=reviewer_id)
    if after_id is not None:
        query = query.where(Review.id < after_id)
    return list(session.scalars(query.order_by(Review.id.desc()).limit(limit)))


def unacknowledged(session: Session, user: User) -> int:
    return int(
        session.scalar(
            select(func.count(Review.id)).where(
                Review.agent_id == user.id,
                Review.calibration_id.is_(None),
                Review.status == ReviewStatus.DONE,
                Review.acknowledged_at.is_(None),
            )
        )
        or 0
    )


def users_by_id(session: Session, ids: set[int | None]) -> dict[int, User]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    return {u.id: u for u in session.scalars(select(User).where(User.id.in_(wanted)))}


def staff(session: Session, *, reviewers: bool) -> list[User]:
    from sportello.accounts.models import Role

    roles = [Role.SUPERVISOR, Role.ADMIN] if reviewers else [Role.AGENT, Role.SUPERVISOR]
    return list(
        session.scalars(
            select(User).where(User.is_active, User.role.in_(roles)).order_by(User.name)
        )
    )


# ---- calibration ----------------------------------------------------------------------------


def calibrations(session: Session) -> list[Calibration]:
    return list(session.scalars(select(Calibration).order_by(Calibration.id.desc()).limit(100)))


def get_calibration(session: Session, calibration_id: int) -> Calibration:
    calibration = session.get(Calibration, calibration_id)
    if calibration is None:
        raise NotFound("calibration session not found")
    return calibration


def calibration_reviews(session: Session, calibration_id: int) -> list[Review]:
    return list(
        session.scalars(
            select(Review).where(Review.calibration_id == calibration_id).order_by(Review.id)
        )
    )


@dataclass
class Spread:
    criterion: Criterion
    values: list[int | None]
    mean: float | None
    spread: float | None  # (max - min) / scale width, 0-1


def spread(scorecard: Scorecard, reviews: list[Review]) -> list[Spread]:
    """Per criterion, what each reviewer who finished gave, the mean and the spread."""
    done = [r for r in reviews if r.status == ReviewStatus.DONE]
    rows: list[Spread] = []
    for criterion in scorecard.criteria:
        if not criterion.is_active:
            continue
        values = [
            next((g.value for g in r.ratings if g.criterion_id == criterion.id), None) for r in done
        ]
        given = [v for v in values if v is not None]
        low, high = SCALE_RANGE[Scale(criterion.scale)]
        rows.append(
            Spread(
                criterion=criterion,
                values=values,
                mean=round(mean(given), 2) if given else None,
                spread=round((max(given) - min(given)) / (high - low), 2) if given else None,
            )
        )
    return rows


def revealed(calibration: Calibration) -> bool:
    return calibration.status == CalibrationStatus.REVEALED


# ---- trends ---------------------------------------------------------------------------------


@dataclass
class TrendRow:
    week: date
    key: int
    name: str
    reviews: int = 0
    iqs: float | None = None
    criteria: dict[str, float | None] = field(default_factory=dict)


def trends(
    session: Session,
    *,
    by: str = "agent",
    weeks: int = 12,
    today: date,
    agent_id: int | None = None,
    scorecard_id: int | None = None,
) -> list[TrendRow]:
    """IQS (mean review score) and per-criterion means (0-100) per week, per agent or per team
    (``by="team"``), or for everybody (``by="all"``), over the last ``weeks`` weeks."""
    first = today - timedelta(days=today.weekday()) - timedelta(weeks=weeks - 1)
    query = (
        select(Review.id, Review.week, Review.agent_id, Review.score)
        .where(
            Review.calibration_id.is_(None),
            Review.status == ReviewStatus.DONE,
            Review.week >= first,
            Review.agent_id.is_not(None),
        )
        .order_by(Review.week)
    )
    if agent_id is not None:
        query = query.where(Review.agent_id == agent_id)
    if scorecard_id is not None:
        query = query.where(Review.scorecard_id == scorecard_id)
    reviews = session.execute(query).all()
    if not reviews:
        return []
    review_ids = [r.id for r in reviews]
    ratings: dict[int, list[tuple[str, float]]] = defaultdict(list)
    for review_id, name, value, scale in session.execute(
        select(Rating.review_id, Criterion.name, Rating.value, Criterion.scale)
        .join(Criterion, Criterion.id == Rating.criterion_id)
        .where(Rating.review_id.in_(review_ids), Rating.value.is_not(None))
    ):
        low, high = SCALE_RANGE[Scale(scale)]
        ratings[review_id].append((name, 100 * (int(value or 0) - low) / (high - low)))
    groups: dict[int, list[int]] = defaultdict(list)  # agent -> keys
    names: dict[int, str] = {}
    agents = users_by_id(session, {r.agent_id for r in reviews})
    if by == "team":
        for team_id, user_id, team_name in session.execute(
            select(team_member.c.team_id, team_member.c.user_id, Team.name).join(
                Team, Team.id == team_member.c.team_id
            )
        ):
            groups[user_id].append(team_id)
            names[team_id] = team_name
    elif by == "all":
        names[0] = ""
    else:
        names.update({a.id: a.name for a in agents.values()})
    buckets: dict[tuple[date, int], list[int]] = defaultdict(list)
    by_id = {r.id: r for r in reviews}
    for r in reviews:
        keys = groups.get(r.agent_id, []) if by == "team" else [0 if by == "all" else r.agent_id]
        for key in keys:
            buckets[(r.week, key)].append(r.id)
    rows: list[TrendRow] = []
    for (week, key), ids in sorted(
        buckets.items(), key=lambda kv: (kv[0][0], names.get(kv[0][1], ""))
    ):
        scores = [by_id[i].score for i in ids if by_id[i].score is not None]
        per: dict[str, list[float]] = defaultdict(list)
        for i in ids:
            for criterion_name, normalised in ratings.get(i, []):
                per[criterion_name].append(normalised)
        rows.append(
            TrendRow(
                week=week,
                key=key,
                name=names.get(key, ""),
                reviews=len(ids),
                iqs=round(mean(scores), 1) if scores else None,
                criteria={n: round(mean(v), 1) for n, v in sorted(per.items())},
            )
        )
    return rows
