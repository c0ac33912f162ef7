"""Report pages, the REST endpoints, exports and scoping by role."""

from __future__ import annotations

import io

from sportello.conversations.models import Status
from tests.api.helpers import assert_problem, make_token
from tests.factories import csrf_from, inbound, login, receive
from tests.reports.world import assign, contact, drain, reply, status


def _world(db, personas):
    """Sara answers two conversations in her queue (Assistenza), Luca one in Vendite."""
    a1 = contact(db, personas.api_channel, "mario@example.it")
    assign(db, a1, personas.sara)
    reply(db, a1, personas.sara)
    status(db, a1, Status.RESOLVED)
    a2 = contact(db, personas.api_channel, "anna@example.it")
    assign(db, a2, personas.sara)
    reply(db, a2, personas.sara)
    v1 = receive(
        db, personas.webform, inbound("Preventivo", email="ditta@example.it")
    ).conversation_id
    assign(db, v1, personas.luca)
    reply(db, v1, personas.luca)
    status(db, v1, Status.RESOLVED)
    drain(db)
    return a1, a2, v1


def test_the_overview_renders_charts_and_links_every_number(db, client, personas):
    _world(db, personas)
    login(client, personas.admin)
    page = client.get("/reports")
    assert page.status_code == 200, page.text
    assert page.text.count("<svg") >= 7
    assert 'href="/reports/conversations?' in page.text
    assert "Volume" in page.text or "Volume" in page.text
    drill = client.get("/reports/conversations?metric=resolved")
    assert drill.status_code == 200
    assert drill.text.count('href="/c/') == 4  # two resolved, number and subject links
    by_agent = client.get("/reports?group=agent&interval=week")
    assert by_agent.status_code == 200 and "Sara Conti" in by_agent.text


def test_bad_filters_are_a_clear_error(db, client, personas):
    login(client, personas.admin)
    page = client.get("/reports?start=ieri")
    assert page.status_code == 422
    assert "data" in page.text.lower()
    token = make_token(db, personas.admin)
    api = client.get(
        "/api/v1/reports/kpis?interval=year", headers={"Authorization": f"Bearer {token}"}
    )
    assert_problem(api, 422)


def test_rest_endpoints_and_exports(db, client, personas):
    _world(db, personas)
    token = make_token(db, personas.admin, scopes=("read",))
    h = {"Authorization": f"Bearer {token}"}
    body = client.get("/api/v1/reports/kpis?group=queue", headers=h).json()
    assert body["totals"]["kpis"]["volume"] == 3
    assert {r["label"] for r in body["rows"]} == {"Assistenza clienti", "Vendite"}
    for path in ("heatmap", "agents", "scores", "backlog", "definitions", "wallboard"):
        assert client.get(f"/api/v1/reports/{path}", headers=h).status_code == 200, path
    assert sum(map(sum, client.get("/api/v1/reports/heatmap", headers=h).json()["grid"])) == 3
    assert client.get("/api/v1/reports/backlog", headers=h).json()["backlog"] == 1
    rows = client.get("/api/v1/reports/conversations?metric=answered", headers=h).json()
    assert len(rows) == 3
    csv = client.get("/api/v1/reports/kpis?format=csv", headers=h)
    assert csv.headers["content-type"].startswith("text/csv")
    lines = csv.text.strip().splitlines()
    assert len(lines) == 3  # header, today, total
    xlsx = client.get("/api/v1/reports/kpis?format=xlsx", headers=h)
    from openpyxl import load_workbook

    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    assert sheet.max_row == 3 and sheet.cell(3, 3).value == 3  # the total volume
    # read-only tokens cannot rebuild; admins can
    assert_problem(client.post("/api/v1/reports/rebuild", headers=h), 403)
    admin = {"Authorization": f"Bearer {make_token(db, personas.admin, scopes=('admin',))}"}
    assert client.post("/api/v1/reports/rebuild", headers=admin).json() == {"conversations": 3}


