"""Issue 12's acceptance test: a new admin, on an empty install (not the demo), configures every
engine through its door in a real browser — a mailbox on a real Dovecot with a real SMTP server, a
chat channel with the bot, skills, a push queue with members, business hours, an SLA policy, a
canned reply — then a customer writes by chat and by email; the offer toast reaches the right
agent, who accepts it and answers with the canned reply through the "/" picker; the SLA badge
shows; the supervisor reassigns from the live page. Once in Italian, once in English.

Screenshots (Italian run): docs/screenshots/new-install-offer.png, new-install-live.png."""

# ruff: noqa: F811  (the email fixtures, imported, are the tests' arguments)
from __future__ import annotations

import email
import email.policy
import re
import time
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select

from sportello.accounts import actions as accounts_actions
from sportello.accounts.models import Role, User
from sportello.channels.models import Channel
from sportello.conversations.models import Conversation
from sportello.routing.models import AgentSkill, Queue, QueueRouting, Skill, SlaPolicy
from tests.channels.email.conftest import (  # noqa: F401  (fixtures)
    IMAP_PASSWORD,
    SMTP_PASSWORD,
    SMTP_USER,
    dovecot,
    eml,
    mail_user,
    smtp,
    smtp_server,
)
from tests.factories import PASSWORD
from tests.web.conftest import VIEWPORT, screenshot, wait_live

pytestmark = pytest.mark.browser


@dataclass(frozen=True)
class Words:
    """What people type and read, in the language of the run."""

    lang: str
    locale: str
    available: str
    queue: str
    chat_text: str
    mail_subject: str
    mail_body: str
    reply_title: str
    reply_body: str
    filled: str
    first_response: str
    accept: str
    reassign: str
    stranger: str
    visitor: str


ITALIAN = Words(
    lang="it",
    locale="it-IT",
    available="Disponibile",
    queue="Coda: Resi e rimborsi",
    chat_text="Buongiorno, vorrei parlare con un operatore per il reso del piatto blu",
    mail_subject="Reso ordine 4521",
    mail_body="Buongiorno,\nvorrei restituire il piatto dell'ordine 4521.\nMario Rossi",
    reply_title="Reso: come avviarlo",
    reply_body="Gentile {{cliente.nome}}, può restituire l'articolo entro 30 giorni "
    "dalla pagina «I miei ordini».",
    filled="Gentile Anna, può restituire l'articolo entro 30 giorni",
    first_response="Prima risposta",
    accept="Accetta",
    reassign="Riassegna a",
    stranger="cliente",
    visitor="Visitatore #",
)
ENGLISH = Words(
    lang="en",
    locale="en-GB",
    available="Available",
    queue="Queue: Resi e rimborsi",
    chat_text="Hello, I would like to talk to an operator about returning the blue plate",
    mail_subject="Return for order 4521",
    mail_body="Hello,\nI would like to return the plate of order 4521.\nMario Rossi",
    reply_title="Returns: how to start one",
    reply_body="Dear {{cliente.nome}}, you can return the item within 30 days "
    "from the “My orders” page.",
    filled="Dear Anna, you can return the item within 30 days",
    first_response="First response",
    accept="Accept",
    reassign="Reassign to",
    stranger="customer",
    visitor="Visitor #",
)


