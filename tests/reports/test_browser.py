"""In a real browser, on the demo shop's history: the report page with its charts, and the
wallboard moving live while chat messages arrive. Screenshots in Italian and English."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from sportello import demo
from sportello.accounts.models import User
from sportello.core.db import utcnow
from sportello.reports import demo as reports_demo
from sportello.reports import kpis
from sportello.routing import presence
from sportello.routing.models import Queue
from tests.factories import inbound, receive
from tests.routing.world import add_channel
from tests.web.conftest import SCREENSHOTS, VIEWPORT, login, wait_live

pytestmark = pytest.mark.browser


def _shot(page, name: str, *, full: bool = False) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / name), full_page=full)


def _waiting(page, queue_id: int) -> int:
    text = page.locator(
        f'#wb-queues .wb-tile[data-id="{queue_id}"] .wb-waiting .wb-value'
    ).inner_text()
    return int(text)


def test_reports_and_a_live_wallboard(db, live_server, browser, console):
    now = utcnow()
    demo.load(db, seed=11, force=True, now=now)
    reports_demo.load(db, now=now, seed=11)
    with db.transaction() as s:
        paolo = s.scalar(select(User).where(User.email.like("paolo@%")))
        queue = s.scalar(select(Queue).order_by(Queue.id))
        chat = add_channel(s, brand_id=queue.brand_id, kind="chat", queue=queue)
        chat.name = "Chat del sito"
        s.flush()
        for email, state in (("chiara@", "busy"), ("davide@", "break"), ("francesca@", "away")):
            agent = s.scalar(select(User).where(User.email.like(email + "%")))
            presence.do_set_presence(s, user=agent, presence=state)
        s.expunge_all()
    today = now.astimezone(kpis.ROME).date()
    query = f"start={(today - timedelta(days=89)).isoformat()}&end={today.isoformat()}"

    for language in ("it", "en"):
        with db.transaction() as s:
            s.execute(update(User).where(User.id == paolo.id).values(language=language))
        context = browser.new_context(
            viewport=VIEWPORT, locale=f"{language}-IT", base_url=live_server
        )
        context.set_default_timeout(15_000)
        page = context.new_page()
        console.attach(page)
        login(page, paolo, "demo-sportello-2")
        suffix = "" if language == "it" else "-en"
        # the console's compact panel for supervisors
        page.wait_for_selector("#reports-live-panel[data-live-url]")
        page.goto(f"/reports?{query}")
        assert page.locator("#report-totals .rep-card").count() >= 14
        assert page.locator(".rep-chart svg").count() == 7
        page.set_viewport_size({"width": 1366, "height": 2300})
        _shot(page, f"report-overview{suffix}.png")
        page.set_viewport_size(VIEWPORT)
        page.locator("#chart-heatmap").screenshot(
            path=str(SCREENSHOTS / f"report-heatmap{suffix}.png")
        )
        # drill-down from the volume card
        page.click('[data-kpi="volume"] .rep-big a')
        page.wait_for_selector("#drill-rows tbody tr td a")
        assert page.locator("#drill-rows tbody tr").count() > 50

        page.goto("/wallboard")
        wait_live(page)
        page.wait_for_selector(f'#wb-queues .wb-tile[data-id="{queue.id}"]')
        before = _waiting(page, queue.id)
        at = page.get_attribute("#wallboard", "data-at")
        for i in range(3):  # chat traffic: visitors writing
            receive(
                db,
                chat,
                inbound(f"Ciao, ho una domanda ({i})", email=f"visitatore{language}{i}@example.it"),
            )
            time.sleep(0.3)
        page.wait_for_function(
            "([q, n]) => Number(document.querySelector("
            '`#wb-queues .wb-tile[data-id="${q}"] .wb-waiting .wb-value`).textContent) >= n',
            arg=[queue.id, before + 3],
        )
        assert page.get_attribute("#wallboard", "data-at") != at  # a new snapshot, no reload
        assert page.evaluate("performance.getEntriesByType('navigation').length") == 1
        _shot(page, f"wallboard{suffix}.png")
        context.close()
    assert not console.errors, console.errors
