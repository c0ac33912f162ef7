"""Workforce tests: the browser fixtures of tests/web, and messages in English by default (the
actions translate as they raise, in the language of the current request)."""

from collections.abc import Iterator

import pytest

from sportello.core import i18n
from tests.web.conftest import browser, console, live_server  # noqa: F401


@pytest.fixture(autouse=True)
def english() -> Iterator[None]:
    token = i18n.current_language.set("en")
    yield
    i18n.current_language.reset(token)
