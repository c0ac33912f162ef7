"""Reads for rules: the rules in order, and the log of what they did."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from sportello.automation.models import Rule, RuleRun
from sportello.core.errors import NotFound


def rules(session: Session) -> Sequence[Rule]:
    return session.scalars(select(Rule).order_by(Rule.position, Rule.id)).all()


def get_rule(session: Session, rule_id: int) -> Rule:
    found = session.get(Rule, rule_id)
    if found is None:
        raise NotFound("rule not found")
    return found


def runs(
    session: Session, *, rule_id: int | None = None, before_id: int | None = None, limit: int = 50
) -> Sequence[RuleRun]:
    query = select(RuleRun)
    if rule_id is not None:
        query = query.where(RuleRun.rule_id == rule_id)
    if before_id is not None:
        query = query.where(RuleRun.id < before_id)
    return session.scalars(query.order_by(RuleRun.id.desc()).limit(limit)).all()
