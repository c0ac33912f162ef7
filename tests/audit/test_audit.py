"""The audit log: who did what from where, recorded by the acts themselves (sign-ins and
failures, roles, 2FA, settings, merges, exports, API tokens), append-only in the database,
searchable and exportable by admins only, never holding secrets."""

from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import delete, select, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from sportello.accounts.models import Role, User
from sportello.audit import actions as audit
from sportello.audit.models import AuditEntry
from sportello.channels.models import Channel
from sportello.customers import actions as customers_actions
from tests.api.helpers import assert_problem, make_token
from tests.factories import PASSWORD, csrf_from, login

HTML = {"accept": "text/html"}


def _entries(db, action: str | None = None) -> list[AuditEntry]:  # type: ignore[no-untyped-def]
    with db.session() as s:
        stmt = select(AuditEntry).order_by(AuditEntry.id)
        if action:
            stmt = stmt.where(AuditEntry.action == action)
        rows = list(s.scalars(stmt))
        s.expunge_all()
        return rows


def test_sign_ins_and_failures_carry_ip_and_user_agent(client, db, personas) -> None:  # type: ignore[no-untyped-def]
    token = csrf_from(client.get("/login").text)
    headers = {"user-agent": "Firefox di prova", "x-forwarded-for": "203.0.113.9"}
    failed = client.post(
        "/login",
        data={"email": personas.sara.email, "password": "sbagliata!!", "csrf_token": token},
        headers=headers,
    )
    assert failed.status_code == 401
    ok = client.post(
        "/login",
        data={"email": personas.sara.email, "password": PASSWORD, "csrf_token": token},
        headers=headers,
        follow_redirects=False,
    )
    assert ok.status_code == 303
    [fail] = _entries(db, "login.failed")
    [success] = _entries(db, "login.succeeded")
    for entry in (fail, success):
        assert entry.actor_id == personas.sara.id
        assert entry.user_agent == "Firefox di prova"
        assert entry.ip  # the test client's address (no trusted proxy: not the header's)
        assert entry.ip != "203.0.113.9"
    assert success.details == {"method": "password"}
    assert "sbagliata" not in str(fail.details)


def test_role_change_by_admin_is_recorded_with_before_and_after(client, db, personas) -> None:  # type: ignore[no-untyped-def]
    login(client, personas.admin)
    page = client.get(f"/admin/users/{personas.sara.id}", headers=HTML)
    saved = client.post(
        f"/admin/users/{personas.sara.id}",
        data={
            "name": "Sara Conti",
            "role": "supervisor",
            "language": "it",
            "timezone": "Europe/Rome",
            "active": "1",
            "password": "una-nuova-password-lunga",
            "team_ids": [str(personas.assistenza.id)],
            "csrf_token": csrf_from(page.text),
        },
        follow_redirects=False,
    )
    assert saved.status_code == 303, saved.text
    [entry] = _entries(db, "user.role_changed")
    assert entry.actor_id == personas.admin.id
    assert entry.target_type == "user" and entry.target_id == str(personas.sara.id)
    changes = entry.details["changes"]
    assert changes["role"] == {"before": "agent", "after": "supervisor"}
    assert changes["password"] == audit.MASK  # changed, never shown
    assert "una-nuova-password" not in str(entry.details)


def test_channel_secret_change_is_masked(db, personas) -> None:  # type: ignore[no-untyped-def]
    from sportello.channels import actions as channels_actions

    with db.transaction() as s:
        channel = s.get(Channel, personas.api_channel.id)
        shown = channels_actions.do_rotate_secrets(s, channel=channel)
        channels_actions.do_update_channel(s, channel=channel, name="App negozio")
    rotated = _entries(db, "channel.secrets_rotated")
    assert rotated and all(v not in str(rotated[0].details) for v in shown.values())
    [renamed] = _entries(db, "channel.settings_changed")
    assert renamed.details["changes"]["name"] == {"before": "App", "after": "App negozio"}


def test_merge_export_and_token_use_are_recorded(client, db, personas) -> None:  # type: ignore[no-untyped-def]
    with db.transaction() as s:
        a = customers_actions.do_create_customer(s, name="Anna Verdi")
        b = customers_actions.do_create_customer(s, name="Anna V.")
        admin = s.get(User, personas.admin.id)
        customers_actions.do_merge_customers(s, source=b, target=a, by=admin)
        a_id = a.id
    [merge] = _entries(db, "customer.merged")
    assert merge.target_label == f"#{a_id}"  # customers by number only
    assert "Anna" not in str(merge.details) + merge.target_label
    token = make_token(db, personas.admin, ["admin"])
    listed = client.get("/api/v1/audit", headers={"authorization": f"Bearer {token}"})
    assert listed.status_code == 200, listed.text
    used = _entries(db, "api_token.used")
    assert used and used[0].actor_id == personas.admin.id
    report = client.get(
        "/api/v1/reports/kpis?format=csv", headers={"authorization": f"Bearer {token}"}
    )
    assert report.status_code == 200
    assert _entries(db, "report.exported")[0].details["format"] == "csv"


