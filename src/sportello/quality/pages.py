"""Quality pages: the reviewer's desk (/quality), the review screen beside the transcript, the
agent's "My reviews" (acknowledge, dispute), scorecards, sampling rules, calibration sessions
and trends with CSV/XLSX export."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.orm import Session

from sportello.accounts import service as accounts_service
from sportello.accounts.models import Team, User
from sportello.channels.models import Channel
from sportello.conversations.models import Conversation, Message
from sportello.core import access
from sportello.core.db import SessionDep, utcnow
from sportello.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from sportello.quality import actions, handlers, service
from sportello.quality.models import (
    SCALE_RANGE,
    Calibration,
    Review,
    ReviewStatus,
    SampleMethod,
    SampleRule,
    Scale,
    Scorecard,
)
from sportello.quality.schemas import (
    CriterionData,
    RatingData,
    RuleData,
    ScorecardData,
)
from sportello.routing import service as routing_service
from sportello.web.auth import CsrfChecked, CurrentUser, SupervisorUser
from sportello.web.helpers import form_error, see_other, translating
from sportello.web.render import render as _render_page

__all__ = ["handlers", "router"]

router = APIRouter(dependencies=[CsrfChecked])
ERRORS = (InvalidInput, Conflict, PermissionDenied, NotFound)


async def _form(request: Request) -> dict[str, Any]:
    return {k: v for k, v in (await request.form()).items() if isinstance(v, str)}


FormData = Annotated[dict[str, Any], Depends(_form)]


DEFAULTS = {"error": None, "values": None, "saved": None, "created": None}


def render(request: Request, template: str, context: dict[str, Any], **kwargs: Any) -> Response:
    """The console's render, with the optional keys every quality template may test."""
    return _render_page(request, template, {**DEFAULTS, **context}, **kwargs)


def _int(value: Any, field: str) -> int | None:
    raw = str(value or "").strip()
    if not raw:
        return None
    if not raw.isdigit():
        raise InvalidInput("choose from the list", field=field)
    return int(raw)


def _names(session: Session, reviews: list[Review]) -> dict[str, Any]:
    users = service.users_by_id(
        session, {r.agent_id for r in reviews} | {r.reviewer_id for r in reviews}
    )
    conversations = {
        c.id: c
        for c in session.scalars(
            select(Conversation).where(Conversation.id.in_({r.conversation_id for r in reviews}))
        )
    }
    cards = {s.id: s for s in service.scorecards(session)}
    return {"users": users, "conversations": conversations, "cards": cards}


# ---- the reviewer's desk ------------------------------------------------------------------


def _desk(request: Request, session: Session, user: User, **extra: Any) -> Response:
    mine = list(
        session.scalars(
            service.reviews_query(user, status=ReviewStatus.ASSIGNED, reviewer_id=user.id)
            .order_by(Review.id)
            .limit(100)
        )
    )
    calibrating = list(
        session.scalars(
            service.reviews_query(
                user, status=ReviewStatus.ASSIGNED, reviewer_id=user.id, calibration=True
            ).limit(50)
        )
    )
    recent = service.reviews(session, user, status=ReviewStatus.DONE, limit=30)
    disputes = [r for r in service.reviews(session, user, limit=500) if r.dispute_status == "open"]
    everything = mine + calibrating + recent + disputes
    return render(
        request,
        "quality/desk.html",
        {
            "mine": mine,
            "calibrating": calibrating,
            "recent": recent,
            "disputes": disputes,
            "scorecards": service.scorecards(session, active_only=True),
            "tab": "desk",
            **_names(session, everything),
            **extra,
        },
        status_code=422 if extra.get("error") else 200,
    )


@router.get("/quality", response_class=HTMLResponse, include_in_schema=False)
def desk(request: Request, session: SessionDep, user: CurrentUser) -> Response:
    if not user.is_supervisor:
        return see_other("/quality/mine")
    return _desk(request, session, user, created=request.query_params.get("created"))


