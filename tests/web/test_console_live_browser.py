"""Presence and offers on every page, in a real browser: an agent in the inbox gets an offer toast
for a message routed in push mode, accepts it and lands in the conversation; the next offer times
out and the notice appears; a supervisor reassigns from the live page and the new owner sees it."""

from __future__ import annotations

import re
import time

import httpx
import pytest
from sqlalchemy import select

from sportello.routing import actions as routing_actions
from sportello.routing import presence, sla
from sportello.routing.models import Queue, SlaClockRow
from tests.web.conftest import screenshot, wait_live

pytestmark = pytest.mark.browser


def _api_message(base_url: str, personas, ident: str, text: str, email: str, name: str) -> dict:
    response = httpx.post(
        f"{base_url}/api/v1/channels/{personas.api_channel.public_id}/messages",
        headers={"Authorization": f"Bearer {personas.api_token}"},
        json={
            "id": ident,
            "from": {"kind": "email", "value": email, "name": name},
            "text": text,
            "subject": text[:40],
        },
        timeout=10,
    )
    assert response.status_code in (200, 201), response.text
    return response.json()["received"][0]


def _push(db, personas, timeout: int) -> None:
    with db.transaction() as s:
        queue = s.get_one(Queue, personas.queue_assistenza.id)
        routing_actions.do_set_queue_routing(
            s, queue=queue, mode="push", offer_timeout_seconds=timeout
        )


def _sla_policy(db, personas) -> None:
    with db.transaction() as s:
        sla.do_create_sla_policy(
            s,
            brand_id=personas.brand_id,
            name="Assistenza",
            queue_id=personas.queue_assistenza.id,
            first_response_seconds=15 * 60,
            resolution_seconds=8 * 3600,
        )


