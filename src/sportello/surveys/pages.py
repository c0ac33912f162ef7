"""Survey pages: the public one-tap survey at /s/<token> (no login), the follow-ups to call back
("Da richiamare"), the survey results, the admin settings, and a customer's score panel."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from sportello.accounts import service as accounts_service
from sportello.accounts.models import Team, User
from sportello.channels.models import Channel
from sportello.core import access, i18n
from sportello.core.db import SessionDep, utcnow
from sportello.core.errors import Conflict, InvalidInput, PermissionDenied
from sportello.customers.models import Customer
from sportello.routing import service as routing_service
from sportello.surveys import actions, handlers, links, service
from sportello.surveys.models import (
    FollowupRule,
    FollowupStatus,
    ResponseStatus,
    SurveyConfig,
    SurveyKind,
    SurveyResponse,
)
from sportello.surveys.schemas import SCALES, ExtraQuestion, SurveyConfigData, nps_band, scale
from sportello.web.auth import AdminUser, CsrfChecked, CurrentUser, SupervisorUser
from sportello.web.helpers import form_error, see_other
from sportello.web.render import csrf_token, env, render

__all__ = ["handlers", "router"]  # handlers: importing it registers the survey's wiring

router = APIRouter(dependencies=[CsrfChecked])


# ---- the public survey -----------------------------------------------------------------------


def _public(
    request: Request, template: str, context: dict[str, Any], *, language: str, status: int = 200
) -> HTMLResponse:
    """Render a public page in the customer's language (there is no user to take it from)."""
    token = i18n.current_language.set(language)
    try:
        html = env.get_template(template).render(
            {"request": request, "lang": language, "csrf_token": csrf_token(request), **context}
        )
    finally:
        i18n.current_language.reset(token)
    return HTMLResponse(
        html,
        status_code=status,
        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
    )


def _language(request: Request, response: SurveyResponse | None) -> str:
    chosen = request.query_params.get("lang")
    if chosen in i18n.LANGUAGES:
        return str(chosen)
    if response is not None:
        return response.language
    return i18n.pick_language(request.headers.get("accept-language"))


def _survey(session: Session, token: str) -> SurveyResponse:
    """The survey of a link; LinkInvalid, LinkExpired otherwise."""
    response = session.get(SurveyResponse, links.response_id_from(token))
    if response is None or response.status in (ResponseStatus.SCHEDULED, ResponseStatus.SKIPPED):
        raise links.LinkInvalid
    if response.expires_at is not None and response.expires_at <= utcnow():
        raise links.LinkExpired
    return response


def _survey_context(session: Session, response: SurveyResponse, token: str) -> dict[str, Any]:
    config = session.get(SurveyConfig, response.config_id) if response.config_id else None
    from sportello.accounts.models import Brand

    brand = session.get(Brand, response.brand_id)
    kind = SurveyKind(response.kind)
    language = i18n.current_language.get()
    extra = [
        (q.get("en") if language == "en" else q.get("it")) or q.get("it") or q.get("en")
        for q in (config.extra_questions if config else [])
    ]
    return {
        "response": response,
        "token": token,
        "brand": brand.name if brand else "Sportello",
        "kind": kind.value,
        "scores": list(scale(kind)),
        "low": SCALES[kind][0],
        "high": SCALES[kind][1],
        "ask_comment": config.ask_comment if config else True,
        "extra_questions": extra,
    }


def _link_problem(request: Request, exc: Exception) -> HTMLResponse:
    expired = isinstance(exc, links.LinkExpired)
    return _public(
        request,
        "surveys/public_problem.html",
        {"expired": expired},
        language=_language(request, None),
        status=410 if expired else 404,
    )


def _render_survey(
    request: Request, session: Session, response: SurveyResponse, token: str, **extra: Any
) -> HTMLResponse:
    language = _language(request, response)
    ctx_token = i18n.current_language.set(language)
    try:
        context = _survey_context(session, response, token)
        context["question"] = actions.question_text(
            session.get(SurveyConfig, response.config_id) if response.config_id else None,
            SurveyKind(response.kind),
            language,
        )
        context["hint"] = actions.scale_hint(SurveyKind(response.kind))
    finally:
        i18n.current_language.reset(ctx_token)
    context.update(extra)
    template = (
        "surveys/public_thanks.html"
        if response.status == ResponseStatus.ANSWERED
        else "surveys/public_survey.html"
    )
    status = 422 if extra.get("error") else 200
    return _public(request, template, context, language=language, status=status)