def test_kpi_definitions_speak_the_language_asked(db, client, personas):
    """Integrations get the source (English); Accept-Language: it gets the Italian catalogue."""
    h = {"Authorization": f"Bearer {make_token(db, personas.admin, scopes=('read',))}"}
    english = {d["key"]: d for d in client.get("/api/v1/reports/definitions", headers=h).json()}
    italian = {
        d["key"]: d
        for d in client.get(
            "/api/v1/reports/definitions", headers={**h, "Accept-Language": "it-IT,it;q=0.9"}
        ).json()
    }
    assert english.keys() == italian.keys() and "service_level" in english
    assert english["service_level"]["label"] == "Service level"
    assert italian["service_level"]["label"] == "Livello di servizio"
    assert all(italian[k]["definition"] != english[k]["definition"] for k in english)


def test_agents_see_their_own_figures_supervisors_their_teams(db, client, personas):
    _world(db, personas)
    sara = {"Authorization": f"Bearer {make_token(db, personas.sara)}"}
    mine = client.get("/api/v1/reports/kpis", headers=sara).json()["totals"]["kpis"]
    assert mine["answered"] == 2 and mine["resolved"] == 1
    luca_rows = client.get(
        f"/api/v1/reports/conversations?metric=answered&agent_id={personas.luca.id}", headers=sara
    ).json()
    assert luca_rows == []
    assert_problem(client.get("/api/v1/reports/wallboard", headers=sara), 403)
    # a supervisor of the Vendite team sees Vendite only
    from sportello.accounts import actions as accounts_actions
    from sportello.accounts.models import Team, User

    with db.transaction() as s:
        team = s.get_one(Team, personas.vendite.id)
        sup = s.get_one(User, personas.supervisor.id)
        accounts_actions.do_update_team(s, team=team, name=team.name, members=[*team.members, sup])
    boss = {"Authorization": f"Bearer {make_token(db, personas.supervisor)}"}
    theirs = client.get("/api/v1/reports/kpis?group=queue", headers=boss).json()
    assert [r["label"] for r in theirs["rows"]] == ["Vendite"]
    board = client.get("/api/v1/reports/wallboard", headers=boss).json()
    assert [q["name"] for q in board["queues"]] == ["Vendite"]
    assert {a["name"] for a in board["agents"]} <= {"Luca Ferri", "Marco Rossi"}
    # everything for the admin
    login(client, personas.admin)
    assert client.get("/api/v1/reports/kpis").json()["totals"]["kpis"]["volume"] == 3


def test_settings_validate_and_save(db, client, personas):
    login(client, personas.admin)
    page = client.get("/reports/settings")
    token = csrf_from(page.text)
    form = {
        "csrf_token": token,
        "sl_seconds": "60",
        "short_abandon_seconds": "15",
        "short_abandons": "include",
        "fcr_days": "3",
        "sl_warning": "85",
        "sl_critical": "90",
        "wait_warning": "60",
        "wait_critical": "180",
    }
    bad = client.post("/reports/settings", data=form)
    assert bad.status_code == 422 and 'role="alert"' in bad.text
    form["sl_critical"] = "70"
    ok = client.post("/reports/settings", data=form)
    assert ok.status_code == 200, ok.text
    api = client.get("/api/v1/reports/kpis").json()
    assert api["filters"]["start"]
    from sportello.reports import service

    with db.session() as s:
        cfg = service.config(s)
    assert (cfg.sl_seconds, cfg.short_abandons, cfg.fcr_days, cfg.sl_critical) == (
        60,
        "include",
        3,
        0.7,
    )
    assert cfg.weekly_email is False  # unchecked box


def test_wallboard_page_and_console_panel(db, client, personas):
    _world(db, personas)
    login(client, personas.supervisor)
    page = client.get("/wallboard")
    assert page.status_code == 200
    assert 'id="wb-initial"' in page.text and "reports-wallboard.js" in page.text
    panel = client.get("/reports/live-panel")
    assert panel.status_code == 200 and "Assistenza clienti" in panel.text
    inbox = client.get("/inbox/mine")
    assert 'hx-get="/reports/live-panel"' in inbox.text
    login(client, personas.sara)
    assert client.get("/wallboard").status_code == 403
    assert 'hx-get="/reports/live-panel"' not in client.get("/inbox/mine").text


