"""Helpers shared by the API tests."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sportello.accounts import actions as accounts_actions
from sportello.accounts.models import User
from sportello.core.db import Database


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    """An RFC 9457 problem: the media type, and title, status and detail in the body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["title"]
    assert body["detail"]
    return body


def make_token(db: Database, user: User, scopes: Sequence[str] = ("read", "write")) -> str:
    with db.transaction() as s:
        row = s.get(User, user.id)
        assert row is not None
        _, token = accounts_actions.do_create_api_token(
            s, user=row, name="test", scopes=list(scopes)
        )
    return token