@router.get("/s/{token}", response_class=HTMLResponse, include_in_schema=False)
def survey_page(request: Request, session: SessionDep, token: str) -> Response:
    try:
        response = _survey(session, token)
    except (links.LinkInvalid, links.LinkExpired) as exc:
        return _link_problem(request, exc)
    answered = response.status == ResponseStatus.ANSWERED
    return _render_survey(request, session, response, token, already=answered)


@router.post("/s/{token}", response_class=HTMLResponse, include_in_schema=False)
def survey_answer(
    request: Request,
    session: SessionDep,
    token: str,
    score: Annotated[str, Form(max_length=3)] = "",
) -> Response:
    """One tap: the score. A second answer to the same link is refused (single-use)."""
    try:
        response = _survey(session, token)
    except (links.LinkInvalid, links.LinkExpired) as exc:
        return _link_problem(request, exc)
    if response.status == ResponseStatus.ANSWERED:
        return _render_survey(request, session, response, token, already=True)
    try:
        value = int(score)
    except ValueError:
        value = -1
    try:
        actions.do_answer_survey(session, response=response, score=value, via="link")
    except (InvalidInput, Conflict) as exc:
        session.rollback()
        response = _survey(session, token)
        return _render_survey(request, session, response, token, error=form_error(exc))
    return _render_survey(request, session, response, token, just_answered=True)


@router.post("/s/{token}/comment", response_class=HTMLResponse, include_in_schema=False)
def survey_comment(
    request: Request,
    session: SessionDep,
    token: str,
    comment: Annotated[str, Form(max_length=2000)] = "",
    extra: Annotated[list[str] | None, Form(max_length=2000)] = None,
) -> Response:
    try:
        response = _survey(session, token)
    except (links.LinkInvalid, links.LinkExpired) as exc:
        return _link_problem(request, exc)
    try:
        actions.do_add_comment(session, response=response, comment=comment, extra_answers=extra)
    except (InvalidInput, Conflict) as exc:
        session.rollback()
        response = _survey(session, token)
        return _render_survey(request, session, response, token, error=form_error(exc))
    return _render_survey(request, session, response, token, commented=True)


@router.get("/s/{token}/optout", response_class=HTMLResponse, include_in_schema=False)
def optout_page(request: Request, session: SessionDep, token: str) -> Response:
    try:
        response = session.get(SurveyResponse, links.response_id_from(token))
    except (links.LinkInvalid, links.LinkExpired) as exc:
        return _link_problem(request, exc)
    if response is None:
        return _link_problem(request, links.LinkInvalid())
    done = service.opted_out(session, brand_id=response.brand_id, customer_id=response.customer_id)
    return _public(
        request,
        "surveys/public_optout.html",
        {"token": token, "done": done},
        language=_language(request, response),
    )


@router.post("/s/{token}/optout", response_class=HTMLResponse, include_in_schema=False)
def optout(request: Request, session: SessionDep, token: str) -> Response:
    """Opting out works for as long as the signature holds, even after the survey expired."""
    try:
        response = session.get(SurveyResponse, links.response_id_from(token))
    except (links.LinkInvalid, links.LinkExpired) as exc:
        return _link_problem(request, exc)
    if response is None:
        return _link_problem(request, links.LinkInvalid())
    actions.do_opt_out(session, brand_id=response.brand_id, customer_id=response.customer_id)
    return _public(
        request,
        "surveys/public_optout.html",
        {"token": token, "done": True},
        language=_language(request, response),
    )


# ---- follow-ups ("Da richiamare") ------------------------------------------------------------


def _followup_rows(session: Session, user: User, status: str) -> list[dict[str, Any]]:
    rows = []
    for f in service.followups(session, user, status=status):
        response = session.get(SurveyResponse, f.response_id)
        customer = session.get(Customer, f.customer_id)
        rows.append(
            {
                "f": f,
                "response": response,
                "customer": customer,
                "assignee": session.get(User, f.assignee_id) if f.assignee_id else None,
                "team": session.get(Team, f.team_id) if f.team_id else None,
                "conversation_number": _number(session, f.conversation_id),
                "overdue": f.status != FollowupStatus.DONE and f.due_at <= utcnow(),
            }
        )
    return rows


