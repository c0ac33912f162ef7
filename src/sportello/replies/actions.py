"""Writes: canned replies, macros and saved views; applying a macro and bulk changes.

Every change to a conversation goes through ``conversations.actions`` (``do_send_reply``,
``do_assign``, ``do_change_status``, ``do_update_conversation``): the same rules, the same
timeline lines and the same events as a change made by hand. Messages are translated when
raised (``core.i18n.gettext`` in the caller's language).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from sportello.accounts.models import Team, User
from sportello.conversations import actions as conversations_actions
from sportello.conversations.models import TRANSITIONS, Conversation, Priority, Status
from sportello.core import access
from sportello.core.db import utcnow
from sportello.core.errors import Conflict, InvalidInput, PermissionDenied, SportelloError
from sportello.core.i18n import gettext as _
from sportello.replies import placeholders, service
from sportello.replies.models import CannedReply, Macro, SavedView

MAX_BODY = 20_000
MAX_BULK = 500
ASSIGN_MODES = ("", "me", "nobody", "user")
MACRO_STATUSES = (Status.OPEN, Status.PENDING, Status.RESOLVED, Status.CLOSED)
SORTS = ("newest", "oldest", "priority", "sla")
STATUS_LABELS = {
    Status.NEW: "New",
    Status.OPEN: "Open",
    Status.PENDING: "Pending",
    Status.RESOLVED: "Resolved",
    Status.CLOSED: "Closed",
}


def _cannot_become(old: Status, new: Status) -> InvalidInput:
    return InvalidInput(
        _(
            "a conversation in status “%(old)s” cannot become “%(new)s”",
            old=_(STATUS_LABELS[old]),
            new=_(STATUS_LABELS[new]),
        ),
        field="status",
    )


# --- canned replies -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReplyFields:
    title: str
    shortcut: str
    body: str


def check_reply_fields(*, title: str, shortcut: str, body: str) -> ReplyFields:
    title = " ".join(title.split())
    shortcut = shortcut.strip().lstrip("/").lower()
    body = body.strip()
    if not title:
        raise InvalidInput(_("give the reply a title"), field="title")
    if len(title) > 200:
        raise InvalidInput(_("the title is too long (200 characters at most)"), field="title")
    if not shortcut:
        shortcut = "-".join(title.lower().split())[:60]
    if len(shortcut) > 60 or not all(ch.isalnum() or ch in "-_." for ch in shortcut):
        raise InvalidInput(
            _("a shortcut has letters, digits, dashes and dots only, at most 60"),
            field="shortcut",
        )
    if not body:
        raise InvalidInput(_("write the text of the reply"), field="body")
    if len(body) > MAX_BODY:
        raise InvalidInput(_("the text is too long (20,000 characters at most)"), field="body")
    unknown = placeholders.unknown_in(body)
    if unknown:
        raise InvalidInput(
            _(
                "unknown placeholders: %(names)s (see the list of placeholders you can use)",
                names=", ".join("{{" + n + "}}" for n in unknown),
            ),
            field="body",
        )
    return ReplyFields(title, shortcut, body)


def _check_shortcut_free(
    session: Session, *, shortcut: str, owner_id: int | None, team_id: int | None, ignore: int
) -> None:
    taken = session.scalar(
        select(CannedReply.id).where(
            CannedReply.shortcut == shortcut,
            CannedReply.owner_id.is_(None)
            if owner_id is None
            else CannedReply.owner_id == owner_id,
            CannedReply.team_id.is_(None) if team_id is None else CannedReply.team_id == team_id,
            CannedReply.id != ignore,
        )
    )
    if taken is not None:
        raise InvalidInput(_("another reply already has this shortcut"), field="shortcut")


def _check_share(by: User, shared: bool, team: Team | None) -> None:
    if (shared or team is not None) and not by.is_supervisor:
        raise PermissionDenied(_("only supervisors and admins manage shared replies"))


def do_create_reply(
    session: Session,
    *,
    brand_id: int,
    by: User,
    title: str,
    shortcut: str,
    body: str,
    shared: bool = False,
    team: Team | None = None,
) -> CannedReply:
    """A personal reply of ``by``, or (supervisors) one shared with everyone or with ``team``."""
    _check_share(by, shared, team)
    fields = check_reply_fields(title=title, shortcut=shortcut, body=body)
    owner_id = None if (shared or team is not None) else by.id
    team_id = team.id if team is not None else None
    _check_shortcut_free(
        session, shortcut=fields.shortcut, owner_id=owner_id, team_id=team_id, ignore=0
    )
    reply = CannedReply(
        brand_id=brand_id,
        owner_id=owner_id,
        team_id=team_id,
        title=fields.title,
        shortcut=fields.shortcut,
        body=fields.body,
        created_by_id=by.id,
    )
    session.add(reply)
    session.flush()
    return reply


def _check_manage_reply(by: User, reply: CannedReply) -> None:
    if not service.may_manage_reply(by, reply):
        raise PermissionDenied(_("only supervisors and admins manage shared replies"))


def do_update_reply(
    session: Session, *, reply: CannedReply, by: User, title: str, shortcut: str, body: str
) -> CannedReply:
    _check_manage_reply(by, reply)
    fields = check_reply_fields(title=title, shortcut=shortcut, body=body)
    _check_shortcut_free(
        session,
        shortcut=fields.shortcut,
        owner_id=reply.owner_id,
        team_id=reply.team_id,
        ignore=reply.id,
    )
    reply.title, reply.shortcut, reply.body = fields.title, fields.shortcut, fields.body
    reply.updated_at = utcnow()
    session.flush()
    return reply


def do_delete_reply(session: Session, *, reply: CannedReply, by: User) -> None:
    """Refused while a macro sends the reply: the macros are named, to be changed first."""
    _check_manage_reply(by, reply)
    users = service.macros_using_reply(session, reply.id)
    if users:
        raise Conflict(
            _(
                "this reply is used by the macros %(names)s: change them first",
                names=", ".join(f"“{m.name}”" for m in users),
            )
        )
    session.delete(reply)
    session.flush()


# --- macros ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MacroFields:
    name: str
    canned_reply_id: int | None
    status: str | None
    priority: str | None
    add_tags: list[str]
    assign: str
    assignee_id: int | None


def check_macro_fields(
    session: Session,
    *,
    by: User,
    name: str,
    canned_reply_id: int | None,
    status: str | None,
    priority: str | None,
    add_tags: Sequence[str],
    assign: str,
    assignee_id: int | None,
    shared: bool,
) -> MacroFields:
    name = " ".join(name.split())
    if not name:
        raise InvalidInput(_("give the macro a name"), field="name")
    if len(name) > 200:
        raise InvalidInput(_("the name is too long (200 characters at most)"), field="name")
    if canned_reply_id is not None:
        reply = service.get_reply(session, by, canned_reply_id)
        if shared and reply.owner_id is not None:
            raise InvalidInput(
                _("a shared macro can only send a shared reply"), field="canned_reply_id"
            )
    if status and status not in {s.value for s in MACRO_STATUSES}:
        raise InvalidInput(_("choose a status"), field="status")
    if priority and priority not in {p.value for p in Priority}:
        raise InvalidInput(_("choose a priority"), field="priority")
    try:
        tags = conversations_actions._normalize_tags(add_tags)
    except InvalidInput:
        raise InvalidInput(_("at most 20 tags"), field="add_tags") from None
    if assign not in ASSIGN_MODES:
        raise InvalidInput(_("choose who gets the conversation"), field="assign")
    if assign == "user":
        if assignee_id is None:
            raise InvalidInput(_("choose an agent"), field="assignee_id")
        target = session.get(User, assignee_id)
        if target is None or not target.is_active:
            raise InvalidInput(_("that user does not exist or is not active"), field="assignee_id")
    else:
        assignee_id = None
    if not (canned_reply_id or status or priority or tags or assign):
        raise InvalidInput(_("a macro must do something: choose at least one step"), field="name")
    return MacroFields(
        name, canned_reply_id, status or None, priority or None, tags, assign, assignee_id
    )


def do_create_macro(
    session: Session, *, brand_id: int, by: User, shared: bool, **fields: Any
) -> Macro:
    if shared and not by.is_supervisor:
        raise PermissionDenied(_("only supervisors and admins manage shared macros"))
    checked = check_macro_fields(session, by=by, shared=shared, **fields)
    macro = Macro(brand_id=brand_id, owner_id=None if shared else by.id, **checked.__dict__)
    session.add(macro)
    session.flush()
    return macro


def _check_manage_macro(by: User, macro: Macro) -> None:
    if not service.may_manage_macro(by, macro):
        raise PermissionDenied(_("only supervisors and admins manage shared macros"))


def do_update_macro(session: Session, *, macro: Macro, by: User, **fields: Any) -> Macro:
    _check_manage_macro(by, macro)
    checked = check_macro_fields(session, by=by, shared=macro.is_shared, **fields)
    for key, value in checked.__dict__.items():
        setattr(macro, key, value)
    macro.updated_at = utcnow()
    session.flush()
    return macro


def do_delete_macro(session: Session, *, macro: Macro, by: User) -> None:
    _check_manage_macro(by, macro)
    session.delete(macro)
    session.flush()


@dataclass(frozen=True)
class MacroPlan:
    """What a macro will do to one conversation, checked before anything is written."""

    text: str | None
    assignee: User | bool | None  # False: leave it
    status: Status | None
    priority: Priority | None
    tags: list[str] | None


def check_apply_macro(
    session: Session, *, conversation: Conversation, macro: Macro, by: User
) -> MacroPlan:
    text = None
    if macro.canned_reply is not None:
        rendered = service.render_reply(session, macro.canned_reply, conversation, by)
        if rendered.missing or rendered.unknown:
            raise InvalidInput(
                _(
                    "the reply needs values this conversation does not have: %(names)s",
                    names=", ".join(rendered.missing + rendered.unknown),
                ),
                field="macro",
            )
        conversations_actions.check_reply(conversation, rendered.text, ())
        text = rendered.text
    assignee: User | bool | None = False
    if macro.assign == "me":
        assignee = by
    elif macro.assign == "nobody":
        assignee = None
    elif macro.assign == "user":
        assignee = macro.assignee
    if assignee is not False:
        conversations_actions.check_assign(conversation, assignee)  # type: ignore[arg-type]
    status = Status(macro.status) if macro.status else None
    if status is not None:
        current = conversation.status
        if current == Status.NEW and (text is not None or assignee not in (False, None)):
            current = Status.OPEN  # the reply or the assignment opens it first
        if status != current and status not in TRANSITIONS[current]:
            raise _cannot_become(current, status)
    tags = None
    if macro.add_tags:
        tags = [t.name for t in conversation.tags] + list(macro.add_tags)
        if len(set(tags)) > conversations_actions.MAX_TAGS:
            raise InvalidInput(_("at most 20 tags"), field="tags")
    priority = Priority(macro.priority) if macro.priority else None
    return MacroPlan(text, assignee, status, priority, tags)


def _carry_out(
    session: Session,
    conversation: Conversation,
    by: User,
    *,
    text: str | None = None,
    assignee: User | bool | None = False,
    status: Status | None = None,
    priority: Priority | None = None,
    tags: list[str] | None = None,
) -> None:
    if text is not None:
        conversations_actions.do_send_reply(
            session, conversation=conversation, author=by, text=text
        )
    if priority is not None or tags is not None:
        conversations_actions.do_update_conversation(
            session, conversation=conversation, by=by, priority=priority, tags=tags
        )
    if assignee is not False:
        conversations_actions.do_assign(
            session,
            conversation=conversation,
            assignee=assignee,  # type: ignore[arg-type]
            by=by,
        )
    if status is not None:
        conversations_actions.do_change_status(
            session, conversation=conversation, status=status, by=by
        )


def do_apply_macro(
    session: Session, *, conversation: Conversation, macro: Macro, by: User
) -> Conversation:
    """The macro's reply (placeholders filled), then tags, priority, assignee and status."""
    plan = check_apply_macro(session, conversation=conversation, macro=macro, by=by)
    _carry_out(session, conversation, by, **plan.__dict__)
    return conversation


