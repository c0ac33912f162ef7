"""The browser fixtures of tests/web, for the front line's browser test."""

from tests.web.conftest import browser, console, live_server, new_page  # noqa: F401
