"""The agent tools in a real browser: the "/" picker, a macro, inbox filters, a saved view, a bulk
assignment, and two agents seeing each other in the same conversation. Saves the screenshots."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from sqlalchemy import select

from sportello.accounts.models import Brand, User
from sportello.channels import actions as channels_actions
from sportello.channels.models import Channel
from sportello.conversations import actions as conv_actions
from sportello.conversations.models import Conversation, Priority
from sportello.replies import actions
from tests.factories import inbound, receive
from tests.web.conftest import SCREENSHOTS, screenshot, wait_live

pytestmark = pytest.mark.browser
ENGLISH = Path("/tmp/agent-tools-screens-en")


def setup_tools(db, personas):  # type: ignore[no-untyped-def]
    convs = []
    for ident, name, email, text, subject in (
        (
            "t1",
            "Giovanna Ferraro",
            "giovanna@example.it",
            "Buongiorno, vorrei restituire il "
            "copripiumino: l'ordine 48213 è arrivato ieri ma il colore non è quello della foto.",
            "Reso copripiumino",
        ),
        (
            "t2",
            "Marco Bellini",
            "marco.b@example.it",
            "Il mio ordine n. 51877 risulta fermo da quattro giorni, potete verificare?",
            "Spedizione ferma",
        ),
        (
            "t3",
            "Lucia Sartori",
            "lucia@example.it",
            "Salve, mi serve la fattura dell'ordine 49920 intestata alla mia ditta.",
            "Fattura ordine 49920",
        ),
        (
            "t4",
            "Enrico Galli",
            "enrico@example.it",
            "Le tende in lino si possono lavare in lavatrice?",
            "Lavaggio tende",
        ),
    ):
        convs.append(
            receive(
                db,
                personas.api_channel,
                inbound(text, provider_id=ident, email=email, name=name, subject=subject),
            ).conversation
        )
    with db.transaction() as s:
        brand_id = s.scalars(select(Brand.id)).one()
        boss = s.get_one(User, personas.supervisor.id)
        reso = actions.do_create_reply(
            s,
            brand_id=brand_id,
            by=boss,
            title="Reso: come avviarlo",
            shortcut="reso",
            body="Gentile {{cliente.nome}}, può restituire l'articolo entro 30 giorni. Acceda a "
            "«I miei ordini», scelga l'ordine {{ordine.numero}} e poi «Restituisci».",
            shared=True,
        )
        actions.do_create_reply(
            s,
            brand_id=brand_id,
            by=boss,
            title="Spedizione: tracking",
            shortcut="tracking",
            body="Gentile {{cliente.nome}}, l'ordine {{ordine.numero}} è partito con BRT.",
            shared=True,
        )
        actions.do_create_reply(
            s,
            brand_id=brand_id,
            by=boss,
            title="Rimborso avviato",
            shortcut="rimborso",
            body="Gentile {{cliente.nome}}, abbiamo avviato il rimborso dell'ordine "
            "{{ordine.numero}}.",
            shared=True,
        )
        actions.do_create_macro(
            s,
            brand_id=brand_id,
            by=boss,
            shared=True,
            name="Reso: istruzioni e in attesa",
            canned_reply_id=reso.id,
            status="pending",
            priority=None,
            add_tags=["reso"],
            assign="me",
            assignee_id=None,
        )
        actions.do_create_macro(
            s,
            brand_id=brand_id,
            by=boss,
            shared=True,
            name="Urgente: priorità alta",
            canned_reply_id=None,
            status=None,
            priority="urgent",
            add_tags=["urgente"],
            assign="",
            assignee_id=None,
        )
        conv_actions.do_update_conversation(
            s,
            conversation=s.get_one(Conversation, convs[1].id),
            by=boss,
            priority=Priority.URGENT,
            tags=["spedizione"],
        )
    return convs


def test_agent_tools_end_to_end(db, personas, new_page, console, reply_receiver):
    convs = setup_tools(db, personas)
    with db.transaction() as s:  # the app's replies reach the integrator's server
        channels_actions.do_update_channel(
            s,
            channel=s.get_one(Channel, personas.api_channel.id),
            settings={"reply_url": reply_receiver},
        )
    first = convs[0]

    # two agents in the same conversation see each other, live
    sara = new_page(personas.sara)
    sara.goto(f"/c/{first.number}")
    wait_live(sara)
    marco = new_page(personas.supervisor, locale="en-GB")  # Marco reads English
    marco.goto(f"/c/{first.number}")
    wait_live(marco)
    sara.wait_for_selector("#collision:has-text('Marco Rossi sta guardando questa conversazione')")
    marco.wait_for_selector("#collision:has-text('Sara Conti is looking at this conversation')")
    marco.fill("#composer-text", "")
    marco.type("#composer-text", "Ciao Giov", delay=20)
    sara.wait_for_selector("#collision:has-text('Marco Rossi sta scrivendo una risposta')")

    # "/" in the composer: filter, arrows, Enter; placeholders filled
    sara.click("#composer-text")
    sara.keyboard.type("/r")
    sara.wait_for_selector("#reply-picker .reply-picker-item")
    titles = sara.locator("#reply-picker .reply-picker-item strong").all_inner_texts()
    assert titles == ["Reso: come avviarlo", "Rimborso avviato", "Spedizione: tracking"]
    sara.keyboard.press("ArrowDown")
    sara.wait_for_selector("#reply-picker .reply-picker-item.is-active:has-text('Rimborso')")
    sara.keyboard.press("ArrowUp")
    screenshot(sara, "canned-replies-picker.png")
    sara.keyboard.press("Enter")
    text = sara.input_value("#composer-text")
    assert text.startswith("Gentile Giovanna, può restituire") and "ordine 48213" in text
    assert sara.is_hidden("#reply-picker")
    sara.click("#composer-send")
    sara.locator(".msg-outbound", has_text="Gentile Giovanna, può restituire").wait_for()

    # a macro from the conversation page: tag, status; the timeline shows the tag line
    sara.goto(f"/c/{convs[3].number}")
    sara.select_option("#macro-select", label="Urgente: priorità alta")
    sara.click("#macro-apply")
    sara.wait_for_selector(
        ".sys:has-text('Sara Conti ha cambiato la priorità da Normale a Urgente')"
    )
    sara.wait_for_selector(".sys .tag-added:has-text('urgente')")

    # the inbox: filter by priority, save the view, select all, bulk-assign
    sara.goto("/inbox/open")
    sara.select_option("select[name=priority]", "urgent")
    sara.wait_for_url(re.compile(r".*priority=urgent.*"))
    rows = sara.locator("[data-row]")
    assert rows.count() == 2
    sara.click("#save-view summary")
    sara.fill("#view-name", "Urgenti da lavorare")
    sara.click("#view-save")
    sara.wait_for_url(re.compile(r".*/inbox/views/\d+$"))
    sara.wait_for_selector("#counts [data-saved-view]:has-text('Urgenti da lavorare')")
    sara.check("#select-all")
    sara.wait_for_selector("[data-bulk-actions]:not([hidden])")
    assert sara.inner_text("[data-bulk-count]") == "2 selezionate"
    sara.select_option("#bulk-assignee", label="Sara Conti")
    screenshot(sara, "inbox-filters-bulk.png")
    sara.click("#bulk-apply")
    sara.wait_for_selector("#bulk-result:has-text('2 conversazioni modificate')")
    with db.session() as s:
        urgent = s.scalars(select(Conversation).where(Conversation.priority == Priority.URGENT))
        assert {c.assignee_id for c in urgent} == {personas.sara.id}

    # resolve and next: from the saved view, the next conversation opens
    sara.goto("/inbox/views/1")
    sara.click("[data-row] >> nth=0")
    sara.wait_for_url(re.compile(r".*/c/\d+$"))
    current = sara.url
    sara.click("#resolve-next")
    sara.wait_for_url(lambda url: url != current and "/c/" in url)

    # the macros page, as an administrator (who manages the shared ones)
    admin = new_page(personas.admin)
    admin.goto("/macros")
    screenshot(admin, "macros.png")

    # English views of the same screens, to look at (not kept in docs/)
    ENGLISH.mkdir(exist_ok=True)
    marco.goto(f"/c/{first.number}")
    marco.click("#composer-text")
    marco.keyboard.type("/")
    marco.wait_for_selector("#reply-picker .reply-picker-item")
    marco.screenshot(path=str(ENGLISH / "picker.png"))
    marco.goto("/inbox/open?priority=urgent")
    marco.check("#select-all")
    marco.screenshot(path=str(ENGLISH / "inbox.png"))
    marco.goto("/macros")
    marco.screenshot(path=str(ENGLISH / "macros.png"))
    marco.goto("/replies")
    marco.screenshot(path=str(ENGLISH / "replies.png"))
    assert console.errors == [], console.errors
    assert (SCREENSHOTS / "macros.png").exists() and shutil.which("true")
