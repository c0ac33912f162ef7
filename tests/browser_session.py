"""One Chromium (one Playwright driver) for the whole test session.

The ``browser`` fixture of ``tests/web/conftest.py`` is imported by other folders' conftests and
test modules, and pytest keeps a separate session fixture for each place it is defined: a
second ``sync_playwright()`` in the same thread fails ("Sync API inside the asyncio loop") and
every browser test after it errors. The fixtures share this module's one instance instead,
counted, and the last one to finish closes it."""

from __future__ import annotations

from typing import Any

CHROMIUM = "/usr/bin/chromium"
_state: dict[str, Any] = {}
_users = 0


def acquire() -> Any:
    global _users
    if not _state:
        from playwright.sync_api import sync_playwright

        driver = sync_playwright().start()
        _state["driver"] = driver
        _state["browser"] = driver.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
    _users += 1
    return _state["browser"]


def release() -> None:
    global _users
    _users -= 1
    if _users == 0 and _state:
        _state.pop("browser").close()
        _state.pop("driver").stop()
