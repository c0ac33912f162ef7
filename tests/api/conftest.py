"""Helpers for the REST API tests: tokens for personas, and a conversation in each team's queue."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest

from sportello.accounts.models import User
from sportello.core.db import Database
from tests.api.helpers import make_token
from tests.factories import inbound, receive

TokenFor = Callable[..., dict[str, str]]


@pytest.fixture
def auth(db: Database) -> TokenFor:
    """``auth(user, scopes)`` -> headers carrying a fresh API token of that user."""

    def make(user: User, scopes: Sequence[str] = ("read", "write")) -> dict[str, str]:
        return {"Authorization": f"Bearer {make_token(db, user, scopes)}"}

    return make


@pytest.fixture
def assistenza_conversation(db, personas):  # type: ignore[no-untyped-def]
    """A conversation from Mario Rossi on the api channel, in the Assistenza queue (Sara's)."""
    return receive(db, personas.api_channel, inbound(provider_id="m-1")).conversation


@pytest.fixture
def vendite_conversation(db, personas):  # type: ignore[no-untyped-def]
    """A conversation from Anna Neri on the web form, in the Vendite queue (Luca's)."""
    return receive(
        db,
        personas.webform,
        inbound("Vorrei un preventivo", email="anna@example.it", name="Anna Neri"),
    ).conversation