# --- bulk -----------------------------------------------------------------------------------------


@dataclass
class BulkResult:
    updated: list[int] = field(default_factory=list)  # conversation numbers
    skipped: list[tuple[int, str]] = field(default_factory=list)  # (number, why)
    not_found: int = 0


@dataclass(frozen=True)
class BulkChange:
    assignee: User | bool | None = False  # False: leave it; None: nobody
    status: Status | None = None
    priority: Priority | None = None
    add_tags: tuple[str, ...] = ()
    macro: Macro | None = None

    @property
    def empty(self) -> bool:
        return (
            self.assignee is False
            and self.status is None
            and self.priority is None
            and not self.add_tags
            and self.macro is None
        )


def do_bulk_update(
    session: Session, *, by: User, conversation_ids: Sequence[int], change: BulkChange
) -> BulkResult:
    """The same change on many conversations, each within ``by``'s scope (others count as not
    found). A conversation the change cannot apply to (a closed one to reopen, a macro whose
    reply lacks a value) is skipped with the reason; the others are changed."""
    if change.empty:
        raise InvalidInput(_("choose what to change"), field="action")
    if change.macro is not None and change != BulkChange(macro=change.macro):
        raise InvalidInput(_("apply a macro on its own, without other changes"), field="macro")
    ids = list(dict.fromkeys(conversation_ids))
    if not ids:
        raise InvalidInput(_("select at least one conversation"), field="ids")
    if len(ids) > MAX_BULK:
        raise InvalidInput(_("at most 500 conversations at a time"), field="ids")
    try:
        conversations_actions._normalize_tags(change.add_tags)
    except InvalidInput:
        raise InvalidInput(_("at most 20 tags"), field="tags") from None
    found = list(
        session.scalars(
            access.conversations_query(session, by)
            .where(Conversation.id.in_(ids))
            .order_by(Conversation.number)
        ).unique()
    )
    result = BulkResult(not_found=len(ids) - len(found))
    for conversation in found:
        try:
            plan = _bulk_plan(session, conversation, by, change)
        except SportelloError as exc:
            result.skipped.append((conversation.number, exc.message))
            continue
        _carry_out(session, conversation, by, **plan)
        result.updated.append(conversation.number)
    return result


