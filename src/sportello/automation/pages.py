"""Rule pages: the ordered list, the editor (conditions and actions from the registries), a dry
run, and the log of what the rules did. Admins change rules; supervisors look."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select

from sportello.accounts import service as accounts_service
from sportello.accounts.models import User
from sportello.automation import actions, engine, handlers, service
from sportello.automation.models import Rule
from sportello.conversations.models import Priority, Status
from sportello.core.db import SessionDep
from sportello.core.errors import InvalidInput
from sportello.routing.models import Queue
from sportello.web.auth import AdminUser, CsrfChecked, SupervisorUser
from sportello.web.helpers import form_error, see_other
from sportello.web.render import render

__all__ = ["handlers", "router"]

router = APIRouter(dependencies=[CsrfChecked])
ROWS = 5


async def _form(request: Request) -> dict[str, Any]:
    form = await request.form()
    data: dict[str, Any] = {k: v for k, v in form.items() if isinstance(v, str)}
    data["events"] = [v for v in form.getlist("events") if isinstance(v, str)]
    return data


Form = Annotated[dict[str, Any], Depends(_form)]


def _page(
    request: Request,
    session: SessionDep,
    *,
    editing: Rule | None = None,
    error: Any = None,
    values: dict[str, Any] | None = None,
    matches: list[Any] | None = None,
) -> Response:
    from sportello.replies.models import CannedReply
    from sportello.webhooks.models import WebhookSubscription

    return render(
        request,
        "automation/admin.html",
        {
            "admin_tab": "rules",
            "rules": service.rules(session),
            "editing": editing,
            "runs": service.runs(session, rule_id=editing.id if editing else None, limit=30),
            "rule_names": {r.id: r.name for r in service.rules(session)},
            "trigger_events": actions.TRIGGER_EVENTS,
            "conditions": engine.CONDITIONS,
            "ops": engine.OPS_LABELS,
            "action_specs": engine.ACTIONS,
            "queues": session.scalars(select(Queue).order_by(Queue.name)).all(),
            "agents": session.scalars(select(User).where(User.is_active).order_by(User.name)).all(),
            "replies": session.scalars(select(CannedReply).order_by(CannedReply.title)).all(),
            "webhooks": session.scalars(
                select(WebhookSubscription).order_by(WebhookSubscription.name)
            ).all(),
            "priorities": list(Priority),
            "statuses": list(Status),
            "rows": ROWS,
            "error": error,
            "values": values or {},
            "matches": matches,
        },
        status_code=422 if error else 200,
    )


@router.get("/admin/rules", response_class=HTMLResponse, include_in_schema=False)
def admin_rules(
    request: Request,
    session: SessionDep,
    user: SupervisorUser,
    edit: int | None = None,
    dry: int = 0,
) -> Response:
    editing = service.get_rule(session, edit) if edit else None
    matches = actions.dry_run(session, rule=editing) if editing and dry else None
    return _page(request, session, editing=editing, matches=matches)


def _rows(form: dict[str, Any]) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    conditions = [
        {
            "field": form.get(f"c{i}_field", ""),
            "op": form.get(f"c{i}_op", ""),
            "value": form.get(f"c{i}_value", ""),
        }
        for i in range(ROWS)
        if form.get(f"c{i}_field")
    ]
    done = [
        {"action": form.get(f"a{i}_action", ""), "value": form.get(f"a{i}_value", "")}
        for i in range(ROWS)
        if form.get(f"a{i}_action")
    ]
    return conditions, done


@router.post("/admin/rules", response_class=HTMLResponse, include_in_schema=False)
def admin_rule_save(request: Request, session: SessionDep, user: AdminUser, form: Form) -> Response:
    raw_id = str(form.get("rule_id", ""))
    editing = service.get_rule(session, int(raw_id)) if raw_id.isdigit() else None
    conditions, done = _rows(form)
    try:
        rule = actions.do_save_rule(
            session,
            brand_id=accounts_service.default_brand(session).id,
            rule=editing,
            name=str(form.get("name", "")),
            kind=str(form.get("kind", "event")),
            events=list(form["events"]),
            conditions=conditions,
            actions=done,
            match_all=form.get("match") != "any",
            is_active=bool(form.get("is_active")),
            stop_after=bool(form.get("stop_after")),
        )
    except InvalidInput as exc:
        session.rollback()
        if editing is not None:
            editing = service.get_rule(session, editing.id)
        return _page(request, session, editing=editing, error=form_error(exc), values=form)
    return see_other(f"/admin/rules?edit={rule.id}&saved=1")


@router.post("/admin/rules/{rule_id}/move", include_in_schema=False)
def admin_rule_move(
    request: Request, session: SessionDep, user: AdminUser, rule_id: int, form: Form
) -> Response:
    actions.do_move_rule(
        session, rule=service.get_rule(session, rule_id), up=form.get("direction") == "up"
    )
    return see_other("/admin/rules")


@router.post("/admin/rules/{rule_id}/delete", include_in_schema=False)
def admin_rule_delete(
    request: Request, session: SessionDep, user: AdminUser, rule_id: int
) -> Response:
    actions.do_delete_rule(session, rule=service.get_rule(session, rule_id))
    return see_other("/admin/rules")
