"""REST API v1: the audit log (admins): search, and the same search as CSV."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import Query
from fastapi.responses import Response

from sportello.audit import actions, service
from sportello.audit.schemas import AuditEntryRead
from sportello.core.db import SessionDep
from sportello.web.api import (
    DEFAULT_LIMIT,
    AdminCaller,
    Cursor,
    Limit,
    Page,
    api_router,
    decode_cursor,
)

router = api_router("audit")

Actor = Annotated[str, Query(max_length=320, description="an email (or part of it) or a user id")]
Action = Annotated[
    str, Query(max_length=80, description="an action, or a prefix ending in '.' (user.)")
]
Target = Annotated[
    str, Query(max_length=200, description="a target type, type:id, or part of its label")
]
Since = Annotated[date | None, Query(description="first day (Europe/Rome), inclusive")]
Until = Annotated[date | None, Query(description="last day (Europe/Rome), inclusive")]


@router.get(
    "/audit",
    summary="Search the audit log, newest first (admins)",
    response_model=Page[AuditEntryRead],
)
def list_entries(
    session: SessionDep,
    caller: AdminCaller,
    actor: Actor = "",
    action: Action = "",
    target: Target = "",
    since: Since = None,
    until: Until = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[AuditEntryRead]:
    f = service.AuditFilter(actor=actor, action=action, target=target, since=since, until=until)
    before = decode_cursor(cursor, 1)[0] if cursor else None
    rows = service.search(session, f, before_id=before, limit=limit)
    return Page.of(rows, AuditEntryRead, limit)


@router.get(
    "/audit/export",
    summary="The audit log as CSV (admins; the same filters as the search)",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}, "description": "CSV, oldest first"}},
)
def export_entries(
    session: SessionDep,
    caller: AdminCaller,
    actor: Actor = "",
    action: Action = "",
    target: Target = "",
    since: Since = None,
    until: Until = None,
) -> Response:
    f = service.AuditFilter(actor=actor, action=action, target=target, since=since, until=until)
    actions.record(session, "audit.exported", actor=caller.user, filters=_filters(f))
    return Response(
        "".join(service.to_csv(session, f)),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="audit.csv"'},
    )


def _filters(f: service.AuditFilter) -> dict[str, str]:
    return {
        k: str(v)
        for k, v in {
            "actor": f.actor,
            "action": f.action,
            "target": f.target,
            "since": f.since,
            "until": f.until,
        }.items()
        if v
    }
