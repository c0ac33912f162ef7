"""Admin pages of the routing settings: each setting saved, bad input refused with a translated
reason beside the field (nothing lost), supervisors look, agents are turned away."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from sportello.accounts.models import User
from sportello.routing import presence, skills, sla
from sportello.routing.models import (
    AgentSkill,
    AgentState,
    BusinessCalendarRow,
    PauseReason,
    Queue,
    QueueMember,
    QueueRouting,
    QueueSkill,
    Skill,
    SlaPolicy,
    TeamRouting,
)
from tests.factories import csrf_from, login

PAGES = [
    "/admin/skills",
    "/admin/capacity",
    "/admin/pause-reasons",
    "/admin/calendars",
    "/admin/sla",
]


def _token(client, url: str = "/admin/skills") -> str:
    return csrf_from(client.get(url).text)


def _skill(db, personas, name: str) -> int:
    with db.transaction() as s:
        return skills.do_create_skill(s, brand_id=personas.brand_id, name=name).id


@pytest.mark.parametrize("url", PAGES)
def test_supervisors_look_agents_are_turned_away(client, personas, url):
    login(client, personas.supervisor)
    page = client.get(url)
    assert page.status_code == 200
    assert "only administrators can change" in page.text  # the supervisor's English
    client.cookies.clear()
    login(client, personas.sara)
    assert client.get(url).status_code == 403


def test_supervisor_cannot_change(client, personas, db):
    login(client, personas.supervisor)
    token = _token(client)
    assert (
        client.post("/admin/skills", data={"name": "Resi", "csrf_token": token}).status_code == 403
    )
    with db.session() as s:
        assert s.scalar(select(Skill)) is None


def test_admin_creates_renames_and_deletes_skills(client, personas, db):
    login(client, personas.admin)
    token = _token(client)
    response = client.post(
        "/admin/skills", data={"name": "  Resi  ", "csrf_token": token}, follow_redirects=False
    )
    assert response.status_code == 303
    with db.session() as s:
        skill = s.scalar(select(Skill).where(Skill.name == "Resi"))
    page = client.post("/admin/skills", data={"name": "Resi", "csrf_token": token})
    assert page.status_code == 422
    assert "esiste già una competenza chiamata Resi" in page.text
    empty = client.post("/admin/skills", data={"name": "  ", "csrf_token": token})
    assert empty.status_code == 422 and "una competenza deve avere un nome" in empty.text
    client.post(f"/admin/skills/{skill.id}", data={"name": "Resi e rimborsi", "csrf_token": token})
    with db.session() as s:
        assert s.get(Skill, skill.id).name == "Resi e rimborsi"
    client.post(f"/admin/skills/{skill.id}/delete", data={"csrf_token": token})
    with db.session() as s:
        assert s.get(Skill, skill.id) is None


def test_deleting_a_skill_in_use_says_which_queues_use_it(client, personas, db):
    skill_id = _skill(db, personas, "Inglese")
    with db.transaction() as s:
        skills.do_set_queue_skill(
            s,
            queue=s.get_one(Queue, personas.queue_vendite.id),
            skill=s.get_one(Skill, skill_id),
            min_level=2,
        )
    login(client, personas.admin)
    token = _token(client)
    page = client.post(f"/admin/skills/{skill_id}/delete", data={"csrf_token": token})
    assert page.status_code == 422
    assert "La competenza Inglese è richiesta da queste code: Vendite" in page.text
    with db.session() as s:
        assert s.get(Skill, skill_id) is not None
    forced = client.post(
        f"/admin/skills/{skill_id}/delete",
        data={"csrf_token": token, "force": "1"},
        follow_redirects=False,
    )
    assert forced.status_code == 303
    with db.session() as s:
        assert s.get(Skill, skill_id) is None and s.scalar(select(QueueSkill)) is None


def test_matrix_cell_saves_in_place(client, personas, db):
    skill_id = _skill(db, personas, "Spedizioni")
    login(client, personas.admin)
    page = client.get("/admin/skills")
    assert f'hx-post="/admin/skills/matrix/{personas.sara.id}/{skill_id}"' in page.text
    token = csrf_from(page.text)
    url = f"/admin/skills/matrix/{personas.sara.id}/{skill_id}"
    cell = client.post(
        url, data={"level": "4"}, headers={"X-CSRF-Token": token, "HX-Request": "true"}
    )
    assert cell.status_code == 200 and "is-saved" in cell.text
    assert '<option value="4" selected>' in cell.text
    with db.session() as s:
        assert s.get(AgentSkill, (personas.sara.id, skill_id)).level == 4
    bad = client.post(
        url, data={"level": "9"}, headers={"X-CSRF-Token": token, "HX-Request": "true"}
    )
    assert "is-invalid" in bad.text and "un livello è un numero intero da 1 a 5" in bad.text
    with db.session() as s:
        assert s.get(AgentSkill, (personas.sara.id, skill_id)).level == 4
    client.post(url, data={"level": ""}, headers={"X-CSRF-Token": token, "HX-Request": "true"})
    with db.session() as s:
        assert s.get(AgentSkill, (personas.sara.id, skill_id)) is None


def test_queue_settings_saved(client, personas, db):
    skill_id = _skill(db, personas, "Resi")
    queue = personas.queue_assistenza
    login(client, personas.admin)
    page = client.get(f"/admin/queues/{queue.id}")
    assert page.status_code == 200 and "Offerta (accettare entro un tempo limite)" in page.text
    response = client.post(
        f"/admin/queues/{queue.id}/routing",
        data={
            "csrf_token": csrf_from(page.text),
            "mode": "push",
            "offer_timeout_seconds": "30",
            "overflow_queue_id": str(personas.queue_vendite.id),
            "overflow_after_minutes": "5",
            "calendar_id": "",
            "member_ids": [str(personas.luca.id)],
            f"skill_{skill_id}": "3",
        },
        follow_redirects=False,
    )
    assert response.status_code == 303
    with db.session() as s:
        routing = s.get(QueueRouting, queue.id)
        assert (routing.mode, routing.offer_timeout_seconds) == ("push", 30)
        assert (routing.overflow_queue_id, routing.overflow_after_seconds) == (
            personas.queue_vendite.id,
            300,
        )
        assert [m.user_id for m in s.scalars(select(QueueMember))] == [personas.luca.id]
        assert s.get(QueueSkill, (queue.id, skill_id)).min_level == 3


def test_push_queue_without_members_is_refused_beside_the_field(client, personas, db):
    with db.transaction() as s:
        lonely = Queue(brand_id=personas.brand_id, name="Senza nessuno")
        s.add(lonely)
        s.flush()
        queue_id = lonely.id
    login(client, personas.admin)
    token = _token(client, f"/admin/queues/{queue_id}")
    page = client.post(
        f"/admin/queues/{queue_id}/routing",
        data={"csrf_token": token, "mode": "push", "offer_timeout_seconds": "45"},
    )
    assert page.status_code == 422
    assert 'id="err-member_ids"' in page.text and "aggiungi almeno un membro" in page.text
    assert 'value="45"' in page.text  # what was typed is kept
    with db.session() as s:
        assert s.get(QueueRouting, queue_id) is None
    too_short = client.post(
        f"/admin/queues/{queue_id}/routing",
        data={
            "csrf_token": token,
            "mode": "auto",
            "offer_timeout_seconds": "2",
            "member_ids": [str(personas.sara.id)],
        },
    )
    assert too_short.status_code == 422 and 'id="err-offer_timeout_seconds"' in too_short.text


def test_delete_queue_in_use_is_refused_with_the_reason(client, personas, db):
    queue = personas.queue_vendite  # the web form delivers here
    login(client, personas.admin)
    token = _token(client, f"/admin/queues/{queue.id}")
    page = client.post(f"/admin/queues/{queue.id}/delete", data={"csrf_token": token})
    assert page.status_code == 422
    assert "riceve da 1 canale" in page.text
    moved = client.post(
        f"/admin/queues/{queue.id}/delete",
        data={"csrf_token": token, "move_to": str(personas.queue_assistenza.id)},
        follow_redirects=False,
    )
    assert moved.status_code == 303
    with db.session() as s:
        assert s.get(Queue, queue.id) is None


def test_capacity_table(client, personas, db):
    login(client, personas.admin)
    page = client.get("/admin/capacity")
    assert "Chiamate" in page.text and "{" not in page.text.split("<main", 1)[1].split("</main>")[0]
    token = csrf_from(page.text)
    client.post(
        f"/admin/capacity/teams/{personas.assistenza.id}",
        data={"csrf_token": token, "voice": "1", "chat": "3", "email": "10", "messaging": ""},
    )
    client.post(
        f"/admin/capacity/agents/{personas.sara.id}", data={"csrf_token": token, "chat": "5"}
    )
    with db.session() as s:
        assert s.get(TeamRouting, personas.assistenza.id).capacity == {
            "voice": 1,
            "chat": 3,
            "email": 10,
        }
        assert s.get(AgentState, personas.sara.id).capacity == {"chat": 5}
    with db.transaction() as s:
        reason = presence.do_create_pause_reason(s, brand_id=personas.brand_id, name="Pranzo")
        presence.do_set_presence(
            s, user=s.get_one(User, personas.sara.id), presence="break", reason_id=reason.id
        )
    assert "In pausa · Pranzo" in client.get("/admin/capacity").text
    bad = client.post(
        f"/admin/capacity/agents/{personas.sara.id}", data={"csrf_token": token, "chat": "-1"}
    )
    assert bad.status_code == 422 and "numero intero da 0 a 1000" in bad.text
    with db.session() as s:
        assert s.get(AgentState, personas.sara.id).capacity == {"chat": 5}


def test_pause_reasons(client, personas, db):
    login(client, personas.admin)
    token = _token(client, "/admin/pause-reasons")
    client.post("/admin/pause-reasons", data={"csrf_token": token, "name": "Pranzo"})
    with db.session() as s:
        reason = s.scalar(select(PauseReason))
        assert reason.name == "Pranzo" and reason.is_active
    client.post(f"/admin/pause-reasons/{reason.id}/retire", data={"csrf_token": token})
    with db.session() as s:
        assert presence.pause_reasons(s) == []
    page = client.get("/admin/pause-reasons")
    assert "Ritirato" in page.text
    empty = client.post("/admin/pause-reasons", data={"csrf_token": token, "name": " "})
    assert empty.status_code == 422 and "un motivo di pausa deve avere un nome" in empty.text


def _week(**days: list[tuple[str, str]]) -> dict[str, str]:
    data = {}
    for day, ranges in days.items():
        for n, (start, end) in enumerate(ranges):
            data[f"{day}_{n}_start"], data[f"{day}_{n}_end"] = start, end
    return data


def test_calendar_grid_holidays_closures_and_teams(client, personas, db):
    login(client, personas.admin)
    token = _token(client, "/admin/calendars")
    created = client.post(
        "/admin/calendars",
        data={"csrf_token": token, "name": "Orari negozio"},
        follow_redirects=False,
    )
    url = created.headers["location"]
    page = client.get(url + "?year=2026")
    assert "Assunzione della Beata Vergine Maria" in page.text and "15/08" in page.text
    assert "Festa della Repubblica" in page.text and "02/06" in page.text
    assert "Sant&#39;Ambrogio" not in page.text  # Milan's patron saint, not chosen yet
    saved = client.post(
        url,
        data={
            "csrf_token": token,
            "name": "Orari negozio",
            "country_holidays": "1",
            "subdiv": "MI",
            **_week(
                mon=[("09:00", "13:00"), ("14:00", "18:00")],
                fri=[("09:00", "18:00")],
                sat=[("09:00", "13:00")],
            ),
        },
        follow_redirects=False,
    )
    assert saved.status_code == 303
    with db.session() as s:
        row = s.scalar(select(BusinessCalendarRow))
        assert row.config["weekly"]["mon"] == [["09:00", "13:00"], ["14:00", "18:00"]]
        assert row.config["subdiv"] == "MI"
    assert "Sant&#39;Ambrogio" in client.get(url + "?year=2026").text
    overlap = client.post(
        url,
        data={
            "csrf_token": token,
            "name": "Orari negozio",
            **_week(mon=[("09:00", "13:00"), ("12:00", "18:00")]),
        },
    )
    assert overlap.status_code == 422 and 'id="err-config"' in overlap.text
    client.post(
        url + "/closures", data={"csrf_token": token, "start": "2026-08-10", "end": "2026-08-21"}
    )
    refused = client.post(
        url + "/closures", data={"csrf_token": token, "start": "2026-08-20", "end": "2026-08-25"}
    )
    assert refused.status_code == 422
    assert (
        "le chiusure 10/08/2026–21/08/2026 e 20/08/2026–25/08/2026 si sovrappongono" in refused.text
    )
    with db.session() as s:
        assert len(s.get(BusinessCalendarRow, row.id).config["closures"]) == 1
    client.post(
        "/admin/calendars/teams",
        data={"csrf_token": token, f"team_{personas.assistenza.id}": str(row.id)},
    )
    with db.session() as s:
        assert s.get(TeamRouting, personas.assistenza.id).calendar_id == row.id
        calendar = sla.calendar_for(s, personas.queue_assistenza.id)
        assert len(calendar.closures) == 1


def test_sla_policy_created_and_bad_targets_refused(client, personas, db):
    login(client, personas.admin)
    token = _token(client, "/admin/sla")
    base = {
        "csrf_token": token,
        "name": "Chat urgenti",
        "priority": "urgent",
        "channel_id": str(personas.api_channel.id),
        "first_response": "5",
        "first_response_unit": "minutes",
        "next_response": "10",
        "next_response_unit": "minutes",
        "resolution": "4",
        "resolution_unit": "hours",
        "warning_percent": "75",
        "escalate_priority": "1",
        "notify_supervisor": "1",
    }
    zero = client.post("/admin/sla", data={**base, "first_response": "0"})
    assert zero.status_code == 422 and 'id="err-first_response_seconds"' in zero.text
    assert "un obiettivo SLA è un numero positivo" in zero.text
    assert 'value="Chat urgenti"' in zero.text
    response = client.post("/admin/sla", data=base, follow_redirects=False)
    assert response.status_code == 303
    with db.session() as s:
        policy = s.scalar(select(SlaPolicy))
        assert (policy.first_response_seconds, policy.resolution_seconds) == (300, 14400)
        assert policy.next_response_seconds == 600
        assert (policy.priority, policy.channel_id, policy.warning_fraction) == (
            "urgent",
            personas.api_channel.id,
            0.75,
        )
    listing = client.get("/admin/sla")
    assert "5 min" in listing.text and "4 h" in listing.text and "Urgente" in listing.text
    client.post(f"/admin/sla/{policy.id}/retire", data={"csrf_token": token})
    with db.session() as s:
        assert not s.get(SlaPolicy, policy.id).is_active


def test_calendar_hours_are_read_as_times_not_text(client, personas, db):
    login(client, personas.admin)
    token = _token(client, "/admin/calendars")
    url = client.post(
        "/admin/calendars", data={"csrf_token": token, "name": "Turni"}, follow_redirects=False
    ).headers["location"]
    saved = client.post(
        url,
        data={
            "csrf_token": token,
            "name": "Turni",
            **_week(mon=[("9:00", "13:00"), ("22:00", "24:00")]),
        },
        follow_redirects=False,
    )
    assert saved.status_code == 303
    with db.session() as s:
        row = s.scalar(select(BusinessCalendarRow))
        assert row.config["weekly"]["mon"] == [["09:00", "13:00"], ["22:00", "24:00"]]
    for start, end in (("13:00", "9:00"), ("nove", "13:00"), ("09:00", "")):
        page = client.post(
            url, data={"csrf_token": token, "name": "Turni", **_week(mon=[(start, end)])}
        )
        assert page.status_code == 422 and 'id="err-weekly"' in page.text, (start, end)
    nothing = client.post(url, data={"csrf_token": token, "name": "Turni"})
    assert "apri almeno una fascia oraria" in nothing.text
