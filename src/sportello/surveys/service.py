"""Reads: which survey applies, follow-ups in a user's scope, a customer's scores, summaries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Select, and_, func, or_, select, true
from sqlalchemy.orm import Session, aliased

from sportello.accounts.models import User
from sportello.core.errors import NotFound
from sportello.surveys.models import (
    FollowupStatus,
    ResponseStatus,
    SurveyConfig,
    SurveyFollowup,
    SurveyKind,
    SurveyOptout,
    SurveyResponse,
)
from sportello.surveys.schemas import is_high, is_low, nps_band


def config_for(
    session: Session, *, brand_id: int, channel_id: int | None, queue_id: int | None
) -> SurveyConfig | None:
    """The most specific active survey for a conversation: channel and queue, then channel,
    then queue, then the brand's (neither)."""
    rows = session.scalars(
        select(SurveyConfig).where(
            SurveyConfig.brand_id == brand_id,
            SurveyConfig.is_active.is_(True),
            or_(SurveyConfig.channel_id.is_(None), SurveyConfig.channel_id == channel_id),
            or_(SurveyConfig.queue_id.is_(None), SurveyConfig.queue_id == queue_id),
        )
    ).all()
    if not rows:
        return None
    return max(rows, key=lambda c: (c.channel_id is not None, c.queue_id is not None, -c.id))


def configs(session: Session, brand_id: int | None = None) -> list[SurveyConfig]:
    query = select(SurveyConfig).order_by(SurveyConfig.id)
    if brand_id is not None:
        query = query.where(SurveyConfig.brand_id == brand_id)
    return list(session.scalars(query))


def get_config(session: Session, config_id: int) -> SurveyConfig:
    config = session.get(SurveyConfig, config_id)
    if config is None:
        raise NotFound("survey not found")
    return config


def get_response(session: Session, response_id: int) -> SurveyResponse | None:
    return session.get(SurveyResponse, response_id)


def response_by_code(session: Session, code: str) -> SurveyResponse | None:
    return session.scalar(select(SurveyResponse).where(SurveyResponse.code == code))


def opted_out(session: Session, *, brand_id: int, customer_id: int) -> bool:
    return (
        session.scalar(
            select(SurveyOptout.id).where(
                SurveyOptout.brand_id == brand_id, SurveyOptout.customer_id == customer_id
            )
        )
        is not None
    )


def surveyed_since(
    session: Session, *, brand_id: int, customer_id: int, since: datetime, exclude_id: int
) -> bool:
    """Whether the customer was sent a survey of this brand since ``since``."""
    found = session.scalar(
        select(SurveyResponse.id)
        .where(
            SurveyResponse.brand_id == brand_id,
            SurveyResponse.customer_id == customer_id,
            SurveyResponse.id != exclude_id,
            SurveyResponse.sent_at.is_not(None),
            SurveyResponse.sent_at >= since,
        )
        .limit(1)
    )
    return found is not None


# ---- follow-ups ------------------------------------------------------------------------------


def followup_scope(user: User) -> ColumnElement[bool]:
    """Supervisors see every follow-up; agents theirs and their teams' unassigned ones."""
    if user.is_supervisor:
        return true()
    team_ids = [t.id for t in user.teams]
    return or_(
        SurveyFollowup.assignee_id == user.id,
        and_(SurveyFollowup.assignee_id.is_(None), SurveyFollowup.team_id.in_(team_ids))
        if team_ids
        else SurveyFollowup.id.is_(None),
    )


def followups_query(user: User) -> Select[SurveyFollowup]:
    return select(SurveyFollowup).where(followup_scope(user))


def followups(
    session: Session, user: User, *, status: str = "active", limit: int = 200
) -> list[SurveyFollowup]:
    query = followups_query(user)
    if status == "active":
        query = query.where(SurveyFollowup.status != FollowupStatus.DONE).order_by(
            SurveyFollowup.due_at
        )
    else:
        query = query.where(SurveyFollowup.status == FollowupStatus(status)).order_by(
            SurveyFollowup.done_at.desc(), SurveyFollowup.id.desc()
        )
    return list(session.scalars(query.limit(limit)))


def access_followup_by_id(session: Session, user: User, followup_id: int) -> SurveyFollowup:
    found = session.scalar(followups_query(user).where(SurveyFollowup.id == followup_id))
    if found is None:
        raise NotFound("follow-up not found")
    return found


def followup_counts(session: Session, user: User) -> dict[str, int]:
    rows = session.execute(
        select(SurveyFollowup.status, func.count())
        .where(followup_scope(user))
        .group_by(SurveyFollowup.status)
    )
    counts = {s.value: 0 for s in FollowupStatus}
    for status, n in rows:
        counts[FollowupStatus(status).value] = int(n)
    return counts


# ---- a customer's scores ---------------------------------------------------------------------


@dataclass(frozen=True)
class ScorePoint:
    response: SurveyResponse
    band: str  # "high", "mid", "low"
    followup: SurveyFollowup | None


def band(kind: SurveyKind | str, score: int) -> str:
    if is_low(kind, score):
        return "low"
    return "high" if is_high(kind, score) else "mid"


def customer_scores(session: Session, customer_id: int) -> list[ScorePoint]:
    """Every answered survey of the customer, oldest first, with the follow-up it opened."""
    rows = session.execute(
        select(SurveyResponse, SurveyFollowup)
        .outerjoin(SurveyFollowup, SurveyFollowup.response_id == SurveyResponse.id)
        .where(
            SurveyResponse.customer_id == customer_id,
            SurveyResponse.status == ResponseStatus.ANSWERED,
        )
        .order_by(SurveyResponse.answered_at, SurveyResponse.id)
    ).all()
    return [ScorePoint(r, band(r.kind, r.score or 0), f) for r, f in rows if r.score is not None]


