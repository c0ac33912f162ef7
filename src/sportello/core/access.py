"""Scoped reads: every page and API fetches conversations and customers through here.

Admins and supervisors see everything. Agents see conversations in the queues of their teams,
conversations assigned to them, and conversations not yet in any queue. A conversation outside a
user's scope is reported as not found, so its existence does not leak.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Select, or_, select, true
from sqlalchemy.orm import Session

from sportello.accounts.models import User
from sportello.conversations.models import Conversation
from sportello.core.errors import NotFound, PermissionDenied
from sportello.customers.models import Customer
from sportello.routing.models import Queue


def visible_queue_ids(session: Session, user: User) -> frozenset[int]:
    team_ids = [team.id for team in user.teams]
    if not team_ids:
        return frozenset()
    return frozenset(session.scalars(select(Queue.id).where(Queue.team_id.in_(team_ids))))


def conversation_scope(session: Session, user: User) -> ColumnElement[bool]:
    if user.is_supervisor:
        return true()
    queue_ids = visible_queue_ids(session, user)
    return or_(
        Conversation.assignee_id == user.id,
        Conversation.queue_id.is_(None),
        Conversation.queue_id.in_(queue_ids) if queue_ids else Conversation.id.is_(None),
    )


def conversations_query(session: Session, user: User) -> Select[Conversation]:
    return select(Conversation).where(conversation_scope(session, user))


def access_conversation_by_id(session: Session, user: User, conversation_id: int) -> Conversation:
    conversation = session.scalar(
        conversations_query(session, user).where(Conversation.id == conversation_id)
    )
    if conversation is None:
        raise NotFound("conversation not found")
    return conversation


def check_conversation_access(session: Session, user: User, conversation_id: int) -> None:
    """The same check without loading the conversation (with its joined channel, customer,
    queue, assignee and tags): for writes that load what they change themselves."""
    found = session.scalar(
        select(Conversation.id).where(
            conversation_scope(session, user), Conversation.id == conversation_id
        )
    )
    if found is None:
        raise NotFound("conversation not found")


def access_conversation_by_number(session: Session, user: User, number: int) -> Conversation:
    conversation = session.scalar(
        conversations_query(session, user).where(Conversation.number == number)
    )
    if conversation is None:
        raise NotFound("conversation not found")
    return conversation


def customer_scope(session: Session, user: User) -> ColumnElement[bool]:
    """Agents see customers who have at least one conversation they may see."""
    if user.is_supervisor:
        return true()
    visible = select(Conversation.customer_id).where(conversation_scope(session, user))
    return Customer.id.in_(visible)


def customers_query(session: Session, user: User) -> Select[Customer]:
    return select(Customer).where(Customer.merged_into_id.is_(None), customer_scope(session, user))


def access_customer_by_id(session: Session, user: User, customer_id: int) -> Customer:
    customer = session.scalar(customers_query(session, user).where(Customer.id == customer_id))
    if customer is None:
        raise NotFound("customer not found")
    return customer


def require_supervisor(user: User) -> None:
    if not user.is_supervisor:
        raise PermissionDenied("supervisors and admins only")


def require_admin(user: User) -> None:
    if not user.is_admin:
        raise PermissionDenied("admins only")


def realtime_scope(session: Session, user: User) -> dict[str, Any]:
    return {
        "sees_everything": user.is_supervisor,
        "queue_ids": visible_queue_ids(session, user),
    }
