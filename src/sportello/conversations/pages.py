"""The agent console: inbox views, the conversation page and its actions, search."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Annotated, Any, Protocol, runtime_checkable
from urllib.parse import parse_qsl, urlsplit

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import FileResponse, HTMLResponse, Response
from markupsafe import Markup
from sqlalchemy.orm import Session, lazyload

from sportello.accounts.models import User
from sportello.channels import actions as channels_actions
from sportello.channels import registry
from sportello.channels import service as channels_service
from sportello.conversations import actions, service
from sportello.conversations.inbound import InboundAttachment
from sportello.conversations.models import Conversation, Priority, Status
from sportello.conversations.storage import path_for
from sportello.core import access, i18n
from sportello.core.db import SessionDep, utcnow
from sportello.core.errors import InvalidInput, NotFound
from sportello.core.html import block_remote_images, sanitize_html
from sportello.core.writer import WriterDep, group_commit, write_through
from sportello.replies import actions as replies_actions
from sportello.replies import people
from sportello.replies import service as replies_service
from sportello.routing import service as routing_service
from sportello.web.auth import CsrfChecked, CurrentUser
from sportello.web.helpers import (
    back_to,
    is_htmx,
    local_path,
    see_other,
    translating,
    user_errors,
)
from sportello.web.render import env, render

router = APIRouter(dependencies=[CsrfChecked])

# Stored HTML was sanitised on the way in; it is cleaned again on the way out, for defence in depth.
env.filters["sanitized"] = lambda value: Markup(sanitize_html(value or ""))  # noqa: S704


def _mail_html(value: str | None) -> tuple[Markup, int]:
    """Sanitised mail HTML with its remote images held back until the agent asks."""
    body, held = block_remote_images(sanitize_html(value or ""))
    return Markup(body), held  # noqa: S704


env.filters["mail_html"] = _mail_html
# People-friendly names and numbers ("Visitatore #1502", "333 123 4567") on every console page.
env.filters["who"] = people.customer_label
env.filters["phone"] = people.format_phone
env.filters["identity"] = people.identity_label

# Images are shown in the browser; every other type is a download, never rendered by us.
INLINE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
MAX_REPLY_FILES = 10


@router.get("/", include_in_schema=False)
def home() -> Response:
    return see_other("/inbox/mine")


# --- inbox ---------------------------------------------------------------------------------------


def _filters(request: Request, saved: Mapping[str, Any] | None = None) -> service.Filters:
    """The filter bar's values from the query string; a saved view's when the query has none."""
    params = {k: v for k, v in request.query_params.items() if k not in ("part", "before")}
    if saved is not None and not params:
        params = {k: str(v) for k, v in saved.items()}
    with translating(request):
        try:
            return service.Filters.parse(params)
        except InvalidInput as exc:
            exc.message = i18n.gettext(exc.message)
            raise


def _inbox(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    inbox: service.InboxFilter,
    *,
    title: str,
    before: str | None,
    part: str | None,
    bulk: replies_actions.BulkResult | None = None,
) -> Response:
    page = service.list_inbox(session, user, inbox, cursor=before)
    context = {
        "page": page,
        "inbox": inbox,
        "filters": inbox.filters,
        "title": title,
        "current_path": inbox.base_path,
        "bulk": bulk,
    }
    if part == "rows":  # "load more": rows only, appended in place of the button
        return render(request, "conversations/_rows.html", context)
    context.update(
        {
            "channels": service.channels(session),
            "queues": routing_service.visible_to(session, user),
            "agents": service.assignable_users(session),
            "tags": service.tag_names(session),
            "statuses": list(Status),
            "priorities": list(Priority),
            "macros": replies_service.macros_for(session, user),
        }
    )
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
            "views": replies_service.views_for(session, user),
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
    if view not in ("mine", "unassigned", "open", "all"):
        raise NotFound("no such inbox view")
    inbox = service.InboxFilter(view, filters=_filters(request))
    return _inbox(request, session, user, inbox, title=view, before=before, part=part)


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
    inbox = service.InboxFilter("queue", queue_id=queue.id, filters=_filters(request))
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
    inbox = service.InboxFilter("status", status=status, filters=_filters(request))
    return _inbox(request, session, user, inbox, title=status.value, before=before, part=part)


@router.get("/inbox/views/{view_id}", response_class=HTMLResponse, include_in_schema=False)
def inbox_saved_view(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    view_id: int,
    before: str | None = None,
    part: str | None = None,
) -> Response:
    """A saved view: its filters and order, which the filter bar may refine for the moment."""
    saved = replies_service.get_view(session, user, view_id)
    filters = _filters(request, {**saved.filters, "sort": saved.sort})
    inbox = service.InboxFilter("saved", view_id=saved.id, filters=filters)
    return _inbox(request, session, user, inbox, title=saved.name, before=before, part=part)


def inbox_from_path(
    request: Request, session: Session, user: User, path: str
) -> service.InboxFilter:
    """The inbox view an address shows (for "resolve and next" and bulk changes)."""
    parts = urlsplit(local_path(path))
    segments = [p for p in parts.path.split("/") if p]
    params = dict(parse_qsl(parts.query))
    params.pop("part", None)
    params.pop("before", None)
    with translating(request):
        filters = service.Filters.parse(params) if params else service.Filters()
    if (
        len(segments) == 2
        and segments[0] == "inbox"
        and segments[1]
        in (
            "mine",
            "unassigned",
            "open",
            "all",
        )
    ):
        return service.InboxFilter(segments[1], filters=filters)
    if len(segments) == 3 and segments[0] == "inbox" and segments[2].isdigit():
        if segments[1] == "queue":
            return service.InboxFilter("queue", queue_id=int(segments[2]), filters=filters)
        if segments[1] == "views":
            saved = replies_service.get_view(session, user, int(segments[2]))
            if not params:
                filters = service.Filters.parse({**saved.filters, "sort": saved.sort})
            return service.InboxFilter("saved", view_id=saved.id, filters=filters)
    statuses = {s.value for s in Status}
    if len(segments) == 3 and segments[:2] == ["inbox", "status"] and segments[2] in statuses:
        return service.InboxFilter("status", status=Status(segments[2]), filters=filters)
    return service.InboxFilter("mine")


def _title_of(inbox: service.InboxFilter, session: Session, user: User) -> str:
    if inbox.view == "queue" and inbox.queue_id is not None:
        return routing_service.get(session, inbox.queue_id).name
    if inbox.view == "saved" and inbox.view_id is not None:
        return replies_service.get_view(session, user, inbox.view_id).name
    return inbox.view


@router.post("/inbox/bulk", response_class=HTMLResponse, include_in_schema=False)
def inbox_bulk(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    ids: Annotated[list[int], Form()] = [],  # noqa: B006
    view: Annotated[str, Form(max_length=2000)] = "/inbox/mine",
    assignee: Annotated[str, Form(max_length=20)] = "",
    status: Annotated[str, Form(max_length=20)] = "",
    priority: Annotated[str, Form(max_length=20)] = "",
    tags: Annotated[str, Form(max_length=2000)] = "",
    macro: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    """The selected rows changed at once: assignee, status, priority, added tags, or a macro.
    Each conversation is changed within the user's scope; the list comes back with a summary."""
    with translating(request), user_errors(request):
        change = replies_actions.BulkChange(
            assignee=_bulk_assignee(session, user, assignee),
            status=_choice(Status, status, "status"),
            priority=_choice(Priority, priority, "priority"),
            add_tags=tuple(t for t in tags.split(",") if t.strip()),
            macro=replies_service.get_macro(session, user, int(macro)) if macro.isdigit() else None,
        )
        result = replies_actions.do_bulk_update(
            session, by=user, conversation_ids=ids, change=change
        )
    session.flush()
    inbox = inbox_from_path(request, session, user, view)
    if not is_htmx(request):
        return see_other(inbox.path)
    return _inbox(
        request,
        session,
        user,
        inbox,
        title=_title_of(inbox, session, user),
        before=None,
        part="list",
        bulk=result,
    )


