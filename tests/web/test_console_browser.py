"""The console in a real browser: log in, reply, live updates across two agents, screenshots."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from sportello.accounts.models import User
from sportello.channels import actions as channels_actions
from sportello.channels.models import Channel
from sportello.knowledge import actions as kb_actions
from sportello.knowledge import query as kbquery
from sportello.knowledge import semantic
from sportello.knowledge.models import ArticleStatus
from tests.factories import inbound, receive
from tests.web.conftest import screenshot, send_reply, wait_live

pytestmark = pytest.mark.browser


def post_api_message(base_url: str, personas, ident: str, text: str, email: str, name: str) -> dict:
    response = httpx.post(
        f"{base_url}/api/v1/channels/{personas.api_channel.public_id}/messages",
        headers={"Authorization": f"Bearer {personas.api_token}"},
        json={"id": ident, "from": {"kind": "email", "value": email, "name": name}, "text": text},
        timeout=10,
    )
    assert response.status_code in (200, 201), response.text
    return response.json()["received"][0]


def test_agent_logs_in_opens_a_conversation_and_replies(db, personas, new_page, console):
    result = receive(
        db,
        personas.api_channel,
        inbound("Buongiorno, il pacco non è arrivato.", provider_id="b-1", subject="Ordine 5521"),
    )
    page = new_page(personas.sara)
    page.click("#counts [data-view=unassigned]")
    page.wait_for_selector(f"[data-row][data-conversation-id='{result.conversation.id}']")
    page.click(f"[data-row][data-conversation-id='{result.conversation.id}']")
    page.wait_for_url(f"**/c/{result.conversation.number}")
    wait_live(page)
    send_reply(page, "Buongiorno Mario, controllo subito.")
    assert page.input_value("#composer-text") == ""
    # the reply assigned Sara; the side panel shows it without a reload
    page.wait_for_selector(
        "#assignee-select option[selected]:has-text('Sara Conti')", state="attached"
    )
    assert console.errors == []


def test_messages_from_the_api_appear_live_for_two_agents(
    db, personas, new_page, live_server, console
):
    first = post_api_message(
        live_server, personas, "live-1", "Primo messaggio", "anna@example.it", "Anna Verdi"
    )
    number = first["conversation_number"]

    sara = new_page(personas.sara)  # first agent: has the conversation open
    sara.goto(f"/c/{number}")
    wait_live(sara)
    send_reply(sara, "Ciao Anna, eccomi.")

    marco_inbox = new_page(personas.supervisor)  # second agent: the inbox in one tab ...
    marco_inbox.goto("/inbox/open")
    wait_live(marco_inbox)
    marco_conversation = marco_inbox.context.new_page()  # ... and the conversation in another
    console.attach(marco_conversation)
    marco_conversation.goto(f"/c/{number}")
    wait_live(marco_conversation)
    for page in (sara, marco_inbox, marco_conversation):
        page.evaluate("window.__sameDocument = true")

    # The customer writes again: both open conversations show it without a reload.
    post_api_message(
        live_server, personas, "live-2", "Il codice è 5521-B", "anna@example.it", "Anna Verdi"
    )
    for page in (sara, marco_conversation):
        page.locator(".msg-inbound", has_text="Il codice è 5521-B").wait_for()
    # A new customer writes: a new row appears in the second agent's inbox, counts follow.
    second = post_api_message(
        live_server, personas, "live-3", "Vorrei un preventivo", "bruno@example.it", "Bruno Neri"
    )
    row = marco_inbox.locator(f"[data-row][data-conversation-id='{second['conversation_id']}']")
    row.wait_for()
    assert "Bruno Neri" in row.inner_text()
    marco_inbox.wait_for_function(
        "document.querySelector('#counts [data-view=open] .count').textContent.trim() === '2'"
    )
    # An assignment made by one agent shows up for the other.
    marco_conversation.click("#assign-me")
    sara.wait_for_selector(
        "#assignee-select option[selected]:has-text('Marco Rossi')", state="attached"
    )
    for page in (sara, marco_inbox, marco_conversation):
        assert page.evaluate("window.__sameDocument") is True
    assert console.errors == []


KB_ARTICLES = [
    (
        "Ritardi nella consegna: cosa fare",
        "Se un ordine non è arrivato entro 5 giorni lavorativi, controlla il tracciamento del "
        "corriere e apri una segnalazione: **rispondiamo entro un giorno**.",
        ["consegna", "ritardo", "ordine"],
        ArticleStatus.PUBLISHED,
    ),
    (
        "Sollecitare il corriere",
        "Solo per gli operatori: il sollecito si apre dal portale del corriere con il numero "
        "dell'ordine; annota la pratica nella conversazione.",
        ["corriere", "ordine"],
        ArticleStatus.INTERNAL,
    ),
    (
        "Resi e rimborsi",
        "Puoi restituire un prodotto entro 30 giorni dalla consegna.",
        ["reso"],
        ArticleStatus.PUBLISHED,
    ),
]


def seed_knowledge(db, personas) -> None:
    """A few articles, searched lexically (no model download in the browser tests)."""
    semantic.set_embedder(None)
    kbquery.invalidate()
    with db.transaction() as s:
        editor = s.get_one(User, personas.supervisor.id)
        for title, body, tags, status in KB_ARTICLES:
            kb_actions.do_create_article(
                s, brand_id=personas.brand_id, by=editor, title=title, body_md=body, tags=tags,
                status=status, language="it",
            )  # fmt: skip


@pytest.fixture(autouse=True)
def _lexical_knowledge() -> Iterator[None]:
    yield
    semantic.reset()
    kbquery.invalidate()


def test_screenshots_for_the_readme(db, personas, new_page, live_server, reply_receiver):
    """Realistic data, then one screenshot per main page at 1366x768 into docs/screenshots/."""
    samples = [
        (
            "s-1",
            "Buongiorno, ho ordinato una lampada il 12 novembre (ordine 5521) e non è ancora "
            "arrivata. Potete verificare?",
            "mario.rossi@example.it",
            "Mario Rossi",
            "Ordine 5521 non arrivato",
        ),
        (
            "s-2",
            "Salve, vorrei sapere se la poltrona Nora è disponibile in verde.",
            "giovanna.esposito@example.it",
            "Giovanna Esposito",
            "Disponibilità poltrona Nora",
        ),
        (
            "s-3",
            "Ho ricevuto la fattura ma manca la partita IVA. Potete correggerla?",
            "amministrazione@ferramenta-lodi.it",
            "Ferramenta Lodi",
            "Fattura senza partita IVA",
        ),
        (
            "s-4",
            "Il reso è stato spedito ieri con BRT, quando arriva il rimborso?",
            "paolo.gallo@example.it",
            "Paolo Gallo",
            "Rimborso reso",
        ),
        (
            "s-5",
            "Hello, do you ship to Switzerland? Thanks!",
            "emma.keller@example.ch",
            "Emma Keller",
            "Shipping to Switzerland",
        ),
        (
            "s-6",
            "Buonasera, il codice sconto BENVENUTO10 non funziona.",
            "chiara.romano@example.it",
            "Chiara Romano",
            "Codice sconto non valido",
        ),
    ]
    import httpx

    for ident, text, email, name, subject in samples:
        response = httpx.post(
            f"{live_server}/api/v1/channels/{personas.api_channel.public_id}/messages",
            headers={"Authorization": f"Bearer {personas.api_token}"},
            json={
                "id": ident,
                "from": {"kind": "email", "value": email, "name": name},
                "text": text,
                "subject": subject,
            },
            timeout=10,
        )
        assert response.status_code == 201, response.text
    with db.transaction() as s:
        channel = s.get(Channel, personas.api_channel.id)
        channels_actions.do_update_channel(
            s, channel=channel, settings={"reply_url": reply_receiver}
        )
    receive(
        db,
        personas.webform,
        inbound(
            "Vorrei un preventivo per 40 sedie da ristorante, consegna a Bergamo.",
            email="mario.rossi@example.it",
            name="Mario Rossi",
            subject="Preventivo sedie",
        ),
    )
    seed_knowledge(db, personas)
    page = new_page(personas.sara)
    page.goto("/inbox/open")
    page.wait_for_selector("#counts .count")
    page.wait_for_selector("[data-row]")
    # A conversation with an assignment, a delivered reply, a note and tags.
    page.click("[data-row]:has-text('Ordine 5521')")
    page.wait_for_selector("#composer-text")
    wait_live(page)
    page.keyboard.press("a")
    page.locator(".sys").first.wait_for()
    page.fill(
        "#composer-text",
        "Buongiorno Mario, mi scuso per il ritardo: il corriere ha avuto un problema a Milano. "
        "Il pacco arriverà entro giovedì.",
    )
    page.click("#composer-send")
    page.locator(".msg-outbound .delivery-sent").first.wait_for()
    page.keyboard.press("n")
    page.fill(
        "#composer-text",
        "Sollecitato il corriere, pratica 88231. Richiamare giovedì se non consegnato.",
    )
    page.click("#composer-send")
    page.locator(".msg-note").first.wait_for()
    # The note's live refresh re-renders the side panel: type the tags once it has landed (a
    # refresh landing while they are typed replaces the field; known, see the session-8 note).
    page.wait_for_timeout(1000)
    page.wait_for_load_state("networkidle")
    with page.expect_response(lambda r: r.url.endswith("/properties")):
        page.fill("#tags-input", "spedizioni, ritardo")
        page.click("#conv-side button[type=submit]")
    page.wait_for_selector("#tags-input[value='ritardo, spedizioni']", state="attached")
    page.keyboard.press("Escape")
    page.keyboard.press("?")
    page.wait_for_selector("#help", state="visible")
    page.keyboard.press("Escape")
    page.wait_for_selector("#help", state="hidden")
    # The suggested articles survived the refreshes of the side panel.
    page.wait_for_selector("#kb-panel .kb-suggestion:has-text('Ritardi nella consegna')")
    screenshot(page, "conversation.png")

    # A good reply becomes a draft article, opened in the editor.
    page.click(".msg-outbound [data-kb-draft]")
    page.wait_for_url("**/kb/*/edit")
    assert "Buongiorno Mario" in page.input_value("textarea[name=body_md]")
    page.goto("/kb")
    page.wait_for_selector("#kb-articles")
    screenshot(page, "knowledge-base.png")

    admin = new_page(personas.admin)  # sees every queue and channel
    admin.goto("/inbox/open")
    admin.wait_for_selector("#counts .count")
    admin.keyboard.press("j")
    admin.keyboard.press("j")
    admin.wait_for_selector("[data-row].is-selected")
    screenshot(admin, "inbox.png")

    admin.keyboard.press("/")
    admin.keyboard.type("mario")
    admin.keyboard.press("Enter")
    admin.click("#result-customers a >> nth=0")
    admin.wait_for_selector("#customer-conversations")
    assert admin.locator("#customer-conversations tbody tr").count() == 2
    screenshot(admin, "customer.png")

    admin.goto("/admin/channels")
    admin.wait_for_selector("#channels")
    screenshot(admin, "admin-channels.png")


def test_text_typed_while_the_reply_via_part_loads_is_kept(db, personas, new_page):
    """The composer's "Reply via" part loads after the page (and again when the agent picks a
    channel). htmx reports that request on the form once the part is swapped out; the form used
    to take it for its own submission and empty itself, losing what the agent had typed."""
    result = receive(db, personas.api_channel, inbound("Dove è il mio ordine?", provider_id="rv-1"))
    page = new_page(personas.sara)
    page.goto(f"/c/{result.conversation.number}")
    wait_live(page)
    page.fill("#composer-text", "Sto controllando")
    with page.expect_response(lambda r: "/reply-via" in r.url):
        page.evaluate(
            "htmx.ajax('GET', location.pathname + '/reply-via',"
            " {source: '#reply-via', target: '#reply-via', swap: 'outerHTML'})"
        )
    page.wait_for_timeout(300)  # the swap and the afterRequest handlers
    assert page.input_value("#composer-text") == "Sto controllando"
    send_reply(page, "Sto controllando")
    assert page.input_value("#composer-text") == ""
