"""The planner's and the agent's screens in Chromium, on the Casa Lavanda demo."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import update

from sportello import demo as core_demo
from sportello.accounts.models import User
from sportello.core import i18n
from sportello.core.db import utcnow
from sportello.workforce import demo
from tests.web.conftest import SCREENSHOTS, VIEWPORT

pytestmark = pytest.mark.browser


def _login(browser: Any, live_server: str, console: Any, email: str, password: str) -> Any:
    # taller than the console's usual viewport: the screenshots show the whole page
    viewport = {**VIEWPORT, "height": 1300}
    context = browser.new_context(viewport=viewport, locale="it-IT", base_url=live_server)
    context.set_default_timeout(20_000)
    page = context.new_page()
    console.attach(page)
    page.goto("/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url("**/inbox/mine")
    return page


def test_planner_forecast_schedule_and_agent_shifts(db, browser, live_server, console) -> None:  # type: ignore[no-untyped-def]
    now = utcnow()
    token = i18n.current_language.set("it")  # the demo is written in Italian
    core_demo.load(db, seed=42, now=now)
    demo.load(db, now=now, seed=42)
    i18n.current_language.reset(token)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    logins = {email: password for email, password, _role in core_demo.LOGINS}

    paolo = _login(browser, live_server, console, "paolo@casalavanda.example",
                   logins["paolo@casalavanda.example"])  # fmt: skip
    paolo.click("#nav-wfm")
    paolo.wait_for_url("**/wfm")
    paolo.wait_for_selector(".wfm-chart canvas")
    assert paolo.locator("#wfm-backtest tbody tr").count() >= 3
    assert paolo.locator(".wfm-chart").count() >= 1
    paolo.wait_for_selector("#wfm-erlang-result")  # the calculator answered (htmx)
    assert "14" in paolo.locator("#wfm-erlang-result").inner_text()
    paolo.screenshot(path=str(SCREENSHOTS / "wfm-forecast.png"), full_page=True)

    # the published schedule: coverage chart and roster; removing a shift redraws the chart
    paolo.click("text=Pianificazioni")
    paolo.click("#wfm-schedules a")
    paolo.wait_for_selector(".wfm-chart canvas")
    paolo.wait_for_selector("#wfm-roster .wfm-shift")
    paolo.screenshot(path=str(SCREENSHOTS / "wfm-coverage.png"), full_page=True)
    day_shifts = paolo.locator("#wfm-roster td.is-day .wfm-shift")
    before = day_shifts.count()
    if before:
        first_chart = paolo.locator(".wfm-chart canvas").first.element_handle()
        paolo.locator("#wfm-roster td.is-day .wfm-x button").first.click()
        paolo.wait_for_function(
            "n => document.querySelectorAll('#wfm-roster td.is-day .wfm-shift').length === n",
            arg=before - 1,
        )
        paolo.wait_for_selector(".wfm-chart canvas")
        assert first_chart is not None
        assert paolo.evaluate("el => !el.isConnected", first_chart)  # the chart was rebuilt

    paolo.goto("/wfm/adherence")
    paolo.wait_for_selector("#wfm-whatif")
    paolo.screenshot(path=str(SCREENSHOTS / "wfm-adherence.png"), full_page=True)

    chiara = _login(browser, live_server, console, "chiara@casalavanda.example",
                    logins["chiara@casalavanda.example"])  # fmt: skip
    chiara.click("#nav-wfm-my-shifts")
    chiara.wait_for_selector(".wfm-my .wfm-shift")
    assert chiara.locator("#nav-wfm").count() == 0
    chiara.screenshot(path=str(SCREENSHOTS / "wfm-my-shifts.png"), full_page=True)

    # the same forecast page in English
    with db.transaction() as s:
        s.execute(
            update(User).where(User.email == "paolo@casalavanda.example").values(language="en")
        )
    paolo.goto("/wfm")
    paolo.wait_for_selector(".wfm-chart canvas")
    assert "Workforce planning" in paolo.content()
    paolo.screenshot(path=str(SCREENSHOTS / "wfm-forecast-en.png"), full_page=True)
    assert console.errors == []
