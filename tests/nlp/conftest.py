"""NLP tests: the handlers registered, and the channel registry loaded."""

from __future__ import annotations

import pytest

import sportello.channels.service
import sportello.nlp.handlers  # noqa: F401  (sentiment, language, triage on message.received)


@pytest.fixture(autouse=True)
def _registry() -> None:
    from sportello.channels import registry

    registry.load_builtin()
