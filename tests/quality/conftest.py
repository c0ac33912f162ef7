"""Quality tests: conversations resolved by the personas through the real actions, the reports'
facts brought up to date (the sampling reads them), API tokens."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest

import sportello.quality.handlers  # noqa: F401  (registers the sampling job)
from sportello.accounts.models import User
from sportello.core.db import Database
from tests.api.helpers import make_token
from tests.web.conftest import browser, console, live_server  # noqa: F401

TokenFor = Callable[..., dict[str, str]]


@pytest.fixture
def auth(db: Database) -> TokenFor:
    def make(user: User, scopes: Sequence[str] = ("read", "write")) -> dict[str, str]:
        return {"Authorization": f"Bearer {make_token(db, user, scopes)}"}

    return make
