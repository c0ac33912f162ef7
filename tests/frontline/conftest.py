"""The browser fixtures of tests/web and the real mail servers of the email tests, for the front
line's browser test and its e-mail to absent agents."""

import pytest

from tests.channels.email.conftest import (  # noqa: F401  (fixtures)
    dovecot,
    mail_user,
    mailbox,
    smtp,
    smtp_server,
)
from tests.web.conftest import browser, console, live_server, new_page  # noqa: F401


@pytest.fixture(autouse=True)
def _registry() -> None:
    from sportello.channels import registry

    registry.load_builtin()
