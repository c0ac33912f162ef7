"""In a real browser: a supervisor reviews a conversation beside its transcript and writes a
coaching note; the agent sees the unread count in the navigation, reads the review and
acknowledges it, and the supervisor sees the acknowledgement. Also the calibration spread and the
trends page. Screenshots docs/screenshots/quality-*.png."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from sportello.accounts.models import User
from sportello.conversations.models import Conversation
from sportello.core.db import utcnow
from sportello.quality import actions
from sportello.quality.models import Review, Scale, Scorecard
from sportello.quality.schemas import RatingData
from tests.quality.world import default_scorecard, resolved_by
from tests.web.conftest import SCREENSHOTS, VIEWPORT, login

pytestmark = pytest.mark.browser


def _shot(page, name: str, height: int = 1100) -> None:
    """The console scrolls inside its main pane: a tall viewport shows the whole page."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size({"width": VIEWPORT["width"], "height": height})
    page.screenshot(path=str(SCREENSHOTS / name))
    page.set_viewport_size(VIEWPORT)


def _history(db, personas, card_id: int) -> None:
    """Reviews of past weeks for both agents (the trend chart) and a revealed calibration."""
    with db.transaction() as s:
        card = s.get_one(Scorecard, card_id)
        reviewer = s.get_one(User, personas.supervisor.id)
    for week in range(1, 6):
        for agent, level in ((personas.sara, 3 + week % 3), (personas.luca, 2 + week % 2)):
            cid = resolved_by(db, personas, agent)
            with db.transaction() as s:
                card = s.get_one(Scorecard, card_id)
                review = actions.do_create_review(
                    s,
                    conversation=s.get_one(Conversation, cid),
                    scorecard=card,
                    reviewer=s.get_one(User, reviewer.id),
                )
                actions.do_score_review(
                    s,
                    review=review,
                    by=s.get_one(User, reviewer.id),
                    ratings=[
                        RatingData(criterion_id=c.id, value=1 if c.scale == Scale.BINARY else level)
                        for c in card.criteria
                    ],
                    coaching_note="Bene così.",
                )
                review.week = review.week - timedelta(weeks=week)
                review.acknowledged_at = utcnow()
    cid = resolved_by(db, personas, personas.luca, text="Il pacco è arrivato rotto, sono furioso!")
    with db.transaction() as s:
        card = s.get_one(Scorecard, card_id)
        people = [s.get_one(User, personas.supervisor.id), s.get_one(User, personas.admin.id)]
        calibration = actions.do_create_calibration(
            s,
            title="Taratura: pacco danneggiato",
            conversation=s.get_one(Conversation, cid),
            scorecard=card,
            reviewers=people,
            by=people[0],
        )
        for n, review in enumerate(
            s.scalars(select(Review).where(Review.calibration_id == calibration.id))
        ):
            actions.do_score_review(
                s,
                review=review,
                by=s.get_one(User, review.reviewer_id),
                ratings=[
                    RatingData(criterion_id=c.id, value=1 if c.scale == Scale.BINARY else 2 + 2 * n)
                    for c in card.criteria
                ],
            )
        actions.do_reveal_calibration(s, calibration=calibration, by=people[0])


def test_review_and_acknowledged_coaching_note(db, personas, live_server, browser, console):
    card_id = default_scorecard(db, personas)
    _history(db, personas, card_id)
    cid = resolved_by(
        db, personas, personas.sara, text="Il mio ordine è in ritardo di una settimana"
    )
    with db.transaction() as s:
        number = s.get_one(Conversation, cid).number
        s.execute(update(User).where(User.id == personas.supervisor.id).values(language="it"))

    def page_for(user):
        context = browser.new_context(viewport=VIEWPORT, locale="it-IT", base_url=live_server)
        context.set_default_timeout(15_000)
        page = context.new_page()
        console.attach(page)
        login(page, user)
        return context, page

    sup_context, sup = page_for(personas.supervisor)
    sup.click("#nav-quality")
    sup.fill("#qa-start input[name=number]", str(number))
    sup.click("#qa-start button[type=submit]")
    sup.wait_for_selector("#qa-score-form")
    assert "ritardo di una settimana" in sup.locator("#qa-transcript").inner_text()
    fieldsets = sup.locator("fieldset.qa-criterion")
    count = fieldsets.count()
    assert count == 6
    for i in range(count):
        choices = fieldsets.nth(i).locator("input[type=radio]")
        # the greeting N/A (last choice), privacy "yes" (second), the others 4 of 5
        index = choices.count() - 1 if i == 0 else (1 if choices.count() <= 3 else 3)
        choices.nth(index).check()
    sup.fill(
        "textarea[name=coaching_note]", "Hai riconosciuto la frustrazione del cliente: ottimo."
    )
    _shot(sup, "quality-review.png", 1500)
    sup.click("#qa-submit")
    sup.wait_for_selector(".alert-ok")
    assert "75%" in sup.locator("#qa-card h2").inner_text()

    agent_context, agent = page_for(personas.sara)
    agent.wait_for_selector("#quality-badge:not(.is-zero)")
    assert agent.locator("#quality-badge").inner_text() == "1"
    agent.click("#nav-quality-mine")
    agent.wait_for_selector("#qa-my-reviews")
    _shot(agent, "quality-my-reviews.png")
    agent.locator("#qa-my-reviews tr.qa-unread a").first.click()
    assert "frustrazione del cliente" in agent.locator("#qa-coaching").inner_text()
    agent.click("#qa-acknowledge")
    agent.wait_for_selector("#qa-acknowledged")
    assert agent.locator("#quality-badge").inner_text() == "0"
    _shot(agent, "quality-acknowledged.png")

    # the supervisor sees the acknowledgement, the calibration spread and the trends
    sup.reload()
    sup.wait_for_selector("#qa-acknowledged")
    sup.goto("/quality/calibrations")
    sup.click("#qa-calibrations a")
    sup.wait_for_selector("#qa-spread")
    _shot(sup, "quality-calibration.png")
    sup.goto("/quality/trends?by=agent")
    sup.wait_for_selector("#qa-trend-chart svg")
    _shot(sup, "quality-trends.png")
    sup.goto(f"/quality/scorecards?edit={card_id}")
    _shot(sup, "quality-scorecard.png", 1300)
    with db.transaction() as s:
        s.execute(update(User).where(User.id == personas.supervisor.id).values(language="en"))
    sup.goto("/quality")
    sup.wait_for_selector("#qa-recent")
    _shot(sup, "quality-desk-en.png")
    sup_context.close()
    agent_context.close()
    assert console.errors == []  # no CSP violation, no script error