def _bulk_plan(
    session: Session, conversation: Conversation, by: User, change: BulkChange
) -> dict[str, Any]:
    if change.assignee is not False:
        conversations_actions.check_assign(conversation, change.assignee)  # type: ignore[arg-type]
    if change.status is not None:
        try:
            conversations_actions.check_status_change(conversation, change.status)
        except SportelloError:
            raise _cannot_become(conversation.status, change.status) from None
    if change.macro is not None:
        return check_apply_macro(
            session, conversation=conversation, macro=change.macro, by=by
        ).__dict__
    tags = None
    if change.add_tags:
        tags = [t.name for t in conversation.tags] + list(change.add_tags)
        if len(set(tags)) > conversations_actions.MAX_TAGS:
            raise InvalidInput(_("at most 20 tags"), field="tags")
    return {
        "assignee": change.assignee,
        "status": change.status,
        "priority": change.priority,
        "tags": tags,
    }


# --- saved views ----------------------------------------------------------------------------------

FILTER_KEYS = ("status", "channel", "queue", "assignee", "tag", "priority", "sla")


def check_view_fields(
    *, name: str, filters: dict[str, Any], sort: str
) -> tuple[str, dict[str, str]]:
    name = " ".join(name.split())
    if not name:
        raise InvalidInput(_("give the view a name"), field="name")
    if len(name) > 120:
        raise InvalidInput(_("the name is too long (120 characters at most)"), field="name")
    if sort not in SORTS:
        raise InvalidInput(_("choose an order"), field="sort")
    clean = {
        k: str(v)[:100] for k, v in filters.items() if k in FILTER_KEYS and v not in ("", None)
    }
    return name, clean


