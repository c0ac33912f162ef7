"""A new admin configures routing from an empty install in a real browser: skills, levels in the
matrix (saved in place), a calendar with business hours and a closure, a push queue with members
and a 30-second offer timeout, an SLA policy; the refusals show beside their fields.

Screenshots (Italian): docs/screenshots/admin-skills-matrix.png, admin-queue.png,
admin-calendar.png, admin-sla.png; English: admin-queue-en.png, admin-sla-en.png."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from sportello.accounts import actions as accounts_actions
from sportello.accounts.models import Role, User
from sportello.routing.models import (
    AgentSkill,
    BusinessCalendarRow,
    Queue,
    QueueMember,
    QueueRouting,
    QueueSkill,
    Skill,
    SlaPolicy,
)
from tests.factories import PASSWORD
from tests.web.conftest import (  # noqa: F401  (fixtures)
    SCREENSHOTS,
    browser,
    console,
    live_server,
    new_page,
)

pytestmark = pytest.mark.browser


def shot(page: Any, name: str, height: int = 768) -> None:
    """A screenshot as tall as ``height`` (the console scrolls inside its main pane)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size({"width": 1366, "height": height})
    page.screenshot(path=str(SCREENSHOTS / name))
    page.set_viewport_size({"width": 1366, "height": 768})


def _staff(db) -> tuple[User, User]:
    """An empty install: one admin (as `sportello user create` makes it) and two agents."""
    with db.transaction() as s:
        admin = accounts_actions.do_create_user(
            s, email="admin@lavanda.example", name="Elena Marchetti", role=Role.ADMIN,
            password=PASSWORD,
        )  # fmt: skip
        english = accounts_actions.do_create_user(
            s, email="ops@lavanda.example", name="Olivia Smith", role=Role.ADMIN,
            password=PASSWORD, language="en",
        )  # fmt: skip
        for email, name in (("chiara@lavanda.example", "Chiara Greco"),
                            ("davide@lavanda.example", "Davide Russo")):  # fmt: skip
            accounts_actions.do_create_user(
                s, email=email, name=name, role=Role.AGENT, password=PASSWORD
            )
    return admin, english


