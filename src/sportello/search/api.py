"""REST API v1: one search over customers, conversations and messages (scoped to the caller)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Query

from sportello.conversations.schemas import ConversationRead, MessageRead
from sportello.core.db import SessionDep
from sportello.customers.schemas import CustomerRead
from sportello.search import service
from sportello.search.schemas import (
    ConversationGroup,
    CustomerGroup,
    MessageGroup,
    MessageHitRead,
    SearchRead,
)
from sportello.web.api import ReadCaller, api_router

router = api_router("search")


@router.get(
    "/search",
    summary="Search customers, conversations and messages",
    response_model=SearchRead,
    response_model_exclude_none=True,
)
def search(
    session: SessionDep,
    caller: ReadCaller,
    q: Annotated[
        str,
        Query(
            min_length=1,
            max_length=200,
            description="Words (stemmed, accents and typos forgiven), a conversation number, "
            "a name, an email or a phone number in any format",
        ),
    ],
    group: Annotated[
        Literal["customers", "conversations", "messages"] | None,
        Query(description="Only this group (to page through it)"),
    ] = None,
    offset: Annotated[int, Query(ge=0, le=10_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=service.MAX_LIMIT)] = 10,
) -> SearchRead:
    groups = (group,) if group else service.GROUPS
    found = service.search(session, caller.user, q, groups=groups, offset=offset, limit=limit)
    body = SearchRead(q=found.q, corrections=found.corrections)
    if "customers" in groups:
        body.customers = CustomerGroup(
            items=[CustomerRead.model_validate(c) for c in found.customers.items],
            offset=offset,
            more=found.customers.more,
        )
    if "conversations" in groups:
        body.conversations = ConversationGroup(
            items=[ConversationRead.model_validate(c) for c in found.conversations.items],
            offset=offset,
            more=found.conversations.more,
        )
    if "messages" in groups:
        body.messages = MessageGroup(
            items=[
                MessageHitRead(
                    message=MessageRead.model_validate(hit.message),
                    conversation_number=hit.conversation.number,
                    snippet=hit.snippet,
                )
                for hit in found.messages.items
            ],
            offset=offset,
            more=found.messages.more,
        )
    return body
