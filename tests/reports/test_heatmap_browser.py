"""In a real browser, on a small demo shop: a cell of the volume heatmap (hour of week) is a
link; clicking the cell, or the number drawn on it, lands in the same tab on the list of the
conversations behind that number, as many as the cell says."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from sportello import demo
from sportello.accounts.models import User
from sportello.core.db import utcnow
from sportello.reports import kpis, service
from tests.web.conftest import VIEWPORT, login

pytestmark = pytest.mark.browser


def _cell_of(href: str | None) -> tuple[int, int] | None:
    query = parse_qs(urlsplit(href or "").query)
    if "weekday" not in query:
        return None
    return int(query["weekday"][0]), int(query["hour"][0])


def test_a_heatmap_cell_clicked_lists_the_conversations_behind_it(
    db, live_server, browser, console, monkeypatch
):
    monkeypatch.setattr(demo, "CONVERSATIONS", 200)
    monkeypatch.setattr(demo, "CUSTOMERS", 90)
    monkeypatch.setattr(demo, "BATCH", 100)
    now = utcnow()
    assert demo.load(db, seed=5, force=True, now=now) is not None
    today = now.astimezone(kpis.ROME).date()
    params = {"start": (today - timedelta(days=89)).isoformat(), "end": today.isoformat()}
    with db.session() as s:
        elena = s.scalars(select(User).where(User.email.like("elena@%"))).one()
        grid = service.heatmap(s, elena, service.parse_filters(params, today=today))
    busiest = sorted(
        ((grid[d][h], d, h) for d in range(7) for h in range(24) if grid[d][h]), reverse=True
    )
    assert len(busiest) >= 2 and busiest[0][0] > 1 and busiest[0][0] < service.DRILL_LIMIT

    context = browser.new_context(viewport=VIEWPORT, locale="it-IT", base_url=live_server)
    context.set_default_timeout(15_000)
    page = context.new_page()
    console.attach(page)
    login(page, elena, "demo-sportello-1")
    query = "&".join(f"{k}={v}" for k, v in params.items())
    for (value, day, hour), target in zip(busiest[:2], ("cell", "number"), strict=True):
        page.goto(f"/reports?{query}")
        links = page.locator("#chart-heatmap svg a")
        mine = [
            i
            for i in range(links.count())
            if _cell_of(links.nth(i).get_attribute("xlink:href")) == (day, hour)
        ]
        assert len(mine) == 2, mine  # the cell and the number drawn on it
        # A real mouse click where a person would: a corner of the cell, away from the number,
        # or the middle of the number (whatever is hit there must follow the cell's link).
        links.nth(mine[0]).scroll_into_view_if_needed()
        if target == "cell":
            box = links.nth(mine[0]).bounding_box()
            page.mouse.click(box["x"] + 3, box["y"] + 3)
        else:
            box = links.nth(mine[1]).bounding_box()
            page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.wait_for_url("**/reports/conversations?**")
        assert len(context.pages) == 1  # the same tab, not a new window
        assert _cell_of(page.url) == (day, hour)
        page.wait_for_selector("#drill-rows tbody tr")
        assert page.locator("#drill-rows tbody tr td a[href^='/c/']").count() == 2 * value
        assert page.locator("#drill-rows tbody tr").count() == value
        assert f"{hour:02d}:00" in page.locator("#drill-cell").inner_text()
        assert f"{value} conversazion" in page.locator("#drill-what").inner_text()
    context.close()
    assert not console.errors, console.errors