def test_new_admin_configures_routing_from_scratch(db, new_page, console):  # noqa: F811
    admin, english = _staff(db)
    page = new_page(admin)

    # Skills, then levels in the matrix, saved as they are picked.
    page.goto("/admin/skills")
    for name in ("Resi", "Spedizioni", "Inglese"):
        page.fill("#new-skill input[name=name]", name)
        page.click("#new-skill button[type=submit]")
        page.wait_for_selector(f"#skills input[value='{name}']")
    with db.session() as s:
        people = {u.name: u.id for u in s.scalars(select(User))}
        skill_ids = {sk.name: sk.id for sk in s.scalars(select(Skill))}
    for person, skill, level in (
        ("Chiara Greco", "Resi", "5"),
        ("Chiara Greco", "Spedizioni", "3"),
        ("Davide Russo", "Resi", "3"),
        ("Davide Russo", "Inglese", "4"),
    ):
        cell = f"select[hx-post='/admin/skills/matrix/{people[person]}/{skill_ids[skill]}']"
        page.select_option(cell, level)
        page.wait_for_selector(cell + ".is-saved")
    assert page.inner_text(f"#skill-count-{skill_ids['Resi']}") == "2"  # updated in place
    with db.session() as s:
        assert s.get(AgentSkill, (people["Chiara Greco"], skill_ids["Resi"])).level == 5
        assert s.get(AgentSkill, (people["Davide Russo"], skill_ids["Inglese"])).level == 4
    shot(page, "admin-skills-matrix.png")

    # A business calendar: Monday-Friday 9-13 and 14-18, Saturday 9-13, a closure in August.
    page.goto("/admin/calendars")
    page.fill("input[name=name]", "Orari negozio")
    page.click("form[action='/admin/calendars'] button[type=submit]")
    page.wait_for_url("**/admin/calendars/*")
    for day in ("mon", "tue", "wed", "thu", "fri"):
        page.fill(f"input[name={day}_0_end]", "13:00")
        page.fill(f"input[name={day}_1_start]", "14:00")
        page.fill(f"input[name={day}_1_end]", "18:00")
    page.fill("input[name=sat_0_start]", "09:00")
    page.fill("input[name=sat_0_end]", "13:00")
    page.click("#calendar-form button[type=submit]")
    page.wait_for_selector(".alert-ok")
    page.fill("#closures input[name=start]", "2026-08-10")
    page.fill("#closures input[name=end]", "2026-08-21")
    page.click("#closures form.row-form button[type=submit]")
    page.wait_for_selector("#closures li:has-text('10/08/2026–21/08/2026')")
    page.fill("#closures input[name=start]", "2026-08-20")  # overlaps: refused beside the form
    page.fill("#closures input[name=end]", "2026-08-24")
    page.click("#closures form.row-form button[type=submit]")
    page.wait_for_selector("#closures .field-error:has-text('si sovrappongono')")
    with db.session() as s:
        calendar_id = s.scalar(select(BusinessCalendarRow.id))
    page.goto(f"/admin/calendars/{calendar_id}?year=2026")
    assert page.is_visible(
        "#holidays td:has-text('Ferragosto'), #holidays td:has-text('Assunzione')"
    )
    shot(page, "admin-calendar.png", 1180)
    with db.session() as s:
        calendar = s.scalar(select(BusinessCalendarRow))
        assert calendar.config["weekly"]["mon"] == [["09:00", "13:00"], ["14:00", "18:00"]]
        assert calendar.config["weekly"]["sat"] == [["09:00", "13:00"]]
        assert len(calendar.config["closures"]) == 1

    # A queue in push mode: refused without members, then saved with members and skills.
    page.goto("/admin/queues")
    page.fill("form[action='/admin/queues'] input[name=name]", "Resi e rimborsi")
    page.click("form[action='/admin/queues'] button[type=submit]")
    page.wait_for_url("**/admin/queues/*")
    page.check("input[name=mode][value=push]")
    page.fill("input[name=offer_timeout_seconds]", "30")
    page.click("#queue-settings button[type=submit]")
    page.wait_for_selector("#err-member_ids")
    assert "aggiungi almeno un membro" in page.inner_text("#err-member_ids")
    page.check(f"input[name=member_ids][value='{people['Chiara Greco']}']")
    page.check(f"input[name=member_ids][value='{people['Davide Russo']}']")
    page.select_option(f"select[name=skill_{skill_ids['Resi']}]", "3")
    page.select_option("select[name=calendar_id]", label="Orari negozio")
    page.click("#queue-settings button[type=submit]")
    page.wait_for_selector(".alert-ok")
    shot(page, "admin-queue.png", 1400)
    with db.session() as s:
        queue = s.scalar(select(Queue).where(Queue.name == "Resi e rimborsi"))
        routing = s.get(QueueRouting, queue.id)
        assert (routing.mode, routing.offer_timeout_seconds, routing.calendar_id) == (
            "push",
            30,
            calendar.id,
        )
        assert len(list(s.scalars(select(QueueMember)))) == 2
        assert s.get(QueueSkill, (queue.id, skill_ids["Resi"])).min_level == 3

    # An SLA policy: a target of 0 is refused beside its field, then the policy is created.
    page.goto("/admin/sla")
    page.fill("#policy-form input[name=name]", "Resi urgenti")
    page.select_option("#policy-form select[name=queue_id]", label="Resi e rimborsi")
    page.select_option("#policy-form select[name=priority]", "urgent")
    page.fill("#policy-form input[name=first_response]", "0")
    page.evaluate("document.querySelector('#policy-form').noValidate = true")
    page.click("#policy-form button[type=submit]")
    page.wait_for_selector("#err-first_response_seconds")
    page.fill("#policy-form input[name=first_response]", "30")
    page.fill("#policy-form input[name=next_response]", "15")
    page.fill("#policy-form input[name=resolution]", "4")
    page.select_option("#policy-form select[name=resolution_unit]", "hours")
    page.select_option("#policy-form select[name=calendar_id]", label="Orari negozio")
    page.click("#policy-form button[type=submit]")
    page.wait_for_selector("#policies a:has-text('Resi urgenti')")
    shot(page, "admin-sla.png", 1100)
    with db.session() as s:
        policy = s.scalar(select(SlaPolicy))
        assert (policy.first_response_seconds, policy.resolution_seconds) == (1800, 14400)
        assert policy.next_response_seconds == 900
        assert (policy.queue_id, policy.calendar_id) == (queue.id, calendar.id)

    # Capacity as a table, and pause reasons.
    page.goto("/admin/capacity")
    chiara = people["Chiara Greco"]
    page.fill(f"input[form=agent-{chiara}][name=chat]", "2")
    page.click(f"#agent-{chiara} button[type=submit]")
    page.wait_for_selector(f"input[form=agent-{chiara}][name=chat][value='2']")
    shot(page, "admin-capacity.png")
    page.goto("/admin/pause-reasons")
    for reason in ("Pranzo", "Formazione"):
        page.fill("input[name=name]", reason)
        page.click("form.row-form button[type=submit]")
        page.wait_for_selector(f"#pause-reasons td:has-text('{reason}')")

    # The same pages in English.
    en = new_page(english, locale="en-US")
    en.goto(f"/admin/queues/{queue.id}")
    assert en.is_visible("text=Offer (accept within a time limit)")
    shot(en, "admin-queue-en.png", 1400)
    en.goto("/admin/sla")
    assert en.is_visible("text=Urgent")
    shot(en, "admin-sla-en.png", 1100)
    en.goto("/admin/skills")
    assert en.is_visible("text=Skills matrix")
    # The refused tries above are 422 pages; nothing else went wrong in the console.
    assert all("422" in e for e in console.errors), console.errors
