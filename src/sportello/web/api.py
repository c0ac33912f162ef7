"""Shared pieces of the REST API v1: scope checks, the problem schema, keyset pages."""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Generic, TypeVar

from fastapi import APIRouter, Depends, Query
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

from sportello.core.access import require_admin
from sportello.core.errors import PROBLEM_JSON, InvalidInput
from sportello.web.auth import ApiCaller, ApiCallerDep

API_PREFIX = "/api/v1"
DEFAULT_LIMIT = 50
MAX_LIMIT = 200

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)


class Problem(BaseModel):
    """An RFC 9457 problem detail; every error under /api has this shape."""

    type: str = Field(default="about:blank", examples=["about:blank"])
    title: str = Field(examples=["Not found"])
    status: int = Field(examples=[404])
    detail: str | None = Field(default=None, examples=["conversation not found"])
    errors: list[dict[str, str]] | None = Field(
        default=None, description="For 422: the fields at fault, as {field, message}"
    )


def problem_response(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "model": Problem,
        "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }


PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: problem_response("No valid token or session"),
    403: problem_response(
        "The token lacks the scope, the role is not allowed, or the CSRF check failed"
    ),
    404: problem_response("Not found, or outside what the caller may see"),
    422: problem_response("Invalid input; `errors` names the fields"),
}


class Page(BaseModel, Generic[T]):
    """One page of a list; pass ``next_cursor`` back as ``cursor`` for the next page."""

    items: list[T]
    next_cursor: str | None = None

    @staticmethod
    def of(rows: Sequence[Any], model: type[M], limit: int) -> Page[M]:
        """The page of ``rows`` (keyset by id, newest or oldest first, read with ``limit``) as
        ``model``s: a full page carries the cursor of its last row's id."""
        page: type[Page[M]] = Page[model]  # type: ignore[valid-type]
        return page(
            items=[model.model_validate(row) for row in rows],
            next_cursor=encode_cursor(rows[-1].id) if rows and len(rows) == limit else None,
        )

    @staticmethod
    def keyed(
        rows: Sequence[Any], model: type[M], next_key: int | tuple[int | datetime, ...] | None
    ) -> Page[M]:
        """The page of ``rows`` as ``model``s, when the query said where the next page starts
        (``next_key``: an id, or a tuple such as (time, id); ``None`` on the last page)."""
        page: type[Page[M]] = Page[model]  # type: ignore[valid-type]
        key = next_key if isinstance(next_key, tuple) else (next_key,)
        return page(
            items=[model.model_validate(row) for row in rows],
            next_cursor=encode_cursor(*key) if next_key is not None and key else None,
        )


# Declares the bearer scheme in OpenAPI (the "Authorize" button); api_caller does the checking,
# and also accepts a console session cookie with an X-CSRF-Token header.
bearer = HTTPBearer(
    auto_error=False,
    scheme_name="ApiToken",
    description="An API token created at POST /api/v1/tokens: `Authorization: Bearer spt_...`",
)


def _needs(scope: str) -> Callable[..., Awaitable[ApiCaller]]:
    # async: a check on values in hand needs no hop into the thread pool
    async def dependency(
        caller: ApiCallerDep,
        _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> ApiCaller:
        caller.require(scope)
        if scope == "admin":
            require_admin(caller.user)  # an admin token outlives its owner's admin role
        return caller

    dependency.__name__ = f"needs_{scope}"
    return dependency


ReadCaller = Annotated[ApiCaller, Depends(_needs("read"))]
WriteCaller = Annotated[ApiCaller, Depends(_needs("write"))]
AdminCaller = Annotated[ApiCaller, Depends(_needs("admin"))]

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Items per page")]
Cursor = Annotated[
    str | None, Query(max_length=100, description="`next_cursor` of the previous page")
]


def api_router(tag: str) -> APIRouter:
    return APIRouter(prefix=API_PREFIX, tags=[tag], responses=PROBLEM_RESPONSES)


def encode_cursor(*parts: int | datetime) -> str:
    """An opaque page cursor from a keyset (ids and times)."""
    raw = ":".join(
        str((p - EPOCH) // MICROSECOND) if isinstance(p, datetime) else str(p) for p in parts
    )
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, count: int) -> list[int]:
    """The integers of a cursor made by encode_cursor (times come back as microseconds)."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        parts = [int(p) for p in raw.split(":")]
    except ValueError:
        raise InvalidInput("invalid page cursor", field="cursor") from None
    if len(parts) != count or any(abs(p) >= 2**63 for p in parts):
        raise InvalidInput("invalid page cursor", field="cursor")
    return parts


def micros_to_datetime(value: int) -> datetime:
    try:
        return EPOCH + value * MICROSECOND
    except (ValueError, OverflowError, OSError):
        raise InvalidInput("invalid page cursor", field="cursor") from None
