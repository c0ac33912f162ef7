"""Survey tests: the real mail servers of the email tests, and helpers to configure a survey,
resolve a conversation and run the dispatcher (events and due jobs)."""

from __future__ import annotations

import pytest

import sportello.channels.service
import sportello.surveys.handlers  # noqa: F401  (the survey handler, job and button hook)
from tests.channels.email.conftest import (  # noqa: F401  (fixtures)
    dovecot,
    mail_user,
    mailbox,
    smtp,
    smtp_server,
)


@pytest.fixture(autouse=True)
def _registry() -> None:
    from sportello.channels import registry

    registry.load_builtin()