def test_a_heatmap_cell_drills_to_its_conversations(db, client, personas):
    """Three conversations moved to hand-chosen instants: two on Wednesdays 10:xx in Rome
    (one in winter time, one in summer time), one on a Wednesday at 11:05. The 10:00 cell of
    Wednesday holds the first two, its link on the page leads to them."""
    from datetime import UTC, datetime

    from sqlalchemy import update

    from sportello.conversations.models import Conversation, Message
    from tests.reports.world import refresh_all

    winter = datetime(2026, 3, 18, 9, 20, tzinfo=UTC)  # Wed 10:20 CET
    summer = datetime(2026, 4, 1, 8, 50, tzinfo=UTC)  # Wed 10:50 CEST (after the DST change)
    later = datetime(2026, 4, 1, 9, 5, tzinfo=UTC)  # Wed 11:05 CEST
    ids = []
    for email, at in (("a@example.it", winter), ("b@example.it", summer), ("c@example.it", later)):
        cid = contact(db, personas.api_channel, email)
        with db.transaction() as s:
            s.execute(update(Conversation).where(Conversation.id == cid).values(created_at=at))
            s.execute(update(Message).where(Message.conversation_id == cid).values(created_at=at))
        ids.append(cid)
    drain(db)
    refresh_all(db)
    token = make_token(db, personas.admin, scopes=("read",))
    h = {"Authorization": f"Bearer {token}"}
    span = "start=2026-03-16&end=2026-04-05"
    grid = client.get(f"/api/v1/reports/heatmap?{span}", headers=h).json()["grid"]
    assert grid[2][10] == 2 and grid[2][11] == 1 and sum(map(sum, grid)) == 3
    cell = client.get(
        f"/api/v1/reports/conversations?{span}&metric=volume&weekday=2&hour=10", headers=h
    ).json()
    assert sorted(r["id"] for r in cell) == sorted(ids[:2])
    other = client.get(
        f"/api/v1/reports/conversations?{span}&metric=volume&weekday=2&hour=11", headers=h
    ).json()
    assert [r["id"] for r in other] == [ids[2]]
    assert_problem(
        client.get("/api/v1/reports/conversations?metric=volume&weekday=9&hour=1", headers=h),
        422,
    )
    login(client, personas.admin)
    page = client.get(f"/reports?{span}")
    link = "/reports/conversations?start=2026-03-16&amp;end=2026-04-05&amp;interval=day"
    assert link in page.text and "weekday=2&amp;hour=10" in page.text
    drill = client.get(f"/reports/conversations?{span}&metric=volume&weekday=2&hour=10")
    assert drill.status_code == 200 and drill.text.count('href="/c/') == 4


def test_the_rebuild_from_the_settings_page_and_the_api_commits_chunk_by_chunk(
    db, client, personas, monkeypatch
):
    """Not one long transaction: each chunk of conversations is committed before the next one
    starts (another connection sees the facts of the chunks before), and the result is the
    aggregates the upkeep kept."""
    from sqlalchemy import func, select

    from sportello.reports import actions, upkeep
    from sportello.reports.models import ReportFact
    from tests.reports.world import interval_rows

    _world(db, personas)
    contact(db, personas.api_channel, "gino@example.it")
    drain(db)
    kept = interval_rows(db)
    assert kept
    monkeypatch.setattr(actions, "REBUILD_BATCH", 1)
    seen: list[int] = []
    real = upkeep.refresh_conversations

    def spy(session, ids):
        with db.session() as other:  # another connection: only what was committed
            seen.append(other.scalar(select(func.count()).select_from(ReportFact)))
        return real(session, ids)

    monkeypatch.setattr(upkeep, "refresh_conversations", spy)
    login(client, personas.admin)
    token = csrf_from(client.get("/reports/settings").text)
    page = client.post("/reports/rebuild", data={"csrf_token": token}, follow_redirects=False)
    assert page.status_code == 303, page.text
    assert seen == [0, 1, 2, 3]  # four chunks, each committed before the next
    assert interval_rows(db) == kept
    seen.clear()
    admin = {"Authorization": f"Bearer {make_token(db, personas.admin, scopes=('admin',))}"}
    assert client.post("/api/v1/reports/rebuild", headers=admin).json() == {"conversations": 4}
    assert seen == [0, 1, 2, 3]
    assert interval_rows(db) == kept