def _choice(kind: Any, value: str, field: str) -> Any:
    if not value:
        return None
    try:
        return kind(value)
    except ValueError:
        raise InvalidInput(i18n.gettext("choose a value from the list"), field=field) from None


def _bulk_assignee(session: Session, user: User, value: str) -> User | bool | None:
    if not value:
        return False
    if value == "me":
        return user
    if value == "none":
        return None
    if not value.isdigit():
        raise InvalidInput(i18n.gettext("choose an agent"), field="assignee")
    return service.get_assignable_user(session, int(value))


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
            "macros": replies_service.macros_for(session, user),
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
    via: Annotated[str, Form(max_length=20)] = "",
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
            elif via.isdigit() and int(via) != conversation.channel_id:
                # "Reply via" another channel that reaches the customer (the brand's mailbox)
                channels_actions.do_send_reply_via(
                    s,
                    conversation=s.get_one(Conversation, conversation_id),
                    via_channel_id=int(via),
                    author_id=author_id,
                    author_name=author_name,
                    text=text,
                    attachments=attachments,
                )
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


@router.post("/c/{number}/resolve-next", include_in_schema=False)
def conversation_resolve_next(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    number: int,
    view: Annotated[str, Form(max_length=2000)] = "/inbox/mine",
) -> Response:
    """Resolve, then open the next conversation of the view the agent came from (or go back to
    the view when it has no other)."""
    conversation = access.access_conversation_by_number(session, user, number)
    with user_errors(request):
        actions.do_change_status(
            session, conversation=conversation, status=Status.RESOLVED, by=user
        )
    session.flush()
    inbox = inbox_from_path(request, session, user, view)
    following = service.next_in_view(session, user, inbox, after=conversation)
    return back_to(request, f"/c/{following.number}" if following else inbox.path)


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
