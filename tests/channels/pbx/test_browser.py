"""In a real browser: an admin sets up the PBX channel (against a fake Asterisk speaking AMI),
checks the connection and sees it connected; the secret is never put back into the page.
Screenshots docs/screenshots/pbx-admin-{it,en}.png."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from sportello.accounts.models import User
from sportello.channels.models import Channel
from sportello.channels.pbx.link import PbxLinks
from tests.channels.pbx import scenarios
from tests.channels.pbx.fake_ami import FakeAmi
from tests.web.conftest import SCREENSHOTS, VIEWPORT, login

pytestmark = pytest.mark.browser


def _shot(page, name: str, height: int = 1250) -> None:  # type: ignore[no-untyped-def]
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size({"width": VIEWPORT["width"], "height": height})
    page.screenshot(path=str(SCREENSHOTS / name), full_page=True)
    page.set_viewport_size(VIEWPORT)


def test_admin_connects_the_pbx_and_sees_it_connected(  # type: ignore[no-untyped-def]
    db, personas, live_server, browser, fake_ami: FakeAmi
) -> None:
    with db.transaction() as s:
        s.execute(update(User).where(User.id == personas.admin.id).values(language="it"))
    context = browser.new_context(viewport=VIEWPORT, locale="it-IT", base_url=live_server)
    try:
        page = context.new_page()
        login(page, personas.admin)
        page.goto("/admin/channels/new?kind=pbx")
        page.fill("input[name=name]", "Centralino FreePBX")
        page.fill("input[name=ami_host]", "127.0.0.1")
        page.fill("input[name=ami_port]", str(fake_ami.port))
        page.fill("input[name=ami_username]", "sportello")
        page.fill("input[name=ami_secret]", "s3greto")
        page.fill(
            "textarea[name=extensions]",
            f"201 = {personas.sara.email}\n202 = {personas.luca.email}",
        )
        page.click("form[action='/admin/channels'] .form-actions button[type=submit]")
        page.wait_for_load_state("networkidle")
        with db.transaction() as s:
            channel = s.scalars(select(Channel).where(Channel.kind == "pbx")).one()
            channel_id = channel.id
            assert "s3greto" not in str(channel.secrets)  # encrypted at rest
        page.goto(f"/admin/channels/{channel_id}")
        assert "s3greto" not in page.content()
        page.wait_for_selector("[data-pbx-status] .pbx-status[data-state=unknown]")
        page.click("button[formaction$='/check']")
        page.wait_for_selector("[data-pbx-status] .pbx-status[data-state=connected]")
        assert page.locator(".pbx-status").inner_text().startswith("Connesso")
        # The check logged in and off (the embedded worker may have connected too).
        assert fake_ami.logins >= 1 and fake_ami.sent_actions("Logoff")
        _shot(page, "pbx-admin-it.png")

        with db.transaction() as s:
            s.execute(update(User).where(User.id == personas.admin.id).values(language="en"))
        page.goto(f"/admin/channels/{channel_id}")
        page.wait_for_selector("[data-pbx-status] .pbx-status[data-state=connected]")
        assert "Connected" in page.locator(".pbx-status").inner_text()
        _shot(page, "pbx-admin-en.png")

        # The PBX goes down: the next check says so, with the reason.
        fake_ami.pause()
        page.click("button[formaction$='/check']")
        page.wait_for_selector("[data-pbx-status] .pbx-status[data-state=error]")
        assert "Last error" in page.locator(".pbx-status").inner_text()
        fake_ami.resume()
    finally:
        context.close()


def test_the_agent_whose_extension_rings_sees_the_customer(  # type: ignore[no-untyped-def]
    db, personas, live_server, browser, fake_ami: FakeAmi
) -> None:
    from tests.channels.pbx.test_ami_link import make_pbx

    channel_id = make_pbx(db, personas, fake_ami)
    with db.transaction() as s:
        s.execute(update(User).where(User.id == personas.sara.id).values(language="it"))
    context = browser.new_context(viewport=VIEWPORT, locale="it-IT", base_url=live_server)
    try:
        page = context.new_page()
        login(page, personas.sara)
        # The events as the worker's link applies them (the AMI protocol itself is covered
        # in test_ami_link.py; one link here, not a race with the embedded worker's).
        links = PbxLinks(db)
        for event in scenarios.queue_call_answered()[:5]:  # joined the queue, 201 rings
            links.apply(channel_id, event)
        page.wait_for_selector("#pbx-pop:not([hidden]) .sp-pop", state="attached", timeout=20000)
        text = page.locator("#pbx-pop").inner_text()
        assert "Chiamata in arrivo" in text and scenarios.CALLER in text
        _shot(page, "pbx-pop-it.png", height=768)
    finally:
        context.close()