def trend(points: list[ScorePoint]) -> str:
    """ "up", "down" or "flat": the last answer against the average of the ones before it, each
    as a fraction of its own scale."""
    from sportello.surveys.schemas import SCALES

    def norm(p: ScorePoint) -> float:
        low, high = SCALES[SurveyKind(p.response.kind)]
        return ((p.response.score or 0) - low) / (high - low)

    if len(points) < 2:
        return "flat"
    last = norm(points[-1])
    before = sum(norm(p) for p in points[:-1]) / (len(points) - 1)
    if last - before > 0.1:
        return "up"
    if before - last > 0.1:
        return "down"
    return "flat"


def sparkline(points: list[ScorePoint], width: int = 240, height: int = 48) -> str:
    """The SVG polyline points of the scores, each as a fraction of its own scale."""
    from sportello.surveys.schemas import SCALES

    if not points:
        return ""
    step = width / max(len(points) - 1, 1)
    coords = []
    for i, p in enumerate(points):
        low, high = SCALES[SurveyKind(p.response.kind)]
        fraction = ((p.response.score or 0) - low) / (high - low)
        x = i * step if len(points) > 1 else width / 2
        y = 4 + (1 - fraction) * (height - 8)
        coords.append(f"{x:.1f},{y:.1f}")
    return " ".join(coords)


def customer_followups(session: Session, customer_id: int) -> list[SurveyFollowup]:
    return list(
        session.scalars(
            select(SurveyFollowup)
            .where(SurveyFollowup.customer_id == customer_id)
            .order_by(SurveyFollowup.created_at.desc())
        )
    )


# ---- summaries -------------------------------------------------------------------------------


@dataclass(frozen=True)
class KindSummary:
    kind: SurveyKind
    answered: int
    average: float | None
    score: float | None  # CSAT: % satisfied (4-5); NPS: promoters - detractors; CES: average
    promoters: int = 0
    passives: int = 0
    detractors: int = 0


def summary(session: Session, *, brand_id: int | None, since: datetime) -> list[KindSummary]:
    query = select(SurveyResponse.kind, SurveyResponse.score).where(
        SurveyResponse.status == ResponseStatus.ANSWERED,
        SurveyResponse.answered_at >= since,
        SurveyResponse.score.is_not(None),
    )
    if brand_id is not None:
        query = query.where(SurveyResponse.brand_id == brand_id)
    scores: dict[SurveyKind, list[int]] = {k: [] for k in SurveyKind}
    for kind, score in session.execute(query):
        if score is not None:
            scores[SurveyKind(kind)].append(int(score))
    out = []
    for kind, values in scores.items():
        if not values:
            out.append(KindSummary(kind, 0, None, None))
            continue
        average = sum(values) / len(values)
        if kind == SurveyKind.NPS:
            bands = [nps_band(v) for v in values]
            p, pa, d = (bands.count(b) for b in ("promoter", "passive", "detractor"))
            out.append(
                KindSummary(kind, len(values), average, 100 * (p - d) / len(values), p, pa, d)
            )
        elif kind == SurveyKind.CSAT:
            satisfied = sum(1 for v in values if v >= 4)
            out.append(KindSummary(kind, len(values), average, 100 * satisfied / len(values)))
        else:
            out.append(KindSummary(kind, len(values), average, average))
    return out


@dataclass(frozen=True)
class Recovered:
    customer_id: int
    before: SurveyResponse
    after: SurveyResponse
    followup: SurveyFollowup


def recovered(
    session: Session, *, brand_id: int | None = None, since: datetime | None = None
) -> list[Recovered]:
    """Customers won back: an unhappy answer, a follow-up done, then a happy answer to the
    survey sent after it."""
    before = aliased(SurveyResponse)
    after = aliased(SurveyResponse)
    query = (
        select(before, after, SurveyFollowup)
        .join(SurveyFollowup, SurveyFollowup.response_id == before.id)
        .join(after, after.after_followup_id == SurveyFollowup.id)
        .where(
            SurveyFollowup.status == FollowupStatus.DONE,
            after.status == ResponseStatus.ANSWERED,
            after.score.is_not(None),
        )
        .order_by(after.answered_at.desc())
    )
    if brand_id is not None:
        query = query.where(SurveyFollowup.brand_id == brand_id)
    if since is not None:
        query = query.where(after.answered_at >= since)
    return [
        Recovered(b.customer_id, b, a, f)
        for b, a, f in session.execute(query).all()
        if a.score is not None
        and is_high(a.kind, a.score)
        and b.score is not None
        and is_low(b.kind, b.score)
    ]


def responses(
    session: Session,
    *,
    brand_id: int | None = None,
    status: ResponseStatus | None = None,
    customer_id: int | None = None,
    after_id: int | None = None,
    limit: int = 50,
) -> list[SurveyResponse]:
    query = select(SurveyResponse).order_by(SurveyResponse.id.desc()).limit(limit)
    if brand_id is not None:
        query = query.where(SurveyResponse.brand_id == brand_id)
    if status is not None:
        query = query.where(SurveyResponse.status == status)
    if customer_id is not None:
        query = query.where(SurveyResponse.customer_id == customer_id)
    if after_id is not None:
        query = query.where(SurveyResponse.id < after_id)
    return list(session.scalars(query))
