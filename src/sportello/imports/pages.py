"""The admin's "Import" tab: upload a file, see the dry run's counts and first problems, start
it, follow its progress, read its report."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, Response

from sportello.accounts import service as accounts_service
from sportello.core.db import SessionDep
from sportello.core.errors import Conflict, InvalidInput
from sportello.imports import actions, handlers, messages, service
from sportello.imports.models import ImportFormat, ImportJob
from sportello.web.auth import AdminUser, CsrfChecked
from sportello.web.helpers import form_error, see_other
from sportello.web.render import render

__all__ = ["handlers", "router"]  # handlers: importing it registers the import job

router = APIRouter(dependencies=[CsrfChecked])


def _page(
    request: Request,
    session: SessionDep,
    *,
    current: ImportJob | None = None,
    error: object = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "imports/admin.html",
        {
            "admin_tab": "imports",
            "imports": service.imports(session),
            "current": current,
            "formats": messages.FORMATS,
            "statuses": messages.STATUSES,
            "what": messages.WHAT,
            "fields": messages.FIELDS,
            "error": error,
            "max_mb": actions.MAX_IMPORT_BYTES // (1024 * 1024),
        },
        status_code=status_code,
        headers={"Cache-Control": "no-store"},
    )


@router.get("/admin/imports", response_class=HTMLResponse, include_in_schema=False)
def admin_imports(request: Request, session: SessionDep, user: AdminUser) -> Response:
    return _page(request, session)


@router.post("/admin/imports", response_class=HTMLResponse, include_in_schema=False)
def admin_import_upload(
    request: Request,
    session: SessionDep,
    user: AdminUser,
    file: Annotated[UploadFile | None, File()] = None,
    format: Annotated[str, Form(max_length=30)] = ImportFormat.CSV_CUSTOMERS.value,
) -> Response:
    try:
        if file is None or not file.filename:
            raise InvalidInput("choose a file", field="file")
        data = file.file.read(actions.MAX_IMPORT_BYTES + 1)
        job = actions.do_create_import(
            session,
            brand_id=accounts_service.default_brand(session).id,
            user=user,
            fmt=format,
            filename=file.filename,
            data=data,
        )
    except InvalidInput as exc:
        session.rollback()
        return _page(request, session, error=form_error(exc), status_code=422)
    session.commit()
    return see_other(f"/admin/imports/{job.id}")


@router.get("/admin/imports/{import_id}", response_class=HTMLResponse, include_in_schema=False)
def admin_import(
    request: Request, session: SessionDep, user: AdminUser, import_id: int
) -> Response:
    return _page(request, session, current=service.get_import(session, import_id))


@router.post(
    "/admin/imports/{import_id}/start", response_class=HTMLResponse, include_in_schema=False
)
def admin_import_start(
    request: Request, session: SessionDep, user: AdminUser, import_id: int
) -> Response:
    job = service.get_import(session, import_id)
    try:
        actions.do_start_import(session, job=job, user=user)
    except Conflict as exc:
        session.rollback()
        return _page(
            request,
            session,
            current=service.get_import(session, import_id),
            error=form_error(exc),
            status_code=409,
        )
    session.commit()
    return see_other(f"/admin/imports/{job.id}")
