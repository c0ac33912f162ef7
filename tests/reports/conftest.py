"""The browser fixtures of tests/web, for the reports' browser test."""

from tests.web.conftest import browser, console, live_server  # noqa: F401