def _until(check: Any, timeout: float = 20.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def _staff(db, lang: str) -> dict[str, User]:  # type: ignore[no-untyped-def]
    """The empty install: four people, as `sportello user create` makes them."""
    people = {}
    with db.transaction() as s:
        for key, email, name, role in (
            ("admin", "elena@lavanda.example", "Elena Marchetti", Role.ADMIN),
            ("boss", "marco@lavanda.example", "Marco Bianchi", Role.SUPERVISOR),
            ("chiara", "chiara@lavanda.example", "Chiara Greco", Role.AGENT),
            ("davide", "davide@lavanda.example", "Davide Russo", Role.AGENT),
        ):
            people[key] = accounts_actions.do_create_user(
                s, email=email, name=name, role=role, password=PASSWORD, language=lang
            )
        s.expunge_all()
    return people


def _available(page: Any, w: Words) -> None:
    page.click("#cl-status .cl-status-summary")
    page.click("#cl-status .cl-menu-item[data-presence=available]")
    page.wait_for_selector("#cl-status .cl-status-summary .presence-available")
    assert w.available in page.inner_text("#cl-status .cl-status-summary")


def _configure(page: Any, db, w: Words, people, dovecot, smtp, mail_user) -> dict[str, Any]:
    """Everything the admin sets up, through the pages."""
    # Skills, and the agents' levels in the matrix.
    page.goto("/admin/skills")
    for name in ("Resi", "Inglese"):
        page.fill("#new-skill input[name=name]", name)
        page.click("#new-skill button[type=submit]")
        page.wait_for_selector(f"#skills input[value='{name}']")
    with db.session() as s:
        skill = {sk.name: sk.id for sk in s.scalars(select(Skill))}
    chiara, davide = people["chiara"].id, people["davide"].id
    for person, name, level in ((chiara, "Resi", "5"), (davide, "Inglese", "4")):
        cell = f"select[hx-post='/admin/skills/matrix/{person}/{skill[name]}']"
        page.select_option(cell, level)
        page.wait_for_selector(cell + ".is-saved")

    # Business hours: open every day round the clock (the test runs at any hour), no holidays.
    page.goto("/admin/calendars")
    page.fill("input[name=name]", "Sempre aperto")
    page.click("form[action='/admin/calendars'] button[type=submit]")
    page.wait_for_url("**/admin/calendars/*")
    for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun"):
        page.fill(f"input[name={day}_0_start]", "00:00")
        page.fill(f"input[name={day}_0_end]", "24:00")
        for n in (1, 2):
            page.fill(f"input[name={day}_{n}_start]", "")
            page.fill(f"input[name={day}_{n}_end]", "")
    page.uncheck("input[name=country_holidays]")
    page.click("#calendar-form button[type=submit]")
    page.wait_for_selector(".alert-ok")

    # A queue in push mode: both agents are members, the Resi skill is required.
    page.goto("/admin/queues")
    page.fill("form[action='/admin/queues'] input[name=name]", "Resi e rimborsi")
    page.click("form[action='/admin/queues'] button[type=submit]")
    page.wait_for_url("**/admin/queues/*")
    page.check("input[name=mode][value=push]")
    page.fill("input[name=offer_timeout_seconds]", "120")
    page.check(f"input[name=member_ids][value='{chiara}']")
    page.check(f"input[name=member_ids][value='{davide}']")
    page.select_option(f"select[name=skill_{skill['Resi']}]", "3")
    page.select_option("select[name=calendar_id]", label="Sempre aperto")
    page.click("#queue-settings button[type=submit]")
    page.wait_for_selector(".alert-ok")
    with db.session() as s:
        queue = s.scalar(select(Queue).where(Queue.name == "Resi e rimborsi"))
        assert s.get_one(QueueRouting, queue.id).mode == "push"
        queue_id = queue.id

    # The mailbox, from the channels page, on the real IMAP and SMTP servers.
    page.goto("/admin/channels")
    page.click("#channels ~ * a[data-kind=email], .head-actions a[data-kind=email]")
    page.wait_for_url("**/admin/email/mailboxes/new")
    for name, value in (
        ("name", "Assistenza email"),
        ("address", "assistenza@lavanda.example"),
        ("display_name", "Casa Lavanda"),
        ("imap_host", "127.0.0.1"),
        ("imap_port", str(dovecot.port)),
        ("imap_user", mail_user),
        ("imap_password", IMAP_PASSWORD),
        ("poll_seconds", "5"),
        ("smtp_host", "127.0.0.1"),
        ("smtp_port", str(smtp.port)),
        ("smtp_user", SMTP_USER),
        ("smtp_password", SMTP_PASSWORD),
    ):
        page.fill(f"input[name={name}]", value)
    page.select_option("select[name=imap_security]", "none")
    page.select_option("select[name=smtp_security]", "none")
    page.select_option("select[name=queue_id]", label="Resi e rimborsi")
    page.check("input[name=active]")
    page.click("form.grid-form button[type=submit]")
    page.wait_for_url("**/admin/email/mailboxes/*")
    page.click("#state button[type=submit]")  # "Test connection"
    page.wait_for_selector("#checks")
    assert page.locator("#checks .alert-error").count() == 0, page.inner_text("#checks")

    # The chat channel, then its bot.
    page.goto("/admin/channels")
    page.click(".head-actions a[data-kind=chat]")
    page.wait_for_url("**/admin/channels/new?kind=chat")
    page.fill("input[name=name]", "Chat sito")
    page.select_option("select[name=queue_id]", label="Resi e rimborsi")
    page.check("input[name=active][type=checkbox]")
    page.click("form.grid-form button[type=submit]")
    page.wait_for_selector("#secrets")
    with db.session() as s:
        chat = s.scalar(select(Channel).where(Channel.kind == "chat"))
        assert chat is not None and chat.queue_id == queue_id and chat.is_active
        chat_id, public_id = chat.id, chat.public_id
    page.goto(f"/admin/channels/{chat_id}")
    page.check("#bot-form input[name=enabled]")
    page.fill("#bot-form input[name=name]", "Lavanda")
    page.fill("#bot-form input[name=threshold]", "50")
    page.click("#bot-form button[type=submit]")
    page.wait_for_selector("#bot .alert-ok")
    with db.session() as s:
        bot = s.get_one(Channel, chat_id).settings["bot"]
        assert bot["enabled"] and bot["name"] == "Lavanda"

    # The SLA policy of the queue, counted in its calendar.
    page.goto("/admin/sla")
    page.fill("#policy-form input[name=name]", "Resi")
    page.select_option("#policy-form select[name=queue_id]", label="Resi e rimborsi")
    page.fill("#policy-form input[name=first_response]", "30")
    page.fill("#policy-form input[name=resolution]", "8")
    page.select_option("#policy-form select[name=resolution_unit]", "hours")
    page.select_option("#policy-form select[name=calendar_id]", label="Sempre aperto")
    page.click("#policy-form button[type=submit]")
    page.wait_for_selector("#policies a:has-text('Resi')")
    with db.session() as s:
        policy = s.scalar(select(SlaPolicy))
        assert (policy.queue_id, policy.first_response_seconds) == (queue_id, 1800)

    # A canned reply for everyone.
    page.goto("/replies")
    page.fill("#reply-title", w.reply_title)
    page.fill("#reply-shortcut", "reso")
    page.fill("#reply-body", w.reply_body)
    page.select_option("#reply-share", "all")
    page.click("#reply-create")
    page.wait_for_selector(f"#shared-replies input[name=title][value='{w.reply_title}']")
    return {"queue_id": queue_id, "public_id": public_id, "skill": skill}


def _accept_and_answer(
    agent: Any, w: Words, customer: str, number: int, type_name: str | None = None
) -> None:
    """Accept from the toast; answer with the canned reply through "/" (a name the customer has
    not given is left selected in the text, pointed out in the picker: the agent types it)."""
    toast = agent.wait_for_selector(".cl-offer", timeout=30_000)
    text = toast.inner_text()
    assert customer in text and f"#{number}" in text, text
    assert w.queue in text and w.accept in text, text
    agent.click(".cl-offer [data-action=cl-accept]")
    agent.wait_for_url(f"**/c/{number}")
    wait_live(agent)
    agent.wait_for_selector("#conv-head .sla")
    assert w.first_response in agent.inner_text("#conv-head .sla")
    item = f"#reply-picker .reply-picker-item:has-text('{w.reply_title}')"
    for attempt in range(3):
        # A live refresh of the page right after accepting can swallow the first keystrokes
        # (seen once in a few dozen runs): the agent clears the box and types again.
        agent.fill("#composer-text", "")
        agent.click("#composer-text")
        agent.keyboard.type("/reso")
        try:
            agent.wait_for_selector(item, timeout=5_000)
            break
        except Exception:
            if attempt == 2:
                raise
    if type_name:
        assert agent.is_visible("#reply-picker .reply-picker-missing")
    agent.keyboard.press("Enter")
    assert agent.is_hidden("#reply-picker")
    if type_name:
        agent.keyboard.type(type_name)
    name = type_name or customer.split()[0]
    assert agent.input_value("#composer-text").startswith(w.filled.replace("Anna", name))
    agent.click("#composer-send")


@pytest.mark.parametrize("w", [ITALIAN, ENGLISH], ids=["it", "en"])
def test_new_admin_configures_everything_and_customers_are_served(
    db,
    browser,
    live_server,
    new_page,
    console,
    dovecot,
    smtp,
    mail_user,
    w,
):
    people = _staff(db, w.lang)
    admin = new_page(people["admin"], locale=w.locale)
    setup = _configure(admin, db, w, people, dovecot, smtp, mail_user)

    # The agents come in and make themselves available; only Chiara has the Resi skill.
    chiara = new_page(people["chiara"], locale=w.locale)
    _available(chiara, w)
    davide = new_page(people["davide"], locale=w.locale)
    _available(davide, w)

    # A customer writes in the chat widget on the shop's page; the bot hands over to a person.
    visitor_context = browser.new_context(viewport=VIEWPORT, locale=w.locale, base_url=live_server)
    visitor_context.set_default_timeout(10_000)
    visitor = visitor_context.new_page()
    console.attach(visitor)
    try:
        visitor.goto(f"/chat-demo/{setup['public_id']}?lang={w.lang}")
        visitor.locator("#sportello-chat button.launch").click()
        visitor.wait_for_selector("#sportello-chat [role=dialog]")
        visitor.fill("#sportello-chat textarea", w.chat_text)
        visitor.keyboard.press("Enter")
        visitor.wait_for_selector("#sportello-chat li.m.visitor[data-state=sent]")
        with db.session() as s:
            chat_conv = _until(
                lambda: s.scalar(select(Conversation).where(Conversation.channel_id.isnot(None))),
                what="the chat conversation",
            )
            chat_number = chat_conv.number
        # The offer reaches Chiara, not Davide.
        chiara.wait_for_selector(".cl-offer", timeout=30_000)
        if w.lang == "it":
            screenshot(chiara, "new-install-offer.png")
        assert davide.query_selector(".cl-offer") is None
        # an anonymous visitor is "Visitor #<n>", not their random id
        _accept_and_answer(chiara, w, w.visitor, chat_number, type_name=w.stranger)
        inbound = chiara.locator("#timeline .msg-inbound strong").first.inner_text()
        assert inbound.startswith(w.visitor), inbound
        # the visitor panel's "last seen" is in Chiara's time zone, like the timeline's times
        # (the browser's own zone is the machine's)
        seen = chiara.locator("#chat-visitor [data-field=last_seen_at]")
        _until(lambda: re.search(r"\d:\d\d", seen.inner_text()), what="last seen")
        sent_at = chiara.locator("#timeline .msg-inbound time").first.inner_text()
        hours = [int(re.search(r"(\d{1,2}):\d\d", t)[1]) for t in (sent_at, seen.inner_text())]
        assert hours[1] in (hours[0], (hours[0] + 1) % 24, hours[0] % 12 + 1), hours
        chiara.locator(".msg-outbound", has_text=w.filled.replace("Anna", w.stranger)).wait_for()
        visitor.wait_for_selector("#sportello-chat li.m.agent")
    finally:
        visitor_context.close()

    # A customer writes by email: the live server's mail poller brings it in.
    dovecot.append(
        mail_user,
        eml(
            sender="Mario Rossi <mario.rossi@example.it>",
            to="assistenza@lavanda.example",
            subject=w.mail_subject,
            body=w.mail_body,
        ),
    )

    def mail_conversation() -> int | None:
        with db.session() as s:
            return s.scalar(
                select(Conversation.number).where(Conversation.subject == w.mail_subject)
            )

    mail_number = _until(mail_conversation, timeout=30, what="the email conversation")
    chiara.goto("/inbox/mine")
    wait_live(chiara)
    _accept_and_answer(chiara, w, "Mario Rossi", mail_number)
    chiara.locator(".msg-outbound", has_text=w.filled.replace("Anna", "Mario")).wait_for()
    _until(lambda: smtp.messages, what="the reply to leave by SMTP")
    (sent,) = smtp.messages
    assert sent.rcpt_tos == ["mario.rossi@example.it"] and sent.authenticated
    mail = email.message_from_bytes(sent.data, policy=email.policy.default)
    assert mail["In-Reply-To"] and w.mail_subject in mail["Subject"]
    body = mail.get_body(("plain",))
    assert body is not None and w.filled.replace("Anna", "Mario") in body.get_content()

    # The supervisor reassigns the email to Davide from the live page.
    boss = new_page(people["boss"], locale=w.locale)
    boss.goto("/routing/live")
    wait_live(boss)
    with db.session() as s:
        mail_id = s.scalar(select(Conversation.id).where(Conversation.number == mail_number))
    conv = boss.locator(
        f"#routing-agents tr[data-agent-id='{people['chiara'].id}'] "
        f".live-conv[data-conversation-id='{mail_id}']"
    )
    conv.wait_for()
    conv.locator(".cl-supervise-toggle").click()
    menu = conv.locator(".cl-reassign")
    menu.wait_for()
    assert w.reassign in menu.inner_text()
    menu.locator("select[name=agent_id]").select_option(str(people["davide"].id))
    if w.lang == "it":
        screenshot(boss, "new-install-live.png")
    boss.once("dialog", lambda dialog: dialog.accept())
    menu.locator("button[type=submit]").click()
    boss.wait_for_selector(
        f"#routing-agents tr[data-agent-id='{people['davide'].id}'] "
        f".live-conv[data-conversation-id='{mail_id}']"
    )
    davide.wait_for_selector(f"[data-row][data-conversation-id='{mail_id}']")
    with db.session() as s:
        assert s.get_one(Conversation, mail_id).assignee_id == people["davide"].id
        assert s.get(AgentSkill, (people["chiara"].id, setup["skill"]["Resi"])).level == 5
    assert console.errors == [], console.errors
