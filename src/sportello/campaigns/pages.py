"""Campaign pages: the campaigns and lists (supervisors), a campaign's report and contacts, the
campaign form, the agent's call page, the compliance page (do-not-call, opposition register,
consent), and the public unsubscribe link of campaign emails."""

from __future__ import annotations

import contextlib
import secrets
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from sportello.accounts import service as accounts_service
from sportello.accounts.models import Team, User
from sportello.campaigns import actions, handlers, links, service, windows
from sportello.campaigns.models import (
    Campaign,
    CampaignAttempt,
    CampaignContact,
    CampaignKind,
    ContactStatus,
    DialMode,
    DoNotCall,
    LegalBasis,
    Purpose,
)
from sportello.channels.models import Channel
from sportello.config import get_settings
from sportello.core import i18n
from sportello.core.db import SessionDep, utcnow
from sportello.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from sportello.customers.identities import normalize_email, normalize_phone
from sportello.customers.models import Customer, CustomerIdentity
from sportello.web.auth import CsrfChecked, CurrentUser, SupervisorUser
from sportello.web.helpers import form_error, see_other
from sportello.web.render import csrf_token, env, render

__all__ = ["handlers", "router"]  # handlers: importing it registers the sending job and hooks

router = APIRouter(dependencies=[CsrfChecked])
Errors = (InvalidInput, Conflict, PermissionDenied, NotFound)


def _brand_id(session: Session) -> int:
    return accounts_service.default_brand(session).id


# ---- index -----------------------------------------------------------------------------------


@router.get("/campaigns", response_class=HTMLResponse, include_in_schema=False)
def index(request: Request, session: SessionDep, user: CurrentUser) -> Response:
    rows = service.campaigns(session, user)
    return render(
        request,
        "campaigns/index.html",
        {
            "campaigns": rows,
            "counts": service.counts_by_campaign(session, [c.id for c in rows]),
            "lists": service.lists(session) if user.is_supervisor else [],
        },
    )


# ---- lists -----------------------------------------------------------------------------------


def _upload_dir() -> Path:
    path = get_settings().data_dir / "campaign-uploads"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _lists_page(request: Request, session: Session, **extra: Any) -> Response:
    return render(
        request,
        "campaigns/list_new.html",
        {"channels": session.scalars(select(Channel).order_by(Channel.name)).all(), **extra},
        status_code=422 if extra.get("error") else 200,
    )


@router.get("/campaigns/lists/new", response_class=HTMLResponse, include_in_schema=False)
def list_new(request: Request, session: SessionDep, user: SupervisorUser) -> Response:
    return _lists_page(request, session)