@router.post("/quality/reviews", response_class=HTMLResponse, include_in_schema=False)
def start_review(
    request: Request, session: SessionDep, user: SupervisorUser, form: FormData
) -> Response:
    """Review a conversation now (its number), with the chosen scorecard."""
    try:
        number = _int(form.get("number"), "number")
        if number is None:
            raise InvalidInput("conversation not found", field="number")
        try:
            conversation = access.access_conversation_by_number(session, user, number)
        except NotFound:
            raise InvalidInput("conversation not found", field="number") from None
        scorecard_id = _int(form.get("scorecard_id"), "scorecard_id")
        scorecard = (
            session.get(Scorecard, scorecard_id)
            if scorecard_id
            else service.default_scorecard(session, conversation.brand_id)
        )
        if scorecard is None:
            raise InvalidInput("unknown scorecard", field="scorecard_id")
        review = actions.do_create_review(
            session, conversation=conversation, scorecard=scorecard, reviewer=user
        )
    except ERRORS as exc:
        session.rollback()
        return _desk(request, session, user, error=form_error(exc), values=form)
    return see_other(f"/quality/reviews/{review.id}")


@router.post("/quality/rules/run", response_class=HTMLResponse, include_in_schema=False)
def run_all(request: Request, session: SessionDep, user: SupervisorUser) -> Response:
    created = actions.do_run_rules(session)
    return see_other(f"/quality?created={len(created)}")


# ---- the review screen --------------------------------------------------------------------


def _review_page(
    request: Request, session: Session, user: User, review: Review, **extra: Any
) -> Response:
    conversation = session.get(Conversation, review.conversation_id)
    scorecard = service.get_scorecard(session, review.scorecard_id)
    if review.calibration_id is not None and review.reviewer_id != user.id and not user.is_admin:
        raise NotFound("review not found")  # blind: only the reviewer sees a calibration score
    messages = list(
        session.scalars(
            select(Message)
            .where(Message.conversation_id == review.conversation_id)
            .order_by(Message.created_at, Message.id)
            .limit(500)
        )
    )
    ratings = {r.criterion_id: r for r in review.ratings}
    can_score = user.is_supervisor and (
        review.calibration_id is None or review.reviewer_id == user.id
    )
    if review.calibration_id is not None:
        calibration = session.get(Calibration, review.calibration_id)
        if calibration is not None and service.revealed(calibration):
            can_score = False
    return render(
        request,
        "quality/review.html",
        {
            "review": review,
            "conversation": conversation,
            "scorecard": scorecard,
            "criteria": [c for c in scorecard.criteria if c.is_active or c.id in ratings],
            "ratings": ratings,
            "messages": messages,
            "ranges": {s.value: SCALE_RANGE[s] for s in Scale},
            "can_score": can_score,
            "is_agent": review.agent_id == user.id,
            "tab": "mine" if not user.is_supervisor else "desk",
            **_names(session, [review]),
            **extra,
        },
        status_code=422 if extra.get("error") else 200,
    )


@router.get("/quality/reviews/{review_id}", response_class=HTMLResponse, include_in_schema=False)
def review_page(
    request: Request, session: SessionDep, user: CurrentUser, review_id: int
) -> Response:
    review = service.access_review_by_id(session, user, review_id)
    return _review_page(request, session, user, review, saved=request.query_params.get("saved"))


def _ratings(form: dict[str, Any], scorecard: Scorecard) -> list[RatingData]:
    out = []
    for criterion in scorecard.criteria:
        if not criterion.is_active:
            continue
        raw = str(form.get(f"criterion_{criterion.id}", "")).strip()
        if raw == "na":
            value = None
        elif raw.lstrip("-").isdigit():
            value = int(raw)
        else:
            raise InvalidInput(
                "score every criterion (or mark it N/A)", field=f"criterion_{criterion.id}"
            )
        out.append(
            RatingData(
                criterion_id=criterion.id,
                value=value,
                comment=str(form.get(f"comment_{criterion.id}", ""))[:2000],
            )
        )
    return out


