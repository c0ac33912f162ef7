"""Reads: the canned replies, macros and saved views a user may see, and a reply's placeholders
filled for one conversation."""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from sportello.accounts.models import User
from sportello.conversations.models import Conversation, Direction, Message
from sportello.core.errors import NotFound
from sportello.customers.models import IdentityKind
from sportello.replies import placeholders
from sportello.replies.models import CannedReply, Macro, SavedView
from sportello.replies.people import format_phone

# --- canned replies -------------------------------------------------------------------------------


def _reply_scope(user: User):  # type: ignore[no-untyped-def]
    team_ids = [t.id for t in user.teams]
    shared = CannedReply.owner_id.is_(None)
    if user.is_supervisor:
        return or_(CannedReply.owner_id == user.id, shared)
    return or_(
        CannedReply.owner_id == user.id,
        shared & CannedReply.team_id.is_(None),
        shared & CannedReply.team_id.in_(team_ids) if team_ids else CannedReply.id.is_(None),
    )


def replies_for(session: Session, user: User) -> list[CannedReply]:
    """The user's own replies and the shared ones they may use (all of them for supervisors),
    by title."""
    return list(
        session.scalars(
            select(CannedReply)
            .where(_reply_scope(user))
            .order_by(CannedReply.title, CannedReply.id)
        ).unique()
    )


def get_reply(session: Session, user: User, reply_id: int) -> CannedReply:
    reply = session.scalar(
        select(CannedReply).where(CannedReply.id == reply_id, _reply_scope(user))
    )
    if reply is None:
        raise NotFound("canned reply not found")
    return reply


def may_manage_reply(user: User, reply: CannedReply) -> bool:
    return reply.owner_id == user.id if reply.owner_id is not None else user.is_supervisor


def macros_using_reply(session: Session, reply_id: int) -> list[Macro]:
    return list(
        session.scalars(
            select(Macro).where(Macro.canned_reply_id == reply_id).order_by(Macro.name)
        ).unique()
    )


def placeholder_values(session: Session, conversation: Conversation, agent: User) -> dict[str, str]:
    """What the placeholders of a reply stand for in this conversation, written by ``agent``."""
    customer = conversation.customer
    name = customer.name.strip()
    first, _, last = name.partition(" ")
    phone = customer.identity(IdentityKind.PHONE) or customer.identity(IdentityKind.WHATSAPP)
    inbound = session.scalars(
        select(Message.text)
        .where(Message.conversation_id == conversation.id, Message.direction == Direction.INBOUND)
        .order_by(Message.id.desc())
        .limit(20)
    )
    return {
        "cliente.nome": first,
        "cliente.cognome": last.strip(),
        "cliente.nome_completo": name,
        "cliente.email": customer.identity(IdentityKind.EMAIL) or "",
        "cliente.telefono": format_phone(phone, agent.language) if phone else "",
        "agente.nome": agent.name.split(" ")[0],
        "agente.nome_completo": agent.name,
        "conversazione.numero": str(conversation.number),
        "conversazione.oggetto": conversation.subject,
        "ordine.numero": placeholders.find_order_number([conversation.subject, *inbound]),
    }


def render_reply(
    session: Session, reply: CannedReply, conversation: Conversation, agent: User
) -> placeholders.Rendered:
    return placeholders.render(reply.body, placeholder_values(session, conversation, agent))


# --- macros ---------------------------------------------------------------------------------------


def _macro_scope(user: User):  # type: ignore[no-untyped-def]
    return or_(Macro.owner_id == user.id, Macro.owner_id.is_(None))


def macros_for(session: Session, user: User) -> list[Macro]:
    return list(
        session.scalars(
            select(Macro).where(_macro_scope(user)).order_by(Macro.name, Macro.id)
        ).unique()
    )


def get_macro(session: Session, user: User, macro_id: int) -> Macro:
    macro = session.scalar(select(Macro).where(Macro.id == macro_id, _macro_scope(user)))
    if macro is None:
        raise NotFound("macro not found")
    return macro


def may_manage_macro(user: User, macro: Macro) -> bool:
    return macro.owner_id == user.id if macro.owner_id is not None else user.is_supervisor


# --- saved views ----------------------------------------------------------------------------------


def views_for(session: Session, user: User) -> list[SavedView]:
    """Shared views first, then the user's own, each in their order."""
    return list(
        session.scalars(
            select(SavedView)
            .where(or_(SavedView.owner_id == user.id, SavedView.owner_id.is_(None)))
            .order_by(
                SavedView.owner_id.is_not(None), SavedView.position, SavedView.name, SavedView.id
            )
        )
    )


def get_view(session: Session, user: User, view_id: int) -> SavedView:
    view = session.scalar(
        select(SavedView).where(
            SavedView.id == view_id,
            or_(SavedView.owner_id == user.id, SavedView.owner_id.is_(None)),
        )
    )
    if view is None:
        raise NotFound("saved view not found")
    return view


def may_manage_view(user: User, view: SavedView) -> bool:
    return view.owner_id == user.id if view.owner_id is not None else user.is_supervisor
