"""Two-factor sign-in in a real browser: an admin requires it for agents, an agent is sent to
set it up at the next sign-in, scans (reads) the key, confirms, keeps the recovery codes, and
signs in again with a code. In Italian, then the code step in English."""

from __future__ import annotations

import time

import pyotp
import pytest

from tests.web.conftest import screenshot, wait_live

pytestmark = pytest.mark.browser


def test_an_agent_sets_up_two_factor_when_the_admin_requires_it(db, personas, new_page, console):
    admin = new_page(personas.admin)
    admin.goto("/admin/security")
    admin.check("input[name=two_factor_roles][value=agent]")
    admin.click("button:has-text('Salva')")
    admin.wait_for_selector("text=Salvato.")

    agent = new_page(None)
    agent.goto("/login")
    agent.fill("input[name=email]", personas.sara.email)
    agent.fill("input[name=password]", "password-di-prova-123")
    agent.click("button[type=submit]")
    agent.wait_for_url("**/profile/security")
    assert "di accedere con un secondo fattore" in agent.inner_text(".alert-info")
    agent.click("button:has-text('Configura')")
    agent.wait_for_selector(".qr svg")
    screenshot(agent, "two-factor-setup.png")
    secret = agent.inner_text("code.secret").replace(" ", "")
    totp = pyotp.TOTP(secret)
    agent.fill("input[name=code]", totp.now())
    agent.click("button:has-text('Attiva')")
    agent.wait_for_selector(".recovery-codes")
    assert agent.locator(".recovery-codes li").count() == 10
    agent.click("text=Li ho salvati: continua")
    agent.wait_for_url("**/inbox/mine")
    wait_live(agent)

    # Next time: password, then a code (in English this time)
    english = new_page(None, locale="en-GB")
    english.goto("/login")
    english.fill("input[name=email]", personas.sara.email)
    english.fill("input[name=password]", "password-di-prova-123")
    english.click("button[type=submit]")
    english.wait_for_selector("text=Enter the 6-digit code from your authenticator app.")
    screenshot(english, "two-factor-code.png")
    english.fill("input[name=code]", totp.at(time.time() + 30))  # the enrolment used this step
    english.click("button[type=submit]")
    english.wait_for_url("**/inbox/mine")
    assert console.errors == []
