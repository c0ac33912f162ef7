"""The admin uploads a phone channel's greeting in a real browser (Italian and English): a file
that is not a WAV is refused with a translated message, a WAV replaces the default tone. Saves
docs/screenshots/voice-announcements.png."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from sportello.accounts.models import User
from sportello.channels.voice import media
from sportello.core.db import Database
from tests.channels.voice.test_calls import _setup
from tests.channels.voice.test_media import _wav
from tests.factories import PASSWORD, Personas
from tests.web.conftest import screenshot

pytestmark = pytest.mark.browser


def _signed_in(page: Any, user: Any) -> Any:
    """The login of tests/web, with more patience (a loaded machine: a page can take 10 s)."""
    page.set_default_timeout(40_000)
    page.goto("/login")
    page.fill("input[name=email]", user.email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/inbox/mine")
    return page


def test_admin_uploads_the_greeting(
    db: Database, personas: Personas, new_page: Any, tmp_path: Path
) -> None:
    for path in media.directory().glob("[0-9]*-*.wav"):
        path.unlink()
    phones = _setup(db, personas)
    good, bad = tmp_path / "benvenuto.wav", tmp_path / "benvenuto.mp3.wav"
    good.write_bytes(_wav(1.5))
    bad.write_bytes(b"ID3\x03\x00 not really audio")
    row = f"form[action='/admin/voice/channels/{phones.channel_id}/announcements/greeting']"

    page = _signed_in(new_page(), personas.admin)
    page.goto("/admin/voice")
    section = page.locator("#announcements")
    assert "Musica di attesa" in section.inner_text()
    assert "Tono predefinito" in section.inner_text()
    page.set_input_files(f"{row} input[type=file]", str(bad))
    page.click(f"{row} button[type=submit]")
    page.wait_for_selector("#announcements .alert-error")
    assert "non è un file audio WAV" in page.inner_text("#announcements .alert-error")
    page.set_input_files(f"{row} input[type=file]", str(good))
    page.click(f"{row} button[type=submit]")
    page.wait_for_selector("text=File caricato, 1.5 s")
    assert media.announcement(phones.channel_id, "greeting").read_bytes() == good.read_bytes()
    page.locator("#announcements").scroll_into_view_if_needed()
    screenshot(page, "voice-announcements.png")

    with db.transaction() as s:
        s.execute(update(User).where(User.id == personas.admin.id).values(language="en"))
    english = _signed_in(new_page(locale="en-GB"), personas.admin)
    english.goto("/admin/voice")
    text = english.inner_text("#announcements")
    assert "Music on hold" in text and "Uploaded file, 1.5 s" in text
    english.set_input_files(f"{row} input[type=file]", str(bad))
    english.click(f"{row} button[type=submit]")
    english.wait_for_selector("#announcements .alert-error")
    assert "not a WAV audio file" in english.inner_text("#announcements .alert-error")