@router.post("/campaigns/lists/upload", response_class=HTMLResponse, include_in_schema=False)
def list_upload(
    request: Request,
    session: SessionDep,
    user: SupervisorUser,
    file: Annotated[UploadFile, File()],
    name: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Step one of an import: keep the file aside and show its columns to map."""
    from sportello.campaigns import importing

    data = file.file.read(importing.MAX_FILE_BYTES + 1)
    filename = file.filename or "lista.csv"
    try:
        table = importing.read_table(filename, data)
        header = table.header
        sample = [cells for _, cells in zip(range(5), table.rows, strict=False)]
    except InvalidInput as exc:
        return _lists_page(request, session, error=form_error(exc), name=name)
    token = secrets.token_urlsafe(16)
    suffix = ".xlsx" if filename.lower().endswith(".xlsx") else ".csv"
    (_upload_dir() / f"{token}{suffix}").write_bytes(data)

    def guess(*words: str) -> str:
        for column in header:
            if any(w in column.lower() for w in words):
                return column
        return ""

    return render(
        request,
        "campaigns/list_mapping.html",
        {
            "token": token + suffix,
            "name": name or Path(filename).stem,
            "header": header,
            "sample": sample,
            "guess": {
                "phone": guess("tel", "phone", "cell", "numero", "mobile"),
                "email": guess("mail"),
                "name": guess("nome", "name", "cliente"),
                "timezone": guess("fuso", "zone", "timezone"),
            },
        },
    )


@router.post("/campaigns/lists/import", response_class=HTMLResponse, include_in_schema=False)
def list_import(
    request: Request,
    session: SessionDep,
    user: SupervisorUser,
    token: Annotated[str, Form(max_length=100, pattern=r"^[A-Za-z0-9_-]+\.(csv|xlsx)$")],
    name: Annotated[str, Form(max_length=200)] = "",
    phone_column: Annotated[str, Form(max_length=200)] = "",
    email_column: Annotated[str, Form(max_length=200)] = "",
    name_column: Annotated[str, Form(max_length=200)] = "",
    timezone_column: Annotated[str, Form(max_length=200)] = "",
    params: Annotated[list[str] | None, Form(max_length=200)] = None,
) -> Response:
    path = _upload_dir() / token
    if not path.is_file():
        return _lists_page(
            request, session, error=form_error(InvalidInput("upload the file again", field="file"))
        )
    try:
        listed = actions.do_import_list(
            session,
            brand_id=_brand_id(session),
            name=name,
            filename=token,
            data=path.read_bytes(),
            mapping=actions.Mapping_(
                phone=phone_column,
                email=email_column,
                name=name_column,
                timezone=timezone_column,
                params=[p for p in (params or []) if p][:30],
            ),
            by=user,
        )
    except Errors as exc:
        session.rollback()
        return _lists_page(request, session, error=form_error(exc), name=name)
    path.unlink(missing_ok=True)
    return see_other(f"/campaigns/lists/{listed.id}")


@router.post("/campaigns/lists/segment", response_class=HTMLResponse, include_in_schema=False)
def list_segment(
    request: Request,
    session: SessionDep,
    user: SupervisorUser,
    name: Annotated[str, Form(max_length=200)] = "",
    tag: Annotated[str, Form(max_length=100)] = "",
    channel_kind: Annotated[str, Form(max_length=20)] = "",
    contacted_within_days: Annotated[str, Form(max_length=6)] = "",
    not_contacted_for_days: Annotated[str, Form(max_length=6)] = "",
) -> Response:
    def days(value: str, field: str) -> int | None:
        if not value.strip():
            return None
        if not value.strip().isdigit() or not 1 <= int(value) <= 3650:
            raise InvalidInput("give a whole number", field=field)
        return int(value)

    try:
        listed = actions.do_build_segment(
            session,
            brand_id=_brand_id(session),
            name=name,
            tag=tag,
            channel_kind=channel_kind,
            contacted_within_days=days(contacted_within_days, "contacted_within_days"),
            not_contacted_for_days=days(not_contacted_for_days, "not_contacted_for_days"),
            by=user,
        )
    except Errors as exc:
        session.rollback()
        return _lists_page(request, session, error=form_error(exc), segment=True)
    return see_other(f"/campaigns/lists/{listed.id}")


@router.get("/campaigns/lists/{list_id}", response_class=HTMLResponse, include_in_schema=False)
def list_detail(
    request: Request, session: SessionDep, user: SupervisorUser, list_id: int
) -> Response:
    listed = service.get_list(session, user, list_id)
    return render(
        request,
        "campaigns/list_detail.html",
        {"listed": listed, "entries": service.list_entries(session, list_id, limit=50)},
    )


# ---- compliance ------------------------------------------------------------------------------


def _compliance_page(request: Request, session: Session, **extra: Any) -> Response:
    q = request.query_params.get("q", "")[:320]
    return render(
        request,
        "campaigns/compliance.html",
        {
            "entries": service.do_not_call(session, query=q, limit=100),
            "counts": service.do_not_call_counts(session),
            "consents": service.consents(session, limit=30),
            "q": q,
            "purposes": list(Purpose),
            **extra,
        },
        status_code=422 if extra.get("error") else 200,
    )


@router.get("/campaigns/compliance", response_class=HTMLResponse, include_in_schema=False)
def compliance(request: Request, session: SessionDep, user: SupervisorUser) -> Response:
    return _compliance_page(request, session)


@router.post(
    "/campaigns/compliance/do-not-call", response_class=HTMLResponse, include_in_schema=False
)
def compliance_add(
    request: Request,
    session: SessionDep,
    user: SupervisorUser,
    value: Annotated[str, Form(max_length=320)] = "",
    scope: Annotated[str, Form(max_length=10)] = "brand",
    note: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    try:
        actions.do_add_do_not_call(
            session,
            brand_id=None if scope == "global" else _brand_id(session),
            value=value,
            note=note,
            by=user,
        )
    except Errors as exc:
        session.rollback()
        return _compliance_page(request, session, error=form_error(exc))
    return see_other("/campaigns/compliance?saved=1")


@router.post(
    "/campaigns/compliance/do-not-call/{entry_id}/remove",
    response_class=HTMLResponse,
    include_in_schema=False,
)
def compliance_remove(
    request: Request, session: SessionDep, user: SupervisorUser, entry_id: int
) -> Response:
    entry = session.get(DoNotCall, entry_id)
    if entry is None:
        raise NotFound("entry not found")
    actions.do_remove_do_not_call(session, entry=entry)
    return see_other("/campaigns/compliance")


@router.post(
    "/campaigns/compliance/opposition", response_class=HTMLResponse, include_in_schema=False
)
def compliance_opposition(
    request: Request,
    session: SessionDep,
    user: SupervisorUser,
    file: Annotated[UploadFile, File()],
) -> Response:
    result = actions.do_import_opposition_results(
        session, brand_id=None, data=file.file.read(50 * 1024 * 1024), by=user
    )
    return _compliance_page(request, session, opposition=result)


def _customer_by(session: Session, value: str) -> int:
    value = value.strip()
    if value.isdigit() and len(value) < 9 and session.get(Customer, int(value)) is not None:
        return int(value)
    try:
        normalized = normalize_email(value) if "@" in value else normalize_phone(value)
    except InvalidInput:
        raise InvalidInput("unknown customer", field="customer") from None
    found = session.scalar(
        select(CustomerIdentity.customer_id).where(CustomerIdentity.value == normalized).limit(1)
    )
    if found is None:
        raise InvalidInput("unknown customer", field="customer")
    return int(found)


@router.post("/campaigns/compliance/consent", response_class=HTMLResponse, include_in_schema=False)
def compliance_consent(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    customer: Annotated[str, Form(max_length=320)] = "",
    purpose: Annotated[str, Form(max_length=20)] = "marketing",
    granted: Annotated[str, Form(max_length=5)] = "yes",
    source: Annotated[str, Form(max_length=100)] = "",
    text_shown: Annotated[str, Form(max_length=2000)] = "",
    back: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    try:
        if purpose not in {p.value for p in Purpose}:
            raise InvalidInput("choose from the list", field="purpose")
        actions.do_record_consent(
            session,
            brand_id=_brand_id(session),
            customer_id=_customer_by(session, customer),
            purpose=Purpose(purpose),
            granted=granted == "yes",
            source=source,
            text_shown=text_shown,
            by=user,
        )
    except Errors as exc:
        session.rollback()
        if not user.is_supervisor:
            raise
        return _compliance_page(request, session, error=form_error(exc))
    if user.is_supervisor:
        return see_other("/campaigns/compliance?saved=1")
    return see_other(back if back.startswith("/campaigns/") else "/campaigns")


# ---- campaigns: form -------------------------------------------------------------------------


def _form_page(
    request: Request,
    session: Session,
    *,
    campaign: Campaign | None = None,
    values: dict[str, Any] | None = None,
    error: Any = None,
) -> Response:
    channels = session.scalars(
        select(Channel).where(Channel.kind.in_(["whatsapp", "sms", "email"])).order_by(Channel.name)
    ).all()
    templates_by_channel = {
        ch.id: [
            {
                "key": f"{t.get('name')}:{t.get('language')}",
                "params": t.get("params") or [],
                "body": t.get("body", ""),
            }
            for t in (ch.settings.get("templates") or [])
            if isinstance(t, dict)
        ]
        for ch in channels
        if ch.kind == "whatsapp"
    }
    return render(
        request,
        "campaigns/form.html",
        {
            "campaign": campaign,
            "v": values or {},
            "error": error,
            "lists": service.lists(session),
            "channels": channels,
            "templates_by_channel": templates_by_channel,
            "teams": session.scalars(select(Team).order_by(Team.name)).all(),
            "kinds": list(CampaignKind),
            "modes": list(DialMode),
            "bases": list(LegalBasis),
            "purposes": list(Purpose),
            "window": windows.window_of(campaign.window if campaign else None),
            "script": (campaign.script if campaign else None)
            or (actions.CARE_SCRIPT if request.query_params.get("care") else []),
            "dispositions": (campaign.dispositions if campaign else None)
            or (
                actions.CARE_DISPOSITIONS
                if request.query_params.get("care")
                else actions.DEFAULT_DISPOSITIONS
            ),
            "care": bool(request.query_params.get("care")) or bool(campaign and campaign.is_care),
        },
        status_code=422 if error else 200,
    )


def _int(value: str, field: str) -> int | None:
    value = value.strip()
    if not value:
        return None
    if not value.isdigit() or len(value) > 9:
        raise InvalidInput("give a whole number", field=field)
    return int(value)


def _campaign_data(form: Any) -> actions.CampaignData:
    def get(name: str, default: str = "") -> str:
        return str(form.get(name) or default)[:4000]

    try:
        kind = CampaignKind(get("kind", "call"))
        mode = DialMode(get("mode", "preview"))
        purpose = Purpose(get("purpose", "marketing"))
        basis = LegalBasis(get("legal_basis")) if get("legal_basis") else None
    except ValueError:
        raise InvalidInput("choose from the list", field="kind") from None
    script = [
        {"key": f"q{i + 1}", "question": q}
        for i, q in enumerate(form.getlist("question")[:20])
        if str(q).strip()
    ]
    dispositions = []
    codes = form.getlist("d_code")[:30]
    for i, code in enumerate(codes):
        if not str(code).strip():
            continue

        def at(name: str, index: int = i) -> str:
            values = form.getlist(name)
            return str(values[index]) if index < len(values) else ""

        flags = set(form.getlist(f"d_flags_{i}"))
        dispositions.append(
            {
                "code": str(code).strip(),
                "label": at("d_label"),
                "retry_max": at("d_retry_max") or None,
                "retry_minutes": at("d_retry_minutes") or None,
                **{
                    f: True
                    for f in ("final", "success", "callback", "opt_out", "escalate")
                    if f in flags
                },
            }
        )

    def hours(prefix: str) -> list[str] | None:
        start, end = get(f"{prefix}_from"), get(f"{prefix}_until")
        return [start, end] if start and end else None

    return actions.CampaignData(
        name=get("name"),
        kind=kind,
        mode=mode,
        list_id=_int(get("list_id"), "list_id"),
        channel_id=_int(get("channel_id"), "channel_id"),
        legal_basis=basis,
        purpose=purpose,
        template_key=get("template_key"),
        template_params=[p.strip() for p in get("template_params").split(",") if p.strip()],
        subject=get("subject"),
        message_text=get("message_text"),
        rate_per_minute=_int(get("rate_per_minute", "60"), "rate_per_minute") or 60,
        script=script,
        dispositions=dispositions,
        max_attempts=_int(get("max_attempts", "3"), "max_attempts") or 3,
        window={
            "timezone": get("timezone", windows.DEFAULT_TIMEZONE),
            "weekdays": hours("weekdays"),
            "saturday": hours("saturday"),
            "sunday": hours("sunday"),
            "holidays": bool(form.get("holidays")),
        },
        followup_team_id=_int(get("followup_team_id"), "followup_team_id"),
        is_care=bool(form.get("is_care")),
    )


@router.get("/campaigns/new", response_class=HTMLResponse, include_in_schema=False)
def campaign_new(request: Request, session: SessionDep, user: SupervisorUser) -> Response:
    return _form_page(request, session)


async def _posted_form(request: Request) -> FormData:
    """The whole posted form (questions and dispositions are repeated fields); parsed here so
    that the views stay plain ``def``."""
    return await request.form()


PostedForm = Annotated[FormData, Depends(_posted_form)]


@router.post("/campaigns/new", response_class=HTMLResponse, include_in_schema=False)
def campaign_create(
    request: Request, session: SessionDep, user: SupervisorUser, form: PostedForm
) -> Response:
    return _save(request, session, user, form, None)


def _save(
    request: Request, session: Session, user: User, form: FormData, campaign_id: int | None
) -> Response:
    campaign = service.access_campaign_by_id(session, user, campaign_id) if campaign_id else None
    try:
        data = _campaign_data(form)
        campaign = actions.do_save_campaign(
            session,
            brand_id=campaign.brand_id if campaign else _brand_id(session),
            data=data,
            by=user,
            campaign=campaign,
        )
    except Errors as exc:
        session.rollback()
        values = {k: form.get(k) for k in form}
        return _form_page(
            request,
            session,
            campaign=session.get(Campaign, campaign_id) if campaign_id else None,
            values=values,
            error=form_error(exc),
        )
    return see_other(f"/campaigns/{campaign.id}")


@router.get("/campaigns/{campaign_id}/edit", response_class=HTMLResponse, include_in_schema=False)
def campaign_edit(
    request: Request, session: SessionDep, user: SupervisorUser, campaign_id: int
) -> Response:
    return _form_page(
        request, session, campaign=service.access_campaign_by_id(session, user, campaign_id)
    )


@router.post("/campaigns/{campaign_id}/edit", response_class=HTMLResponse, include_in_schema=False)
def campaign_update(
    request: Request, session: SessionDep, user: SupervisorUser, campaign_id: int, form: PostedForm
) -> Response:
    return _save(request, session, user, form, campaign_id)


# ---- campaigns: detail, start, pause ---------------------------------------------------------


def _detail(request: Request, session: Session, campaign: Campaign, **extra: Any) -> Response:
    rows = service.contacts(session, campaign.id, limit=100)
    return render(
        request,
        "campaigns/detail.html",
        {
            "campaign": campaign,
            "report": service.report(session, campaign),
            "contacts": rows,
            "listed": session.get(campaign_list_model(), campaign.list_id)
            if campaign.list_id
            else None,
            "channel": session.get(Channel, campaign.channel_id) if campaign.channel_id else None,
            "labels": {d["code"]: d["label"] for d in campaign.dispositions or []},
            **extra,
        },
        status_code=422 if extra.get("error") else 200,
    )


def campaign_list_model() -> Any:
    from sportello.campaigns.models import CampaignList

    return CampaignList


@router.get("/campaigns/{campaign_id}", response_class=HTMLResponse, include_in_schema=False)
def campaign_detail(
    request: Request, session: SessionDep, user: CurrentUser, campaign_id: int
) -> Response:
    campaign = service.access_campaign_by_id(session, user, campaign_id)
    if not user.is_supervisor:
        return see_other(f"/campaigns/{campaign.id}/work")
    return _detail(request, session, campaign)


@router.post(
    "/campaigns/{campaign_id}/status", response_class=HTMLResponse, include_in_schema=False
)
def campaign_status(
    request: Request,
    session: SessionDep,
    user: SupervisorUser,
    campaign_id: int,
    action: Annotated[str, Form(max_length=10)],
) -> Response:
    campaign = service.access_campaign_by_id(session, user, campaign_id)
    try:
        if action == "start":
            actions.do_start_campaign(session, campaign=campaign)
        elif action == "pause":
            actions.do_pause_campaign(session, campaign=campaign)
        elif action == "finish":
            actions.do_finish_campaign(session, campaign=campaign)
        else:
            raise InvalidInput("choose from the list", field="action")
    except Errors as exc:
        session.rollback()
        campaign = service.access_campaign_by_id(session, user, campaign_id)
        return _detail(request, session, campaign, error=form_error(exc))
    return see_other(f"/campaigns/{campaign.id}")


@router.get("/campaigns/{campaign_id}/export", include_in_schema=False)
def campaign_export(
    request: Request, session: SessionDep, user: SupervisorUser, campaign_id: int
) -> Response:
    campaign = service.access_campaign_by_id(session, user, campaign_id)
    body = "".join(service.export_rows(session, campaign))
    return StreamingResponse(
        iter([body]),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="campagna-{campaign.id}.csv"'},
    )


# ---- the agent's call page -------------------------------------------------------------------


def _work_page(
    request: Request, session: Session, user: User, campaign: Campaign, **extra: Any
) -> Response:
    contact = session.scalar(
        select(CampaignContact).where(
            CampaignContact.campaign_id == campaign.id,
            CampaignContact.status == ContactStatus.ACTIVE,
            CampaignContact.agent_id == user.id,
        )
    )
    customer = (
        session.get(Customer, contact.customer_id) if contact and contact.customer_id else None
    )
    history = (
        list(
            session.scalars(
                select(CampaignAttempt)
                .where(
                    CampaignAttempt.contact_id == contact.id,
                    CampaignAttempt.disposition.is_not(None),
                )
                .order_by(CampaignAttempt.id.desc())
            )
        )
        if contact
        else []
    )
    attempt = (
        session.scalar(
            select(CampaignAttempt).where(
                CampaignAttempt.contact_id == contact.id, CampaignAttempt.ended_at.is_(None)
            )
        )
        if contact
        else None
    )
    now = utcnow()
    window_reason = windows.blocked_reason(
        windows.window_of(campaign.window), now, contact.timezone if contact else None
    )
    return render(
        request,
        "campaigns/work.html",
        {
            "campaign": campaign,
            "contact": contact,
            "customer": customer,
            "history": history,
            "attempt": attempt,
            "window_reason": window_reason,
            "labels": {d["code"]: d["label"] for d in campaign.dispositions or []},
            "purposes": list(Purpose),
            **extra,
        },
        status_code=422 if extra.get("error") else 200,
    )


@router.get("/campaigns/{campaign_id}/work", response_class=HTMLResponse, include_in_schema=False)
def work(request: Request, session: SessionDep, user: CurrentUser, campaign_id: int) -> Response:
    campaign = service.access_campaign_by_id(session, user, campaign_id)
    return _work_page(request, session, user, campaign)


@router.post("/campaigns/{campaign_id}/next", response_class=HTMLResponse, include_in_schema=False)
def work_next(
    request: Request, session: SessionDep, user: CurrentUser, campaign_id: int
) -> Response:
    campaign = service.access_campaign_by_id(session, user, campaign_id)
    try:
        contact = actions.do_next_contact(session, campaign=campaign, agent=user)
    except Errors as exc:
        session.rollback()
        campaign = service.access_campaign_by_id(session, user, campaign_id)
        return _work_page(request, session, user, campaign, error=form_error(exc))
    if contact is None:
        return _work_page(request, session, user, campaign, none_due=True)
    return see_other(f"/campaigns/{campaign.id}/work")


@router.post("/campaigns/contacts/{contact_id}/dial", include_in_schema=False)
def work_dial(
    request: Request, session: SessionDep, user: CurrentUser, contact_id: int
) -> Response:
    """The call page's dial button records the attempt (the window and the blocks are checked
    again) before the softphone dials; 409 with the reason when it may not."""
    contact = service.access_contact_by_id(session, user, contact_id)
    actions.do_dial(session, contact=contact, agent=user)
    return Response(status_code=204)


@router.post(
    "/campaigns/contacts/{contact_id}/disposition",
    response_class=HTMLResponse,
    include_in_schema=False,
)
def work_disposition(
    request: Request, session: SessionDep, user: CurrentUser, contact_id: int, form: PostedForm
) -> Response:
    agent = user
    contact = service.access_contact_by_id(session, agent, contact_id)
    campaign_id = contact.campaign_id
    try:
        callback_at = None
        raw = str(form.get("callback_at") or "")[:20]
        if raw:
            try:
                local = datetime.fromisoformat(raw)
            except ValueError:
                raise InvalidInput(
                    "give the day and time of the call back", field="callback_at"
                ) from None
            callback_at = local.replace(tzinfo=ZoneInfo(agent.timezone or "Europe/Rome"))
        answers = {str(k)[2:]: str(v)[:1000] for k, v in form.items() if str(k).startswith("a_")}
        actions.do_record_disposition(
            session,
            contact=contact,
            agent=agent,
            disposition=str(form.get("disposition") or "")[:40],
            answers=answers,
            note=str(form.get("note") or "")[:2000],
            callback_at=callback_at,
            personal=form.get("personal") != "no",
        )
    except Errors as exc:
        session.rollback()
        campaign = session.get_one(Campaign, campaign_id)
        return _work_page(request, session, agent, campaign, error=form_error(exc))
    campaign = session.get_one(Campaign, campaign_id)
    if campaign.mode == DialMode.PROGRESSIVE and form.get("stop") != "1":
        # Progressive: the agent is ready again, the next contact comes at once.
        with contextlib.suppress(*Errors):
            actions.do_next_contact(session, campaign=campaign, agent=agent)
    return see_other(f"/campaigns/{campaign_id}/work?saved=1")


# ---- the public unsubscribe link -------------------------------------------------------------


def _public(request: Request, context: dict[str, Any], status: int = 200) -> HTMLResponse:
    language = i18n.pick_language(request.headers.get("accept-language"))
    token = i18n.current_language.set(language)
    try:
        html = env.get_template("campaigns/unsubscribe.html").render(
            {"request": request, "lang": language, "csrf_token": csrf_token(request), **context}
        )
    finally:
        i18n.current_language.reset(token)
    return HTMLResponse(
        html,
        status_code=status,
        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
    )


def _contact_of(session: Session, token: str) -> CampaignContact | None:
    try:
        contact_id = links.contact_id_from(token)
    except links.LinkInvalid:
        return None
    return session.get(CampaignContact, contact_id)


@router.get("/campaigns/u/{token}", response_class=HTMLResponse, include_in_schema=False)
def unsubscribe_page(request: Request, session: SessionDep, token: str) -> Response:
    contact = _contact_of(session, token)
    if contact is None:
        return _public(request, {"invalid": True}, status=404)
    return _public(request, {"token": token})


@router.post("/campaigns/u/{token}", response_class=HTMLResponse, include_in_schema=False)
def unsubscribe(request: Request, session: SessionDep, token: str) -> Response:
    contact = _contact_of(session, token)
    if contact is None:
        return _public(request, {"invalid": True}, status=404)
    campaign = session.get_one(Campaign, contact.campaign_id)
    if contact.customer_id is not None:
        actions.do_opt_out_customer(
            session,
            customer_id=contact.customer_id,
            brand_id=campaign.brand_id,
            source="unsubscribe",
            channel="email",
        )
    elif contact.email:
        actions.do_add_do_not_call(
            session, brand_id=campaign.brand_id, value=contact.email, source="unsubscribe"
        )
    return _public(request, {"done": True})