def _number(session: Session, conversation_id: int | None) -> int | None:
    if conversation_id is None:
        return None
    from sportello.conversations.models import Conversation

    return session.scalar(select(Conversation.number).where(Conversation.id == conversation_id))


def _followups_page(
    request: Request, session: Session, user: User, status: str, error: Any = None
) -> Response:
    if status not in ("active", "done"):
        status = "active"
    return render(
        request,
        "surveys/followups.html",
        {
            "rows": _followup_rows(session, user, status),
            "status": status,
            "counts": service.followup_counts(session, user),
            "agents": [u for u in accounts_service.get_all_users(session) if u.is_active]
            if user.is_supervisor
            else [],
            "error": error,
        },
        status_code=422 if error else 200,
    )


@router.get("/surveys/followups", response_class=HTMLResponse, include_in_schema=False)
def followups(
    request: Request, session: SessionDep, user: CurrentUser, status: str = "active"
) -> Response:
    return _followups_page(request, session, user, status)


@router.post(
    "/surveys/followups/{followup_id}", response_class=HTMLResponse, include_in_schema=False
)
def followup_update(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    followup_id: int,
    action: Annotated[str, Form(max_length=20)],
    outcome: Annotated[str, Form(max_length=2000)] = "",
    assignee_id: Annotated[str, Form(max_length=20)] = "",
    resurvey: Annotated[str, Form(max_length=5)] = "",
) -> Response:
    """``action``: take (assign to me and start), assign (supervisors), done (with outcome)."""
    followup = service.access_followup_by_id(session, user, followup_id)
    try:
        if action == "take":
            actions.do_update_followup(
                session,
                followup=followup,
                by=user,
                status=FollowupStatus.IN_PROGRESS,
                reassign=True,
                assignee=user,
            )
        elif action == "assign":
            assignee = session.get(User, int(assignee_id)) if assignee_id.isdigit() else None
            if assignee_id and assignee is None:
                raise InvalidInput("choose a person", field="assignee_id")
            actions.do_update_followup(
                session, followup=followup, by=user, reassign=True, assignee=assignee
            )
        elif action == "done":
            actions.do_update_followup(
                session,
                followup=followup,
                by=user,
                status=FollowupStatus.DONE,
                outcome=outcome,
                resurvey=bool(resurvey),
            )
        else:
            raise InvalidInput("unknown action", field="action")
    except (InvalidInput, Conflict, PermissionDenied) as exc:
        session.rollback()
        return _followups_page(request, session, user, "active", error=form_error(exc))
    return see_other("/surveys/followups")


# ---- results ---------------------------------------------------------------------------------


@router.get("/surveys", response_class=HTMLResponse, include_in_schema=False)
def results(
    request: Request, session: SessionDep, user: SupervisorUser, days: int = 90
) -> Response:
    days = max(1, min(days, 365))
    since = utcnow() - timedelta(days=days)
    recent = service.responses(session, status=ResponseStatus.ANSWERED, limit=30)
    customers = {
        c.id: c
        for c in session.scalars(
            select(Customer).where(Customer.id.in_({r.customer_id for r in recent}))
        )
    }
    recovered = service.recovered(session, since=since)
    recovered_customers = {
        c.id: c
        for c in session.scalars(
            select(Customer).where(Customer.id.in_({r.customer_id for r in recovered}))
        )
    }
    return render(
        request,
        "surveys/results.html",
        {
            "days": days,
            "summary": service.summary(session, brand_id=None, since=since),
            "recent": recent,
            "customers": customers,
            "recovered": recovered,
            "recovered_customers": recovered_customers,
            "nps_band": nps_band,
            "band": service.band,
        },
    )


# ---- a customer's scores (the customer page loads this panel) --------------------------------


@router.get(
    "/customers/{customer_id}/survey-scores", response_class=HTMLResponse, include_in_schema=False
)
def customer_scores(
    request: Request, session: SessionDep, user: CurrentUser, customer_id: int
) -> Response:
    customer = access.access_customer_by_id(session, user, customer_id)
    points = service.customer_scores(session, customer.id)
    return render(
        request,
        "surveys/_customer_scores.html",
        {
            "customer": customer,
            "points": points,
            "trend": service.trend(points),
            "spark": service.sparkline(points),
            "followups": service.customer_followups(session, customer.id),
            "opted_out": service.opted_out(
                session,
                brand_id=accounts_service.default_brand(session).id,
                customer_id=customer.id,
            ),
        },
    )


