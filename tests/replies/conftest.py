"""The browser fixtures of tests/web, for the agent tools' browser test."""

from tests.web.conftest import browser, console, live_server, new_page, reply_receiver  # noqa: F401
