"""The audit log page (admins): search by actor, action, target and dates; CSV export."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from sportello.audit import actions, service
from sportello.audit.api import _filters
from sportello.core.db import SessionDep
from sportello.web.auth import AdminUser, CsrfChecked
from sportello.web.render import render

router = APIRouter(dependencies=[CsrfChecked])

PAGE_SIZE = 100


def _parse_date(value: str) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def _filter(user: AdminUser, actor: str, action: str, target: str, since: str, until: str):  # type: ignore[no-untyped-def]
    return service.AuditFilter(
        actor=actor[:320],
        action=action[:80],
        target=target[:200],
        since=_parse_date(since),
        until=_parse_date(until),
        timezone=user.timezone,
    )


@router.get("/admin/audit", response_class=HTMLResponse, include_in_schema=False)
def audit_page(
    request: Request,
    session: SessionDep,
    user: AdminUser,
    actor: str = "",
    action: str = "",
    target: str = "",
    since: str = "",
    until: str = "",
    before: int | None = None,
) -> Response:
    f = _filter(user, actor, action, target, since, until)
    rows = service.search(session, f, before_id=before, limit=PAGE_SIZE)
    query = {"actor": actor, "action": action, "target": target, "since": since, "until": until}
    return render(
        request,
        "audit/index.html",
        {
            "entries": rows,
            "actions": service.actions(session),
            "query": query,
            "bad_date": bool((since and f.since is None) or (until and f.until is None)),
            "next_before": rows[-1].id if len(rows) == PAGE_SIZE else None,
            "describe": service.describe,
            "admin_tab": "audit",
        },
    )


@router.get("/admin/audit.csv", include_in_schema=False)
def audit_csv(
    session: SessionDep,
    user: AdminUser,
    actor: str = "",
    action: str = "",
    target: str = "",
    since: str = "",
    until: str = "",
) -> Response:
    f = _filter(user, actor, action, target, since, until)
    actions.record(session, "audit.exported", actor=user, filters=_filters(f))
    return Response(
        "".join(service.to_csv(session, f)),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="audit.csv"'},
    )