# ---- admin: survey settings ------------------------------------------------------------------


def _admin_page(
    request: Request,
    session: Session,
    *,
    editing: SurveyConfig | None = None,
    error: Any = None,
    values: dict[str, Any] | None = None,
) -> Response:
    brand = accounts_service.default_brand(session)
    return render(
        request,
        "surveys/admin.html",
        {
            "configs": service.configs(session, brand.id),
            "channels": list(
                session.scalars(
                    select(Channel).where(Channel.brand_id == brand.id).order_by(Channel.name)
                )
            ),
            "queues": routing_service.get_all(session),
            "teams": accounts_service.get_all_teams(session),
            "kinds": list(SurveyKind),
            "rules": list(FollowupRule),
            "editing": editing,
            "values": values,
            "error": error,
            "admin_tab": "surveys",
        },
        status_code=422 if error else 200,
    )


def _optional_id(value: str, field: str) -> int | None:
    if not value:
        return None
    if not value.isdigit():
        raise InvalidInput("choose from the list", field=field)
    return int(value)


def _config_data(form: dict[str, Any]) -> SurveyConfigData:
    from pydantic import ValidationError

    extra = [
        ExtraQuestion(
            it=form.get(f"extra_it_{i}", "").strip(), en=form.get(f"extra_en_{i}", "").strip()
        )
        for i in range(3)
        if form.get(f"extra_it_{i}", "").strip() or form.get(f"extra_en_{i}", "").strip()
    ]

    def number(name: str, default: int) -> int:
        raw = str(form.get(name, "")).strip()
        if not raw:
            return default
        if not raw.isdigit():
            raise InvalidInput("give a whole number", field=name)
        return int(raw)

    try:
        return SurveyConfigData(
            name=str(form.get("name", "")).strip() or "",
            kind=SurveyKind(form.get("kind") or "csat"),
            channel_id=_optional_id(str(form.get("channel_id", "")), "channel_id"),
            queue_id=_optional_id(str(form.get("queue_id", "")), "queue_id"),
            question_it=str(form.get("question_it", "")).strip(),
            question_en=str(form.get("question_en", "")).strip(),
            ask_comment=bool(form.get("ask_comment")),
            extra_questions=extra,
            delay_minutes=number("delay_minutes", 60),
            period_days=number("period_days", 30),
            expires_days=number("expires_days", 14),
            followup_rule=FollowupRule(form.get("followup_rule") or "supervisor"),
            followup_team_id=_optional_id(
                str(form.get("followup_team_id", "")), "followup_team_id"
            ),
            followup_sla_hours=number("followup_sla_hours", 24),
            is_active=bool(form.get("is_active")),
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first.get("loc") else None
        raise InvalidInput("check this value", field=field) from None
    except ValueError:
        raise InvalidInput("choose from the list") from None


@router.get("/admin/surveys", response_class=HTMLResponse, include_in_schema=False)
def admin_surveys(
    request: Request, session: SessionDep, user: SupervisorUser, edit: int | None = None
) -> Response:
    editing = service.get_config(session, edit) if edit else None
    return _admin_page(request, session, editing=editing)


async def _form(request: Request) -> dict[str, Any]:
    return {k: v for k, v in (await request.form()).items() if isinstance(v, str)}


@router.post("/admin/surveys", response_class=HTMLResponse, include_in_schema=False)
def admin_survey_save(
    request: Request,
    session: SessionDep,
    user: AdminUser,
    form: Annotated[dict[str, Any], Depends(_form)],
) -> Response:
    """Create a survey, or change the one named by ``config_id``."""
    raw_id = str(form.get("config_id", ""))
    config = service.get_config(session, int(raw_id)) if raw_id.isdigit() else None
    try:
        actions.do_save_config(
            session,
            brand_id=accounts_service.default_brand(session).id,
            data=_config_data(form),
            config=config,
        )
    except (InvalidInput, Conflict) as exc:
        session.rollback()
        if config is not None:
            config = service.get_config(session, config.id)
        return _admin_page(request, session, editing=config, error=form_error(exc), values=form)
    return see_other("/admin/surveys?saved=1")
