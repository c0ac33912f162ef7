"""The workforce pages through HTTP: roles, forms, exports."""

from __future__ import annotations

from datetime import date, timedelta

from sportello.core.db import utcnow
from sportello.workforce import service
from tests.factories import csrf_from, login
from tests.workforce.world import history_on_webform


def _post(client, url: str, data: dict, page: str = "/wfm"):  # type: ignore[no-untyped-def]
    token = csrf_from(client.get(page).text)
    return client.post(url, data={**data, "csrf_token": token}, follow_redirects=False)


def test_agents_cannot_plan_but_see_their_shifts(client, personas) -> None:  # type: ignore[no-untyped-def]
    login(client, personas.sara)
    assert client.get("/wfm").status_code == 403
    assert client.get("/wfm/schedules").status_code == 403
    assert client.get("/wfm/adherence").status_code == 403
    page = client.get("/wfm/my-shifts")
    assert page.status_code == 200
    assert "I miei turni" in page.text  # Sara reads Italian
    assert 'id="nav-wfm"' not in page.text and 'id="nav-wfm-my-shifts"' in page.text


def test_plan_a_week_end_to_end(client, db, personas) -> None:  # type: ignore[no-untyped-def]
    now = utcnow()
    history_on_webform(db, personas, days=28, now=now)
    login(client, personas.supervisor)
    empty = client.get("/wfm")
    assert empty.status_code == 200 and 'id="wfm-run-forecast"' in empty.text

    r = _post(client, "/wfm/forecast", {"horizon_days": "14", "interval": "15"})
    assert r.status_code == 303, r.text
    page = client.get("/wfm")
    assert "wfm-backtest" in page.text and "Vendite" in page.text
    assert "&#34;channel&#34;: &#34;email&#34;" in page.text  # chart data for the email channel

    # a bad target is refused with a translated message, nothing saved
    bad = _post(
        client,
        f"/wfm/plans/{personas.queue_vendite.id}/email",
        {"service_level_target": "3", "answer_within_seconds": "3600", "shrinkage": "0.3",
         "max_occupancy": "0.85"},
    )  # fmt: skip
    assert bad.status_code == 422 and "Enter a number between 0.01 and 0.999" in bad.text

    # set-up: a template and two contracts
    r = _post(
        client, "/wfm/templates",
        {"name": "Giornata", "start": "09:00", "end": "18:00", "break_minutes": "15",
         "lunch_minutes": "60"},
        "/wfm/setup",
    )  # fmt: skip
    assert r.status_code == 303
    wrong = _post(
        client, "/wfm/templates",
        {"name": "Notte", "start": "22:00", "end": "06:00"}, "/wfm/setup",
    )  # fmt: skip
    assert wrong.status_code == 422 and "The shift must end after it starts" in wrong.text
    for agent in (personas.sara, personas.luca):
        r = _post(
            client, f"/wfm/contracts/{agent.id}",
            {"hours_per_week": "40", "days_per_week": "5", "days_off": ["5", "6"],
             "channels": ["email"]},
            "/wfm/setup",
        )  # fmt: skip
        assert r.status_code == 303, r.text
    setup = client.get("/wfm/setup")
    assert setup.text.count("Save contract") == 2

    monday = service.local_midnight(now.astimezone(service.TZ).date()).astimezone(service.TZ)
    start = monday.date() - timedelta(days=monday.weekday()) + timedelta(days=7)
    r = _post(
        client, "/wfm/schedules", {"starts_on": start.isoformat(), "days": "7"}, "/wfm/schedules"
    )
    assert r.status_code == 303, r.text
    url = r.headers["location"]
    schedule_page = client.get(url)
    assert schedule_page.status_code == 200 and "wfm-roster" in schedule_page.text
    schedule_id = int(url.rsplit("/", 1)[1])

    # the agent sees nothing until it is published
    csv_draft = client.get(f"/wfm/schedules/{schedule_id}/export.csv")
    assert csv_draft.status_code == 200 and csv_draft.text.startswith("agent,email,date")
    rows = csv_draft.text.strip().splitlines()[1:]
    assert rows and all(",email," in row for row in rows)

    # edit by hand: add a Saturday shift for Sara (htmx), then publish
    with db.session() as s:
        template_id = service.get_templates(s, personas.brand_id)[0].id
    saturday = start + timedelta(days=5)
    token = csrf_from(schedule_page.text)
    frag = client.post(
        f"/wfm/schedules/{schedule_id}/shifts",
        data={"user_id": personas.sara.id, "day": saturday.isoformat(),
              "template_id": template_id, "channel_class": "email", "csrf_token": token},
        headers={"HX-Request": "true"},
    )  # fmt: skip
    assert frag.status_code == 200 and "wfm-roster" in frag.text and "<html" not in frag.text
    again = client.post(
        f"/wfm/schedules/{schedule_id}/shifts",
        data={"user_id": personas.sara.id, "day": saturday.isoformat(),
              "template_id": template_id, "channel_class": "email", "csrf_token": token},
        headers={"HX-Request": "true"},
    )  # fmt: skip
    assert again.status_code == 422 and "already has a shift that day" in again.text
    r = client.post(
        f"/wfm/schedules/{schedule_id}/publish", data={"csrf_token": token}, follow_redirects=False
    )
    assert r.status_code == 303

    client.cookies.clear()
    login(client, personas.sara)
    mine = client.get("/wfm/my-shifts")
    assert "wfm-shift" in mine.text
    ical = client.get("/wfm/my-shifts.ics")
    assert ical.status_code == 200 and ical.headers["content-type"].startswith("text/calendar")
    assert b"BEGIN:VEVENT" in ical.content
    from icalendar import Calendar

    events = Calendar.from_ical(ical.content).walk("VEVENT")
    assert any(e.decoded("dtstart").date() == saturday for e in events)


def test_erlang_calculator_and_adherence_pages(client, personas) -> None:  # type: ignore[no-untyped-def]
    login(client, personas.supervisor)
    frag = client.get("/wfm/erlang", params={"calls": "100", "aht": "180", "interval": "1800"})
    assert (
        frag.status_code == 200
        and "wfm-erlang-result" in frag.text
        and "<strong>14</strong>" in frag.text
    )
    unstable = client.get(
        "/wfm/erlang", params={"calls": "100", "aht": "180", "interval": "1800", "agents": "12",
                               "shrinkage": "0.3"},
    )  # fmt: skip
    assert "Unstable queue" in unstable.text
    page = client.get("/wfm/adherence", params={"day": date.today().isoformat()})
    assert page.status_code == 200 and "wfm-whatif" in page.text
