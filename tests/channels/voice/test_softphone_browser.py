"""End to end: a caller (sipp, echoing RTP) calls the company number; Kamailio asks Sportello,
which picks the agent with the skill; her console's softphone (JsSIP in headless Chromium with a
fake microphone) shows the toast with the screen pop, she answers, audio flows both ways through
rtpengine (counted by the browser's RTP statistics), she hangs up, and the conversation shows
the call."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from sportello.channels.voice.daemons import Stack, free_port
from sportello.channels.voice.models import VoiceCall
from sportello.config import Settings
from sportello.conversations.models import Conversation
from sportello.core.db import Database
from tests.channels.voice.harness import need_voice_tools, run_stack, serve, sipp
from tests.channels.voice.test_calls import CALLER, DID, _setup
from tests.factories import PASSWORD, Personas

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).resolve().parents[3] / "docs" / "screenshots"

pytestmark = pytest.mark.browser


@pytest.fixture
def phone_site(
    db: Database, test_settings: Settings, tmp_path: Path
) -> Iterator[tuple[str, Stack]]:
    need_voice_tools()
    if not Path(CHROMIUM).exists():
        pytest.skip("chromium is not installed")
    ws_port = free_port()
    for url in serve(db, test_settings, run_workers=True, voice_ws_url=f"ws://127.0.0.1:{ws_port}"):
        for stack in run_stack(url, tmp_path / "stack", ws_port):
            yield url, stack


@pytest.fixture
def media_browser() -> Iterator[Any]:
    """Chromium with a fake microphone (a beep) that needs no permission prompt, from the
    session's one Playwright driver."""
    from tests import browser_session

    browser_session.acquire()
    driver = browser_session._state["driver"]
    browser = driver.chromium.launch(
        executable_path=CHROMIUM,
        args=[
            "--no-sandbox",
            "--disable-gpu",
            "--use-fake-device-for-media-stream",
            "--use-fake-ui-for-media-stream",
            "--autoplay-policy=no-user-gesture-required",
            "--disable-features=WebRtcHideLocalIpsWithMdns",
        ],
    )
    yield browser
    browser.close()
    browser_session.release()


def _call(db: Database) -> VoiceCall | None:
    with db.session() as s:
        return s.scalars(select(VoiceCall)).first()


def test_agent_answers_a_call_in_the_console(
    db: Database,
    personas: Personas,
    phone_site: tuple[str, Stack],
    media_browser: Any,
    tmp_path: Path,
) -> None:
    base_url, stack = phone_site
    _setup(db, personas)
    context = media_browser.new_context(
        base_url=base_url, viewport={"width": 1366, "height": 768}, locale="it-IT"
    )
    context.grant_permissions(["microphone"])
    context.set_default_timeout(15_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto("/login")
    page.fill("input[name=email]", personas.sara.email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/inbox/mine")
    page.wait_for_selector("#softphone[data-state=ready]")

    caller = sipp(
        stack,
        "caller_until_bye.xml",
        tmp_path / "caller",
        service=DID,
        variables={"caller": CALLER, "name": "Anna Verdi", "talk": 30000},
        extra=["-rtp_echo"],
    )
    try:
        page.wait_for_selector("#softphone .sp-toast:not([hidden])")
        page.wait_for_selector("#softphone .sp-pop-slot .sp-pop[data-call-id]")
        toast = page.inner_text("#softphone .sp-pop-slot")
        assert "Anna Verdi" in toast and CALLER in toast
        page.click("#softphone [data-sp=answer]")
        page.wait_for_selector("#softphone[data-state=talking]")
        # Audio both ways: the browser's microphone goes through rtpengine to the caller, whose
        # echo comes back through rtpengine to the browser.
        rtp: dict[str, int] = {}
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            rtp = page.evaluate("window.sportelloSoftphone.stats().then(s => s.rtp)") or {}
            if rtp.get("sent", 0) > 50 and rtp.get("received", 0) > 50:
                break
            time.sleep(0.25)
        assert rtp.get("sent", 0) > 50 and rtp.get("received", 0) > 50, (
            rtp,
            page.evaluate("window.sportelloSoftphone.stats()"),
            errors,
            stack.logs(),
        )
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "voice-softphone.png"))
        call = _call(db)
        assert call is not None and call.state == "talking" and call.agent_id == personas.sara.id

        page.click("#softphone [data-sp=hangup]")
        assert caller.wait() == 0, caller.output() + stack.logs()
        page.wait_for_selector("#softphone[data-state=wrapup]")
    finally:
        caller.stop()
    deadline = time.monotonic() + 5
    while (call := _call(db)) is not None and call.state != "ended" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert call is not None and call.outcome == "answered" and call.ended_by == "agent"
    assert call.answered_at is not None

    with db.session() as s:
        number = s.get_one(Conversation, call.conversation_id).number
    page.goto(f"/c/{number}")
    lines = page.inner_text("#timeline")
    assert "Sara Conti" in lines  # "Sara Conti answered the call after ..."
    assert page.locator(".call-line").count() == 2
    page.wait_for_selector("#softphone[data-state=ready], #softphone[data-state=wrapup]")
    # A new page keeps no call state: wrap-up is ended from the API the softphone uses.
    response = page.request.post(
        f"/api/v1/voice/calls/{call.id}/wrapup",
        data={"resolve": True},
        headers={"X-CSRF-Token": page.get_attribute('meta[name="csrf-token"]', "content") or ""},
    )
    assert response.ok, response.text()
    assert _call(db).wrapup_ended_at is not None  # type: ignore[union-attr]
    assert not [e for e in errors if "Content Security Policy" in e], errors
    context.close()
