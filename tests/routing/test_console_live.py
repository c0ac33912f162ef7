"""Presence and offers on every console page: the top bar's status menu, the offer toasts, the
timeout notice, SLA badges in the inbox and the conversation head, the supervisors' buttons and
the live page listing every agent."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from sportello.accounts.models import User
from sportello.channels.models import Channel
from sportello.conversations import actions as conversations_actions
from sportello.conversations.models import Conversation
from sportello.core.db import utcnow
from sportello.core.dispatcher import Dispatcher
from sportello.routing import actions as routing_actions
from sportello.routing import presence, sla
from sportello.routing.models import AgentState, Offer, PresenceLog, Queue, RoutingState
from tests.factories import csrf_from, inbound, login
from tests.routing.world import add_channel, assignee_of, new_conversation, set_presence

HTMX = {"HX-Request": "true"}


def _push_channel(db, personas, kind="chat", timeout=45):
    with db.transaction() as s:
        queue = s.get_one(Queue, personas.queue_vendite.id)
        routing_actions.do_set_queue_routing(
            s, queue=queue, mode="push", offer_timeout_seconds=timeout
        )
        return add_channel(s, brand_id=personas.brand_id, kind=kind, queue=queue).id


def _token(client) -> str:
    return csrf_from(client.get("/routing/agent").text)


def _offer(db) -> Offer:
    with db.session() as s:
        return s.scalars(select(Offer)).one()


def test_every_console_page_loads_the_status_menu_and_its_script(db, client, personas):
    login(client, personas.luca)
    for path in ("/inbox/mine", "/customers", "/routing/agent"):
        page = client.get(path)
        assert page.status_code == 200, path
        assert 'hx-get="/routing/me/bar"' in page.text and 'id="cl-offers"' in page.text
        assert '<script src="/static/console-live.js" defer></script>' in page.text
    assert client.get("/static/console-live.js").status_code == 200


def test_status_menu_shows_the_state_and_changes_it_without_leaving_the_page(db, client, personas):
    with db.transaction() as s:
        pause = presence.do_create_pause_reason(s, brand_id=personas.brand_id, name="Pranzo")
    login(client, personas.luca)
    bar = client.get("/routing/me/bar")
    assert bar.status_code == 200
    assert 'id="cl-bar"' in bar.text and f'data-user-id="{personas.luca.id}"' in bar.text
    assert "Non connesso" in bar.text  # no state yet: offline, in Italian
    for label in ("Disponibile", "Occupato", "In pausa · Pranzo", "Assente"):
        assert label in bar.text

    token = _token(client)
    changed = client.post(
        "/routing/presence",
        data={"presence": "break", "reason_id": str(pause.id), "panel": "bar", "csrf_token": token},
        headers=HTMX,
    )
    assert changed.status_code == 200, changed.text
    assert 'id="cl-bar"' in changed.text and 'id="routing-agent"' not in changed.text
    assert 'class="cl-status-reason"> · Pranzo' in changed.text
    assert "data-clock-since=" in changed.text
    with db.session() as s:
        state = s.get_one(AgentState, personas.luca.id)
        assert (state.presence, state.pause_reason_id) == ("break", pause.id)

    # a refused change keeps the state and says why, translated
    refused = client.post(
        "/routing/presence",
        data={"presence": "away", "reason_id": str(pause.id), "panel": "bar", "csrf_token": token},
        headers=HTMX,
    )
    assert refused.status_code == 422
    assert refused.json()["detail"] == "un motivo di pausa va con lo stato In pausa"
    with db.session() as s:
        assert s.get_one(AgentState, personas.luca.id).presence == "break"


def test_the_status_menu_speaks_english_to_an_english_user(db, client, personas):
    login(client, personas.supervisor)
    bar = client.get("/routing/me/bar").text
    assert "Available" in bar and "On a break" in bar and "Offline" in bar
    assert "Disponibile" not in bar


def test_an_offer_toast_says_who_and_what_and_accepting_opens_the_conversation(
    db, client, personas
):
    channel = _push_channel(db, personas)
    set_presence(db, personas.luca.id, "available")
    conv = new_conversation(db, channel, text="Vorrei cambiare la taglia del piumone")
    Dispatcher(db, name="t").drain()
    offer = _offer(db)
    with db.session() as s:
        conversation = s.get_one(Conversation, conv)
        number, customer = conversation.number, conversation.customer.display_name

    login(client, personas.luca)
    bar = client.get("/routing/me/bar").text
    assert f'id="cl-offer-{offer.id}"' in bar and 'hx-swap-oob="true"' in bar
    assert customer in bar and f"#{number}" in bar
    assert "Coda: Vendite" in bar and "Chat dal vivo" in bar
    assert 'class="cl-countdown"' in bar and "data-expires=" in bar and "data-offered=" in bar
    assert "Accetta" in bar and "Rifiuta" in bar
    assert 'data-offers="1"' in bar
    # the same, as JSON, for integrations (a desktop notifier, a CTI bar)
    me = client.get("/api/v1/routing/me").json()
    assert me["offers"][0]["customer"] == customer and me["offers"][0]["queue"] == "Vendite"
    assert me["offers"][0]["channel_kind"] == "chat" and me["offers"][0]["waiting_since"]

    accepted = client.post(
        f"/routing/offers/{offer.id}/accept", data={"csrf_token": _token(client)}, headers=HTMX
    )
    assert accepted.status_code == 204
    assert accepted.headers["HX-Redirect"] == f"/c/{number}"
    assert assignee_of(db, conv) == personas.luca.id
    assert 'class="cl-offer"' not in client.get("/routing/me/bar").text


def test_declining_from_the_toast_returns_the_bar_without_the_offer(db, client, personas):
    channel = _push_channel(db, personas)
    set_presence(db, personas.luca.id, "available")
    conv = new_conversation(db, channel)
    Dispatcher(db, name="t").drain()
    offer = _offer(db)
    login(client, personas.luca)
    declined = client.post(
        f"/routing/offers/{offer.id}/decline",
        data={"panel": "bar", "csrf_token": _token(client)},
        headers=HTMX,
    )
    assert declined.status_code == 200
    assert 'id="cl-bar"' in declined.text and 'class="cl-offer"' not in declined.text
    assert assignee_of(db, conv) is None
    # the same offer again: a clear, translated error
    again = client.post(
        f"/routing/offers/{offer.id}/accept", data={"csrf_token": _token(client)}, headers=HTMX
    )
    assert again.status_code == 404
    assert again.json()["detail"] == "questa offerta non è più disponibile"


def test_a_timed_out_offer_leaves_a_notice_that_offers_to_become_available(db, client, personas):
    channel = _push_channel(db, personas)
    set_presence(db, personas.luca.id, "available")
    new_conversation(db, channel)
    Dispatcher(db, name="t").drain()
    offer = _offer(db)
    with db.transaction() as s:
        assert routing_actions.expire_offer(
            s, offer_id=offer.id, now=utcnow() + timedelta(minutes=2)
        )
    login(client, personas.luca)
    bar = client.get("/routing/me/bar").text
    assert 'id="cl-timeout-notice"' in bar and "Assente" in bar
    assert 'id="cl-become-available"' in bar and 'data-action="cl-dismiss"' in bar

    back = client.post(
        "/routing/presence",
        data={"presence": "available", "panel": "bar", "csrf_token": _token(client)},
        headers=HTMX,
    )
    assert back.status_code == 200 and 'id="cl-timeout-notice"' not in back.text
    with db.session() as s:
        causes = list(
            s.scalars(
                select(PresenceLog.cause)
                .where(PresenceLog.user_id == personas.luca.id)
                .order_by(PresenceLog.id)
            )
        )
    assert causes == ["manual", "offer_timeout", "manual"]


def test_away_by_choice_shows_no_timeout_notice(db, client, personas):
    set_presence(db, personas.luca.id, "away")
    login(client, personas.luca)
    assert 'id="cl-timeout-notice"' not in client.get("/routing/me/bar").text


def _sla_conversation(db, personas, *, first_response=600):
    with db.transaction() as s:
        sla.do_create_sla_policy(
            s,
            brand_id=personas.brand_id,
            name="Chat",
            queue_id=personas.queue_vendite.id,
            first_response_seconds=first_response,
            resolution_seconds=86_400,
        )
    with db.transaction() as s:
        queue = s.get_one(Queue, personas.queue_vendite.id)
        routing_actions.do_set_queue_routing(s, queue=queue, mode="auto")
        channel = add_channel(s, brand_id=personas.brand_id, kind="chat", queue=queue).id
    conv = new_conversation(db, channel)
    Dispatcher(db, name="t").drain()
    return conv


def test_sla_badges_in_the_inbox_rows_and_on_the_conversation_head(db, client, personas):
    conv = _sla_conversation(db, personas)
    with db.session() as s:
        number = s.get_one(Conversation, conv).number
    login(client, personas.luca)
    rows = client.get(f"/inbox/queue/{personas.queue_vendite.id}").text
    assert 'class="sla sla-ok"' in rows and "data-sla-due=" in rows
    assert "tra 10 minuti" in rows or "tra 9 minuti" in rows  # Italian, relative

    head = client.get(f"/c/{number}").text
    assert 'class="sla sla-ok"' in head and "Prima risposta" in head

    with db.transaction() as s:
        state = sla.check_clock(
            s, conversation_id=conv, kind="first_response", now=utcnow() + timedelta(minutes=11)
        )
    assert state == "breached"
    rows = client.get(f"/inbox/queue/{personas.queue_vendite.id}").text
    assert 'class="sla sla-breached"' in rows
    assert "sla-breached" in client.get(f"/c/{number}").text


def test_supervisor_buttons_are_for_supervisors_only(db, client, personas):
    channel = _push_channel(db, personas)
    conv = new_conversation(db, channel)
    with db.session() as s:
        number = s.get_one(Conversation, conv).number
    login(client, personas.luca)
    assert "cl-supervise" not in client.get(f"/c/{number}").text
    assert client.get(f"/routing/conversations/{conv}/supervise").status_code == 403
    token = _token(client)
    refused = client.post(
        f"/routing/conversations/{conv}/reassign",
        data={"agent_id": str(personas.luca.id), "csrf_token": token},
        headers=HTMX,
    )
    assert refused.status_code == 403 and assignee_of(db, conv) is None

    client.cookies.clear()
    login(client, personas.supervisor)
    assert f'id="cl-supervise-{conv}"' in client.get(f"/c/{number}").text
    menu = client.get(f"/routing/conversations/{conv}/supervise?next=/routing/live")
    assert menu.status_code == 200
    assert "Reassign to" in menu.text and "Pin to an agent" in menu.text
    assert "Move to queue" in menu.text and "hx-confirm=" in menu.text
    assert "Sara Conti" in menu.text and 'value="/routing/live"' in menu.text


def test_supervisor_reassigns_pins_and_moves_from_the_live_page(db, client, personas):
    channel = _push_channel(db, personas)
    conv = new_conversation(db, channel)
    login(client, personas.supervisor)
    token = csrf_from(client.get("/routing/live").text)

    reassigned = client.post(
        f"/routing/conversations/{conv}/reassign",
        data={"agent_id": str(personas.sara.id), "next": "/routing/live", "csrf_token": token},
        headers=HTMX,
    )
    assert reassigned.status_code == 204
    assert reassigned.headers["HX-Redirect"] == "/routing/live"
    assert assignee_of(db, conv) == personas.sara.id

    pinned = client.post(
        f"/routing/conversations/{conv}/pin",
        data={"agent_id": str(personas.luca.id), "next": "//evil.example", "csrf_token": token},
        headers=HTMX,
    )
    assert pinned.status_code == 204 and pinned.headers["HX-Redirect"].startswith("/c/")
    with db.session() as s:
        assert s.get_one(RoutingState, conv).pinned_user_id == personas.luca.id

    moved = client.post(
        f"/routing/conversations/{conv}/move",
        data={"queue_id": str(personas.queue_assistenza.id), "csrf_token": token},
        headers=HTMX,
    )
    assert moved.status_code == 204
    with db.session() as s:
        assert s.get_one(Conversation, conv).queue_id == personas.queue_assistenza.id

    no_queue = client.post(
        f"/routing/conversations/{conv}/move",
        data={"queue_id": "", "csrf_token": token},
        headers=HTMX,
    )
    assert no_queue.status_code == 422
    assert no_queue.json()["detail"] == "scegli una coda"  # in the console user's language


def test_live_page_lists_every_agent_and_flags_queues_nobody_serves(db, client, personas):
    channel = _push_channel(db, personas)
    waiting = new_conversation(db, channel, text="C'è qualcuno?")
    with db.transaction() as s:  # a customer known only by their address
        nameless = conversations_actions.do_receive_message(
            s,
            channel=s.get_one(Channel, channel),
            inbound=inbound("Salve", email="senza.nome@example.it", name=""),
        ).conversation.id
    mine = new_conversation(db, channel)
    with db.transaction() as s:
        routing_actions.do_reassign(
            s,
            conversation=s.get_one(Conversation, mine),
            assignee=s.get_one(User, personas.sara.id),
            by=s.get_one(User, personas.supervisor.id),
        )
    set_presence(db, personas.sara.id, "busy")
    login(client, personas.supervisor)
    page = client.get("/routing/live").text
    # Luca never set a state and still is listed (offline); Sara busy with her conversation
    assert f'data-agent-id="{personas.luca.id}" data-presence="offline"' in page
    assert f'data-agent-id="{personas.sara.id}" data-presence="busy"' in page
    with db.session() as s:
        mine_number = s.get_one(Conversation, mine).number
    assert f'href="/c/{mine_number}"' in page
    # Vendite has a conversation waiting and nobody available: flagged
    assert 'id="routing-unstaffed"' in page and "No agent available" in page
    assert f'<tr data-conversation-id="{waiting}">' in page
    assert f'<tr data-conversation-id="{nameless}">' in page
    assert "<td>senza.nome@example.it</td>" in page
    assert "Chats" in page  # capacity classes have names

    set_presence(db, personas.luca.id, "available")
    Dispatcher(db, name="t").drain()  # Luca is offered the waiting one: nobody waits now
    panel = client.get("/routing/live/panel").text
    assert 'id="routing-unstaffed"' not in panel
