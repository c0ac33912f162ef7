"""Campaigns against the real database: lists, scrubbing, calling windows, the call work with
dispositions and retries, opt-outs, and message sends through a fake Graph API server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from sportello.accounts.models import User
from sportello.campaigns import actions, pacing, service, windows
from sportello.campaigns.models import (
    Campaign,
    CampaignAttempt,
    CampaignKind,
    CampaignList,
    CampaignStatus,
    ContactStatus,
    DoNotCall,
    LegalBasis,
    Purpose,
)
from sportello.conversations.models import Conversation, DeliveryState, Message
from sportello.core.errors import Conflict, InvalidInput, InvalidTransition
from tests.campaigns.helpers import (
    CSV,
    PNID,
    WORKDAY,
    campaign,
    contacts,
    import_csv,
    run_jobs,
    start,
    statuses,
    whatsapp_channel,
)
from tests.channels.messaging import Reply

# ---- lists -----------------------------------------------------------------------------------


def test_import_normalises_reports_and_matches_customers(db, personas):
    list_id = import_csv(db, personas)
    with db.session() as s:
        listed = s.get_one(CampaignList, list_id)
        assert (listed.total_rows, listed.valid_rows) == (6, 3)
        assert (listed.invalid_rows, listed.duplicate_rows) == (2, 1)
        reasons = {p["row"]: p["reason"] for p in listed.problems}
        assert reasons == {5: "duplicate", 6: "not a phone number", 7: "wrong number of columns"}
        assert listed.created_customers == 3
        entries = service.list_entries(s, list_id)
        assert [e.phone for e in entries] == ["+393331234567", "+393477654321", "+393201112222"]
        assert entries[0].params == {"Ordine": "A-1"}
    # The same people imported again are matched, not created twice.
    again = import_csv(db, personas, name="Ancora")
    with db.session() as s:
        assert s.get_one(CampaignList, again).created_customers == 0
        first = {e.customer_id for e in service.list_entries(s, list_id)}
        assert first == {e.customer_id for e in service.list_entries(s, again)}


def test_bad_files_are_refused_whole(db, personas):
    with pytest.raises(InvalidInput) as over:
        import_csv(db, personas, max_rows=4)
    assert over.value.field == "file"
    with pytest.raises(InvalidInput) as empty:
        import_csv(db, personas, text="")
    assert empty.value.message == "the file is empty"
    with pytest.raises(InvalidInput) as column:
        import_csv(db, personas, text="Name;Phone\nA;3331234567\n")
    assert column.value.field == "phone"
    with db.session() as s:
        assert s.scalar(select(CampaignList.id)) is None  # nothing half-imported


# ---- calling windows and pacing --------------------------------------------------------------


def test_windows_italian_defaults():
    window = windows.window_of(None)
    rome = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)  # Tuesday 11:00 in Rome
    assert windows.blocked_reason(window, rome) is None
    assert windows.blocked_reason(window, rome.replace(hour=19, minute=30)) == "outside_hours"
    assert windows.blocked_reason(window, datetime(2026, 12, 6, 10, tzinfo=UTC)) == "sunday"
    # 8 December (Immacolata) and Easter Monday 2027 are national holidays.
    assert windows.blocked_reason(window, datetime(2026, 12, 8, 10, tzinfo=UTC)) == "holiday"
    assert windows.blocked_reason(window, datetime(2027, 3, 29, 10, tzinfo=UTC)) == "holiday"
    # Saturday: 10-14 only.
    assert windows.blocked_reason(window, datetime(2026, 12, 5, 10, tzinfo=UTC)) is None
    assert windows.blocked_reason(window, datetime(2026, 12, 5, 14, tzinfo=UTC)) is not None
    # The customer's time zone: 10:00 UTC is 05:00 in New York.
    assert windows.blocked_reason(window, rome, "America/New_York") == "outside_hours"
    # The next open moment after Saturday evening is Monday 9:00 in Rome (Sunday is closed).
    opens = windows.next_open(window, datetime(2026, 12, 5, 18, tzinfo=UTC))
    assert opens == datetime(2026, 12, 7, 8, 0, tzinfo=UTC)


AGENTS = st.lists(
    st.builds(
        pacing.AgentSnapshot,
        user_id=st.integers(1, 10_000),
        presence=st.sampled_from(["available", "busy", "break", "away", "offline"]),
        in_call=st.booleans(),
        on_campaign=st.booleans(),
    ),
    max_size=60,
    unique_by=lambda a: a.user_id,
)


@given(agents=AGENTS, contacts_waiting=st.integers(0, 100))
@settings(max_examples=300, deadline=None)
def test_pacing_never_dials_more_than_ready_agents(agents, contacts_waiting):
    ready = [a for a in agents if a.presence == "available" and a.on_campaign and not a.in_call]
    plan = pacing.plan_dials(agents, list(range(contacts_waiting)))
    assert len(plan) == min(len(ready), contacts_waiting)
    dialing_agents = [agent for agent, _ in plan]
    assert len(set(dialing_agents)) == len(dialing_agents)  # one call per agent
    assert set(dialing_agents) <= {a.user_id for a in ready}
    assert len({contact for _, contact in plan}) == len(plan)  # no contact dialed twice
    in_progress = sum(1 for a in agents if a.in_call)
    assert in_progress + len(plan) <= in_progress + len(ready)


# ---- the call work ---------------------------------------------------------------------------


def _agent(db, personas):
    with db.session() as s:
        user = s.get_one(User, personas.sara.id)
        s.expunge(user)
        return user


def test_a_campaign_cannot_start_without_legal_basis(db, personas):
    list_id = import_csv(db, personas)
    campaign_id = campaign(db, personas, list_id, legal_basis=None)
    with pytest.raises(InvalidInput) as refused:
        start(db, campaign_id)
    assert refused.value.field == "legal_basis"


def test_windows_and_holidays_block_dialing(db, personas):
    list_id = import_csv(db, personas)
    campaign_id = campaign(db, personas, list_id)
    start(db, campaign_id)
    agent = _agent(db, personas)
    closed = [
        datetime(2026, 12, 6, 10, tzinfo=UTC),  # Sunday
        datetime(2026, 12, 8, 10, tzinfo=UTC),  # Immacolata
        datetime(2026, 12, 1, 20, 30, tzinfo=UTC),  # Tuesday 21:30 in Rome
    ]
    for when in closed:
        with db.transaction() as s:
            c = s.get_one(Campaign, campaign_id)
            assert actions.do_next_contact(s, campaign=c, agent=agent, now=when) is None
    with db.transaction() as s:
        c = s.get_one(Campaign, campaign_id)
        contact = actions.do_next_contact(s, campaign=c, agent=agent, now=WORKDAY)
        assert contact is not None
        with pytest.raises(Conflict):  # the window is checked again at the dial
            actions.do_dial(s, contact=contact, agent=agent, now=closed[0])


def test_agent_works_the_list_with_dispositions_retries_and_callbacks(db, personas):
    list_id = import_csv(db, personas)
    campaign_id = campaign(
        db, personas, list_id, script=[{"key": "q1", "question": "Soddisfatta?"}]
    )
    start(db, campaign_id)
    agent = _agent(db, personas)
    now = WORKDAY
    with db.transaction() as s:
        c = s.get_one(Campaign, campaign_id)
        first = actions.do_next_contact(s, campaign=c, agent=agent, now=now)
        assert first is not None and first.phone == "+393331234567"
        # The same contact stays on screen until it has a disposition.
        assert actions.do_next_contact(s, campaign=c, agent=agent, now=now).id == first.id
        actions.do_dial(s, contact=first, agent=agent, now=now)
        actions.do_record_disposition(
            s, contact=first, agent=agent, disposition="no_answer", now=now + timedelta(minutes=1)
        )
        assert first.status == ContactStatus.PENDING
        assert first.next_attempt_at == now + timedelta(minutes=121)
        second = actions.do_next_contact(s, campaign=c, agent=agent, now=now + timedelta(minutes=2))
        assert second.id != first.id
        with pytest.raises(InvalidInput):
            actions.do_record_disposition(s, contact=second, agent=agent, disposition="nope")
        with pytest.raises(InvalidInput) as past:
            actions.do_record_disposition(
                s, contact=second, agent=agent, disposition="callback", callback_at=now, now=now
            )
        assert past.value.field == "callback_at"
        actions.do_record_disposition(
            s,
            contact=second,
            agent=agent,
            disposition="callback",
            callback_at=now + timedelta(hours=3),
            answers={"q1": "Sì, molto", "intruder": "x"},
            now=now + timedelta(minutes=3),
        )
        third = actions.do_next_contact(s, campaign=c, agent=agent, now=now + timedelta(minutes=4))
        actions.do_record_disposition(
            s, contact=third, agent=agent, disposition="sale", now=now + timedelta(minutes=6)
        )
        # Later: the personal callback comes first, then the retry.
        later = now + timedelta(hours=3, minutes=1)
        assert actions.do_next_contact(s, campaign=c, agent=agent, now=later).id == second.id
        attempt = s.scalars(
            select(CampaignAttempt).where(CampaignAttempt.contact_id == second.id)
        ).first()
        assert attempt.answers == {"q1": "Sì, molto"}
        report = service.report(s, c)
    assert report["attempted"] == 3 and report["conversions"] == 1
    assert report["outcomes"] == {"no_answer": 1, "callback": 1, "sale": 1}
    with db.session() as s:
        # Each call is a conversation in the customer's timeline.
        timeline = s.scalars(
            select(Conversation).where(Conversation.customer_id == first.customer_id)
        ).all()
        assert len(timeline) == 1
        note = s.scalars(select(Message).where(Message.conversation_id == timeline[0].id)).one()
        assert "No answer" in note.text and "Richiamo clienti" in note.text


def test_another_agent_never_gets_a_claimed_contact(db, personas):
    list_id = import_csv(db, personas)
    campaign_id = campaign(db, personas, list_id)
    start(db, campaign_id)
    with db.transaction() as s:
        c = s.get_one(Campaign, campaign_id)
        sara = s.get_one(User, personas.sara.id)
        luca = s.get_one(User, personas.luca.id)
        got = [actions.do_next_contact(s, campaign=c, agent=a, now=WORKDAY) for a in (sara, luca)]
        assert got[0].id != got[1].id
        with pytest.raises(Exception):
            actions.do_record_disposition(s, contact=got[0], agent=luca, disposition="sale")


# ---- opt-outs and the opposition register ----------------------------------------------------


def test_opt_outs_win_over_every_list(db, personas):
    list_id = import_csv(db, personas)
    with db.transaction() as s:
        actions.do_add_do_not_call(s, brand_id=None, value="333 123 4567")  # global
        actions.do_add_do_not_call(s, brand_id=personas.brand_id, value="carla@example.it")
    campaign_id = campaign(db, personas, list_id)
    start(db, campaign_id)
    assert statuses(db, campaign_id) == {
        "+393331234567": ContactStatus.BLOCKED,
        "+393477654321": ContactStatus.PENDING,
        "+393201112222": ContactStatus.BLOCKED,
    }
    # An opt-out after the start blocks at once, in every running campaign.
    other = campaign(db, personas, list_id, name="Secondo giro")
    start(db, other)
    with db.transaction() as s:
        actions.do_add_do_not_call(s, brand_id=personas.brand_id, value="+393477654321")
    for cid in (campaign_id, other):
        assert set(statuses(db, cid).values()) == {ContactStatus.BLOCKED}
    with db.session() as s:
        report = service.report(s, s.get_one(Campaign, campaign_id))
    assert report["blocked"] == {"do_not_contact": 3}
    with db.transaction() as s:
        agent = s.get_one(User, personas.sara.id)
        c = s.get_one(Campaign, campaign_id)
        assert actions.do_next_contact(s, campaign=c, agent=agent, now=WORKDAY) is None


def test_opposition_register_blocks_unless_consent(db, personas):
    list_id = import_csv(db, personas)
    result_file = b"numero;esito\n3331234567;1\n3477654321;S\n3201112222;0\nabc;1\n"
    with db.transaction() as s:
        result = actions.do_import_opposition_results(s, brand_id=None, data=result_file)
        assert (result.registered, result.free, result.invalid) == (2, 1, 1)
        bruno = s.scalar(select(DoNotCall.value).where(DoNotCall.value == "+393477654321"))
        assert bruno is not None
        entries = service.list_entries(s, list_id)
        actions.do_record_consent(
            s,
            brand_id=personas.brand_id,
            customer_id=entries[1].customer_id,
            purpose=Purpose.MARKETING,
            granted=True,
            source="modulo web",
            text_shown="Acconsento a ricevere offerte da Casa Lavanda.",
            given_at=WORKDAY - timedelta(days=30),
        )
    campaign_id = campaign(db, personas, list_id, purpose=Purpose.MARKETING)
    start(db, campaign_id)
    assert statuses(db, campaign_id) == {
        "+393331234567": ContactStatus.BLOCKED,  # registered, no consent
        "+393477654321": ContactStatus.PENDING,  # registered, but consented
        "+393201112222": ContactStatus.PENDING,  # free
    }
    assert contacts(db, campaign_id)[0].block_reason == "opposition_register"
    # Care calls are not telemarketing: the register does not apply.
    care = campaign(db, personas, list_id, purpose=Purpose.CARE, name="Cura")
    start(db, care)
    assert ContactStatus.BLOCKED not in statuses(db, care).values()


def test_consent_basis_needs_a_valid_consent(db, personas):
    list_id = import_csv(db, personas)
    with db.transaction() as s:
        entries = service.list_entries(s, list_id)
        for granted in (True, False):  # given, then withdrawn
            actions.do_record_consent(
                s,
                brand_id=personas.brand_id,
                customer_id=entries[0].customer_id,
                purpose=Purpose.MARKETING,
                granted=granted,
                source="telefono",
                text_shown="Consenso alle offerte",
            )
        actions.do_record_consent(
            s,
            brand_id=personas.brand_id,
            customer_id=entries[1].customer_id,
            purpose=Purpose.MARKETING,
            granted=True,
            source="negozio",
            text_shown="Consenso alle offerte",
        )
    campaign_id = campaign(db, personas, list_id, legal_basis=LegalBasis.CONSENT)
    start(db, campaign_id)
    assert statuses(db, campaign_id) == {
        "+393331234567": ContactStatus.BLOCKED,
        "+393477654321": ContactStatus.PENDING,
        "+393201112222": ContactStatus.BLOCKED,
    }


def test_agent_opt_out_disposition_blocks_everywhere(db, personas):
    list_id = import_csv(db, personas)
    a = campaign(db, personas, list_id)
    b = campaign(db, personas, list_id, name="Altra")
    start(db, a)
    start(db, b)
    with db.transaction() as s:
        agent = s.get_one(User, personas.sara.id)
        contact = actions.do_next_contact(
            s, campaign=s.get_one(Campaign, a), agent=agent, now=WORKDAY
        )
        actions.do_record_disposition(
            s, contact=contact, agent=agent, disposition="do_not_call", now=WORKDAY
        )
        phone = contact.phone
    assert statuses(db, b)[phone] == ContactStatus.BLOCKED


# ---- message campaigns -----------------------------------------------------------------------


def _message_campaign(db, personas, provider, **fields):
    list_id = import_csv(db, personas)
    channel_id = whatsapp_channel(db, personas, provider.url)
    return campaign(
        db,
        personas,
        list_id,
        kind=CampaignKind.WHATSAPP,
        channel_id=channel_id,
        template_key="promemoria:it",
        template_params=fields.pop("template_params", ["name", "Ordine"]),
        rate_per_minute=fields.pop("rate_per_minute", 6),  # one message a round
        **fields,
    )


def _sent_to(provider):
    return [r.json()["to"] for r in provider.calls("POST", f"/{PNID}/messages")]


def test_whatsapp_campaign_sends_at_its_rate_and_resumes_after_temporary_errors(
    db, personas, provider
):
    ok = [Reply(json={"messages": [{"id": f"wamid.{n}"}]}) for n in range(10)]
    rate_limited = Reply(
        400, {"error": {"code": 130429, "message": "Rate limit hit", "type": "OAuthException"}}
    )
    provider.on("POST", f"/{PNID}/messages", ok[0], rate_limited, *ok[1:])
    campaign_id = _message_campaign(db, personas, provider)
    start(db, campaign_id)
    run_jobs(db, rounds=1)
    assert _sent_to(provider) == ["393331234567"]  # one a round at 6 a minute
    run_jobs(db, rounds=1)  # the provider's rate limit: held, nothing lost
    with db.session() as s:
        c = s.get_one(Campaign, campaign_id)
        assert c.held_until is not None and "130429" in (c.held_reason or "")
    # The campaign is edited while running (its rate and text): nothing is sent twice.
    from tests.campaigns.helpers import channel_of

    with db.transaction() as s:
        c = s.get_one(Campaign, campaign_id)
        actions.do_save_campaign(
            s,
            brand_id=c.brand_id,
            by=None,
            campaign=c,
            data=actions.CampaignData(
                name="Promemoria ordini",
                kind=CampaignKind.WHATSAPP,
                list_id=c.list_id,
                channel_id=c.channel_id,
                legal_basis=c.legal_basis,
                template_key=c.template_key,
                template_params=["name", "Ordine"],
                rate_per_minute=600,
            ),
        )
        with pytest.raises(Conflict):
            actions.do_save_campaign(
                s,
                brand_id=c.brand_id,
                by=None,
                campaign=c,
                data=actions.CampaignData(
                    name="x", kind=CampaignKind.SMS, list_id=c.list_id, legal_basis=c.legal_basis
                ),
            )
    assert channel_of(db, whatsapp_channel_id(db)).kind == "whatsapp"
    run_jobs(db, rounds=3)  # still held: nothing goes out before the hold ends
    assert len(_sent_to(provider)) == 2
    with db.transaction() as s:  # the hold's time passes
        c = s.get_one(Campaign, campaign_id)
        c.held_until = datetime(2000, 1, 1, tzinfo=UTC)
    run_jobs(db)
    sent = _sent_to(provider)
    assert sent == ["393331234567", "393477654321", "393477654321", "393201112222"]
    # the second number was refused once (the rate limit) then sent: each person got it once
    with db.session() as s:
        c = s.get_one(Campaign, campaign_id)
        assert c.status == CampaignStatus.FINISHED and c.held_until is None
        report = service.report(s, c)
        assert report["messages"]["sent"] == 3
        bodies = [r.json() for r in provider.calls("POST", f"/{PNID}/messages")]
        params = bodies[0]["template"]["components"][0]["parameters"]
        assert [p["text"] for p in params] == ["Anna Verdi", "A-1"]


def whatsapp_channel_id(db):
    from sportello.channels.models import Channel

    with db.session() as s:
        return s.scalar(select(Channel.id).where(Channel.kind == "whatsapp"))


def _ids(count: int = 20) -> list[Reply]:
    return [Reply(json={"messages": [{"id": f"wamid.{n}"}]}) for n in range(count)]


def test_message_campaign_never_sends_to_a_blocked_contact(db, personas, provider):
    provider.on("POST", f"/{PNID}/messages", *_ids())
    campaign_id = _message_campaign(db, personas, provider, rate_per_minute=6)
    start(db, campaign_id)
    run_jobs(db, rounds=1)
    # Bruno writes STOP on WhatsApp: from then on he gets nothing.
    with db.transaction() as s:
        c = s.get_one(Campaign, campaign_id)
        bruno = next(x for x in service.contacts(s, c.id) if x.phone == "+393477654321")
        actions.do_opt_out_customer(
            s, customer_id=bruno.customer_id, brand_id=c.brand_id, source="stop", channel="whatsapp"
        )
    run_jobs(db)
    assert _sent_to(provider) == ["393331234567", "393201112222"]
    with db.session() as s:
        report = service.report(s, s.get_one(Campaign, campaign_id))
    assert report["blocked"] == {"do_not_contact": 1}


def test_stop_reply_is_an_opt_out_and_replies_are_counted(db, personas, provider, client):
    import json

    from tests.channels.messaging import whatsapp_text
    from tests.channels.test_whatsapp import sign

    provider.on("POST", f"/{PNID}/messages", *_ids())
    campaign_id = _message_campaign(db, personas, provider, rate_per_minute=600)
    start(db, campaign_id)
    run_jobs(db)
    with db.session() as s:
        from sportello.channels.models import Channel

        public_id = s.scalar(select(Channel.public_id).where(Channel.kind == "whatsapp"))
    body = json.dumps(
        whatsapp_text(PNID, "STOP", message_id="wamid.IN1", wa_id="393331234567")
    ).encode()
    answer = client.post(
        f"/hooks/{public_id}",
        content=body,
        headers={"Content-Type": "application/json", "X-Hub-Signature-256": sign(body, "segreto")},
    )
    assert answer.status_code == 200
    _drain(db)
    with db.session() as s:
        assert (
            s.scalar(select(DoNotCall.source).where(DoNotCall.value == "+393331234567")) == "stop"
        )
        report = service.report(s, s.get_one(Campaign, campaign_id))
        assert report["messages"]["replied"] == 1


def _drain(db):
    from tests.surveys.helpers import drain

    drain(db)


def test_template_parameters_missing_refuse_the_start(db, personas, provider):
    campaign_id = _message_campaign(db, personas, provider, template_params=["name"])
    with pytest.raises(InvalidInput) as refused:
        start(db, campaign_id)
    assert refused.value.field == "template_params"
    with db.transaction() as s:
        c = s.get_one(Campaign, campaign_id)
        c.template_params = ["name", "Sconosciuta"]
    with pytest.raises(InvalidInput) as unknown:
        start(db, campaign_id)
    assert unknown.value.field == "template_params"
    with db.session() as s:
        assert s.get_one(Campaign, campaign_id).status == CampaignStatus.DRAFT


def test_pause_and_finish_transitions(db, personas):
    list_id = import_csv(db, personas)
    campaign_id = campaign(db, personas, list_id)
    with db.transaction() as s, pytest.raises(InvalidTransition):
        actions.do_pause_campaign(s, campaign=s.get_one(Campaign, campaign_id))
    start(db, campaign_id)
    with db.transaction() as s:
        c = s.get_one(Campaign, campaign_id)
        actions.do_pause_campaign(s, campaign=c)
        with pytest.raises(InvalidTransition):
            actions.do_next_contact(s, campaign=c, agent=s.get_one(User, personas.sara.id))
    start(db, campaign_id)  # resumed: nothing copied twice
    assert len(contacts(db, campaign_id)) == 3
    assert CSV  # the list the helpers import
    with db.session() as s:
        assert (
            s.scalar(select(Message.id).where(Message.delivery_state == DeliveryState.QUEUED))
            is None
        )
