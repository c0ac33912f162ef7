"""Reads: briefings and who must read them, the offer gate, proposals and their report,
training modules and plans, notifications. Scoped by role where the caller is a user."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, func, literal, or_, select, union_all
from sqlalchemy.orm import Session

from sportello.accounts.models import Role, User, team_member
from sportello.core.db import utcnow
from sportello.core.errors import NotFound, PermissionDenied
from sportello.frontline.models import (
    Briefing,
    BriefingReceipt,
    BriefingStatus,
    CompletionStatus,
    ModuleCompletion,
    Notification,
    Proposal,
    ProposalComment,
    ProposalStatus,
    ProposalVote,
    TrainingModule,
)
from sportello.routing.models import AgentSkill, Queue

#: The reason the status menu gives an agent held back by a required briefing.
GATE_REASON = "read and acknowledge the required briefing first"


# ---- briefings -------------------------------------------------------------------------------


def _active(now: datetime) -> Any:
    return and_(
        Briefing.status == BriefingStatus.PUBLISHED,
        or_(Briefing.valid_from.is_(None), Briefing.valid_from <= now),
        or_(Briefing.valid_until.is_(None), Briefing.valid_until > now),
    )


def audience(session: Session, briefing: Briefing, user_ids: Sequence[int]) -> set[int]:
    """Which of ``user_ids`` the briefing is for (its team, skill, queue's team, or everyone)."""
    ids = list(user_ids)
    if not ids:
        return set()
    team_id = briefing.team_id
    if briefing.queue_id is not None:
        team_id = session.scalar(select(Queue.team_id).where(Queue.id == briefing.queue_id))
        if team_id is None:
            return set(ids)
    found = set(ids)
    if team_id is not None:
        found &= set(
            session.scalars(
                select(team_member.c.user_id).where(
                    team_member.c.team_id == team_id, team_member.c.user_id.in_(ids)
                )
            )
        )
    if briefing.skill_id is not None:
        found &= set(
            session.scalars(
                select(AgentSkill.user_id).where(
                    AgentSkill.skill_id == briefing.skill_id, AgentSkill.user_id.in_(ids)
                )
            )
        )
    return found


def audience_all(session: Session, briefing: Briefing) -> list[User]:
    """Every active user of the briefing's audience (agents and supervisors alike)."""
    users = list(session.scalars(select(User).where(User.is_active.is_(True)).order_by(User.name)))
    ids = audience(session, briefing, [u.id for u in users])
    return [u for u in users if u.id in ids]


def _held_statement(briefing: Briefing, queue_team_id: int | None) -> Select[int, int]:
    """The audience of ``briefing`` who have not acknowledged it (SQL, no id list)."""
    acknowledged = (
        select(BriefingReceipt.user_id)
        .where(
            BriefingReceipt.briefing_id == briefing.id,
            BriefingReceipt.user_id == User.id,
            BriefingReceipt.acknowledged_at.is_not(None),
        )
        .exists()
    )
    team_id = queue_team_id if briefing.queue_id is not None else briefing.team_id
    stmt = select(literal(briefing.id).label("briefing_id"), User.id.label("user_id")).where(
        User.is_active.is_(True), ~acknowledged
    )
    if team_id is not None:
        stmt = stmt.join(
            team_member, and_(team_member.c.user_id == User.id, team_member.c.team_id == team_id)
        )
    if briefing.skill_id is not None:
        stmt = stmt.join(
            AgentSkill,
            and_(AgentSkill.user_id == User.id, AgentSkill.skill_id == briefing.skill_id),
        )
    return stmt


#: Up to this many agents the held check filters by id in SQL (the status menu asks for one).
FEW = 20


def pending_required(
    session: Session, user_ids: Sequence[int], *, now: datetime | None = None
) -> dict[int, list[int]]:
    """For each of ``user_ids`` held back: the required, active briefings not yet acknowledged.

    One query when no required briefing is active (the usual day); else one per briefing that
    returns only its audience still to acknowledge (a few rows, whatever the team's size)."""
    now = now or utcnow()
    if not user_ids:
        return {}
    briefings = list(
        session.scalars(select(Briefing).where(_active(now), Briefing.required.is_(True)))
    )
    if not briefings:
        return {}
    wanted = set(user_ids)
    queue_teams = dict(
        session.execute(
            select(Queue.id, Queue.team_id).where(
                Queue.id.in_({b.queue_id for b in briefings if b.queue_id is not None})
            )
        ).all()
    )
    statements = []
    for briefing in briefings:
        stmt = _held_statement(
            briefing, queue_teams.get(briefing.queue_id) if briefing.queue_id else None
        )
        if len(wanted) <= FEW:
            stmt = stmt.where(User.id.in_(sorted(wanted)))
        statements.append(stmt)
    held: dict[int, list[int]] = {}
    for briefing_id, uid in session.execute(union_all(*statements)):
        if uid in wanted:
            held.setdefault(uid, []).append(briefing_id)
    return held


def offer_gate(session: Session, user_ids: Sequence[int]) -> dict[int, str]:
    """The routing offer gate (``routing.gates``): agents with a required briefing to read."""
    return {uid: GATE_REASON for uid in pending_required(session, user_ids)}


def briefings_for(session: Session, user: User, *, now: datetime | None = None) -> list[Briefing]:
    """Published briefings valid now that are meant for ``user``, newest first."""
    now = now or utcnow()
    rows = session.scalars(
        select(Briefing).where(_active(now)).order_by(Briefing.published_at.desc(), Briefing.id)
    )
    return [b for b in rows if user.id in audience(session, b, [user.id])]


def briefings(session: Session, *, status: BriefingStatus | None = None) -> list[Briefing]:
    stmt = select(Briefing).order_by(Briefing.id.desc())
    if status is not None:
        stmt = stmt.where(Briefing.status == status)
    return list(session.scalars(stmt))


def get_briefing(session: Session, briefing_id: int) -> Briefing:
    briefing = session.get(Briefing, briefing_id)
    if briefing is None:
        raise NotFound("briefing not found")
    return briefing


def access_briefing_by_id(session: Session, user: User, briefing_id: int) -> Briefing:
    """Supervisors see every briefing; agents the published ones meant for them."""
    briefing = get_briefing(session, briefing_id)
    if user.is_supervisor:
        return briefing
    if briefing.status != BriefingStatus.PUBLISHED or user.id not in audience(
        session, briefing, [user.id]
    ):
        raise NotFound("briefing not found")
    return briefing


def receipt(session: Session, briefing_id: int, user_id: int) -> BriefingReceipt | None:
    return session.get(BriefingReceipt, (briefing_id, user_id))


@dataclass
class ReceiptLine:
    user: User
    receipt: BriefingReceipt | None


def receipts(session: Session, briefing: Briefing) -> list[ReceiptLine]:
    """The audience with each one's receipt (read, acknowledged, passed, reminded)."""
    by_user = {
        r.user_id: r
        for r in session.scalars(
            select(BriefingReceipt).where(BriefingReceipt.briefing_id == briefing.id)
        )
    }
    people = {u.id: u for u in audience_all(session, briefing)}
    for uid in by_user:
        if uid not in people:
            person = session.get(User, uid)
            if person is not None:
                people[uid] = person
    return [
        ReceiptLine(user=u, receipt=by_user.get(u.id))
        for u in sorted(people.values(), key=lambda u: u.name)
    ]


# ---- proposals -------------------------------------------------------------------------------


def proposals(
    session: Session, *, status: ProposalStatus | None = None, limit: int = 200
) -> list[Proposal]:
    stmt = select(Proposal).order_by(Proposal.votes.desc(), Proposal.id.desc()).limit(limit)
    if status is not None:
        stmt = stmt.where(Proposal.status == status)
    return list(session.scalars(stmt))


def get_proposal(session: Session, proposal_id: int) -> Proposal:
    proposal = session.get(Proposal, proposal_id)
    if proposal is None:
        raise NotFound("proposal not found")
    return proposal


def comments(session: Session, proposal_id: int) -> list[ProposalComment]:
    return list(
        session.scalars(
            select(ProposalComment)
            .where(ProposalComment.proposal_id == proposal_id)
            .order_by(ProposalComment.id)
        )
    )


def voted(session: Session, user_id: int, proposal_ids: Sequence[int]) -> set[int]:
    if not proposal_ids:
        return set()
    return set(
        session.scalars(
            select(ProposalVote.proposal_id).where(
                ProposalVote.user_id == user_id, ProposalVote.proposal_id.in_(list(proposal_ids))
            )
        )
    )


@dataclass
class TopicLine:
    topic: str
    count: int
    votes: int
    answered: int
    median_hours: float | None


def proposal_report(session: Session, *, since: datetime | None = None) -> list[TopicLine]:
    """Most-raised topics (proposals and votes) and the median time to a first answer."""
    stmt = select(Proposal.topic, Proposal.votes, Proposal.created_at, Proposal.answered_at)
    if since is not None:
        stmt = stmt.where(Proposal.created_at >= since)
    by_topic: dict[str, list[tuple[int, float | None]]] = {}
    for raw_topic, votes, created, answered in session.execute(stmt):
        hours = (answered - created).total_seconds() / 3600 if answered else None
        by_topic.setdefault(str(raw_topic), []).append((votes, hours))
    lines = []
    for topic, rows in by_topic.items():
        waits = sorted(h for _, h in rows if h is not None)
        median = statistics.median(waits) if waits else None
        lines.append(
            TopicLine(
                topic=topic,
                count=len(rows),
                votes=sum(v for v, _ in rows),
                answered=len(waits),
                median_hours=round(median, 1) if median is not None else None,
            )
        )
    return sorted(lines, key=lambda line: (-line.count, -line.votes, line.topic))


# ---- training --------------------------------------------------------------------------------


def modules(session: Session, *, active_only: bool = True) -> list[TrainingModule]:
    stmt = select(TrainingModule).order_by(
        TrainingModule.skill_id, TrainingModule.level, TrainingModule.id
    )
    if active_only:
        stmt = stmt.where(TrainingModule.is_active.is_(True))
    return list(session.scalars(stmt))


def get_module(session: Session, module_id: int) -> TrainingModule:
    module = session.get(TrainingModule, module_id)
    if module is None:
        raise NotFound("training module not found")
    return module


def onboarding_path(session: Session) -> list[TrainingModule]:
    return list(
        session.scalars(
            select(TrainingModule)
            .where(TrainingModule.onboarding_step.is_not(None), TrainingModule.is_active.is_(True))
            .order_by(TrainingModule.onboarding_step, TrainingModule.id)
        )
    )


def completions(
    session: Session, *, user_id: int | None = None, status: CompletionStatus | None = None
) -> list[ModuleCompletion]:
    stmt = select(ModuleCompletion).order_by(ModuleCompletion.completed_at.desc())
    if user_id is not None:
        stmt = stmt.where(ModuleCompletion.user_id == user_id)
    if status is not None:
        stmt = stmt.where(ModuleCompletion.status == status)
    return list(session.scalars(stmt))


def best_completions(session: Session, user_id: int) -> dict[int, ModuleCompletion]:
    """The latest completion of each module by ``user_id``."""
    latest: dict[int, ModuleCompletion] = {}
    for c in completions(session, user_id=user_id):
        latest.setdefault(c.module_id, c)
    return latest


def get_completion(session: Session, completion_id: int) -> ModuleCompletion:
    completion = session.get(ModuleCompletion, completion_id)
    if completion is None:
        raise NotFound("completion not found")
    return completion


def agents(session: Session) -> list[User]:
    return list(
        session.scalars(
            select(User)
            .where(User.is_active.is_(True), User.role == Role.AGENT)
            .order_by(User.name)
        )
    )


# ---- notifications ---------------------------------------------------------------------------


def unread_count(session: Session, user_id: int) -> int:
    return int(
        session.scalar(
            select(func.count(Notification.id)).where(
                Notification.user_id == user_id, Notification.read_at.is_(None)
            )
        )
        or 0
    )


def notifications(session: Session, user_id: int, *, limit: int = 50) -> list[Notification]:
    return list(
        session.scalars(
            select(Notification)
            .where(Notification.user_id == user_id)
            .order_by(Notification.id.desc())
            .limit(limit)
        )
    )


def access_notification(session: Session, user: User, notification_id: int) -> Notification:
    note = session.get(Notification, notification_id)
    if note is None or note.user_id != user.id:
        raise NotFound("notification not found")
    return note


def require_supervisor(user: User) -> None:
    if not user.is_supervisor:
        raise PermissionDenied("supervisors only")
