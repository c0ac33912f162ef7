"""NLP pages: the admin's settings (sentiment, frustration rule, triage training and its
accuracy, language tags, agent assist), the sentiment trend report, and the conversation's
panel (mood, language, triage suggestion, assist buttons). Also the template globals that put
the mood badge on inbox rows and the conversation's head."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session, object_session

from sportello.accounts import service as accounts_service
from sportello.conversations.models import Priority
from sportello.core import access
from sportello.core.db import SessionDep
from sportello.core.errors import Conflict, InvalidInput, SportelloError
from sportello.nlp import actions, assist, handlers, service
from sportello.nlp.models import TriageField, TriageMode
from sportello.nlp.schemas import NlpSettingsData
from sportello.web.auth import AdminUser, CsrfChecked, CurrentUser, SupervisorUser
from sportello.web.helpers import form_error, see_other
from sportello.web.render import env, render

__all__ = ["handlers", "router"]  # handlers: importing it registers the NLP wiring

router = APIRouter(dependencies=[CsrfChecked])


# ---- template globals ----------------------------------------------------------------------------


def nlp_moods(conversations: Iterable[Any]) -> dict[int, Any]:
    """Template global: the mood (``ConversationInsight``) of each conversation shown, read in
    the session the conversations were loaded in."""
    items = [c for c in conversations if getattr(c, "id", None) is not None]
    if not items:
        return {}
    session = object_session(items[0])
    if session is None:
        return {}
    return service.insights_for(session, [c.id for c in items])


env.globals["nlp_moods"] = nlp_moods


# ---- admin -------------------------------------------------------------------------------------


async def _form(request: Request) -> dict[str, Any]:
    return {k: v for k, v in (await request.form()).items() if isinstance(v, str)}


def _admin_page(
    request: Request,
    session: Session,
    *,
    error: Any = None,
    notice: str | None = None,
    status_code: int = 200,
) -> Response:
    brand = accounts_service.default_brand(session)
    settings = service.settings_for(session, brand.id)
    return render(
        request,
        "nlp/admin.html",
        {
            "admin_tab": "nlp",
            "s": settings,
            "models": service.models(session, brand.id),
            "csat_answers": len(service.csat_pairs(session)),
            "priorities": list(Priority),
            "fields": list(TriageField),
            "modes": list(TriageMode),
            "error": error,
            "notice": notice or request.query_params.get("done"),
        },
        status_code=status_code,
    )


@router.get("/admin/nlp", response_class=HTMLResponse, include_in_schema=False)
def admin_page(request: Request, session: SessionDep, user: SupervisorUser) -> Response:
    return _admin_page(request, session)


def _number(form: dict[str, Any], name: str, default: float) -> float:
    raw = str(form.get(name, "")).strip().replace(",", ".")
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError:
        raise InvalidInput("give a number", field=name) from None


def _settings_data(form: dict[str, Any]) -> NlpSettingsData:
    from pydantic import ValidationError

    try:
        return NlpSettingsData(
            sentiment_enabled=bool(form.get("sentiment_enabled")),
            negative_threshold=_number(form, "negative_threshold", -0.2),
            positive_threshold=_number(form, "positive_threshold", 0.2),
            raise_enabled=bool(form.get("raise_enabled")),
            frustration_threshold=_number(form, "frustration_threshold", -0.5),
            raise_to=Priority(form.get("raise_to") or "high"),
            triage_field=TriageField(form.get("triage_field") or "tags"),
            triage_mode=TriageMode(form.get("triage_mode") or "suggest"),
            triage_threshold=_number(form, "triage_threshold", 0.5),
            nightly_retrain=bool(form.get("nightly_retrain")),
            language_tags=bool(form.get("language_tags")),
            assist_enabled=bool(form.get("assist_enabled")),
            assist_base_url=str(form.get("assist_base_url", "")).strip(),
            assist_model=str(form.get("assist_model", "")).strip(),
            assist_key=str(form.get("assist_key", "")).strip(),
            clear_assist_key=bool(form.get("clear_assist_key")),
            assist_redact=bool(form.get("assist_redact")),
        )
    except ValueError as exc:
        if isinstance(exc, ValidationError):
            errors = exc.errors()
            field = str(errors[0]["loc"][0]) if errors and errors[0]["loc"] else None
            raise InvalidInput("check this value", field=field) from None
        raise InvalidInput("choose from the list") from None


@router.post("/admin/nlp", response_class=HTMLResponse, include_in_schema=False)
def admin_save(
    request: Request,
    session: SessionDep,
    user: AdminUser,
    form: Annotated[dict[str, Any], Depends(_form)],
) -> Response:
    try:
        actions.do_save_settings(
            session,
            brand_id=accounts_service.default_brand(session).id,
            data=_settings_data(form),
        )
    except InvalidInput as exc:
        session.rollback()
        return _admin_page(request, session, error=form_error(exc), status_code=422)
    return see_other("/admin/nlp?done=saved")


@router.post("/admin/nlp/train", response_class=HTMLResponse, include_in_schema=False)
def admin_train(request: Request, session: SessionDep, user: AdminUser) -> Response:
    try:
        actions.do_train_intents(
            session, brand_id=accounts_service.default_brand(session).id, by=user
        )
    except InvalidInput as exc:
        session.rollback()
        return _admin_page(request, session, error=form_error(exc), status_code=422)
    return see_other("/admin/nlp?done=trained#triage")


@router.post("/admin/nlp/calibrate", response_class=HTMLResponse, include_in_schema=False)
def admin_calibrate(request: Request, session: SessionDep, user: AdminUser) -> Response:
    try:
        actions.do_calibrate_sentiment(session, brand_id=accounts_service.default_brand(session).id)
    except InvalidInput as exc:
        session.rollback()
        return _admin_page(request, session, error=form_error(exc), status_code=422)
    return see_other("/admin/nlp?done=calibrated#sentiment")


# ---- report ------------------------------------------------------------------------------------


@router.get("/reports/sentiment", response_class=HTMLResponse, include_in_schema=False)
def sentiment_report(
    request: Request, session: SessionDep, user: SupervisorUser, days: int = 30
) -> Response:
    days = max(7, min(days, 90))
    rows = service.trend(session, days=days)
    peak = max((r["total"] for r in rows), default=0) or 1
    totals = {label: sum(r[label] for r in rows) for label in ("negative", "neutral", "positive")}
    return render(
        request,
        "nlp/report.html",
        {"rows": rows, "peak": peak, "days": days, "totals": totals},
    )


# ---- the conversation's panel ------------------------------------------------------------------


def _panel(
    request: Request,
    session: Session,
    conversation: Any,
    *,
    result: Any = None,
    error: Any = None,
) -> Response:
    brand_settings = service.settings_for(session, conversation.brand_id)
    return render(
        request,
        "nlp/_panel.html",
        {
            "c": conversation,
            "mood": service.conversation_sentiment(session, conversation.id),
            "insight": service.insight(session, conversation.id),
            "assist_on": brand_settings.assist_enabled,
            "result": result,
            "error": error,
        },
    )


@router.get("/c/{number}/nlp", response_class=HTMLResponse, include_in_schema=False)
def conversation_panel(
    number: int, request: Request, session: SessionDep, user: CurrentUser
) -> Response:
    conversation = access.access_conversation_by_number(session, user, number)
    return _panel(request, session, conversation)


@router.post("/c/{number}/nlp/triage", response_class=HTMLResponse, include_in_schema=False)
def conversation_apply_triage(
    number: int, request: Request, session: SessionDep, user: CurrentUser
) -> Response:
    conversation = access.access_conversation_by_number(session, user, number)
    actions.do_apply_intent(session, conversation=conversation, by=user)
    return see_other(f"/c/{number}")


@router.post("/c/{number}/nlp/assist", response_class=HTMLResponse, include_in_schema=False)
def conversation_assist(
    number: int,
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    kind: Annotated[str, Form()],
) -> Response:
    conversation = access.access_conversation_by_number(session, user, number)
    if kind not in ("summary", "draft", "translate"):
        return _panel(request, session, conversation, error={"message": "choose from the list"})
    try:
        result = assist.run(
            session, conversation=conversation, kind=kind, agent_language=user.language
        )
    except (Conflict, SportelloError) as exc:
        return _panel(request, session, conversation, error=form_error(exc))
    return _panel(request, session, conversation, result=result)
