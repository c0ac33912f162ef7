"""REST API v1: conversations, their timeline, replies, notes and changes, all scoped."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Query
from sqlalchemy.orm import Session

from sportello.accounts import service as accounts_service
from sportello.conversations import actions, service
from sportello.conversations.models import Status
from sportello.conversations.schemas import (
    AssigneeUpdate,
    ConversationRead,
    ConversationUpdate,
    MessageRead,
    NoteCreate,
    ReplyCreate,
    StatusUpdate,
)
from sportello.core import access
from sportello.core.db import SessionDep
from sportello.core.errors import InvalidInput, NotFound
from sportello.core.writer import WriterDep, group_commit, write_through
from sportello.routing import service as routing_service
from sportello.routing.models import Queue
from sportello.web.api import (
    DEFAULT_LIMIT,
    Cursor,
    Limit,
    Page,
    ReadCaller,
    WriteCaller,
    api_router,
    decode_cursor,
    micros_to_datetime,
    problem_response,
)

router = api_router("conversations")
CLOSED: dict[int | str, dict[str, Any]] = {
    409: problem_response("The conversation is closed, or the change is not allowed now")
}


@router.get(
    "/conversations",
    summary="List conversations, most recently updated first",
    response_model=Page[ConversationRead],
)
def list_conversations(
    session: SessionDep,
    caller: ReadCaller,
    status: Annotated[list[Status] | None, Query(description="One or more statuses")] = None,
    queue_id: int | None = None,
    assignee_id: int | None = None,
    unassigned: Annotated[bool, Query(description="Only conversations nobody owns")] = False,
    customer_id: int | None = None,
    updated_since: Annotated[
        datetime | None, Query(description="ISO 8601; without an offset it is read as UTC")
    ] = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[ConversationRead]:
    if updated_since is not None and updated_since.tzinfo is None:
        updated_since = updated_since.replace(tzinfo=UTC)
    after = None
    if cursor:
        micros, ident = decode_cursor(cursor, 2)
        after = (micros_to_datetime(micros), ident)
    filters = service.ConversationQuery(
        statuses=tuple(status or ()),
        queue_id=queue_id,
        assignee_id=assignee_id,
        unassigned=unassigned,
        customer_id=customer_id,
        updated_since=updated_since,
    )
    rows, next_key = service.page(session, caller.user, filters, after=after, limit=limit)
    return Page.keyed(rows, ConversationRead, next_key)


@router.get(
    "/conversations/{conversation_id}",
    summary="Get a conversation",
    response_model=ConversationRead,
)
def get_conversation(
    conversation_id: int, session: SessionDep, caller: ReadCaller
) -> ConversationRead:
    return ConversationRead.model_validate(
        access.access_conversation_by_id(session, caller.user, conversation_id)
    )


@router.get(
    "/conversations/{conversation_id}/messages",
    summary="The timeline: messages, notes and events, oldest first",
    response_model=Page[MessageRead],
)
def list_messages(
    conversation_id: int,
    session: SessionDep,
    caller: ReadCaller,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[MessageRead]:
    conversation = access.access_conversation_by_id(session, caller.user, conversation_id)
    after = decode_cursor(cursor, 1)[0] if cursor else None
    rows, next_key = service.messages_page(session, conversation, after_id=after, limit=limit)
    return Page.keyed(rows, MessageRead, next_key)


@router.post(
    "/conversations/{conversation_id}/replies",
    summary="Reply to the customer; delivered on the conversation's channel",
    status_code=201,
    response_model=MessageRead,
    responses=CLOSED,
)
@group_commit
def post_reply(
    conversation_id: int,
    body: ReplyCreate,
    session: SessionDep,
    caller: WriteCaller,
    writer: WriterDep,
) -> MessageRead:
    access.check_conversation_access(session, caller.user, conversation_id)
    author_id, author_name = caller.user.id, caller.user.name

    def write(s: Session) -> MessageRead:
        message = actions.do_send_reply_by_id(
            s,
            conversation_id=conversation_id,
            author_id=author_id,
            author_name=author_name,
            text=body.text,
            html=body.html,
            client_id=body.client_id,
        )
        return MessageRead.model_validate(message)

    return write_through(session, writer, write)


@router.post(
    "/conversations/{conversation_id}/notes",
    summary="Add an internal note (never sent to the customer)",
    status_code=201,
    response_model=MessageRead,
)
def post_note(
    conversation_id: int, body: NoteCreate, session: SessionDep, caller: WriteCaller
) -> MessageRead:
    conversation = access.access_conversation_by_id(session, caller.user, conversation_id)
    message = actions.do_add_note(
        session, conversation=conversation, author=caller.user, text=body.text
    )
    return MessageRead.model_validate(message)


def _queue(session: Session, body: ConversationUpdate) -> Queue | bool | None:
    """The queue the body asks for: a Queue, None to leave every queue, False to keep it."""
    if "queue_id" not in body.model_fields_set:
        return False
    if body.queue_id is None:
        return None
    try:
        return routing_service.get(session, body.queue_id)
    except NotFound:
        raise InvalidInput("no such queue", field="queue_id") from None


@router.patch(
    "/conversations/{conversation_id}",
    summary="Change priority, queue, subject or tags",
    response_model=ConversationRead,
)
def update_conversation(
    conversation_id: int, body: ConversationUpdate, session: SessionDep, caller: WriteCaller
) -> ConversationRead:
    conversation = access.access_conversation_by_id(session, caller.user, conversation_id)
    actions.do_update_conversation(
        session,
        conversation=conversation,
        by=caller.user,
        priority=body.priority,
        queue=_queue(session, body),
        subject=body.subject,
        tags=body.tags,
    )
    return ConversationRead.model_validate(conversation)


@router.put(
    "/conversations/{conversation_id}/status",
    summary="Change the status (new, open, pending, resolved, closed)",
    response_model=ConversationRead,
    responses=CLOSED,
)
def change_status(
    conversation_id: int, body: StatusUpdate, session: SessionDep, caller: WriteCaller
) -> ConversationRead:
    conversation = access.access_conversation_by_id(session, caller.user, conversation_id)
    actions.do_change_status(session, conversation=conversation, status=body.status, by=caller.user)
    return ConversationRead.model_validate(conversation)


@router.put(
    "/conversations/{conversation_id}/assignee",
    summary="Assign the conversation to a user, or unassign it",
    response_model=ConversationRead,
    responses=CLOSED,
)
def change_assignee(
    conversation_id: int, body: AssigneeUpdate, session: SessionDep, caller: WriteCaller
) -> ConversationRead:
    conversation = access.access_conversation_by_id(session, caller.user, conversation_id)
    assignee = None
    if body.assignee_id is not None:
        try:
            assignee = accounts_service.get_user(session, body.assignee_id)
        except NotFound:
            raise InvalidInput("no such user", field="assignee_id") from None
    actions.do_assign(session, conversation=conversation, assignee=assignee, by=caller.user)
    return ConversationRead.model_validate(conversation)
