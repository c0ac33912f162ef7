"""Campaign tests: a WhatsApp channel on a fake Graph API (a real local HTTP server), helpers to
import a list and run the sending job."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import sportello.campaigns.handlers
import sportello.channels.service  # noqa: F401  (the delivery job)
from tests.channels.messaging import FakeProvider


@pytest.fixture(autouse=True)
def _registry() -> None:
    from sportello.channels import registry

    registry.load_builtin()


@pytest.fixture
def provider() -> Iterator[FakeProvider]:
    with FakeProvider() as fake:
        yield fake


from tests.web.conftest import browser, console, live_server, new_page  # noqa: E402, F401
