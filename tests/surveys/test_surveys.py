"""Surveys end to end on a real database: resolution -> job -> message; signed single-use
links; the rules (opt-out, period, auto-replies); NPS bands; follow-ups and recovered
customers; the survey.answered event; pages and API."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from sportello.accounts import actions as accounts_actions
from sportello.accounts.models import Team, User
from sportello.conversations.models import Conversation, Direction, Message
from sportello.core.db import utcnow
from sportello.core.outbox import OutboxEvent
from sportello.customers.models import Customer
from sportello.surveys import actions, links, service
from sportello.surveys.models import FollowupStatus, ResponseStatus, SurveyFollowup, SurveyResponse
from sportello.surveys.schemas import is_high, is_low, nps_band
from tests.factories import csrf_from, inbound, login
from tests.surveys.helpers import (
    configure,
    conversation_from,
    drain,
    followups,
    link_in,
    resolve,
    responses,
    survey_message,
)


def surveyed(db, personas, text="Il mio ordine non è arrivato.", **kwargs):
    """A conversation on the API channel, answered by Sara and resolved; the survey sent."""
    conversation_id = conversation_from(db, personas.api_channel, inbound(text, **kwargs))
    resolve(db, conversation_id, personas.sara)
    drain(db)
    return conversation_id


def token_of(db, response_id):
    return link_in(survey_message(db, response_id).text)


def answer(client, token, score):
    page = client.get(f"/s/{token}")
    return client.post(
        f"/s/{token}", data={"score": str(score), "csrf_token": csrf_from(page.text)}
    )


# ---- scales ----------------------------------------------------------------------------------


def test_nps_bands_and_low_high_scores():
    assert [nps_band(n) for n in range(11)] == ["detractor"] * 7 + ["passive"] * 2 + [
        "promoter"
    ] * 2
    assert [is_low("nps", n) for n in (0, 6, 7, 8, 9, 10)] == [
        True,
        True,
        False,
        False,
        False,
        False,
    ]
    assert [is_high("nps", n) for n in (8, 9, 10)] == [False, True, True]
    assert [is_low("csat", n) for n in range(1, 6)] == [True, True, False, False, False]
    assert [is_high("csat", n) for n in range(1, 6)] == [False, False, False, True, True]
    assert [is_low("ces", n) for n in range(1, 8)] == [True] * 3 + [False] * 4
    assert [is_high("ces", n) for n in range(1, 8)] == [False] * 4 + [True] * 3


# ---- sending ---------------------------------------------------------------------------------


def test_no_survey_configured_sends_nothing(db, personas):
    surveyed(db, personas)
    assert responses(db) == []


def test_resolution_schedules_after_the_delay_then_the_job_sends(db, personas):
    configure(db, personas, delay_minutes=90)
    conversation_id = surveyed(db, personas)
    [response] = responses(db)
    assert response.status == ResponseStatus.SCHEDULED  # the job is not due yet
    assert response.scheduled_at - response.created_at == timedelta(minutes=90)
    with db.transaction() as s:  # ninety minutes later
        row = s.get(SurveyResponse, response.id)
        actions.do_send_survey(s, response=row, now=row.scheduled_at)
    [response] = responses(db)
    assert response.status == ResponseStatus.SENT
    message = survey_message(db, response.id)
    assert message.conversation_id == conversation_id
    assert message.direction == Direction.OUTBOUND
    # The API channel offers no buttons: a link only.
    assert "choices" not in message.meta
    assert "/s/" in message.text and "/optout" in message.text


def test_a_conversation_resolved_twice_on_the_same_event_gets_one_survey(db, personas):
    configure(db, personas)
    conversation_id = surveyed(db, personas)
    with db.session() as s:
        event = s.scalars(
            select(OutboxEvent).where(OutboxEvent.name == "conversation.updated")
        ).all()[-1]
        payload = dict(event.payload)
    from sportello.surveys.handlers import conversation_resolved

    conversation_resolved(db, "conversation.updated", payload)  # delivered twice
    assert len(responses(db)) == 1
    assert responses(db)[0].conversation_id == conversation_id


def test_survey_in_english_for_an_english_customer(db, personas, client):
    configure(db, personas, question_en="How did we do?", question_it="Come siamo andati?")
    conversation_id = conversation_from(db, personas.api_channel, inbound("Hello"))
    with db.transaction() as s:  # as a channel that knows the customer's language sets it
        conversation = s.get(Conversation, conversation_id)
        s.get(Customer, conversation.customer_id).language = "en"
    resolve(db, conversation_id, personas.sara)
    drain(db)
    [response] = responses(db)
    assert response.language == "en"
    text = survey_message(db, response.id).text
    assert "How did we do?" in text and "Answer with one tap here" in text
    page = client.get(f"/s/{link_in(text)}")
    assert 'lang="en"' in page.text and "How did we do?" in page.text
    italian = client.get(f"/s/{link_in(text)}?lang=it")
    assert 'lang="it"' in italian.text and "Come siamo andati?" in italian.text


# ---- links -----------------------------------------------------------------------------------


def test_link_answers_once_then_refuses_a_second_score(db, personas, client):
    configure(db, personas)
    surveyed(db, personas)
    [response] = responses(db)
    token = token_of(db, response.id)
    first = answer(client, token, 4)
    assert first.status_code == 200 and "Grazie per la tua risposta" in first.text
    second = client.post(f"/s/{token}", data={"score": "1", "csrf_token": csrf_from(first.text)})
    assert "Hai già risposto" in second.text
    [response] = responses(db)
    assert (response.score, response.answered_via) == (4, "link")
    # The comment comes after the score, once.
    comment = client.post(
        f"/s/{token}/comment",
        data={"comment": "Gentilissimi", "csrf_token": csrf_from(first.text)},
    )
    assert "Abbiamo ricevuto il tuo commento" in comment.text
    assert responses(db)[0].comment == "Gentilissimi"


def test_a_score_off_the_scale_is_refused_and_nothing_is_lost(db, personas, client):
    configure(db, personas)
    surveyed(db, personas)
    token = token_of(db, responses(db)[0].id)
    refused = answer(client, token, 9)  # CSAT is 1-5
    assert refused.status_code == 422 and "scegli un voto della scala" in refused.text
    assert responses(db)[0].status == ResponseStatus.SENT
    assert answer(client, token, 5).status_code == 200


def test_tampered_link_is_refused(db, personas, client):
    configure(db, personas)
    surveyed(db, personas)
    token = token_of(db, responses(db)[0].id)
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    page = client.get(f"/s/{tampered}")
    assert page.status_code == 404 and "non è valido" in page.text
    other = links.token_for(responses(db)[0].id + 1000)  # signed, but no such survey
    assert client.get(f"/s/{other}").status_code == 404
    assert client.post(f"/s/{tampered}", data={"score": "5"}).status_code in (403, 404)
    assert responses(db)[0].status == ResponseStatus.SENT


def test_expired_link_is_refused(db, personas, client):
    configure(db, personas, expires_days=3)
    surveyed(db, personas)
    [response] = responses(db)
    assert response.expires_at - response.sent_at == timedelta(days=3)
    with db.transaction() as s:
        s.get(SurveyResponse, response.id).expires_at = utcnow() - timedelta(minutes=1)
    page = client.get(f"/s/{token_of(db, response.id)}")
    assert page.status_code == 410 and "scaduto" in page.text
    with db.transaction() as s, pytest.raises(actions.SurveyExpired):
        actions.do_answer_survey(s, response=s.get(SurveyResponse, response.id), score=5, via="x")


# ---- rules -----------------------------------------------------------------------------------


def test_opted_out_customers_get_no_more_surveys(db, personas, client):
    configure(db, personas, period_days=0)
    surveyed(db, personas)
    token = token_of(db, responses(db)[0].id)
    page = client.get(f"/s/{token}/optout")
    assert "Non vuoi più ricevere sondaggi?" in page.text
    done = client.post(f"/s/{token}/optout", data={"csrf_token": csrf_from(page.text)})
    assert "non riceverai più sondaggi" in done.text
    surveyed(db, personas, "Un'altra domanda", provider_id="second")
    second = responses(db)[-1]
    assert (second.status, second.skip_reason) == (ResponseStatus.SKIPPED, "opted_out")
    assert second.message_id is None


def test_at_most_one_survey_per_customer_per_period(db, personas):
    configure(db, personas, period_days=30)
    surveyed(db, personas, "Prima richiesta", provider_id="a")
    surveyed(db, personas, "Seconda richiesta", provider_id="b")
    first, second = responses(db)
    assert first.status == ResponseStatus.SENT
    assert (second.status, second.skip_reason) == (ResponseStatus.SKIPPED, "period")
    # Another customer is not affected.
    surveyed(db, personas, "Ciao", email="anna.verdi@example.it", name="Anna", provider_id="c")
    assert responses(db)[-1].status == ResponseStatus.SENT


def test_never_to_auto_replies_or_bounces(db, personas):
    configure(db, personas)
    surveyed(db, personas, "Sono fuori ufficio fino al 10.", automated=True)
    [response] = responses(db)
    assert (response.status, response.skip_reason) == (ResponseStatus.SKIPPED, "automated")


def test_reopened_conversation_is_not_surveyed(db, personas):
    from sportello.conversations import actions as conversations_actions
    from sportello.conversations.models import Status

    configure(db, personas, delay_minutes=60)
    conversation_id = surveyed(db, personas)
    with db.transaction() as s:
        conversation = s.get(Conversation, conversation_id)
        conversations_actions.do_change_status(
            s, conversation=conversation, status=Status.OPEN, by=None
        )
        row = s.scalars(select(SurveyResponse)).one()
        actions.do_send_survey(s, response=row, now=row.scheduled_at)
    assert responses(db)[0].skip_reason == "reopened"


def test_most_specific_config_wins(db, personas):
    general = configure(db, personas, name="Generale", kind="csat")
    by_queue = configure(
        db, personas, name="Coda", kind="ces", queue_id=personas.queue_assistenza.id
    )
    by_channel = configure(
        db, personas, name="Canale", kind="nps", channel_id=personas.api_channel.id
    )
    with db.session() as s:

        def pick(channel_id, queue_id):
            found = service.config_for(
                s, brand_id=personas.brand_id, channel_id=channel_id, queue_id=queue_id
            )
            return found.id

        assert pick(personas.api_channel.id, personas.queue_assistenza.id) == by_channel
        assert pick(personas.webform.id, personas.queue_assistenza.id) == by_queue
        assert pick(personas.webform.id, personas.queue_vendite.id) == general


# ---- answers, events, follow-ups -------------------------------------------------------------


def test_answer_emits_survey_answered_with_the_report_fields(db, personas, client):
    configure(db, personas, kind="nps")
    conversation_id = surveyed(db, personas)
    [response] = responses(db)
    answer(client, token_of(db, response.id), 9)
    with db.session() as s:
        [event] = s.scalars(select(OutboxEvent).where(OutboxEvent.name == "survey.answered")).all()
        payload = dict(event.payload)
    assert set(payload) == {
        "response_id", "survey_kind", "score", "conversation_id", "customer_id", "agent_id",
        "queue_id", "channel_id", "brand_id", "answered_at",
    }  # fmt: skip
    assert payload["survey_kind"] == "nps" and payload["score"] == 9
    assert payload["conversation_id"] == conversation_id
    assert payload["agent_id"] == personas.sara.id
    assert payload["channel_id"] == personas.api_channel.id
    assert payload["queue_id"] == personas.queue_assistenza.id
    assert followups(db) == []  # a promoter needs no call back


def test_detractor_opens_a_follow_up_for_the_agents_supervisor(db, personas, client):
    with db.transaction() as s:
        team = s.get(Team, personas.assistenza.id)
        accounts_actions.do_update_team(
            s,
            team=team,
            members=[s.get(User, personas.sara.id), s.get(User, personas.supervisor.id)],
        )
    configure(db, personas, kind="nps", followup_rule="supervisor", followup_sla_hours=8)
    surveyed(db, personas)
    response = responses(db)[0]
    answer(client, token_of(db, response.id), 3)
    [followup] = followups(db)
    response = responses(db)[0]
    assert followup.response_id == response.id and followup.status == FollowupStatus.OPEN
    assert followup.assignee_id == personas.supervisor.id
    assert followup.team_id == personas.assistenza.id
    assert followup.due_at - response.answered_at == timedelta(hours=8)


@pytest.mark.parametrize(("rule", "expected"), [("agent", "sara"), ("team", None)])
def test_follow_up_assignment_rules(db, personas, client, rule, expected):
    configure(db, personas, followup_rule=rule, followup_team_id=personas.vendite.id)
    surveyed(db, personas)
    answer(client, token_of(db, responses(db)[0].id), 1)
    [followup] = followups(db)
    assert followup.assignee_id == (getattr(personas, expected).id if expected else None)
    assert followup.team_id == personas.vendite.id


def test_no_follow_up_when_the_rule_says_none(db, personas, client):
    configure(db, personas, followup_rule="none")
    surveyed(db, personas)
    answer(client, token_of(db, responses(db)[0].id), 1)
    assert followups(db) == []


def test_follow_up_done_resurveys_and_a_promoter_counts_as_recovered(db, personas, client):
    configure(db, personas, kind="nps", followup_rule="agent", period_days=30)
    conversation_id = surveyed(db, personas)
    answer(client, token_of(db, responses(db)[0].id), 2)
    [followup] = followups(db)
    assert followup.assignee_id == personas.sara.id

    login(client, personas.sara)
    page = client.get("/surveys/followups")
    assert page.status_code == 200 and f'id="followup-{followup.id}"' in page.text
    refused = client.post(
        f"/surveys/followups/{followup.id}",
        data={"action": "done", "outcome": " ", "csrf_token": csrf_from(page.text)},
    )
    assert (
        refused.status_code == 422
        and "esito della chiamata" in refused.text.split('role="alert"')[1][:200]
    )
    assert followups(db)[0].status == FollowupStatus.OPEN
    done = client.post(
        f"/surveys/followups/{followup.id}",
        data={
            "action": "done",
            "outcome": "Richiamato: rimborso del pacco rotto, cliente soddisfatto.",
            "resurvey": "1",
            "csrf_token": csrf_from(page.text),
        },
        follow_redirects=False,
    )
    assert done.status_code == 303
    [followup] = followups(db)
    assert followup.status == FollowupStatus.DONE and followup.done_at is not None
    # The outcome is on the conversation's timeline, as a note by Sara.
    with db.session() as s:
        note = s.scalars(
            select(Message).where(
                Message.conversation_id == conversation_id, Message.direction == Direction.NOTE
            )
        ).one()
        assert "rimborso del pacco rotto" in note.text and note.author_id == personas.sara.id
    # Surveyed again, despite the period: the follow-up asks for it.
    drain(db)
    first, again = responses(db)
    assert again.after_followup_id == followup.id and again.status == ResponseStatus.SENT
    client.cookies.clear()
    answer(client, token_of(db, again.id), 10)
    with db.session() as s:
        [recovered] = service.recovered(s)
        assert (recovered.before.score, recovered.after.score) == (2, 10)
        assert recovered.customer_id == first.customer_id

    login(client, personas.supervisor)
    results = client.get("/surveys")
    assert results.status_code == 200
    assert "Mario Rossi" in results.text.split('id="recovered"')[1]
    panel = client.get(f"/customers/{first.customer_id}/survey-scores")
    assert panel.status_code == 200
    assert panel.text.count("NPS ") >= 2 and "polyline" in panel.text
    assert "rimborso del pacco rotto" in panel.text


def test_agents_see_only_their_follow_ups(db, personas, client):
    configure(db, personas, followup_rule="team", followup_team_id=personas.assistenza.id)
    surveyed(db, personas)
    answer(client, token_of(db, responses(db)[0].id), 1)
    [followup] = followups(db)
    with db.session() as s:
        luca = s.get(User, personas.luca.id)
        sara = s.get(User, personas.sara.id)
        assert service.followups(s, luca) == []
        assert [f.id for f in service.followups(s, sara)] == [followup.id]
    login(client, personas.luca)
    page = client.get("/surveys/followups")
    assert f'id="followup-{followup.id}"' not in page.text
    assert (
        client.post(
            f"/surveys/followups/{followup.id}",
            data={"action": "take", "csrf_token": csrf_from(page.text)},
        ).status_code
        == 404
    )


def test_follow_up_taken_then_reassigned_by_a_supervisor(db, personas):
    configure(db, personas, followup_rule="team", followup_team_id=personas.assistenza.id)
    surveyed(db, personas)
    with db.transaction() as s:
        response = s.scalars(select(SurveyResponse)).one()
        actions.do_answer_survey(s, response=response, score=1, via="test")
    with db.transaction() as s:
        followup = s.scalars(select(SurveyFollowup)).one()
        sara, luca = s.get(User, personas.sara.id), s.get(User, personas.luca.id)
        actions.do_update_followup(
            s, followup=followup, by=sara, status=FollowupStatus.IN_PROGRESS, reassign=True,
            assignee=sara,
        )  # fmt: skip
        assert followup.started_at is not None and followup.assignee_id == sara.id
        with pytest.raises(actions.PermissionDenied):
            actions.do_update_followup(s, followup=followup, by=sara, reassign=True, assignee=luca)
        actions.do_update_followup(
            s,
            followup=followup,
            by=s.get(User, personas.supervisor.id),
            reassign=True,
            assignee=luca,
        )
        assert followup.assignee_id == luca.id


# ---- admin and API ---------------------------------------------------------------------------


def test_admin_creates_and_edits_a_survey_from_the_page(db, personas, client):
    login(client, personas.admin)
    page = client.get("/admin/surveys")
    assert page.status_code == 200
    token = csrf_from(page.text)
    bad = client.post(
        "/admin/surveys",
        data={"name": "NPS Telegram", "kind": "nps", "followup_rule": "team", "csrf_token": token},
    )
    assert bad.status_code == 422 and "scegli il team che richiama i clienti" in bad.text
    created = client.post(
        "/admin/surveys",
        data={
            "name": "NPS dopo l'assistenza",
            "kind": "nps",
            "queue_id": str(personas.queue_assistenza.id),
            "question_it": "Ci consiglieresti?",
            "extra_it_0": "Cosa possiamo migliorare?",
            "delay_minutes": "30",
            "period_days": "60",
            "followup_rule": "agent",
            "followup_sla_hours": "12",
            "ask_comment": "1",
            "is_active": "1",
            "csrf_token": token,
        },
        follow_redirects=False,
    )
    assert created.status_code == 303
    with db.session() as s:
        [config] = service.configs(s)
        assert (config.kind, config.delay_minutes, config.followup_sla_hours) == ("nps", 30, 12)
        assert config.extra_questions == [{"it": "Cosa possiamo migliorare?", "en": ""}]
        config_id = config.id
    edit = client.get(f"/admin/surveys?edit={config_id}")
    assert "Ci consiglieresti?" in edit.text
    client.post(
        "/admin/surveys",
        data={"config_id": str(config_id), "name": "NPS", "kind": "nps", "csrf_token": token},
    )
    with db.session() as s:
        config = service.get_config(s, config_id)
        assert config.name == "NPS" and config.is_active is False


def test_agents_cannot_change_survey_settings(db, personas, client):
    login(client, personas.sara)
    assert client.get("/admin/surveys").status_code == 403
    assert client.get("/surveys").status_code == 403


def test_api_configs_responses_and_follow_ups(db, personas, client):
    from tests.api.helpers import make_token

    headers = {
        "Authorization": f"Bearer {make_token(db, personas.admin, ('read', 'write', 'admin'))}"
    }
    created = client.post(
        "/api/v1/surveys/configs",
        json={"name": "CSAT", "kind": "csat", "delay_minutes": 0, "followup_rule": "agent"},
        headers=headers,
    )
    assert created.status_code == 201, created.text
    assert client.get("/api/v1/surveys/configs", headers=headers).json()[0]["name"] == "CSAT"
    surveyed(db, personas)
    answer(client, token_of(db, responses(db)[0].id), 1)
    listed = client.get("/api/v1/surveys/responses?status=answered", headers=headers).json()
    assert [r["score"] for r in listed["items"]] == [1]
    [followup] = client.get("/api/v1/surveys/followups", headers=headers).json()
    done = client.patch(
        f"/api/v1/surveys/followups/{followup['id']}",
        json={"status": "done", "outcome": "Chiamato, tutto chiarito", "resurvey": False},
        headers=headers,
    )
    assert done.status_code == 200 and done.json()["status"] == "done"
    again = client.patch(
        f"/api/v1/surveys/followups/{followup['id']}", json={"status": "open"}, headers=headers
    )
    assert again.status_code == 409


def test_merged_customers_keep_their_scores_and_opt_out(db, personas, client):
    from sportello.customers import actions as customers_actions

    configure(db, personas, period_days=0)
    surveyed(db, personas)
    token = token_of(db, responses(db)[0].id)
    answer(client, token, 1)
    page = client.get(f"/s/{token}/optout")
    client.post(f"/s/{token}/optout", data={"csrf_token": csrf_from(page.text)})
    with db.transaction() as s:
        source = s.get(Customer, responses(db)[0].customer_id)
        target = customers_actions.do_create_customer(s, name="Mario Rossi (cellulare)")
        s.flush()
        target_id = target.id
        customers_actions.do_merge_customers(
            s, source=source, target=target, by=s.get(User, personas.supervisor.id)
        )
    drain(db)
    assert responses(db)[0].customer_id == target_id
    assert followups(db)[0].customer_id == target_id
    with db.session() as s:
        assert service.opted_out(s, brand_id=personas.brand_id, customer_id=target_id)
        assert [p.response.score for p in service.customer_scores(s, target_id)] == [1]