@router.post(
    "/quality/reviews/{review_id}/score", response_class=HTMLResponse, include_in_schema=False
)
def score(
    request: Request, session: SessionDep, user: SupervisorUser, review_id: int, form: FormData
) -> Response:
    review = service.access_review_by_id(session, user, review_id)
    try:
        scorecard = service.get_scorecard(session, review.scorecard_id)
        actions.do_score_review(
            session,
            review=review,
            by=user,
            ratings=_ratings(form, scorecard),
            comment=str(form.get("comment", ""))[:10000],
            coaching_note=str(form.get("coaching_note", ""))[:10000],
        )
    except ERRORS as exc:
        session.rollback()
        review = service.access_review_by_id(session, user, review_id)
        return _review_page(request, session, user, review, error=form_error(exc), values=form)
    if review.calibration_id is not None:
        return see_other(f"/quality/calibrations/{review.calibration_id}")
    return see_other(f"/quality/reviews/{review.id}?saved=1")


@router.post(
    "/quality/reviews/{review_id}/acknowledge",
    response_class=HTMLResponse,
    include_in_schema=False,
)
def acknowledge(
    request: Request, session: SessionDep, user: CurrentUser, review_id: int
) -> Response:
    review = service.access_review_by_id(session, user, review_id)
    try:
        actions.do_acknowledge(session, review=review, by=user)
    except ERRORS as exc:
        session.rollback()
        review = service.access_review_by_id(session, user, review_id)
        return _review_page(request, session, user, review, error=form_error(exc))
    return see_other(f"/quality/reviews/{review.id}")


@router.post(
    "/quality/reviews/{review_id}/dispute", response_class=HTMLResponse, include_in_schema=False
)
def dispute(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    review_id: int,
    text: Annotated[str, Form(max_length=5000)] = "",
) -> Response:
    review = service.access_review_by_id(session, user, review_id)
    try:
        actions.do_dispute(session, review=review, by=user, text=text)
    except ERRORS as exc:
        session.rollback()
        review = service.access_review_by_id(session, user, review_id)
        return _review_page(request, session, user, review, error=form_error(exc))
    return see_other(f"/quality/reviews/{review.id}")


@router.post(
    "/quality/reviews/{review_id}/dispute/answer",
    response_class=HTMLResponse,
    include_in_schema=False,
)
def answer_dispute(
    request: Request,
    session: SessionDep,
    user: SupervisorUser,
    review_id: int,
    decision: Annotated[str, Form(max_length=10)] = "",
    answer: Annotated[str, Form(max_length=5000)] = "",
) -> Response:
    review = service.access_review_by_id(session, user, review_id)
    try:
        if decision not in ("accept", "reject"):
            raise InvalidInput("choose from the list", field="decision")
        actions.do_answer_dispute(
            session, review=review, by=user, accept=decision == "accept", answer=answer
        )
    except ERRORS as exc:
        session.rollback()
        review = service.access_review_by_id(session, user, review_id)
        return _review_page(request, session, user, review, error=form_error(exc))
    return see_other(f"/quality/reviews/{review.id}")


# ---- the agent's reviews ------------------------------------------------------------------


@router.get("/quality/mine", response_class=HTMLResponse, include_in_schema=False)
def mine(request: Request, session: SessionDep, user: CurrentUser) -> Response:
    rows = list(
        session.scalars(
            service.reviews_query(user, status=ReviewStatus.DONE, agent_id=user.id)
            .order_by(Review.acknowledged_at.is_not(None), Review.id.desc())
            .limit(200)
        )
    )
    today = utcnow().date()
    points = service.trends(session, by="agent", weeks=12, today=today, agent_id=user.id)
    return render(
        request,
        "quality/mine.html",
        {
            "rows": rows,
            "tab": "mine",
            "unacknowledged": service.unacknowledged(session, user),
            "chart": _chart(points, today=today, by="agent") if points else None,
            **_names(session, rows),
        },
    )