def test_search_filters_and_csv_export(client, db, personas) -> None:  # type: ignore[no-untyped-def]
    with db.transaction() as s:
        admin = s.get(User, personas.admin.id)
        for n in range(3):
            audit.record(s, "settings.test_changed", actor=admin, target=("queue", n, f"Q{n}"))
        audit.record(s, "other.thing", target=("queue", 9, "Q9"))
    token = make_token(db, personas.admin, ["admin"])
    auth = {"authorization": f"Bearer {token}"}
    body = client.get("/api/v1/audit?action=settings.&actor=giulia&limit=2", headers=auth).json()
    assert [e["target_id"] for e in body["items"]] == ["2", "1"]
    more = client.get(f"/api/v1/audit?action=settings.&cursor={body['next_cursor']}", headers=auth)
    assert [e["target_id"] for e in more.json()["items"]] == ["0"]
    by_target = client.get("/api/v1/audit?target=queue:9", headers=auth).json()["items"]
    assert [e["action"] for e in by_target] == ["other.thing"]
    future = client.get("/api/v1/audit?since=2999-01-01", headers=auth).json()["items"]
    assert future == []
    bad = client.get("/api/v1/audit?since=ieri", headers=auth)
    assert_problem(bad, 422)
    exported = client.get("/api/v1/audit/export?action=settings.", headers=auth)
    assert exported.headers["content-type"].startswith("text/csv")
    lines = list(csv.DictReader(io.StringIO(exported.text)))
    assert [r["target_id"] for r in lines] == ["0", "1", "2"]
    assert _entries(db, "audit.exported")  # exporting the log is itself recorded


def test_only_admins_read_the_log(client, db, personas) -> None:  # type: ignore[no-untyped-def]
    token = make_token(db, personas.supervisor, ["read", "write"])
    denied = client.get("/api/v1/audit", headers={"authorization": f"Bearer {token}"})
    assert denied.status_code == 403
    login(client, personas.supervisor)
    assert client.get("/admin/audit", headers=HTML).status_code == 403
    assert client.get("/admin/audit.csv").status_code == 403


def test_admin_page_shows_entries(client, db, personas) -> None:  # type: ignore[no-untyped-def]
    login(client, personas.admin)
    page = client.get("/admin/audit?action=login.succeeded", headers=HTML)
    assert page.status_code == 200
    assert "giulia@negozio.it" in page.text and "login.succeeded" in page.text
    csv_page = client.get("/admin/audit.csv?action=login.succeeded")
    assert csv_page.status_code == 200 and "login.succeeded" in csv_page.text


def test_the_database_refuses_to_change_an_entry(db, personas) -> None:  # type: ignore[no-untyped-def]
    with db.transaction() as s:
        audit.record(s, "settings.test_changed", target=("queue", 1, "Q1"))
    with pytest.raises((IntegrityError, OperationalError, DBAPIError)), db.transaction() as s:
        s.execute(update(AuditEntry).values(action="forged"))
    if db.is_sqlite:
        return  # SQLite refuses updates; PostgreSQL refuses deletes too
    with pytest.raises(DBAPIError), db.transaction() as s:
        s.execute(delete(AuditEntry))
    with db.session() as s:
        assert s.scalar(text("SELECT count(*) FROM audit_entry")) >= 1


def test_mask_and_diff() -> None:
    changes = audit.diff(
        {"name": "A", "smtp_password": "old", "nested": {"api_key": "k1", "x": 1}},
        {"name": "B", "smtp_password": "new", "nested": {"api_key": "k2", "x": 1}},
    )
    assert changes == {
        "name": {"before": "A", "after": "B"},
        "nested": {"api_key": {"before": audit.MASK, "after": audit.MASK}},
        "smtp_password": {"before": audit.MASK, "after": audit.MASK},
    }
    assert audit.mask({"token": "abc", "list": [{"client_secret": "s"}]}) == {
        "token": audit.MASK,
        "list": [{"client_secret": audit.MASK}],
    }


def test_role_enum_value_is_recorded_on_create(db) -> None:  # type: ignore[no-untyped-def]
    from sportello.accounts import actions as accounts_actions

    with db.transaction() as s:
        accounts_actions.do_create_user(
            s, email="nuovo@negozio.it", name="Nuovo", role=Role.AGENT, password=None
        )
    [created] = _entries(db, "user.created")
    assert created.details["role"] == "agent" and created.actor_id is None


def test_date_range_is_inclusive_of_both_days_in_the_admins_zone(db) -> None:  # type: ignore[no-untyped-def]
    from datetime import date, datetime
    from zoneinfo import ZoneInfo

    from sportello.audit import service

    rome = ZoneInfo("Europe/Rome")
    with db.transaction() as s:
        for day, hour in ((1, 10), (2, 0), (3, 23), (4, 0)):
            s.add(
                AuditEntry(
                    at=datetime(2026, 3, day, hour, 30, tzinfo=rome),
                    action="settings.test_changed",
                    target_type="queue",
                    target_id=str(day),
                )
            )
    with db.session() as s:
        found = service.search(
            s, service.AuditFilter(since=date(2026, 3, 2), until=date(2026, 3, 3))
        )
        assert [e.target_id for e in found] == ["3", "2"]
        assert service.search(s, service.AuditFilter(until=date(2026, 2, 28))) == []
