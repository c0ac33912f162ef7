"""The departments' tests use the real mail servers of the email channel's tests."""

from __future__ import annotations

import pytest

from sportello import wiring
from tests.api.conftest import auth
from tests.channels.email.conftest import (
    dovecot,
    mail_user,
    mailbox,
    smtp,
    smtp_server,
)

__all__ = ["auth", "dovecot", "mail_user", "mailbox", "smtp", "smtp_server"]


@pytest.fixture(autouse=True)
def _wired() -> None:
    """The handler modules (jobs, the email side door), as ``serve`` and ``worker`` load them."""
    wiring.load_handlers()


from tests.web.conftest import browser, console, live_server, new_page  # noqa: E402, F401