@router.get("/quality/mine/badge", response_class=HTMLResponse, include_in_schema=False)
def badge(request: Request, session: SessionDep, user: CurrentUser) -> Response:
    """The count of reviews to acknowledge, for the navigation (loaded by htmx)."""
    return render(request, "quality/_badge.html", {"count": service.unacknowledged(session, user)})


# ---- scorecards ---------------------------------------------------------------------------


BLANK_ROWS = 3


def _scorecards_page(
    request: Request, session: Session, *, editing: Scorecard | None = None, **extra: Any
) -> Response:
    return render(
        request,
        "quality/scorecards.html",
        {
            "scorecards": service.scorecards(session),
            "editing": editing,
            "criteria": [c for c in editing.criteria if c.is_active] if editing else [],
            "blank_rows": BLANK_ROWS if editing else 6,
            "scales": list(Scale),
            "tab": "scorecards",
            **extra,
        },
        status_code=422 if extra.get("error") else 200,
    )


@router.get("/quality/scorecards", response_class=HTMLResponse, include_in_schema=False)
def scorecards(
    request: Request, session: SessionDep, user: SupervisorUser, edit: int | None = None
) -> Response:
    editing = service.get_scorecard(session, edit) if edit else None
    return _scorecards_page(
        request, session, editing=editing, saved=request.query_params.get("saved")
    )


