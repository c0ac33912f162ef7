"""REST API v1: rules (admins write, supervisors read), their dry run and their log."""

from __future__ import annotations

from fastapi import Response

from sportello.accounts import service as accounts_service
from sportello.automation import actions, engine, service
from sportello.automation.schemas import MatchRead, RegistryRead, RuleData, RuleRead, RunRead
from sportello.core.access import require_supervisor
from sportello.core.db import SessionDep
from sportello.web.api import (
    AdminCaller,
    Cursor,
    Limit,
    Page,
    ReadCaller,
    api_router,
    decode_cursor,
)

router = api_router("rules")


def _fields(data: RuleData) -> dict[str, object]:
    return {
        "name": data.name,
        "kind": data.kind.value,
        "events": data.events,
        "conditions": [c.model_dump() for c in data.conditions],
        "actions": [a.model_dump() for a in data.actions],
        "match_all": data.match_all,
        "is_active": data.is_active,
        "stop_after": data.stop_after,
        "position": data.position,
    }


@router.get(
    "/rules/registry",
    summary="Trigger events, conditions (with operators) and actions",
    response_model=RegistryRead,
)
def registry(caller: ReadCaller) -> RegistryRead:
    require_supervisor(caller.user)
    return RegistryRead(
        events=list(actions.TRIGGER_EVENTS),
        conditions={name: list(spec.ops) for name, spec in engine.CONDITIONS.items()},
        actions=list(engine.ACTIONS),
    )


@router.get("/rules", summary="List rules in the order they run", response_model=list[RuleRead])
def list_rules(session: SessionDep, caller: ReadCaller) -> list[RuleRead]:
    require_supervisor(caller.user)
    return [RuleRead.model_validate(r) for r in service.rules(session)]


@router.post("/rules", summary="Create a rule", response_model=RuleRead, status_code=201)
def create_rule(data: RuleData, session: SessionDep, caller: AdminCaller) -> RuleRead:
    rule = actions.do_save_rule(
        session,
        brand_id=accounts_service.default_brand(session).id,
        rule=None,
        **_fields(data),  # type: ignore[arg-type]
    )
    return RuleRead.model_validate(rule)


@router.put("/rules/{rule_id}", summary="Change a rule", response_model=RuleRead)
def update_rule(rule_id: int, data: RuleData, session: SessionDep, caller: AdminCaller) -> RuleRead:
    rule = service.get_rule(session, rule_id)
    rule = actions.do_save_rule(session, brand_id=rule.brand_id, rule=rule, **_fields(data))  # type: ignore[arg-type]
    return RuleRead.model_validate(rule)


@router.delete("/rules/{rule_id}", summary="Delete a rule", status_code=204)
def delete_rule(rule_id: int, session: SessionDep, caller: AdminCaller) -> Response:
    actions.do_delete_rule(session, rule=service.get_rule(session, rule_id))
    return Response(status_code=204)


@router.get(
    "/rules/{rule_id}/dry-run",
    summary="The active conversations the rule matches now",
    response_model=list[MatchRead],
)
def dry_run(rule_id: int, session: SessionDep, caller: ReadCaller) -> list[MatchRead]:
    require_supervisor(caller.user)
    rule = service.get_rule(session, rule_id)
    return [
        MatchRead(conversation_id=c.id, number=c.number, subject=c.subject, status=c.status.value)
        for c in actions.dry_run(session, rule=rule)
    ]


@router.get("/rules/runs", summary="What the rules did, newest first", response_model=Page[RunRead])
def list_runs(
    session: SessionDep,
    caller: ReadCaller,
    rule_id: int | None = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> Page[RunRead]:
    require_supervisor(caller.user)
    before = decode_cursor(cursor, 1)[0] if cursor else None
    rows = service.runs(session, rule_id=rule_id, before_id=before, limit=limit)
    return Page.of(rows, RunRead, limit)
