"""The bot's calibration table on the channel page in a real browser (Chromium, the CSP on), in
Italian and English: the admin picks a row and the threshold changes, a supervisor only reads;
a channel with too few judged answers shows the bundled evaluation set's table and says so.
Screenshots into docs/screenshots/bot-calibration-*.png."""

from __future__ import annotations

from typing import Any

import pytest

from sportello.channels.models import Channel
from sportello.core.db import Database
from tests.knowledge.test_bot_calibration import _conversation, _log
from tests.web.conftest import (  # noqa: F401  (fixtures)
    SCREENSHOTS,
    VIEWPORT,
    browser,
    console,
    live_server,
    new_page,
)

pytestmark = pytest.mark.browser


def test_admin_picks_a_threshold_from_the_table(
    db: Database,
    personas: Any,
    new_page,  # noqa: F811
    console,  # noqa: F811
) -> None:
    channel = personas.api_channel
    admin = new_page(personas.admin)
    admin.set_default_timeout(60_000)
    admin.goto(f"/admin/channels/{channel.id}#bot")  # nothing judged yet
    admin.wait_for_selector("#bot-calibration-source[data-source='evaluation']")
    assert admin.locator("#bot-calibration tbody tr").count() == 11
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    admin.set_viewport_size({"width": 1100, "height": 1500})  # the whole section in one shot
    admin.locator("#bot").screenshot(path=str(SCREENSHOTS / "bot-calibration-evaluation-it.png"))
    admin.set_viewport_size(VIEWPORT)
    for n in range(24):
        conv = _conversation(db, channel, n)
        confidence = 0.3 + 0.025 * n
        helped = confidence >= 0.5 or n % 3 == 0
        _log(
            db,
            conv,
            ("answer", "", confidence),
            ("feedback_yes" if helped else "feedback_no", "", 0.0),
        )
    admin.reload()  # the same address: goto would only move to the #bot anchor
    assert admin.locator("#bot-calibration-source").get_attribute("data-source") == "channel"
    admin.wait_for_selector("#bot-calibration")
    assert "risposte giuste" in admin.inner_text("#bot-calibration").lower()
    assert "50%" in admin.inner_text("#bot-calibration tr[aria-current]")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    admin.locator("#bot-calibration").screenshot(path=str(SCREENSHOTS / "bot-calibration-it.png"))
    admin.locator("#bot-calibration tr", has_text="60%").get_by_role("button").click()
    admin.wait_for_selector("#bot-calibration tr[aria-current]:has-text('60%')")
    with db.session() as s:
        assert s.get(Channel, channel.id).settings["bot"]["threshold"] == 0.6

    english = new_page(personas.supervisor, locale="en-GB")  # Marco reads English
    english.set_default_timeout(60_000)
    english.goto(f"/admin/channels/{channel.id}#bot")
    english.wait_for_selector("#bot-calibration")
    assert "answered right" in english.inner_text("#bot-calibration").lower()
    assert english.locator("#bot-calibration button").count() == 0  # a supervisor only reads
    english.locator("#bot-calibration").screenshot(path=str(SCREENSHOTS / "bot-calibration-en.png"))
    assert console.errors == []
