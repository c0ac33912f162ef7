"""Admin pages for queues: list, create, rename, move to another team."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from sportello.accounts import service as accounts_service
from sportello.accounts.models import Team
from sportello.core.db import SessionDep
from sportello.core.errors import Conflict, InvalidInput
from sportello.routing import actions, service
from sportello.web.auth import AdminUser, CsrfChecked, SupervisorUser
from sportello.web.helpers import form_error, see_other
from sportello.web.render import render

router = APIRouter(dependencies=[CsrfChecked])


def _team(session: SessionDep, team_id: str) -> Team | None:
    if not team_id:
        return None
    team = session.get(Team, int(team_id)) if team_id.isdigit() else None
    if team is None:
        raise InvalidInput("choose a team", field="team_id")
    return team


def _page(request: Request, session: SessionDep, *, error: object = None) -> Response:
    return render(
        request,
        "routing/queues.html",
        {
            "queues": service.get_all(session),
            "teams": accounts_service.get_all_teams(session),
            "error": error,
            "admin_tab": "queues",
        },
        status_code=422 if error else 200,
    )


@router.get("/admin/queues", response_class=HTMLResponse, include_in_schema=False)
def queues(request: Request, session: SessionDep, user: SupervisorUser) -> Response:
    return _page(request, session)


@router.post("/admin/queues", response_class=HTMLResponse, include_in_schema=False)
def queue_create(
    request: Request,
    session: SessionDep,
    user: AdminUser,
    name: Annotated[str, Form(max_length=200)],
    team_id: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    try:
        actions.do_create_queue(
            session,
            brand_id=accounts_service.default_brand(session).id,
            name=name,
            team=_team(session, team_id),
        )
    except (InvalidInput, Conflict) as exc:
        session.rollback()
        return _page(request, session, error=form_error(exc))
    return see_other("/admin/queues")


@router.post("/admin/queues/{queue_id}", response_class=HTMLResponse, include_in_schema=False)
def queue_save(
    request: Request,
    session: SessionDep,
    user: AdminUser,
    queue_id: int,
    name: Annotated[str, Form(max_length=200)],
    team_id: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    queue = service.get(session, queue_id)
    try:
        actions.do_update_queue(session, queue=queue, name=name, team=_team(session, team_id))
    except (InvalidInput, Conflict) as exc:
        session.rollback()
        return _page(request, session, error=form_error(exc))
    return see_other("/admin/queues")
