"""The console's search page: /search (all groups) and /search?group=... (one, paged)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from sportello.core.db import SessionDep
from sportello.search import service
from sportello.web.auth import CurrentUser
from sportello.web.render import render

router = APIRouter()
PER_GROUP = 10  # on the overview
PER_PAGE = 25  # one group, paged with "more results"


@router.get("/search", response_class=HTMLResponse, include_in_schema=False)
def search(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    q: str = "",
    group: str = "",
    offset: int = 0,
) -> Response:
    q = q.strip()[:200]
    only = group if group in service.GROUPS else None
    limit = PER_PAGE if only else PER_GROUP
    results = service.search(
        session,
        user,
        q,
        groups=(only,) if only else service.GROUPS,
        offset=max(0, min(offset, 10_000)) if only else 0,
        limit=limit,
    )
    return render(
        request,
        "conversations/search.html",
        {
            "q": q,
            "results": results,
            "only": only,
            "limit": limit,
            "current_path": "",
        },
    )
