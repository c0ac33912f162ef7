"""The agent console: inbox views, the conversation page and its actions, search."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import FileResponse, HTMLResponse, Response
from markupsafe import Markup

from sportello.channels.base import InboundAttachment
from sportello.conversations import actions, service
from sportello.conversations.models import Conversation, Priority, Status
from sportello.conversations.storage import path_for
from sportello.core import access
from sportello.core.db import SessionDep
from sportello.core.errors import InvalidInput, NotFound
from sportello.core.html import sanitize_html
from sportello.customers import service as customers_service
from sportello.routing import service as routing_service
from sportello.web.auth import CsrfChecked, CurrentUser
from sportello.web.helpers import is_htmx, see_other, user_errors
from sportello.web.render import env, render

router = APIRouter(dependencies=[CsrfChecked])

# Stored HTML was sanitised on the way in; it is cleaned again on the way out, for defence in depth.
env.filters["sanitized"] = lambda value: Markup(sanitize_html(value or ""))  # noqa: S704

# Images are shown in the browser; every other type is a download, never rendered by us.
INLINE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
MAX_REPLY_FILES = 10


@router.get("/", include_in_schema=False)
def home() -> Response:
    return see_other("/inbox/mine")


# --- inbox ---------------------------------------------------------------------------------------


def _inbox(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    inbox: service.InboxFilter,
    *,
    title: str,
    before: str | None,
    part: str | None,
) -> Response:
    page = service.list_inbox(session, user, inbox, cursor=before)
    context = {
        "page": page,
        "inbox": inbox,
        "title": title,
        "current_path": inbox.path,
    }
    if part == "rows":  # "load more": rows only, appended in place of the button
        return render(request, "conversations/_rows.html", context)
    if part == "list":  # a live refresh of the whole list
        return render(request, "conversations/_list.html", context)
    return render(request, "conversations/inbox.html", context)


@router.get("/inbox/counts", response_class=HTMLResponse, include_in_schema=False)
def inbox_counts(
    request: Request, session: SessionDep, user: CurrentUser, current: str = ""
) -> Response:
    return render(
        request,
        "conversations/_counts.html",
        {
            "counts": service.counts(session, user),
            "queues": routing_service.visible_to(session, user),
            "statuses": list(Status),
            "current": current,
        },
    )


@router.get("/inbox/{view}", response_class=HTMLResponse, include_in_schema=False)
def inbox_view(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    view: str,
    before: str | None = None,
    part: str | None = None,
) -> Response:
    if view not in ("mine", "unassigned", "open"):
        raise NotFound("no such inbox view")
    return _inbox(
        request, session, user, service.InboxFilter(view), title=view, before=before, part=part
    )


@router.get("/inbox/queue/{queue_id}", response_class=HTMLResponse, include_in_schema=False)
def inbox_queue(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    queue_id: int,
    before: str | None = None,
    part: str | None = None,
) -> Response:
    queue = routing_service.get(session, queue_id)
    inbox = service.InboxFilter("queue", queue_id=queue.id)
    return _inbox(request, session, user, inbox, title=queue.name, before=before, part=part)


@router.get("/inbox/status/{status}", response_class=HTMLResponse, include_in_schema=False)
def inbox_status(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    status: Status,
    before: str | None = None,
    part: str | None = None,
) -> Response:
    inbox = service.InboxFilter("status", status=status)
    return _inbox(request, session, user, inbox, title=status.value, before=before, part=part)


# --- one conversation ----------------------------------------------------------------------------


def _conversation_context(
    session: SessionDep, user: CurrentUser, conversation: Conversation
) -> dict[str, object]:
    return {
        "c": conversation,
        "messages": service.timeline(session, conversation),
        "customer_conversations": service.customer_conversations(
            session, user, conversation.customer_id
        ),
        "agents": service.assignable_users(session),
        "queues": routing_service.get_all(session),
        "statuses": list(Status),
        "priorities": list(Priority),
        "current_path": "",
    }


def _after_change(
    request: Request, session: SessionDep, user: CurrentUser, conversation: Conversation
) -> Response:
    """htmx gets the refreshed timeline (and header and side panel, out of band)."""
    if not is_htmx(request):
        return see_other(f"/c/{conversation.number}")
    session.flush()
    return render(
        request, "conversations/_parts.html", _conversation_context(session, user, conversation)
    )


@router.get("/c/{number}", response_class=HTMLResponse, include_in_schema=False)
def conversation_page(
    request: Request, session: SessionDep, user: CurrentUser, number: int
) -> Response:
    conversation = access.access_conversation_by_number(session, user, number)
    return render(
        request,
        "conversations/conversation.html",
        _conversation_context(session, user, conversation),
    )


@router.get("/c/{number}/parts", response_class=HTMLResponse, include_in_schema=False)
def conversation_parts(
    request: Request, session: SessionDep, user: CurrentUser, number: int
) -> Response:
    conversation = access.access_conversation_by_number(session, user, number)
    return render(
        request, "conversations/_parts.html", _conversation_context(session, user, conversation)
    )


@router.post("/c/{number}/messages", response_class=HTMLResponse, include_in_schema=False)
def conversation_message(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    number: int,
    text: Annotated[str, Form(max_length=actions.MAX_TEXT)] = "",
    mode: Annotated[str, Form()] = "reply",
    files: Annotated[list[UploadFile], File()] = [],  # noqa: B006
) -> Response:
    conversation = access.access_conversation_by_number(session, user, number)
    with user_errors(request):
        if mode == "note":
            actions.do_add_note(session, conversation=conversation, author=user, text=text)
        else:
            attachments = _files_sync(files)
            actions.do_send_reply(
                session, conversation=conversation, author=user, text=text, attachments=attachments
            )
    return _after_change(request, session, user, conversation)


def _files_sync(files: list[UploadFile]) -> list[InboundAttachment]:
    out = []
    for upload in files[:MAX_REPLY_FILES]:
        if not upload.filename:
            continue
        data = upload.file.read()
        out.append(
            InboundAttachment(
                upload.filename, upload.content_type or "application/octet-stream", data
            )
        )
    return out


@router.post("/c/{number}/assign", response_class=HTMLResponse, include_in_schema=False)
def conversation_assign(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    number: int,
    assignee: Annotated[str, Form()] = "",
) -> Response:
    """``assignee``: "me", a user id, or empty to unassign."""
    conversation = access.access_conversation_by_number(session, user, number)
    with user_errors(request):
        if assignee == "me":
            target = user
        elif assignee:
            if not assignee.isdigit():
                raise InvalidInput("choose an agent", field="assignee")
            target = service.get_assignable_user(session, int(assignee))
        else:
            target = None
        actions.do_assign(session, conversation=conversation, assignee=target, by=user)
    return _after_change(request, session, user, conversation)


@router.post("/c/{number}/status", response_class=HTMLResponse, include_in_schema=False)
def conversation_status(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    number: int,
    status: Annotated[Status, Form()],
) -> Response:
    conversation = access.access_conversation_by_number(session, user, number)
    with user_errors(request):
        actions.do_change_status(session, conversation=conversation, status=status, by=user)
    return _after_change(request, session, user, conversation)


@router.post("/c/{number}/properties", response_class=HTMLResponse, include_in_schema=False)
def conversation_properties(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    number: int,
    priority: Annotated[Priority | None, Form()] = None,
    queue_id: Annotated[str | None, Form()] = None,
    tags: Annotated[str | None, Form(max_length=2000)] = None,
) -> Response:
    """Priority, queue and tags; a field left out of the form is left alone."""
    conversation = access.access_conversation_by_number(session, user, number)
    with user_errors(request):
        queue: object = False
        if queue_id is not None:
            if queue_id == "":
                queue = None
            elif queue_id.isdigit():
                queue = routing_service.get(session, int(queue_id))
            else:
                raise InvalidInput("choose a queue", field="queue_id")
        actions.do_update_conversation(
            session,
            conversation=conversation,
            by=user,
            priority=priority,
            queue=queue,  # type: ignore[arg-type]
            tags=[t for t in tags.split(",")] if tags is not None else None,
        )
    return _after_change(request, session, user, conversation)


@router.get("/c/{number}/attachments/{attachment_id}", include_in_schema=False)
def conversation_attachment(
    request: Request, session: SessionDep, user: CurrentUser, number: int, attachment_id: int
) -> Response:
    conversation = access.access_conversation_by_number(session, user, number)
    attachment = service.get_attachment(session, conversation, attachment_id)
    path = path_for(request.app.state.settings.attachments_dir, attachment.sha256)
    if not path.is_file():
        raise NotFound("the file of this attachment is missing")
    inline = attachment.content_type in INLINE_TYPES
    return FileResponse(
        path,
        media_type=attachment.content_type if inline else "application/octet-stream",
        filename=attachment.filename,
        content_disposition_type="inline" if inline else "attachment",
        headers={"Cache-Control": "private, max-age=3600"},
    )


# --- search --------------------------------------------------------------------------------------


@router.get("/search", response_class=HTMLResponse, include_in_schema=False)
def search(request: Request, session: SessionDep, user: CurrentUser, q: str = "") -> Response:
    q = q.strip()[:200]
    return render(
        request,
        "conversations/search.html",
        {
            "q": q,
            "conversations": service.search(session, user, q),
            "customers": customers_service.search(session, user, q),
            "current_path": "",
        },
    )