def do_save_view(
    session: Session,
    *,
    brand_id: int,
    by: User,
    name: str,
    filters: dict[str, Any],
    sort: str = "newest",
    shared: bool = False,
) -> SavedView:
    if shared and not by.is_supervisor:
        raise PermissionDenied(_("only supervisors and admins share views"))
    name, clean = check_view_fields(name=name, filters=filters, sort=sort)
    owner_id = None if shared else by.id
    exists = session.scalar(
        select(SavedView.id).where(
            SavedView.name == name,
            SavedView.owner_id.is_(None) if owner_id is None else SavedView.owner_id == owner_id,
        )
    )
    if exists is not None:
        raise InvalidInput(_("a view with this name already exists"), field="name")
    last = session.scalar(
        select(SavedView.position)
        .where(SavedView.owner_id.is_(None) if owner_id is None else SavedView.owner_id == owner_id)
        .order_by(SavedView.position.desc())
        .limit(1)
    )
    view = SavedView(
        brand_id=brand_id,
        owner_id=owner_id,
        name=name,
        filters=clean,
        sort=sort,
        position=(last or 0) + 1,
    )
    session.add(view)
    session.flush()
    return view


def do_delete_view(session: Session, *, view: SavedView, by: User) -> None:
    if not service.may_manage_view(by, view):
        raise PermissionDenied(_("only supervisors and admins share views"))
    session.delete(view)
    session.flush()
