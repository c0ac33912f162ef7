"""Admin page for queues."""

from __future__ import annotations

from sqlalchemy import select

from sportello.routing.models import Queue
from tests.factories import csrf_from, login


def test_admin_creates_and_edits_queues(client, personas, db):
    login(client, personas.admin)
    page = client.get("/admin/queues")
    assert "Assistenza clienti" in page.text
    token = csrf_from(page.text)
    response = client.post(
        "/admin/queues",
        data={"name": "Resi", "team_id": str(personas.assistenza.id), "csrf_token": token},
        follow_redirects=False,
    )
    assert response.status_code == 303
    with db.session() as s:
        queue = s.scalar(select(Queue).where(Queue.name == "Resi"))
        assert queue.team_id == personas.assistenza.id
    duplicate = client.post("/admin/queues", data={"name": "Vendite", "csrf_token": token})
    assert duplicate.status_code == 422 and "Vendite" in duplicate.text
    response = client.post(
        f"/admin/queues/{queue.id}",
        data={"name": "Resi e rimborsi", "team_id": "", "csrf_token": token},
        follow_redirects=False,
    )
    assert response.status_code == 303
    with db.session() as s:
        queue = s.get(Queue, queue.id)
        assert (queue.name, queue.team_id) == ("Resi e rimborsi", None)


def test_queue_page_permissions(client, personas):
    login(client, personas.supervisor)
    page = client.get("/admin/queues")
    assert page.status_code == 200
    response = client.post("/admin/queues", data={"name": "X", "csrf_token": csrf_from(page.text)})
    assert response.status_code == 403
    client.cookies.clear()
    login(client, personas.sara)
    assert client.get("/admin/queues").status_code == 403