def _until(check, timeout: float = 10.0) -> None:
    """Waits for a condition read from the page (page.wait_for_function would eval a string,
    which the console's CSP refuses)."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out waiting for the page"
        time.sleep(0.1)


def test_agent_gets_an_offer_toast_accepts_it_and_a_missed_one_leaves_a_notice(
    db, personas, new_page, live_server, console
):
    _push(db, personas, timeout=40)
    _sla_policy(db, personas)
    with db.transaction() as s:
        for name in ("Pranzo", "Formazione", "Riunione di team"):
            presence.do_create_pause_reason(s, brand_id=personas.brand_id, name=name)
    sara = new_page(personas.sara)  # lands in her inbox
    sara.wait_for_selector("#cl-status .cl-status-summary")
    assert "Non connesso" in sara.inner_text("#cl-status .cl-status-summary")
    sara.click("#cl-status .cl-status-summary")
    sara.wait_for_selector("#cl-status .cl-menu-item[data-presence=available]")
    screenshot(sara, "status-menu.png")
    other_tab = sara.context.new_page()  # the same agent in a second tab
    console.attach(other_tab)
    other_tab.goto("/customers")
    wait_live(other_tab)
    sara.click("#cl-status .cl-menu-item[data-presence=available]")
    sara.wait_for_selector("#cl-status .cl-status-summary .presence-available")
    assert "Disponibile" in sara.inner_text("#cl-status .cl-status-summary")
    other_tab.wait_for_selector(
        "#cl-status .cl-status-summary .presence-available"
    )  # live across tabs
    other_tab.close()  # (with two tabs open, one of them plays the offer's sound)
    sara.evaluate("window.__sameDocument = true")

    # A customer writes through the API: routed in push mode, offered to Sara where she is.
    first = _api_message(
        live_server,
        personas,
        "offer-1",
        "Il divano è arrivato con un piede rotto",
        "anna.verdi@example.it",
        "Anna Verdi",
    )
    toast = sara.wait_for_selector(".cl-offer")
    text = toast.inner_text()
    assert "Anna Verdi" in text and f"#{first['conversation_number']}" in text
    assert "Coda: Assistenza clienti" in text and "API" in text
    assert "Accetta" in text and "Rifiuta" in text
    _until(lambda: sara.title().startswith("(1) "))
    sara.wait_for_selector("html[data-offer-sound]", state="attached")  # the sound played
    left = int(sara.inner_text(".cl-countdown").rstrip("s"))
    _until(lambda: int(sara.inner_text(".cl-countdown").rstrip("s")) < left)
    assert sara.evaluate("window.__sameDocument") is True  # no reload: it came over the socket
    screenshot(sara, "offer-toast.png")
    sara.click(".cl-offer [data-action=cl-accept]")
    sara.wait_for_url(f"**/c/{first['conversation_number']}")
    wait_live(sara)
    sara.wait_for_selector("#conv-head .sla")
    assert "Prima risposta" in sara.inner_text("#conv-head .sla")
    assert not sara.title().startswith("(")

    # The next offer is left to time out: Sara is set away and told so, wherever she is. She
    # has muted the offer sound meanwhile.
    _push(db, personas, timeout=6)
    sara.goto("/inbox/mine")
    wait_live(sara)
    sara.click("#cl-status .cl-status-summary")
    sara.click("#cl-status [data-action=cl-mute]")
    assert "disattivato" in sara.inner_text("#cl-status [data-action=cl-mute]")
    sara.click("#main", position={"x": 600, "y": 400})  # elsewhere: the menu closes
    assert sara.evaluate("document.getElementById('cl-status-menu').hidden") is True
    sounded = sara.get_attribute("html", "data-offer-sound")
    _api_message(
        live_server,
        personas,
        "offer-2",
        "Posso cambiare l'indirizzo di consegna?",
        "bruno.neri@example.it",
        "Bruno Neri",
    )
    sara.wait_for_selector(".cl-offer")
    assert sara.get_attribute("html", "data-offer-sound") == sounded  # muted: no sound
    sara.wait_for_selector("#cl-timeout-notice", timeout=30_000)
    assert "Assente" in sara.inner_text("#cl-status .cl-status-summary")
    assert sara.query_selector(".cl-offer") is None and not sara.title().startswith("(")
    screenshot(sara, "offer-timeout-notice.png")
    sara.click("#cl-become-available")
    sara.wait_for_selector("#cl-status .cl-status-summary .presence-available")
    assert sara.query_selector("#cl-timeout-notice") is None

    assert console.errors == []


def _policy(db, personas, name: str, seconds: int, position: int, warning: float = 0.8) -> None:
    with db.transaction() as s:
        sla.do_create_sla_policy(
            s,
            brand_id=personas.brand_id,
            name=name,
            queue_id=personas.queue_assistenza.id,
            first_response_seconds=seconds,
            resolution_seconds=8 * 3600,
            warning_fraction=warning,
            position=position,
        )


def _clocks_started(db, conversation_id: int) -> None:
    def started() -> bool:
        with db.session() as s:
            return bool(
                s.scalar(
                    select(SlaClockRow.kind).where(SlaClockRow.conversation_id == conversation_id)
                )
            )

    _until(started)


def test_inbox_shows_sla_due_times_and_breaches_live(db, personas, new_page, live_server, console):
    # Three conversations under three policies (a newer policy at a lower position wins for the
    # conversations that come after it): 3 seconds, 90 seconds warned at 3%, 25 minutes.
    _push(db, personas, timeout=30)
    sara = new_page(personas.sara)
    sara.goto("/inbox/open")
    wait_live(sara)
    sara.evaluate("window.__sameDocument = true")
    rows = {}
    for ident, (name, seconds, position, warning), (text, email, who) in zip(
        ("sla-a", "sla-b", "sla-c"),
        (("Lampo", 3, 0, 0.8), ("Svelta", 90, -1, 0.03), ("Normale", 25 * 60, -2, 0.8)),
        (
            ("Ordine 4471 mai arrivato", "elisa.gallo@example.it", "Elisa Gallo"),
            ("Fattura con partita IVA", "dario.ricci@example.it", "Dario Ricci"),
            ("Disponibilità lenzuola matrimoniali", "marta.sala@example.it", "Marta Sala"),
        ),
        strict=True,
    ):
        _policy(db, personas, name, seconds, position, warning)
        received = _api_message(live_server, personas, ident, text, email, who)
        _clocks_started(db, received["conversation_id"])
        rows[ident] = f"[data-row][data-conversation-id='{received['conversation_id']}']"
    # the clocks' jobs run on the server: warning and breach arrive over the socket
    sara.wait_for_selector(f"{rows['sla-a']} .sla-breached", timeout=20_000)
    sara.wait_for_selector(f"{rows['sla-b']} .sla-warning", timeout=20_000)
    sara.wait_for_selector(f"{rows['sla-c']} .sla-ok")
    assert sara.evaluate("window.__sameDocument") is True
    assert re.search(r"\d+ second[io] fa", sara.inner_text(f"{rows['sla-a']} .sla"))
    assert re.search(r"tra \d+ minut", sara.inner_text(f"{rows['sla-c']} .sla"))
    screenshot(sara, "inbox-sla.png")
    sara.click(rows["sla-a"])
    sara.wait_for_selector("#conv-head .sla-breached")
    assert "Prima risposta" in sara.inner_text("#conv-head .sla")
    assert console.errors == []


def test_supervisor_reassigns_from_the_live_page_and_the_new_owner_sees_it(
    db, personas, new_page, live_server, console
):
    _push(db, personas, timeout=30)
    _sla_policy(db, personas)
    sara = new_page(personas.sara)
    # with the keyboard: nobody available, conversations wait
    sara.wait_for_selector("#cl-status .cl-status-summary")
    sara.focus("#cl-status .cl-status-summary")
    sara.keyboard.press("Enter")
    sara.wait_for_selector("#cl-status-menu:not([hidden])")
    sara.keyboard.press("ArrowDown")  # from Disponibile to Occupato
    sara.keyboard.press("Enter")
    sara.wait_for_selector("#cl-status .cl-status-summary .presence-busy")
    waiting = _api_message(
        live_server,
        personas,
        "wait-1",
        "Vorrei restituire le tende",
        "carla.blu@example.it",
        "Carla Blu",
    )
    boss = new_page(personas.admin)  # Italian
    boss.goto("/routing/live")
    wait_live(boss)
    boss.wait_for_selector("#routing-unstaffed")
    boss.evaluate("window.__sameDocument = true")
    second = _api_message(
        live_server,
        personas,
        "wait-2",
        "Quando tornano disponibili i cuscini in lino?",
        "paolo.riva@example.it",
        "Paolo Riva",
    )
    # the live page follows without a reload
    boss.wait_for_selector(
        f"#routing-waiting tr[data-conversation-id='{second['conversation_id']}']"
    )
    assert boss.evaluate("window.__sameDocument") is True
    assert "2 in attesa" in boss.inner_text("#routing-unstaffed")
    assert "Assistenza clienti" in boss.inner_text("#routing-unstaffed")
    assert "Nessun operatore disponibile" in boss.inner_text("#routing-queues")
    sara_row = boss.locator(f"#routing-agents tr[data-agent-id='{personas.sara.id}']")
    assert "Occupato" in sara_row.inner_text()
    luca_row = boss.locator(f"#routing-agents tr[data-agent-id='{personas.luca.id}']")
    assert "Non connesso" in luca_row.inner_text()  # never logged in, still listed
    row = boss.locator(f"#routing-waiting tr[data-conversation-id='{waiting['conversation_id']}']")
    row.wait_for()

    row.locator(".cl-supervise-toggle").click()
    menu = row.locator(".cl-reassign")
    menu.wait_for()
    menu.locator("select[name=agent_id]").select_option(str(personas.sara.id))
    row.locator(".cl-move button").scroll_into_view_if_needed()
    screenshot(boss, "live-page-reassign.png")
    boss.once("dialog", lambda dialog: dialog.accept())
    menu.locator("button[type=submit]").click()
    boss.wait_for_selector(
        f"#routing-agents tr[data-agent-id='{personas.sara.id}'] "
        f".live-conv[data-conversation-id='{waiting['conversation_id']}']"
    )
    boss.wait_for_selector("#routing-unstaffed")
    screenshot(boss, "live-page.png")
    # Sara sees it in her inbox without reloading
    sara.wait_for_selector(f"[data-row][data-conversation-id='{waiting['conversation_id']}']")
    # The same menu on the conversation's head
    boss.goto(f"/c/{waiting['conversation_number']}")
    wait_live(boss)
    boss.click("#conv-head .cl-supervise-toggle")
    boss.wait_for_selector("#conv-head .cl-move")
    assert "Prima risposta" in boss.inner_text("#conv-head .sla")
    screenshot(boss, "conversation-routing-menu.png")

    # The same page in English for an English supervisor
    marco = new_page(personas.supervisor)
    marco.goto("/routing/live")
    wait_live(marco)
    text = marco.text_content("#routing-live") or ""
    screenshot(marco, "live-page-en.png")
    assert "Current conversations" in text and "Busy" in text and "Offline" in text
    marco.goto(f"/c/{waiting['conversation_number']}")
    marco.click("#conv-head .cl-supervise-toggle")
    marco.wait_for_selector("#conv-head .cl-reassign")
    assert "Reassign to" in marco.inner_text("#conv-head .cl-supervise-body")
    time.sleep(0.2)
    assert console.errors == []
