"""Admin pages for mailboxes (create, settings, test connection) and the email quarantine.

Passwords are write-only: the forms never show them; a blank password field keeps the stored one.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel
from sqlalchemy.orm import Session

from sportello.accounts import service as accounts_service
from sportello.channels import actions as channels_actions
from sportello.channels.email import actions, ingest, service
from sportello.channels.email.actions import read_raw
from sportello.channels.email.adapter import EmailAdapter
from sportello.channels.models import Channel
from sportello.channels.service import config_for
from sportello.config import get_settings
from sportello.core.db import SessionDep
from sportello.core.errors import InvalidInput
from sportello.routing import service as routing_service
from sportello.routing.models import Queue
from sportello.web.auth import AdminUser, CsrfChecked
from sportello.web.helpers import form_error, see_other
from sportello.web.render import render

router = APIRouter(dependencies=[CsrfChecked])


class MailboxForm(BaseModel):
    """The mailbox form's fields, all strings as the browser sends them."""

    model_config = {"extra": "ignore"}

    name: str = ""
    queue_id: str = ""
    active: str = ""
    address: str = ""
    display_name: str = ""
    imap_host: str = ""
    imap_port: str = ""
    imap_security: str = "tls"
    imap_user: str = ""
    imap_password: str = ""
    folder: str = "INBOX"
    processed_action: str = "flag"
    processed_folder: str = ""
    smtp_host: str = ""
    smtp_port: str = ""
    smtp_security: str = "tls"
    smtp_user: str = ""
    smtp_password: str = ""
    poll_seconds: str = ""
    use_idle: str = ""
    acknowledge: str = ""
    language: str = "it"
    rate_limit: str = ""
    rate_window_minutes: str = ""

    def data(self) -> dict[str, str]:
        return {k: v[:2000] for k, v in self.model_dump().items()}

    def shown(self) -> dict[str, str]:
        """What the form may show back: everything but the passwords."""
        return {k: v for k, v in self.data().items() if not k.endswith("_password")}


FormDep = Annotated[MailboxForm, Form()]


def _queue(session: Session, queue_id: str) -> Queue | None:
    if not queue_id:
        return None
    if not queue_id.isdigit():
        raise InvalidInput("choose a queue", field="queue_id")
    return routing_service.get(session, int(queue_id))


def _values(channel: Channel) -> dict[str, Any]:
    return {
        "name": channel.name,
        "queue_id": str(channel.queue_id or ""),
        "active": "1" if channel.is_active else "",
        **{k: v for k, v in channel.settings.items() if k != "hours"},
    }


def _form(
    request: Request,
    session: Session,
    *,
    channel: Channel | None,
    values: dict[str, Any],
    error: object = None,
    checks: list[Any] | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "email/mailbox.html",
        {
            "channel": channel,
            "values": values,
            "queues": routing_service.get_all(session),
            "state": service.get_state(session, channel.id) if channel else None,
            "counts": service.count_by_status(session, channel.id) if channel else {},
            "has_secrets": sorted(channel.secrets) if channel else [],
            "error": error,
            "checks": checks,
            "admin_tab": "channels",
        },
        status_code=422 if error else status_code,
        headers={"Cache-Control": "no-store"},
    )


@router.get("/admin/email/mailboxes/new", response_class=HTMLResponse, include_in_schema=False)
def mailbox_new(request: Request, session: SessionDep, user: AdminUser) -> Response:
    return _form(
        request,
        session,
        channel=None,
        values={"folder": "INBOX", "use_idle": "1", "language": "it", "active": "1"},
    )


@router.post("/admin/email/mailboxes", response_class=HTMLResponse, include_in_schema=False)
def mailbox_create(
    request: Request, session: SessionDep, user: AdminUser, form: FormDep
) -> Response:
    try:
        channel, _ = channels_actions.do_create_channel(
            session,
            brand_id=accounts_service.default_brand(session).id,
            kind="email",
            name=form.name or form.address,
            queue=_queue(session, form.queue_id),
            data=form.data(),
            # unticked, the box is not posted: a new mailbox starts paused (not fetched)
            is_active=form.active not in ("", "off"),
        )
    except InvalidInput as exc:
        session.rollback()
        return _form(request, session, channel=None, values=form.shown(), error=form_error(exc))
    return see_other(f"/admin/email/mailboxes/{channel.id}")


@router.get(
    "/admin/email/mailboxes/{channel_id}", response_class=HTMLResponse, include_in_schema=False
)
def mailbox_page(
    request: Request, session: SessionDep, user: AdminUser, channel_id: int
) -> Response:
    channel = service.get_mailbox(session, channel_id)
    return _form(request, session, channel=channel, values=_values(channel))


@router.post(
    "/admin/email/mailboxes/{channel_id}", response_class=HTMLResponse, include_in_schema=False
)
def mailbox_save(
    request: Request, session: SessionDep, user: AdminUser, channel_id: int, form: FormDep
) -> Response:
    channel = service.get_mailbox(session, channel_id)
    try:
        actions.do_update_mailbox(
            session, channel=channel, data=form.data(), key=get_settings().effective_secret_key()
        )
        channels_actions.do_update_channel(
            session,
            channel=channel,
            name=form.name or channel.name,
            queue=_queue(session, form.queue_id),
            is_active=form.active not in ("", "off"),
        )
    except InvalidInput as exc:
        session.rollback()
        channel = service.get_mailbox(session, channel_id)
        return _form(request, session, channel=channel, values=form.shown(), error=form_error(exc))
    return see_other(f"/admin/email/mailboxes/{channel.id}")


@router.post(
    "/admin/email/mailboxes/{channel_id}/test",
    response_class=HTMLResponse,
    include_in_schema=False,
)
def mailbox_test(
    request: Request, session: SessionDep, user: AdminUser, channel_id: int
) -> Response:
    channel = service.get_mailbox(session, channel_id)
    checks = EmailAdapter().test_connection(config_for(channel))
    return _form(request, session, channel=channel, values=_values(channel), checks=checks)


@router.get("/admin/email/quarantine", response_class=HTMLResponse, include_in_schema=False)
def quarantine(request: Request, session: SessionDep, user: AdminUser) -> Response:
    return render(
        request,
        "email/quarantine.html",
        {"rows": service.get_quarantined(session), "admin_tab": "channels"},
    )


@router.get("/admin/email/quarantine/{raw_id}/raw", include_in_schema=False)
def quarantine_raw(session: SessionDep, user: AdminUser, raw_id: int) -> Response:
    raw = service.get_raw(session, raw_id)
    return Response(
        read_raw(session, raw.id),
        media_type="message/rfc822",
        headers={
            "Content-Disposition": f'attachment; filename="message-{raw.id}.eml"',
            "Cache-Control": "no-store",
        },
    )


@router.post(
    "/admin/email/quarantine/{raw_id}/reprocess",
    response_class=HTMLResponse,
    include_in_schema=False,
)
def quarantine_reprocess(
    request: Request, session: SessionDep, user: AdminUser, raw_id: int
) -> Response:
    raw = service.get_raw(session, raw_id)
    ingest.reprocess(session, raw=raw)
    return see_other("/admin/email/quarantine")
