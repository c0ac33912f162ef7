"""The front line through its real actions, API and pages: required briefings hold agents back
from offers until acknowledged (quiz passed), receipts, reminders, the knowledge "what changed"
draft, proposals and their triage, training that raises a level, notifications."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

import sportello.frontline.handlers  # noqa: F401  (the offer gate, the e-mail job, the kb hook)
from sportello.accounts.models import User
from sportello.core.db import Database
from sportello.core.dispatcher import Dispatcher
from sportello.core.errors import InvalidInput, PermissionDenied
from sportello.core.jobs import Job
from sportello.frontline import actions, notify, service
from sportello.frontline.models import (
    Briefing,
    BriefingStatus,
    CompletionStatus,
    ModuleKind,
    Notification,
    ProposalStatus,
    ProposalTopic,
)
from sportello.frontline.schemas import BriefingData, ModuleData, ProposalCreate, QuizQuestion
from sportello.routing import presence
from sportello.routing import snapshot as routing_snapshot
from sportello.routing.models import AgentSkill, Skill
from tests.factories import csrf_from, inbound, login, receive

QUIZ = [
    QuizQuestion(question="Sconto dei saldi?", options=["10%", "30%", "50%"], answer=1),
    QuizQuestion(question="Fino a quando?", options=["28 febbraio", "31 gennaio"], answer=0),
]


def _briefing(db: Database, personas: Any, *, required: bool = True, **extra: Any) -> int:
    with db.transaction() as s:
        by = s.get(User, personas.supervisor.id)
        data = BriefingData(
            title="Saldi invernali",
            body_md="**Sconto del 30%** su tutta la biancheria.",
            required=required,
            team_id=personas.assistenza.id,
            quiz=QUIZ,
            campaign="Saldi invernali",
            **extra,
        )
        briefing = actions.do_save_briefing(s, brand_id=personas.brand_id, data=data, by=by)
        actions.do_publish_briefing(s, briefing=briefing, by=by)
        return briefing.id


def _held(db: Database, user_id: int) -> bool:
    with db.session() as s:
        return user_id in service.pending_required(s, [user_id])


def test_required_briefing_holds_the_team_back_until_the_quiz_is_passed(
    db: Database, personas: Any
) -> None:
    with db.transaction() as s:  # Sara and Luca are available before the briefing
        for u in (personas.sara, personas.luca):
            presence.do_set_presence(s, user=s.get(User, u.id), presence="available")
    briefing_id = _briefing(db, personas)
    with db.session() as s:
        agents = routing_snapshot.load_agents(s)
    assert personas.sara.id not in agents  # her team: held back by the router
    assert personas.luca.id in agents  # another team: untouched
    with db.transaction() as s:
        presence.do_set_presence(s, user=s.get(User, personas.sara.id), presence="away")
    with pytest.raises(InvalidInput) as exc, db.transaction() as s:
        presence.do_set_presence(s, user=s.get(User, personas.sara.id), presence="available")
    assert exc.value.message == service.GATE_REASON
    with db.transaction() as s:
        sara = s.get(User, personas.sara.id)
        briefing = s.get(Briefing, briefing_id)
        assert actions.do_acknowledge(s, briefing=briefing, user=sara, answers=[0, 0]) == (
            False,
            1,
        )
    assert _held(db, personas.sara.id)
    with db.transaction() as s:
        sara = s.get(User, personas.sara.id)
        briefing = s.get(Briefing, briefing_id)
        assert actions.do_acknowledge(s, briefing=briefing, user=sara, answers=[1, 0]) == (True, 2)
        presence.do_set_presence(s, user=sara, presence="available")
    with db.session() as s:
        assert personas.sara.id in routing_snapshot.load_agents(s)
        line = {r.user.id: r.receipt for r in service.receipts(s, s.get(Briefing, briefing_id))}
    assert set(line) == {personas.sara.id}
    sara_receipt = line[personas.sara.id]
    assert sara_receipt is not None
    assert sara_receipt.attempts == 2 and sara_receipt.passed_at is not None


def test_expired_or_optional_briefings_hold_nobody(db: Database, personas: Any) -> None:
    from datetime import timedelta

    from sportello.core.db import utcnow

    _briefing(db, personas, required=False)
    _briefing(
        db,
        personas,
        valid_from=utcnow() - timedelta(days=3),
        valid_until=utcnow() - timedelta(days=1),
    )
    assert not _held(db, personas.sara.id)


def test_briefing_by_skill_and_reminders(db: Database, personas: Any) -> None:
    with db.transaction() as s:
        skill = Skill(brand_id=personas.brand_id, name="Tessuti")
        s.add(skill)
        s.flush()
        s.add(AgentSkill(user_id=personas.luca.id, skill_id=skill.id, level=2))
        skill_id = skill.id
    with db.transaction() as s:
        by = s.get(User, personas.supervisor.id)
        briefing = actions.do_save_briefing(
            s,
            brand_id=personas.brand_id,
            data=BriefingData(title="Nuovi tessuti", required=True, skill_id=skill_id),
            by=by,
        )
        assert actions.do_publish_briefing(s, briefing=briefing, by=by) == 1
        assert actions.do_remind(s, briefing=briefing, by=by) == 1
        with pytest.raises(PermissionDenied):
            actions.do_remind(s, briefing=briefing, by=s.get(User, personas.sara.id))
    assert _held(db, personas.luca.id) and not _held(db, personas.sara.id)
    with db.session() as s:
        kinds = list(
            s.scalars(select(Notification.kind).where(Notification.user_id == personas.luca.id))
        )
    assert kinds == ["briefing", "briefing_reminder"]


def test_api_briefing_flow_and_status_menu(db: Database, personas: Any, client: Any) -> None:
    login(client, personas.supervisor)
    token = csrf_from(client.get("/briefings").text)
    headers = {"X-CSRF-Token": token}
    bad = client.post(
        "/api/v1/briefings",
        json={"title": "x", "quiz": [{"question": "q", "options": ["a", "b"], "answer": 3}]},
        headers=headers,
    )
    assert bad.status_code == 422 and "quiz" in bad.text
    created = client.post(
        "/api/v1/briefings",
        json={
            "title": "Saldi invernali",
            "body_md": "Sconto **30%**",
            "required": True,
            "team_id": personas.assistenza.id,
            "quiz": [{"question": "Sconto?", "options": ["10%", "30%"], "answer": 1}],
        },
        headers=headers,
    )
    assert created.status_code == 201, created.text
    bid = created.json()["id"]
    assert "<strong>30%</strong>" in created.json()["body_html"]
    assert client.post(f"/api/v1/briefings/{bid}/publish", headers=headers).status_code == 200
    client.post("/logout", data={"csrf_token": token})
    login(client, personas.sara)
    page = client.get("/frontline/required")
    assert f"/briefings/{bid}" in page.text
    token = csrf_from(client.get("/briefings").text)
    headers = {"X-CSRF-Token": token}
    pending = client.get("/api/v1/briefings/required").json()
    assert [p["id"] for p in pending] == [bid] and "answer" not in pending[0]["questions"][0]
    refused = client.post(
        "/api/v1/routing/presence", json={"presence": "available"}, headers=headers
    )
    assert refused.status_code == 422 and "presence" in refused.text
    wrong = client.post(
        f"/api/v1/briefings/{bid}/acknowledge", json={"answers": [0]}, headers=headers
    )
    assert wrong.json()["passed"] is False
    # the page form: a wrong answer says so, the right one acknowledges
    page = client.post(f"/briefings/{bid}/acknowledge", data={"csrf_token": token, "a0": "1"})
    assert page.status_code in (200, 303)
    assert client.get("/api/v1/briefings/required").json() == []
    ok = client.post("/api/v1/routing/presence", json={"presence": "available"}, headers=headers)
    assert ok.status_code == 200, ok.text
    assert client.get(f"/api/v1/briefings/{bid}/receipts").status_code == 403


def test_knowledge_change_proposes_a_what_changed_draft(db: Database, personas: Any) -> None:
    from sportello.knowledge import actions as kb_actions

    with db.transaction() as s:
        admin = s.get(User, personas.admin.id)
        article = kb_actions.do_create_article(
            s,
            brand_id=personas.brand_id,
            by=admin,
            title="Resi",
            body_md="Il reso è gratuito entro 14 giorni.\n\nServe lo scontrino.",
        )
        article_id = article.id
    with db.transaction() as s:
        admin = s.get(User, personas.admin.id)
        article = s.get(type(article), article_id)
        kb_actions.do_update_article(
            s,
            article=article,
            by=admin,
            title="Resi",
            body_md="Il reso è gratuito entro 30 giorni.\n\nNon serve lo scontrino.",
        )
    Dispatcher(db, name="test").drain()
    with db.session() as s:
        drafts = list(s.scalars(select(Briefing).where(Briefing.source_article_id == article_id)))
    assert len(drafts) == 1 and drafts[0].status == BriefingStatus.DRAFT
    assert "-Il reso è gratuito entro 14 giorni." in drafts[0].body_md
    assert "+Il reso è gratuito entro 30 giorni." in drafts[0].body_md
    with db.session() as s:  # the supervisors are told, in their language
        told = {
            n.user_id: n.title
            for n in s.scalars(select(Notification).where(Notification.kind == "briefing_draft"))
        }
    assert told[personas.supervisor.id] == "What changed: Resi"
    assert told[personas.admin.id] == "Cosa cambia: Resi"
    # a typo fix is not material: no new draft, the pending one is left alone
    with db.transaction() as s:
        admin = s.get(User, personas.admin.id)
        article = s.get(type(drafts[0]).__mro__[0], drafts[0].id)  # keep mypy calm
        from sportello.knowledge.models import Article

        art = s.get(Article, article_id)
        kb_actions.do_update_article(
            s,
            article=art,
            by=admin,
            title="Resi",
            body_md="Il reso è gratuito entro 30 giorni.\n\nNon serve lo scontrino!",
        )
    Dispatcher(db, name="test").drain()
    with db.session() as s:
        again = list(s.scalars(select(Briefing).where(Briefing.source_article_id == article_id)))
    assert len(again) == 1 and "14 giorni" in again[0].body_md


def test_proposal_with_conversation_votes_triage_and_report(
    db: Database, personas: Any, client: Any
) -> None:
    result = receive(db, personas.api_channel, inbound("Il codice sconto SALDI30 non funziona"))
    number = result.conversation.number
    login(client, personas.sara)
    token = csrf_from(client.get("/proposals/new").text)
    bad = client.post(
        "/proposals",
        data={"csrf_token": token, "title": "Codice", "topic": "promotion", "conversations": "abc"},
    )
    assert bad.status_code == 422 and 'aria-invalid="true"' in bad.text
    made = client.post(
        "/proposals",
        data={
            "csrf_token": token,
            "title": "Il codice SALDI30 non vale sui cuscini",
            "topic": "promotion",
            "conversations": f"#{number}",
        },
        follow_redirects=False,
    )
    assert made.status_code == 303
    pid = int(made.headers["location"].rsplit("/", 1)[1])
    assert f"/c/{number}" in client.get(f"/proposals/{pid}").text
    with db.transaction() as s:
        proposal = service.get_proposal(s, pid)
        sara = s.get(User, personas.sara.id)
        with pytest.raises(PermissionDenied):
            actions.do_toggle_vote(s, proposal=proposal, user=sara)
        assert actions.do_toggle_vote(s, proposal=proposal, user=s.get(User, personas.luca.id))
        actions.do_comment(
            s, proposal=proposal, user=s.get(User, personas.luca.id), body="Anche a me"
        )
        supervisor = s.get(User, personas.supervisor.id)
        with pytest.raises(InvalidInput):
            actions.do_triage(s, proposal=proposal, by=supervisor, status=ProposalStatus.DECLINED)
        with pytest.raises(PermissionDenied):
            actions.do_triage(s, proposal=proposal, by=sara, status=ProposalStatus.ACCEPTED)
        actions.do_triage(
            s,
            proposal=proposal,
            by=supervisor,
            status=ProposalStatus.ACCEPTED,
            answer="Correggiamo il codice entro domani.",
        )
        actions.do_create_proposal(
            s,
            brand_id=personas.brand_id,
            author=s.get(User, personas.luca.id),
            data=ProposalCreate(title="Macro per i resi", topic=ProposalTopic.PROCESS),
        )
    with db.session() as s:
        titles = [n.title for n in service.notifications(s, personas.sara.id)]
        report = {line.topic: line for line in service.proposal_report(s)}
    assert any("SALDI30" in t for t in titles)  # the author is told
    assert any("Luca Ferri" in t for t in titles)  # and about the comment
    assert report["promotion"].count == 1 and report["promotion"].votes == 1
    assert report["promotion"].answered == 1 and report["process"].answered == 0
    assert report["promotion"].median_hours is not None
    bell = client.get("/frontline/bell").text
    assert 'id="fl-unread">2<' in bell


def test_training_module_raises_the_level_after_approval(db: Database, personas: Any) -> None:
    with db.transaction() as s:
        skill = Skill(brand_id=personas.brand_id, name="Resi")
        s.add(skill)
        s.flush()
        module = actions.do_save_module(
            s,
            brand_id=personas.brand_id,
            data=ModuleData(
                title="Resi e rimborsi",
                kind=ModuleKind.QUIZ,
                skill_id=skill.id,
                level=3,
                quiz=QUIZ,
                certificate_days=365,
                onboarding_step=1,
            ),
            by=s.get(User, personas.supervisor.id),
        )
        ids = (skill.id, module.id)
    with pytest.raises(InvalidInput), db.transaction() as s:
        actions.do_complete_module(
            s,
            module=service.get_module(s, ids[1]),
            user=s.get(User, personas.sara.id),
            answers=[1, 1],
        )
    with db.transaction() as s:
        done = actions.do_complete_module(
            s,
            module=service.get_module(s, ids[1]),
            user=s.get(User, personas.sara.id),
            answers=[1, 0],
        )
        assert done.status == CompletionStatus.PENDING and done.certificate_expires_at
        assert s.get(AgentSkill, (personas.sara.id, ids[0])) is None
        actions.do_decide_completion(
            s, completion=done, by=s.get(User, personas.supervisor.id), approve=True
        )
    with db.session() as s:
        row = s.get(AgentSkill, (personas.sara.id, ids[0]))
        assert row is not None and row.level == 3
        assert [m.id for m in service.onboarding_path(s)] == [ids[1]]


def test_notify_emails_only_absent_people_and_marks_read(db: Database, personas: Any) -> None:
    with db.transaction() as s:
        presence.do_set_presence(s, user=s.get(User, personas.luca.id), presence="available")
        absent = notify.notify(s, personas.sara.id, "test", "Ciao", "/briefings")
        present = notify.notify(s, personas.luca.id, "test", "Ciao", "/briefings")
        ids = (absent.id, present.id)
    with db.session() as s:
        payloads = [j.payload for j in s.scalars(select(Job).where(Job.kind == notify.EMAIL_JOB))]
    assert payloads == [{"notification_id": ids[0]}]
    with db.transaction() as s:
        sara = s.get(User, personas.sara.id)
        assert notify.do_mark_read(s, user=sara) == 1
        assert service.unread_count(s, personas.sara.id) == 0
        assert service.unread_count(s, personas.luca.id) == 1


def test_email_for_absent_agent_goes_through_the_mailbox(
    db: Database, personas: Any, mailbox: Any, smtp: Any
) -> None:
    """Sara is offline: the notification reaches her by e-mail through the brand's mailbox (the
    test SMTP server), in Italian, once; read notifications are not mailed."""
    import email
    from email import policy

    with db.transaction() as s:
        notify.notify(s, personas.sara.id, "briefing", "Saldi invernali", "/briefings/1")
        read = notify.notify(s, personas.sara.id, "briefing", "Già letto", "/briefings/2")
        read.read_at = read.created_at
    Dispatcher(db, name="test").drain()
    assert len(smtp.messages) == 1 and smtp.messages[0].rcpt_tos == ["sara@negozio.it"]
    mail = email.message_from_bytes(smtp.messages[0].data, policy=policy.default)
    assert mail["Subject"] == "Saldi invernali"
    body = mail.get_body(("plain",)).get_content()
    assert "Hai una nuova notifica" in body and "/briefings/1" in body
    Dispatcher(db, name="test").drain()
    assert len(smtp.messages) == 1  # once


PAGES = [
    "/briefings",
    "/briefings/new",
    "/proposals",
    "/proposals/new",
    "/proposals/report",
    "/training",
    "/training/modules/new",
    "/training/approvals",
    "/notifications",
]


def test_pages_by_role(db: Database, personas: Any, client: Any) -> None:
    login(client, personas.sara)
    for path in PAGES:
        supervisor_only = path.endswith(("/new", "/report", "/approvals")) and path != (
            "/proposals/new"
        )
        assert client.get(path).status_code == (403 if supervisor_only else 200), path
    login(client, personas.supervisor)
    for path in PAGES:
        assert client.get(path).status_code == 200, path


def test_briefing_page_links_only_its_articles(db: Database, personas: Any, client: Any) -> None:
    from sportello.knowledge import actions as kb_actions

    with db.transaction() as s:
        admin = s.get(User, personas.admin.id)
        linked = kb_actions.do_create_article(
            s, brand_id=personas.brand_id, by=admin, title="Saldi: le regole", body_md="Regole."
        )
        kb_actions.do_create_article(
            s, brand_id=personas.brand_id, by=admin, title="Buoni regalo", body_md="Buoni."
        )
        article_id = linked.id
    briefing_id = _briefing(db, personas, required=False, article_ids=[article_id])
    login(client, personas.sara)
    page = client.get(f"/briefings/{briefing_id}").text
    assert "Saldi: le regole" in page and "Buoni regalo" not in page
    assert "<strong>Sconto del 30%</strong>" in page  # the Markdown, rendered
