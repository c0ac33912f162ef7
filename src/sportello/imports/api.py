"""REST API v1: imports (admins). ``POST /api/v1/imports`` takes a multipart upload (``file``,
``format``, ``dry_run``); the answer is the import, whose ``status`` and report
``GET /api/v1/imports/{id}`` follows."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import File, Form, UploadFile

from sportello.accounts import service as accounts_service
from sportello.core.db import SessionDep
from sportello.core.errors import InvalidInput
from sportello.imports import actions, service
from sportello.imports.schemas import ImportRead
from sportello.web.api import AdminCaller, api_router

router = api_router("imports")


def _mapping(raw: str) -> dict[str, str] | None:
    if not raw.strip():
        return None
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        raise InvalidInput("the column mapping is not valid JSON", field="mapping") from None
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise InvalidInput("the column mapping is not valid JSON", field="mapping")
    return {str(k): v for k, v in value.items()}


@router.post(
    "/imports",
    summary="Upload a file to import (a dry run unless dry_run=false)",
    response_model=ImportRead,
    status_code=202,
)
def create_import(
    session: SessionDep,
    caller: AdminCaller,
    file: Annotated[UploadFile, File()],
    format: Annotated[str, Form(max_length=30)],
    dry_run: Annotated[bool, Form()] = True,
    mapping: Annotated[str, Form(max_length=4000)] = "",
) -> ImportRead:
    data = file.file.read(actions.MAX_IMPORT_BYTES + 1)
    job = actions.do_create_import(
        session,
        brand_id=accounts_service.default_brand(session).id,
        user=caller.user,
        fmt=format,
        filename=file.filename or "",
        data=data,
        start=not dry_run,
        mapping=_mapping(mapping),
    )
    session.commit()
    return ImportRead.model_validate(job)


@router.get(
    "/imports/{import_id}", summary="An import: status, progress, report", response_model=ImportRead
)
def get_import(import_id: int, session: SessionDep, caller: AdminCaller) -> ImportRead:
    return ImportRead.model_validate(service.get_import(session, import_id))


@router.post(
    "/imports/{import_id}/start",
    summary="Run a checked import for real",
    response_model=ImportRead,
    status_code=202,
)
def start_import(import_id: int, session: SessionDep, caller: AdminCaller) -> ImportRead:
    job = actions.do_start_import(
        session, job=service.get_import(session, import_id), user=caller.user
    )
    session.commit()
    return ImportRead.model_validate(job)
