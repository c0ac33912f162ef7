"""REST API v1: GDPR. Consents (agents with access to the customer), a customer's export and
erasure (admins), retention policies with a dry run (admins)."""

from __future__ import annotations

from fastapi import Response

from sportello.core import access
from sportello.core.db import SessionDep
from sportello.customers.models import Customer
from sportello.privacy import actions, handlers, service
from sportello.privacy.schemas import (
    ConsentCreate,
    ConsentRead,
    DryRunRead,
    ErasureCreate,
    ErasureRead,
    RetentionPolicyData,
    RetentionPolicyRead,
)
from sportello.web.api import AdminCaller, ReadCaller, WriteCaller, api_router

router = api_router("privacy")


def _customer(session: SessionDep, caller: ReadCaller, customer_id: int) -> Customer:
    return access.access_customer_by_id(session, caller.user, customer_id)


@router.get(
    "/customers/{customer_id}/consents",
    summary="A customer's consent records, newest first",
    response_model=list[ConsentRead],
)
def list_consents(customer_id: int, session: SessionDep, caller: ReadCaller) -> list[ConsentRead]:
    customer = _customer(session, caller, customer_id)
    return [ConsentRead.model_validate(c) for c in service.consents(session, customer.id)]


@router.post(
    "/customers/{customer_id}/consents",
    summary="Record a consent (purpose, source, the text shown)",
    response_model=ConsentRead,
    status_code=201,
)
def create_consent(
    customer_id: int, body: ConsentCreate, session: SessionDep, caller: WriteCaller
) -> ConsentRead:
    customer = _customer(session, caller, customer_id)
    consent = actions.do_record_consent(
        session,
        customer=customer,
        purpose=body.purpose,
        source=body.source,
        text=body.text,
        given_at=body.given_at,
        by=caller.user,
    )
    return ConsentRead.model_validate(consent)


@router.post(
    "/customers/{customer_id}/consents/{consent_id}/withdraw",
    summary="Record that a consent was withdrawn",
    response_model=ConsentRead,
)
def withdraw_consent(
    customer_id: int, consent_id: int, session: SessionDep, caller: WriteCaller
) -> ConsentRead:
    customer = _customer(session, caller, customer_id)
    consent = actions.get_consent(session, consent_id)
    if consent.customer_id != customer.id:
        from sportello.core.errors import NotFound

        raise NotFound("consent not found")
    return ConsentRead.model_validate(
        actions.do_withdraw_consent(session, consent=consent, by=caller.user)
    )


@router.get(
    "/customers/{customer_id}/export",
    summary="Everything about a customer: JSON and attachments in one ZIP (admins)",
    response_class=Response,
    responses={200: {"content": {"application/zip": {}}, "description": "a ZIP archive"}},
)
def export_customer(customer_id: int, session: SessionDep, caller: AdminCaller) -> Response:
    customer = _customer(session, caller, customer_id)
    data = actions.build_export(session, customer=customer, by=caller.user)
    return Response(
        data,
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="customer-{customer.id}.zip"'},
    )


@router.post(
    "/customers/{customer_id}/erase",
    summary="Erase (or anonymise) a customer on request (admins); the audit log keeps that it "
    "happened",
    response_model=ErasureRead,
)
def erase_customer(
    customer_id: int, body: ErasureCreate, session: SessionDep, caller: AdminCaller
) -> ErasureRead:
    customer = _customer(session, caller, customer_id)
    rows = actions.do_erase_customer(session, customer=customer, mode=body.mode, by=caller.user)
    return ErasureRead(
        customer_id=customer_id, mode=body.mode, rows={k: v for k, v in rows.items() if v}
    )


@router.get(
    "/privacy/retention-policies",
    summary="The retention policies (admins)",
    response_model=list[RetentionPolicyRead],
)
def list_policies(session: SessionDep, caller: AdminCaller) -> list[RetentionPolicyRead]:
    return [
        RetentionPolicyRead.model_validate(r.policy)
        for r in service.policies(session, dry_run=False)
    ]


@router.post(
    "/privacy/retention-policies",
    summary="Add a retention policy (admins)",
    response_model=RetentionPolicyRead,
    status_code=201,
)
def create_policy(
    body: RetentionPolicyData, session: SessionDep, caller: AdminCaller
) -> RetentionPolicyRead:
    policy = actions.do_save_policy(session, **body.model_dump())
    return RetentionPolicyRead.model_validate(policy)


@router.put(
    "/privacy/retention-policies/{policy_id}",
    summary="Change a retention policy (admins)",
    response_model=RetentionPolicyRead,
)
def update_policy(
    policy_id: int, body: RetentionPolicyData, session: SessionDep, caller: AdminCaller
) -> RetentionPolicyRead:
    policy = actions.get_policy(session, policy_id)
    policy = actions.do_save_policy(session, policy=policy, **body.model_dump())
    return RetentionPolicyRead.model_validate(policy)


@router.delete(
    "/privacy/retention-policies/{policy_id}",
    summary="Remove a retention policy (admins)",
    status_code=204,
    response_class=Response,
)
def delete_policy(policy_id: int, session: SessionDep, caller: AdminCaller) -> Response:
    actions.do_delete_policy(session, policy=actions.get_policy(session, policy_id))
    return Response(status_code=204)


@router.get(
    "/privacy/retention-policies/{policy_id}/dry-run",
    summary="How many items a run of the policy would delete now (admins)",
    response_model=DryRunRead,
)
def dry_run(policy_id: int, session: SessionDep, caller: AdminCaller) -> DryRunRead:
    policy = actions.get_policy(session, policy_id)
    return DryRunRead(policy_id=policy.id, due=len(service.due(session, policy)))


@router.post(
    "/privacy/retention-policies/run",
    summary="Run every active policy now, in the background (admins)",
    status_code=202,
    response_model=dict[str, str],
)
def run_policies(session: SessionDep, caller: AdminCaller) -> dict[str, str]:
    handlers.enqueue_now(session)
    return {"status": "queued"}
