"""Reads for departments, side conversations and hand-offs, scoped by the caller's access."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sportello.accounts.models import User
from sportello.conversations.models import Conversation
from sportello.core import access
from sportello.core.db import utcnow
from sportello.core.errors import NotFound
from sportello.departments.models import (
    FINAL_STATUSES,
    Department,
    Handoff,
    HandoffKind,
    HandoffStatus,
    SideConversation,
    SideMessage,
)

AGES = {"1": 1, "7": 7, "30": 30, "90": 90}


def departments(session: Session, brand_id: int, *, active_only: bool = False) -> list[Department]:
    query = select(Department).where(Department.brand_id == brand_id).order_by(Department.name)
    if active_only:
        query = query.where(Department.is_active.is_(True))
    return list(session.scalars(query))


def get_department(session: Session, department_id: int, *, brand_id: int) -> Department:
    department = session.get(Department, department_id)
    if department is None or department.brand_id != brand_id:
        raise NotFound("department not found")
    return department


@dataclass
class SideThread:
    side: SideConversation
    department: Department | None
    messages: list[SideMessage] = field(default_factory=list)


def side_threads(session: Session, conversation_id: int) -> list[SideThread]:
    sides = session.scalars(
        select(SideConversation)
        .where(SideConversation.conversation_id == conversation_id)
        .order_by(SideConversation.id.desc())
    ).all()
    if not sides:
        return []
    by_id = {s.id: SideThread(s, None) for s in sides}
    dept_ids = {s.department_id for s in sides if s.department_id}
    depts = (
        {d.id: d for d in session.scalars(select(Department).where(Department.id.in_(dept_ids)))}
        if dept_ids
        else {}
    )
    for thread in by_id.values():
        thread.department = depts.get(thread.side.department_id or 0)
    for m in session.scalars(
        select(SideMessage)
        .where(SideMessage.side_conversation_id.in_(list(by_id)))
        .order_by(SideMessage.id)
    ):
        by_id[m.side_conversation_id].messages.append(m)
    return list(by_id.values())


def access_side(
    session: Session, user: User, side_id: int
) -> tuple[SideConversation, Conversation]:
    """A side conversation the user may see (through its conversation), else NotFound."""
    side = session.get(SideConversation, side_id)
    if side is None:
        raise NotFound("side conversation not found")
    conversation = access.access_conversation_by_id(session, user, side.conversation_id)
    return side, conversation


def access_handoff(session: Session, user: User, handoff_id: int) -> tuple[Handoff, Conversation]:
    handoff = session.get(Handoff, handoff_id)
    if handoff is None:
        raise NotFound("hand-off not found")
    conversation = access.access_conversation_by_id(session, user, handoff.conversation_id)
    return handoff, conversation


def handoffs_for(session: Session, conversation_id: int) -> list[Handoff]:
    return list(
        session.scalars(
            select(Handoff)
            .where(Handoff.conversation_id == conversation_id)
            .order_by(Handoff.id.desc())
        )
    )


@dataclass(frozen=True)
class HandoffFilter:
    department_id: int | None = None
    status: str = ""  # a HandoffStatus, "pending" (not final) or "done" (final)
    kind: str = ""
    age_days: int | None = None  # created within the last N days


def _filtered(brand_id: int, f: HandoffFilter) -> list:  # type: ignore[type-arg]
    where = [Handoff.brand_id == brand_id]
    if f.department_id:
        where.append(Handoff.department_id == f.department_id)
    if f.status == "pending":
        where.append(Handoff.status.not_in([s.value for s in FINAL_STATUSES]))
    elif f.status == "done":
        where.append(Handoff.status.in_([s.value for s in FINAL_STATUSES]))
    elif f.status in {s.value for s in HandoffStatus}:
        where.append(Handoff.status == HandoffStatus(f.status))
    if f.kind in {k.value for k in HandoffKind}:
        where.append(Handoff.kind == HandoffKind(f.kind))
    if f.age_days:
        where.append(Handoff.created_at >= utcnow() - timedelta(days=f.age_days))
    return where


@dataclass(frozen=True)
class HandoffRow:
    handoff: Handoff
    department: Department
    number: int
    subject: str
    customer: str


def handoffs(
    session: Session,
    brand_id: int,
    f: HandoffFilter,
    *,
    limit: int = 200,
    before_id: int | None = None,
) -> list[HandoffRow]:
    where = _filtered(brand_id, f)
    if before_id:
        where.append(Handoff.id < before_id)
    from sportello.customers.models import Customer

    rows = session.execute(
        select(Handoff, Department, Conversation.number, Conversation.subject, Customer.name)
        .join(Department, Department.id == Handoff.department_id)
        .join(Conversation, Conversation.id == Handoff.conversation_id)
        .join(Customer, Customer.id == Conversation.customer_id)
        .where(*where)
        .order_by(Handoff.id.desc())
        .limit(limit)
    ).all()
    return [HandoffRow(h, d, int(n), s or "", c or "") for h, d, n, s, c in rows]


@dataclass(frozen=True)
class HandoffCount:
    department_id: int
    department: str
    status: str
    count: int


def handoff_counts(session: Session, brand_id: int, f: HandoffFilter) -> list[HandoffCount]:
    """How many hand-offs per department and outcome (the filters except status apply)."""
    where = _filtered(brand_id, HandoffFilter(f.department_id, "", f.kind, f.age_days))
    rows = session.execute(
        select(Department.id, Department.name, Handoff.status, func.count(Handoff.id))
        .join(Department, Department.id == Handoff.department_id)
        .where(*where)
        .group_by(Department.id, Department.name, Handoff.status)
        .order_by(Department.name)
    ).all()
    return [HandoffCount(int(i), n, HandoffStatus(s).value, int(c)) for i, n, s, c in rows]


def count_table(
    counts: Sequence[HandoffCount],
) -> list[tuple[int, str, dict[str, int], int]]:
    """(department id, name, {status: count}, total) rows for the list page's summary."""
    table: dict[int, tuple[str, dict[str, int]]] = {}
    for c in counts:
        _name, cells = table.setdefault(c.department_id, (c.department, {}))
        cells[c.status] = c.count
    return [(i, n, cells, sum(cells.values())) for i, (n, cells) in table.items()]
