"""The sampling query beside the action that runs it (actions.do_run_rule).

Candidates come from the reports' per-conversation facts (``report_fact``, indexed by
``resolved_at``): the conversations resolved in the last 7 days, with the agent who resolved
them, their queue, channel and handle time. One statement ranks them per agent (a window
function) and keeps, per agent, what the rule's weekly quota still allows.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Exists, and_, exists, func, literal, or_, select
from sqlalchemy.orm import Session

from sportello.accounts.models import Role, User, team_member
from sportello.quality.models import Review, SampleMethod, SampleRule
from sportello.reports.models import ReportFact
from sportello.surveys.models import ResponseStatus, SurveyKind, SurveyResponse

WINDOW = timedelta(days=7)


def _low_survey() -> Exists:
    return exists().where(
        SurveyResponse.conversation_id == ReportFact.conversation_id,
        SurveyResponse.status == ResponseStatus.ANSWERED,
        or_(
            and_(SurveyResponse.kind == SurveyKind.CSAT, SurveyResponse.score <= 2),
            and_(SurveyResponse.kind == SurveyKind.NPS, SurveyResponse.score <= 6),
            and_(SurveyResponse.kind == SurveyKind.CES, SurveyResponse.score <= 3),
        ),
    )


def sample(session: Session, *, rule: SampleRule, now: datetime) -> list[tuple[int, int, datetime]]:
    """(conversation id, agent id, resolved at) to review, at most the rule's remaining quota
    per agent."""
    start = now - WINDOW
    fact = ReportFact
    conditions: list[Any] = [
        fact.resolved_at >= start,
        fact.resolved_at <= now,
        fact.brand_id == rule.brand_id,
        fact.resolver_id > 0,
        ~exists().where(
            Review.conversation_id == fact.conversation_id, Review.calibration_id.is_(None)
        ),
    ]
    if rule.queue_id is not None:
        conditions.append(fact.queue_id == rule.queue_id)
    if rule.channel_id is not None:
        conditions.append(fact.channel_id == rule.channel_id)
    if rule.team_id is not None:
        conditions.append(
            fact.resolver_id.in_(
                select(team_member.c.user_id).where(team_member.c.team_id == rule.team_id)
            )
        )
    if rule.method == SampleMethod.LOW_CSAT:
        conditions.append(_low_survey())
        order: list[Any] = [fact.resolved_at.desc()]
    elif rule.method == SampleMethod.LONG_HANDLE:
        length = func.coalesce(func.nullif(fact.handle_seconds, 0), fact.resolution_seconds, 0)
        conditions.append(length > 0)
        order = [length.desc()]
    else:
        order = [func.random()]
    # Reviews this rule gave each agent in the window: the quota left is per_agent minus these.
    done = (
        select(Review.agent_id.label("agent_id"), func.count().label("n"))
        .where(Review.rule_id == rule.id, Review.created_at >= start)
        .group_by(Review.agent_id)
        .subquery()
    )
    ranked = (
        select(
            fact.conversation_id.label("conversation_id"),
            fact.resolver_id.label("agent_id"),
            fact.resolved_at.label("resolved_at"),
            func.row_number().over(partition_by=fact.resolver_id, order_by=order).label("rank"),
        )
        .where(*conditions)
        .subquery()
    )
    query = (
        select(ranked.c.conversation_id, ranked.c.agent_id, ranked.c.resolved_at)
        .outerjoin(done, done.c.agent_id == ranked.c.agent_id)
        .where(ranked.c.rank <= literal(rule.per_agent) - func.coalesce(done.c.n, 0))
        .order_by(ranked.c.agent_id, ranked.c.rank)
    )
    return [(int(c), int(a), r) for c, a, r in session.execute(query)]


def reviewers(session: Session, rule: SampleRule) -> list[int]:
    """The rule's reviewer, or every active supervisor and admin (taken in turn)."""
    if rule.reviewer_id is not None:
        return [rule.reviewer_id]
    return list(
        session.scalars(
            select(User.id)
            .where(User.is_active, User.role.in_([Role.SUPERVISOR, Role.ADMIN]))
            .order_by(User.id)
        )
    )
