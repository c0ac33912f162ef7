"""The agent console: inbox views, the conversation page and its actions, search."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Annotated, Any, Protocol, runtime_checkable

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import FileResponse, HTMLResponse, Response
from markupsafe import Markup
from sqlalchemy.orm import Session, lazyload

from sportello.accounts.models import User
from sportello.channels import registry
from sportello.channels import service as channels_service
from sportello.channels.base import InboundAttachment
from sportello.conversations import actions, service
from sportello.conversations.models import Conversation, Priority, Status
from sportello.conversations.storage import path_for
from sportello.core import access
from sportello.core.db import SessionDep, utcnow
from sportello.core.errors import InvalidInput, NotFound
from sportello.core.html import sanitize_html
from sportello.core.writer import WriterDep, group_commit, write_through
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


@runtime_checkable
class OffersTemplates(Protocol):
    """A channel kind that at times takes only pre-approved templates (WhatsApp, 24 hours after
    the customer's last message): the composer then offers them."""

    def free_text_allowed(self, last_inbound_at: datetime | None, now: datetime) -> bool: ...

    def free_text_until(self, last_inbound_at: datetime | None) -> datetime | None: ...

    def reply_templates(self, settings: Mapping[str, Any]) -> list[dict[str, Any]]: ...

    def template_reply(
        self,
        settings: Mapping[str, Any],
        *,
        key: str,
        values: Sequence[str],
        header: Sequence[str] = (),
        header_media: str = "",
        buttons: Sequence[str] = (),
    ) -> tuple[str, dict[str, Any]]: ...


def _templates_adapter(conversation: Conversation) -> OffersTemplates | None:
    if conversation.channel is None:
        return None
    try:
        adapter = registry.get_adapter(conversation.channel.kind)
    except LookupError:
        return None
    return adapter if isinstance(adapter, OffersTemplates) else None


def _template_slot(session: Session, conversation: Conversation) -> dict[str, Any]:
    """The composer's template picker: ``reply_templates``, the channel's templates when it
    takes nothing else now (None when free text may go). On a channel that at times takes only
    templates the picker's slot follows the conversation's live events (``templates_live``) and
    the moment free text stops (``template_window_closes_at``, epoch milliseconds), so it opens
    and closes with the customer's window without a reload."""
    adapter = _templates_adapter(conversation)
    slot: dict[str, Any] = {
        "reply_templates": None,
        "templates_live": False,
        "template_window_closes_at": None,
    }
    if adapter is None or conversation.channel is None or conversation.status == Status.CLOSED:
        return slot
    slot["templates_live"] = True
    last = channels_service.last_inbound_at(
        session, channel_id=conversation.channel.id, customer_id=conversation.customer_id
    )
    if adapter.free_text_allowed(last, utcnow()):
        until = adapter.free_text_until(last)
        if until is not None:
            slot["template_window_closes_at"] = int(until.timestamp() * 1000)
    else:
        slot["reply_templates"] = adapter.reply_templates(conversation.channel.settings)
    return slot


@router.get("/c/{number}", response_class=HTMLResponse, include_in_schema=False)
def conversation_page(
    request: Request, session: SessionDep, user: CurrentUser, number: int
) -> Response:
    conversation = access.access_conversation_by_number(session, user, number)
    return render(
        request,
        "conversations/conversation.html",
        {
            **_conversation_context(session, user, conversation),
            **_template_slot(session, conversation),
        },
    )


@router.get("/c/{number}/composer", response_class=HTMLResponse, include_in_schema=False)
def conversation_composer_templates(
    request: Request, session: SessionDep, user: CurrentUser, number: int, shown: int = -1
) -> Response:
    """The composer's template slot, for a live refresh. ``shown`` is what the page shows now
    (1: the picker, 0: free text): when that is still right, nothing (204), so a half-filled
    template is not wiped by every event of the conversation."""
    conversation = access.access_conversation_by_number(session, user, number)
    slot = _template_slot(session, conversation)
    if shown in (0, 1) and bool(shown) == (slot["reply_templates"] is not None):
        return Response(status_code=204)
    return render(request, "conversations/_templates.html", {"c": conversation, **slot})


@router.get("/c/{number}/parts", response_class=HTMLResponse, include_in_schema=False)
def conversation_parts(
    request: Request, session: SessionDep, user: CurrentUser, number: int
) -> Response:
    conversation = access.access_conversation_by_number(session, user, number)
    return render(
        request, "conversations/_parts.html", _conversation_context(session, user, conversation)
    )


@router.post("/c/{number}/messages", response_class=HTMLResponse, include_in_schema=False)
@group_commit
def conversation_message(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    writer: WriterDep,
    number: int,
    text: Annotated[str, Form(max_length=actions.MAX_TEXT)] = "",
    mode: Annotated[str, Form()] = "reply",
    files: Annotated[list[UploadFile], File()] = [],  # noqa: B006
) -> Response:
    """A reply or a note from the composer, written in the writer's next batch (agents reply
    all day, often while chats pour in)."""
    conversation = access.access_conversation_by_number(session, user, number)
    conversation_id, author_id, author_name = conversation.id, user.id, user.name
    with user_errors(request):
        attachments = _files_sync(files) if mode != "note" else []

        def write(s: Session) -> None:
            if mode == "note":
                target = s.get_one(Conversation, conversation_id, options=[lazyload("*")])
                author = s.get_one(User, author_id, options=[lazyload("*")])
                actions.do_add_note(s, conversation=target, author=author, text=text)
            else:
                actions.do_send_reply_by_id(
                    s,
                    conversation_id=conversation_id,
                    author_id=author_id,
                    author_name=author_name,
                    text=text,
                    attachments=attachments,
                )

        write_through(session, writer, write)
    return _after_change(request, session, user, conversation)


@router.get("/c/{number}/template-fields", response_class=HTMLResponse, include_in_schema=False)
def conversation_template_fields(
    request: Request, session: SessionDep, user: CurrentUser, number: int, template: str = ""
) -> Response:
    """The chosen template's text and parameter fields, for the composer's template picker."""
    conversation = access.access_conversation_by_number(session, user, number)
    adapter = _templates_adapter(conversation)
    channel = conversation.channel
    offered = adapter.reply_templates(channel.settings) if adapter and channel else []
    chosen = next((t for t in offered if t["key"] == template), None)
    if chosen is None:
        raise NotFound("choose one of the channel's approved templates")
    return render(request, "conversations/_template_fields.html", {"template": chosen})


@router.post("/c/{number}/template", response_class=HTMLResponse, include_in_schema=False)
def conversation_template(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    number: int,
    template: Annotated[str, Form(max_length=600)],
    params: Annotated[list[str], Form()] = [],  # noqa: B006
    header_params: Annotated[list[str], Form()] = [],  # noqa: B006
    header_media: Annotated[str, Form(max_length=4000)] = "",
    button_params: Annotated[list[str], Form()] = [],  # noqa: B006
) -> Response:
    """Send one of the channel's approved templates with what it needs filled in: body and
    header parameters, the header's file, the endings of the buttons' links."""
    conversation = access.access_conversation_by_number(session, user, number)
    with user_errors(request):
        adapter = _templates_adapter(conversation)
        if adapter is None or conversation.channel is None:
            raise InvalidInput("this channel sends no templates", field="template")
        text, meta = adapter.template_reply(
            conversation.channel.settings,
            key=template,
            values=params[:50],
            header=header_params[:5],
            header_media=header_media,
            buttons=button_params[:10],
        )
        actions.do_send_reply(session, conversation=conversation, author=user, text=text, meta=meta)
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
