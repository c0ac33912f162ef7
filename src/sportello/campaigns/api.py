"""REST API v1: lists, campaigns, the call work (agents), reports and exports (supervisors),
the do-not-call list, consent records and opposition register results."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import File, Form, Query, UploadFile
from fastapi.responses import StreamingResponse

from sportello.accounts import service as accounts_service
from sportello.campaigns import actions, service
from sportello.campaigns.models import Campaign, CampaignStatus, ContactStatus, DoNotCall
from sportello.campaigns.schemas import (
    CampaignData,
    CampaignRead,
    ConsentCreate,
    ConsentRead,
    ContactRead,
    DispositionIn,
    DoNotCallCreate,
    DoNotCallRead,
    ListRead,
    OppositionResult,
    Report,
    SegmentCreate,
)
from sportello.core.access import require_supervisor
from sportello.core.db import SessionDep
from sportello.core.errors import InvalidInput, NotFound
from sportello.customers.models import Customer
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

router = api_router("campaigns")


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def to_action_data(data: CampaignData) -> actions.CampaignData:
    return actions.CampaignData(
        name=data.name,
        kind=data.kind,
        mode=data.mode,
        list_id=data.list_id,
        channel_id=data.channel_id,
        legal_basis=data.legal_basis,
        purpose=data.purpose,
        template_key=data.template_key,
        template_params=data.template_params,
        subject=data.subject,
        message_text=data.message_text,
        rate_per_minute=data.rate_per_minute,
        script=[q.model_dump() for q in data.script],
        dispositions=[d.model_dump(exclude_none=True) for d in data.dispositions],
        max_attempts=data.max_attempts,
        window=data.window.model_dump() if data.window else None,
        followup_team_id=data.followup_team_id,
        is_care=data.is_care,
    )


# ---- lists -----------------------------------------------------------------------------------


@router.get("/campaigns/lists", summary="List the contact lists", response_model=list[ListRead])
def list_lists(session: SessionDep, caller: ReadCaller) -> list[ListRead]:
    require_supervisor(caller.user)
    return [ListRead.model_validate(x) for x in service.lists(session)]


@router.post(
    "/campaigns/lists/import",
    summary="Import a contact list from CSV or XLSX, mapping its columns",
    response_model=ListRead,
    status_code=201,
)
def import_list(
    session: SessionDep,
    caller: WriteCaller,
    file: Annotated[UploadFile, File()],
    name: Annotated[str, Form(min_length=1, max_length=200)],
    phone_column: Annotated[str, Form(max_length=200)] = "",
    email_column: Annotated[str, Form(max_length=200)] = "",
    name_column: Annotated[str, Form(max_length=200)] = "",
    timezone_column: Annotated[str, Form(max_length=200)] = "",
    param_columns: Annotated[str, Form(max_length=2000, description="comma separated")] = "",
) -> ListRead:
    require_supervisor(caller.user)
    data = file.file.read(50 * 1024 * 1024 + 1)
    listed = actions.do_import_list(
        session,
        brand_id=accounts_service.default_brand(session).id,
        name=name,
        filename=file.filename or "",
        data=data,
        mapping=actions.Mapping_(
            phone=phone_column,
            email=email_column,
            name=name_column,
            timezone=timezone_column,
            params=[p.strip() for p in param_columns.split(",") if p.strip()],
        ),
        by=caller.user,
    )
    return ListRead.model_validate(listed)


@router.post(
    "/campaigns/lists/segment",
    summary="Build a contact list from a customer segment",
    response_model=ListRead,
    status_code=201,
)
def segment_list(data: SegmentCreate, session: SessionDep, caller: WriteCaller) -> ListRead:
    require_supervisor(caller.user)
    listed = actions.do_build_segment(
        session,
        brand_id=accounts_service.default_brand(session).id,
        name=data.name,
        tag=data.tag,
        channel_kind=data.channel_kind,
        contacted_within_days=data.contacted_within_days,
        not_contacted_for_days=data.not_contacted_for_days,
        by=caller.user,
    )
    return ListRead.model_validate(listed)


# ---- campaigns -------------------------------------------------------------------------------


@router.get("/campaigns", summary="List the campaigns", response_model=list[CampaignRead])
def list_campaigns(
    session: SessionDep,
    caller: ReadCaller,
    status: Annotated[CampaignStatus | None, Query()] = None,
) -> list[CampaignRead]:
    return [
        CampaignRead.model_validate(c)
        for c in service.campaigns(session, caller.user, status=status)
    ]


@router.post(
    "/campaigns", summary="Create a campaign", response_model=CampaignRead, status_code=201
)
def create_campaign(data: CampaignData, session: SessionDep, caller: WriteCaller) -> CampaignRead:
    require_supervisor(caller.user)
    campaign = actions.do_save_campaign(
        session,
        brand_id=accounts_service.default_brand(session).id,
        data=to_action_data(data),
        by=caller.user,
    )
    return CampaignRead.model_validate(campaign)


def _campaign(session: SessionDep, caller: WriteCaller, campaign_id: int) -> Campaign:
    require_supervisor(caller.user)
    return service.access_campaign_by_id(session, caller.user, campaign_id)


@router.post(
    "/campaigns/{campaign_id}/start",
    summary="Start (or resume) a campaign: the list is scrubbed, then worked or sent",
    response_model=CampaignRead,
)
def start_campaign(campaign_id: int, session: SessionDep, caller: WriteCaller) -> CampaignRead:
    campaign = actions.do_start_campaign(session, campaign=_campaign(session, caller, campaign_id))
    return CampaignRead.model_validate(campaign)


@router.post(
    "/campaigns/{campaign_id}/pause", summary="Pause a campaign", response_model=CampaignRead
)
def pause_campaign(campaign_id: int, session: SessionDep, caller: WriteCaller) -> CampaignRead:
    campaign = actions.do_pause_campaign(session, campaign=_campaign(session, caller, campaign_id))
    return CampaignRead.model_validate(campaign)


@router.post(
    "/campaigns/{campaign_id}/finish", summary="Finish a campaign", response_model=CampaignRead
)
def finish_campaign(campaign_id: int, session: SessionDep, caller: WriteCaller) -> CampaignRead:
    campaign = actions.do_finish_campaign(session, campaign=_campaign(session, caller, campaign_id))
    return CampaignRead.model_validate(campaign)


@router.get(
    "/campaigns/{campaign_id}/contacts",
    summary="The campaign's contacts",
    response_model=Page[ContactRead],
)
def list_contacts(
    campaign_id: int,
    session: SessionDep,
    caller: ReadCaller,
    status: Annotated[ContactStatus | None, Query()] = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[ContactRead]:
    require_supervisor(caller.user)
    campaign = service.access_campaign_by_id(session, caller.user, campaign_id)
    after = decode_cursor(cursor, 1)[0] if cursor else None
    rows = service.contacts(session, campaign.id, status=status, after_id=after, limit=limit)
    return Page.of(rows, ContactRead, limit)


@router.get(
    "/campaigns/{campaign_id}/report", summary="The campaign's figures", response_model=Report
)
def campaign_report(campaign_id: int, session: SessionDep, caller: ReadCaller) -> Report:
    require_supervisor(caller.user)
    campaign = service.access_campaign_by_id(session, caller.user, campaign_id)
    return Report.model_validate(service.report(session, campaign))


@router.get(
    "/campaigns/{campaign_id}/export.csv",
    summary="The campaign's contacts and outcomes as CSV",
    response_class=StreamingResponse,
)
def export_campaign(campaign_id: int, session: SessionDep, caller: ReadCaller) -> StreamingResponse:
    require_supervisor(caller.user)
    campaign = service.access_campaign_by_id(session, caller.user, campaign_id)
    body = "".join(service.export_rows(session, campaign))
    return StreamingResponse(
        iter([body]),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="campaign-{campaign.id}.csv"'},
    )


# ---- the call work ---------------------------------------------------------------------------


@router.post(
    "/campaigns/{campaign_id}/next",
    summary="Take the next contact to call (the one on screen if any); 204 when none is due",
    response_model=ContactRead | None,
)
def next_contact(campaign_id: int, session: SessionDep, caller: WriteCaller) -> ContactRead | None:
    campaign = service.access_campaign_by_id(session, caller.user, campaign_id)
    contact = actions.do_next_contact(session, campaign=campaign, agent=caller.user)
    return ContactRead.model_validate(contact) if contact else None


@router.post(
    "/campaigns/contacts/{contact_id}/dial",
    summary="Record that the agent dials this contact (window and blocks checked again)",
    response_model=ContactRead,
)
def dial_contact(contact_id: int, session: SessionDep, caller: WriteCaller) -> ContactRead:
    contact = service.access_contact_by_id(session, caller.user, contact_id)
    actions.do_dial(session, contact=contact, agent=caller.user)
    return ContactRead.model_validate(contact)


@router.post(
    "/campaigns/contacts/{contact_id}/disposition",
    summary="Record the outcome of a call: answers, disposition, call back",
    response_model=ContactRead,
)
def record_disposition(
    contact_id: int, data: DispositionIn, session: SessionDep, caller: WriteCaller
) -> ContactRead:
    contact = service.access_contact_by_id(session, caller.user, contact_id)
    contact = actions.do_record_disposition(
        session,
        contact=contact,
        agent=caller.user,
        disposition=data.disposition,
        answers=data.answers,
        note=data.note,
        callback_at=_aware(data.callback_at),
        personal=data.personal,
    )
    return ContactRead.model_validate(contact)


# ---- compliance ------------------------------------------------------------------------------


@router.get(
    "/campaigns/do-not-call",
    summary="The do-not-call list (numbers and addresses), newest first",
    response_model=Page[DoNotCallRead],
)
def list_do_not_call(
    session: SessionDep,
    caller: ReadCaller,
    q: Annotated[str, Query(max_length=320)] = "",
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[DoNotCallRead]:
    require_supervisor(caller.user)
    after = decode_cursor(cursor, 1)[0] if cursor else None
    rows = service.do_not_call(session, query=q, limit=limit, after_id=after)
    return Page.of(rows, DoNotCallRead, limit)


@router.post(
    "/campaigns/do-not-call",
    summary="Add a number or address to the do-not-call list (this brand, or every brand)",
    response_model=DoNotCallRead,
    status_code=201,
)
def add_do_not_call(
    data: DoNotCallCreate, session: SessionDep, caller: WriteCaller
) -> DoNotCallRead:
    require_supervisor(caller.user)
    entry = actions.do_add_do_not_call(
        session,
        brand_id=None if data.global_ else accounts_service.default_brand(session).id,
        value=data.value,
        note=data.note,
        by=caller.user,
    )
    return DoNotCallRead.model_validate(entry)


@router.delete(
    "/campaigns/do-not-call/{entry_id}",
    summary="Remove an entry of the do-not-call list",
    status_code=204,
)
def remove_do_not_call(entry_id: int, session: SessionDep, caller: WriteCaller) -> None:
    require_supervisor(caller.user)
    entry = session.get(DoNotCall, entry_id)
    if entry is None:
        raise NotFound("entry not found")
    actions.do_remove_do_not_call(session, entry=entry)


@router.post(
    "/campaigns/opposition-register",
    summary="Import the Registro Pubblico delle Opposizioni's check results",
    response_model=OppositionResult,
)
def import_opposition(
    session: SessionDep, caller: WriteCaller, file: Annotated[UploadFile, File()]
) -> OppositionResult:
    require_supervisor(caller.user)
    result = actions.do_import_opposition_results(
        session, brand_id=None, data=file.file.read(50 * 1024 * 1024), by=caller.user
    )
    return OppositionResult(
        registered=result.registered,
        free=result.free,
        invalid=result.invalid,
        problems=result.problems or [],
    )


@router.get(
    "/campaigns/consents", summary="Consent records, newest first", response_model=list[ConsentRead]
)
def list_consents(
    session: SessionDep,
    caller: ReadCaller,
    customer_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
) -> list[ConsentRead]:
    require_supervisor(caller.user)
    return [
        ConsentRead.model_validate(c) for c in service.consents(session, customer_id=customer_id)
    ]


@router.post(
    "/campaigns/consents",
    summary="Record a customer's consent (or its withdrawal) for a purpose",
    response_model=ConsentRead,
    status_code=201,
)
def add_consent(data: ConsentCreate, session: SessionDep, caller: WriteCaller) -> ConsentRead:
    if session.get(Customer, data.customer_id) is None:
        raise InvalidInput("unknown customer", field="customer_id")
    consent = actions.do_record_consent(
        session,
        brand_id=accounts_service.default_brand(session).id,
        customer_id=data.customer_id,
        purpose=data.purpose,
        granted=data.granted,
        source=data.source,
        text_shown=data.text_shown,
        given_at=_aware(data.given_at),
        expires_at=_aware(data.expires_at),
        by=caller.user,
    )
    return ConsentRead.model_validate(consent)


# Last: the fixed paths above (lists, do-not-call, consents) must match first.


@router.get("/campaigns/{campaign_id}", summary="One campaign", response_model=CampaignRead)
def get_campaign(campaign_id: int, session: SessionDep, caller: ReadCaller) -> CampaignRead:
    return CampaignRead.model_validate(
        service.access_campaign_by_id(session, caller.user, campaign_id)
    )


@router.put("/campaigns/{campaign_id}", summary="Change a campaign", response_model=CampaignRead)
def update_campaign(
    campaign_id: int, data: CampaignData, session: SessionDep, caller: WriteCaller
) -> CampaignRead:
    require_supervisor(caller.user)
    campaign = service.access_campaign_by_id(session, caller.user, campaign_id)
    campaign = actions.do_save_campaign(
        session,
        brand_id=campaign.brand_id,
        data=to_action_data(data),
        by=caller.user,
        campaign=campaign,
    )
    return CampaignRead.model_validate(campaign)
