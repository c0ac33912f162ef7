"""Imports in a real browser, as an admin: upload a CSV of past conversations, read the dry
run, import it (the live server's worker runs the job), then open the imported customer's
timeline. In Italian, then in English. Saves docs/screenshots/imports-*.png."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from sportello.accounts.models import User
from sportello.core.db import Database
from sportello.customers.models import CustomerIdentity
from tests.web.conftest import (  # noqa: F401  (fixtures)
    VIEWPORT,
    browser,
    console,
    live_server,
    login,
    screenshot,
)

pytestmark = pytest.mark.browser
DATA = Path(__file__).parent / "data"


def _import(page: Any, name: str, fmt: str, suffix: str) -> None:
    page.goto("/admin/imports")
    page.select_option("#import-format", fmt)
    page.set_input_files("#import-form input[name=file]", str(DATA / name))
    page.click("#import-form button[type=submit]")
    page.wait_for_selector("#import-start", timeout=60_000)  # the dry run, polled by htmx
    assert page.locator("#import-counts").is_visible()
    screenshot(page, f"imports-preview-{suffix}.png")
    page.click("#import-start")
    page.wait_for_selector("#import-detail h3 >> nth=0", timeout=60_000)
    page.wait_for_function(
        "() => !document.querySelector('#import-detail[hx-get]')", timeout=60_000
    )
    screenshot(page, f"imports-result-{suffix}.png")


def _page(browser: Any, live_server: str, console: Any, user: Any, locale: str) -> Any:  # noqa: F811
    # new_page's 10 s limit is too short while the shared machine runs at a load of 15
    context = browser.new_context(viewport=VIEWPORT, locale=locale, base_url=live_server)
    context.set_default_timeout(60_000)
    page = context.new_page()
    console.attach(page)
    login(page, user)
    return page


def test_admin_imports_conversations_and_sees_the_timeline(
    db: Database,
    personas: Any,
    browser: Any,  # noqa: F811
    live_server: str,  # noqa: F811
    console: Any,  # noqa: F811
) -> None:
    page = _page(browser, live_server, console, personas.admin, "it-IT")
    _import(page, "conversazioni.csv", "csv-conversations", "it")
    assert "Fatto" in page.text_content("#import-status")
    assert "un doppione" not in page.text_content("#import-detail")
    assert "la data non-una-data non è leggibile" in page.text_content("#import-errors")
    with db.session() as s:
        customer_id = s.scalar(
            select(CustomerIdentity.customer_id).where(
                CustomerIdentity.value == "paolo.gallo@example.com"
            )
        )
    page.goto(f"/customers/{customer_id}")
    assert "Reso scarpe" in page.content()
    screenshot(page, "imports-customer-timeline-it.png")

    with db.transaction() as s:
        s.execute(update(User).where(User.id == personas.admin.id).values(language="en"))
    english = _page(browser, live_server, console, personas.admin, "en-US")
    _import(english, "zendesk.json", "zendesk", "en")
    assert "Done" in english.text_content("#import-status")
    assert "ticket 35438 has no valid creation date" in english.text_content("#import-errors")