def _scorecard_data(form: dict[str, Any]) -> ScorecardData:
    from pydantic import ValidationError

    criteria = []
    for i in range(40):
        name = str(form.get(f"c{i}_name", "")).strip()
        if not name:
            continue
        raw_weight = str(form.get(f"c{i}_weight", "1")).strip() or "0"
        if not raw_weight.isdigit() or int(raw_weight) > 100:
            raise InvalidInput("give a weight from 0 to 100", field=f"c{i}_weight")
        scale = str(form.get(f"c{i}_scale", "five"))
        if scale not in {s.value for s in Scale}:
            raise InvalidInput("choose from the list", field=f"c{i}_scale")
        criteria.append(
            CriterionData(
                id=_int(form.get(f"c{i}_id"), f"c{i}_id"),
                name=name[:200],
                description=str(form.get(f"c{i}_description", ""))[:1000],
                weight=int(raw_weight),
                scale=Scale(scale),
                critical=bool(form.get(f"c{i}_critical")),
                allow_na=bool(form.get(f"c{i}_allow_na")),
            )
        )
    if not criteria:
        raise InvalidInput("every criterion needs a name", field="c0_name")
    raw_pass = str(form.get("pass_score", "80")).strip()
    if not raw_pass.isdigit() or int(raw_pass) > 100:
        raise InvalidInput("give a score from 0 to 100", field="pass_score")
    try:
        return ScorecardData(
            name=str(form.get("name", "")).strip(),
            description=str(form.get("description", ""))[:2000],
            pass_score=int(raw_pass),
            is_active=bool(form.get("is_active")),
            is_default=bool(form.get("is_default")),
            criteria=criteria,
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first.get("loc") else None
        raise InvalidInput(
            "a scorecard needs a name" if field == "name" else "check this value", field=field
        ) from None


@router.post("/quality/scorecards", response_class=HTMLResponse, include_in_schema=False)
def save_scorecard(
    request: Request, session: SessionDep, user: SupervisorUser, form: FormData
) -> Response:
    raw_id = str(form.get("scorecard_id", ""))
    scorecard = service.get_scorecard(session, int(raw_id)) if raw_id.isdigit() else None
    try:
        scorecard = actions.do_save_scorecard(
            session,
            brand_id=accounts_service.default_brand(session).id,
            data=_scorecard_data(form),
            scorecard=scorecard,
        )
    except ERRORS as exc:
        session.rollback()
        editing = service.get_scorecard(session, int(raw_id)) if raw_id.isdigit() else None
        return _scorecards_page(
            request, session, editing=editing, error=form_error(exc), values=form
        )
    return see_other(f"/quality/scorecards?edit={scorecard.id}&saved=1")


@router.post("/quality/scorecards/default", response_class=HTMLResponse, include_in_schema=False)
def create_default(request: Request, session: SessionDep, user: SupervisorUser) -> Response:
    """Create the default scorecard (greeting, empathy and emotions, accuracy, resolution,
    tone, privacy) in the user's language, to adapt."""
    with translating(request):
        from sportello.core.i18n import gettext as _

        data = actions.default_scorecard_data(_("Standard quality scorecard"))
    scorecard = actions.do_save_scorecard(
        session, brand_id=accounts_service.default_brand(session).id, data=data
    )
    return see_other(f"/quality/scorecards?edit={scorecard.id}&saved=1")


# ---- sampling rules -----------------------------------------------------------------------


def _rules_page(
    request: Request, session: Session, *, editing: SampleRule | None = None, **extra: Any
) -> Response:
    return render(
        request,
        "quality/rules.html",
        {
            "rules": service.rules(session),
            "editing": editing,
            "scorecards": service.scorecards(session),
            "reviewers": service.staff(session, reviewers=True),
            "teams": list(session.scalars(select(Team).order_by(Team.name))),
            "queues": routing_service.get_all(session),
            "channels": list(session.scalars(select(Channel).order_by(Channel.name))),
            "methods": list(SampleMethod),
            "tab": "rules",
            **extra,
        },
        status_code=422 if extra.get("error") else 200,
    )


@router.get("/quality/rules", response_class=HTMLResponse, include_in_schema=False)
def rules(
    request: Request, session: SessionDep, user: SupervisorUser, edit: int | None = None
) -> Response:
    editing = service.get_rule(session, edit) if edit else None
    return _rules_page(
        request, session, editing=editing, created=request.query_params.get("created")
    )


@router.post("/quality/rules", response_class=HTMLResponse, include_in_schema=False)
def save_rule(
    request: Request, session: SessionDep, user: SupervisorUser, form: FormData
) -> Response:
    raw_id = str(form.get("rule_id", ""))
    rule = service.get_rule(session, int(raw_id)) if raw_id.isdigit() else None
    try:
        per_agent = str(form.get("per_agent", "")).strip()
        if not per_agent.isdigit() or not 1 <= int(per_agent) <= 50:
            raise InvalidInput("give a number from 1 to 50", field="per_agent")
        method = str(form.get("method", "random"))
        if method not in {m.value for m in SampleMethod}:
            raise InvalidInput("choose from the list", field="method")
        name = str(form.get("name", "")).strip()[:200]
        if not name:
            raise InvalidInput("a sampling rule needs a name", field="name")
        scorecard_id = _int(form.get("scorecard_id"), "scorecard_id")
        if scorecard_id is None:
            raise InvalidInput("unknown scorecard", field="scorecard_id")
        data = RuleData(
            name=name,
            scorecard_id=scorecard_id,
            method=SampleMethod(method),
            per_agent=int(per_agent),
            reviewer_id=_int(form.get("reviewer_id"), "reviewer_id"),
            team_id=_int(form.get("team_id"), "team_id"),
            queue_id=_int(form.get("queue_id"), "queue_id"),
            channel_id=_int(form.get("channel_id"), "channel_id"),
            is_active=bool(form.get("is_active")),
        )
        actions.do_save_rule(
            session, brand_id=accounts_service.default_brand(session).id, data=data, rule=rule
        )
    except ERRORS as exc:
        session.rollback()
        editing = service.get_rule(session, int(raw_id)) if raw_id.isdigit() else None
        return _rules_page(request, session, editing=editing, error=form_error(exc), values=form)
    return see_other("/quality/rules")


@router.post("/quality/rules/{rule_id}/run", response_class=HTMLResponse, include_in_schema=False)
def run_rule(request: Request, session: SessionDep, user: SupervisorUser, rule_id: int) -> Response:
    created = actions.do_run_rule(session, rule=service.get_rule(session, rule_id))
    return see_other(f"/quality/rules?created={len(created)}")


# ---- calibration --------------------------------------------------------------------------


def _calibrations_page(request: Request, session: Session, **extra: Any) -> Response:
    items = service.calibrations(session)
    conversations = {
        c.id: c
        for c in session.scalars(
            select(Conversation).where(Conversation.id.in_({c.conversation_id for c in items}))
        )
    }
    return render(
        request,
        "quality/calibrations.html",
        {
            "items": items,
            "conversations": conversations,
            "reviewers": service.staff(session, reviewers=True),
            "scorecards": service.scorecards(session, active_only=True),
            "tab": "calibrations",
            **extra,
        },
        status_code=422 if extra.get("error") else 200,
    )


@router.get("/quality/calibrations", response_class=HTMLResponse, include_in_schema=False)
def calibrations(request: Request, session: SessionDep, user: SupervisorUser) -> Response:
    return _calibrations_page(request, session)


async def _reviewer_ids(request: Request) -> list[str]:
    return [str(v) for v in (await request.form()).getlist("reviewer_ids")]


@router.post("/quality/calibrations", response_class=HTMLResponse, include_in_schema=False)
def create_calibration(
    request: Request,
    session: SessionDep,
    user: SupervisorUser,
    form: FormData,
    reviewer_ids: Annotated[list[str], Depends(_reviewer_ids)],
) -> Response:
    return _create_calibration(request, session, user, form, reviewer_ids)


def _create_calibration(
    request: Request, session: Session, user: User, form: dict[str, Any], reviewer_ids: list[str]
) -> Response:
    try:
        number = _int(form.get("number"), "number")
        try:
            conversation = access.access_conversation_by_number(session, user, number or 0)
        except NotFound:
            raise InvalidInput("conversation not found", field="number") from None
        ids = [int(v) for v in reviewer_ids if v.isdigit()]
        reviewers = list(session.scalars(select(User).where(User.id.in_(ids))))
        scorecard_id = _int(form.get("scorecard_id"), "scorecard_id")
        scorecard = (
            session.get(Scorecard, scorecard_id)
            if scorecard_id
            else service.default_scorecard(session, conversation.brand_id)
        )
        if scorecard is None:
            raise InvalidInput("unknown scorecard", field="scorecard_id")
        calibration = actions.do_create_calibration(
            session,
            title=str(form.get("title", ""))[:200],
            conversation=conversation,
            scorecard=scorecard,
            reviewers=reviewers,
            by=user,
        )
    except ERRORS as exc:
        session.rollback()
        return _calibrations_page(request, session, error=form_error(exc), values=form)
    return see_other(f"/quality/calibrations/{calibration.id}")


def _calibration_page(
    request: Request, session: Session, user: User, calibration: Calibration, **extra: Any
) -> Response:
    reviews = service.calibration_reviews(session, calibration.id)
    scorecard = service.get_scorecard(session, calibration.scorecard_id)
    shown = service.revealed(calibration)
    done = [r for r in reviews if r.status == ReviewStatus.DONE]
    return render(
        request,
        "quality/calibration.html",
        {
            "calibration": calibration,
            "reviews": reviews,
            "done": done,
            "mine": next((r for r in reviews if r.reviewer_id == user.id), None),
            "shown": shown,
            "spread": service.spread(scorecard, reviews) if shown else [],
            "scorecard": scorecard,
            "conversation": session.get(Conversation, calibration.conversation_id),
            "tab": "calibrations",
            **_names(session, reviews),
            **extra,
        },
        status_code=422 if extra.get("error") else 200,
    )


@router.get(
    "/quality/calibrations/{calibration_id}", response_class=HTMLResponse, include_in_schema=False
)
def calibration(
    request: Request, session: SessionDep, user: SupervisorUser, calibration_id: int
) -> Response:
    return _calibration_page(
        request, session, user, service.get_calibration(session, calibration_id)
    )


@router.post(
    "/quality/calibrations/{calibration_id}/reveal",
    response_class=HTMLResponse,
    include_in_schema=False,
)
def reveal(
    request: Request, session: SessionDep, user: SupervisorUser, calibration_id: int
) -> Response:
    calibration = service.get_calibration(session, calibration_id)
    try:
        actions.do_reveal_calibration(session, calibration=calibration, by=user)
    except ERRORS as exc:
        session.rollback()
        calibration = service.get_calibration(session, calibration_id)
        return _calibration_page(request, session, user, calibration, error=form_error(exc))
    return see_other(f"/quality/calibrations/{calibration_id}")


# ---- trends -------------------------------------------------------------------------------


def _chart(points: list[service.TrendRow], *, today: date, by: str) -> Markup:
    from sportello.reports import charts

    weeks = sorted({p.week for p in points})
    series: dict[str, list[float | None]] = {}
    for p in points:
        line = series.setdefault(p.name or "IQS", [None] * len(weeks))
        line[weeks.index(p.week)] = p.iqs / 100 if p.iqs is not None else None
    # the six lines with the most reviews, to keep the chart legible
    keep = sorted(series, key=lambda n: -sum(p.reviews for p in points if (p.name or "IQS") == n))[
        :6
    ]
    svg = charts.trend(
        [datetime(w.year, w.month, w.day) for w in weeks],
        {n: series[n] for n in keep},
        labels=[w.strftime("%d/%m") for w in weeks],
        percent=True,
    )
    return Markup(svg)  # noqa: S704  (our own matplotlib SVG, styles stripped)


def _trend_args(by: str, weeks: int) -> tuple[str, int]:
    return (by if by in ("agent", "team", "all") else "agent", max(1, min(weeks, 104)))


@router.get("/quality/trends", response_class=HTMLResponse, include_in_schema=False)
def trends(
    request: Request, session: SessionDep, user: SupervisorUser, by: str = "agent", weeks: int = 12
) -> Response:
    by, weeks = _trend_args(by, weeks)
    today = utcnow().date()
    points = service.trends(session, by=by, weeks=weeks, today=today)
    criteria = sorted({name for p in points for name in p.criteria})
    return render(
        request,
        "quality/trends.html",
        {
            "points": points,
            "criteria": criteria,
            "by": by,
            "weeks": weeks,
            "chart": _chart(points, today=today, by=by) if points else None,
            "tab": "trends",
        },
    )


def _trend_table(
    request: Request, points: list[service.TrendRow]
) -> tuple[list[str], list[list[Any]]]:
    criteria = sorted({name for p in points for name in p.criteria})
    with translating(request):
        from sportello.core.i18n import gettext as _

        header = [_("Week"), _("Name"), _("Reviews"), _("IQS"), *criteria]
    rows = [
        [p.week.isoformat(), p.name, p.reviews, p.iqs, *[p.criteria.get(c) for c in criteria]]
        for p in points
    ]
    return header, rows


@router.get("/quality/trends.csv", include_in_schema=False)
def trends_csv(
    request: Request, session: SessionDep, user: SupervisorUser, by: str = "agent", weeks: int = 12
) -> Response:
    by, weeks = _trend_args(by, weeks)
    header, rows = _trend_table(
        request, service.trends(session, by=by, weeks=weeks, today=utcnow().date())
    )
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    return Response(
        buffer.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="quality-{by}.csv"'},
    )


@router.get("/quality/trends.xlsx", include_in_schema=False)
def trends_xlsx(
    request: Request, session: SessionDep, user: SupervisorUser, by: str = "agent", weeks: int = 12
) -> Response:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    by, weeks = _trend_args(by, weeks)
    header, rows = _trend_table(
        request, service.trends(session, by=by, weeks=weeks, today=utcnow().date())
    )
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "IQS"
    sheet.append(header)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for values in rows:
        sheet.append(values)
    sheet.freeze_panes = "C2"
    buffer = io.BytesIO()
    book.save(buffer)
    return Response(
        buffer.getvalue(),
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": f'attachment; filename="quality-{by}.xlsx"'},
    )
