"""In a real browser: an agent writes to Logistica from the conversation, the colleague's
answer comes back by email and shows in the timeline as an internal message; a supervisor
reads the hand-off list; an admin the departments tab. Screenshots in Italian and English:
docs/screenshots/departments-*.png."""

from __future__ import annotations

from email import message_from_bytes, policy

import pytest
from sqlalchemy import select

from sportello.channels.email.imap import poll_mailbox
from sportello.conversations.models import Conversation
from sportello.departments import actions
from sportello.departments.models import Department, HandoffKind, HandoffStatus
from tests.channels.email.conftest import eml
from tests.web.conftest import screenshot

pytestmark = pytest.mark.browser


def test_agent_side_conversation_and_supervisor_handoffs(  # type: ignore[no-untyped-def]
    db, personas, mailbox, dovecot, smtp, mail_user, new_page, console
):
    with db.transaction() as s:
        logistica = actions.do_save_department(
            s, brand_id=personas.brand_id, department=None, name="Logistica",
            emails="magazzino@negozio.it", description="Magazzino e spedizioni",
        )  # fmt: skip
        vendite = actions.do_save_department(
            s, brand_id=personas.brand_id, department=None, name="Vendite",
            emails="vendite@negozio.it",
        )  # fmt: skip
        logistica_id, vendite_id = logistica.id, vendite.id
    dovecot.append(
        mail_user,
        eml(
            subject="Pacco danneggiato", body="Buongiorno, il pacco è arrivato con l'angolo rotto."
        ),
    )
    poll_mailbox(db, mailbox.id)
    with db.transaction() as s:
        conversation = s.scalars(select(Conversation)).one()
        conversation.assignee_id = personas.sara.id
        number = conversation.number
        # The test fetches the mail itself: the live server's poller leaves this mailbox be
        # (switched off, it still sends).
        s.get(type(mailbox), mailbox.id).is_active = False

    page = new_page(personas.sara)
    page.context.set_default_timeout(60_000)  # a loaded shared machine
    page.goto(f"/c/{number}")
    panel = page.locator("#departments-panel")
    panel.locator("#side-new-open").click()
    form = panel.locator("#side-new-form")
    form.locator("select[name=department_id]").select_option(str(logistica_id))
    form.locator("input[name=subject]").fill("Pacco rotto: imballo?")
    form.locator("textarea[name=text]").fill("Potete verificare l'imballo di questo ordine?")
    form.locator("input[name=quote_message]").first.check()
    form.locator("#side-send").click()
    page.locator("#departments-done").wait_for()

    # The side mail reaches the SMTP server (the live server's dispatcher sends it).
    for _ in range(100):
        if smtp.messages:
            break
        page.wait_for_timeout(100)
    sent = message_from_bytes(smtp.messages[0].data, policy=policy.default)
    assert "l'angolo rotto" in sent.get_body(("plain",)).get_content()

    dovecot.append(
        mail_user,
        eml(
            sender="Roberto Galli <magazzino@negozio.it>",
            to=sent["Reply-To"],
            subject="Re: Pacco rotto: imballo?",
            body="Imballo doppio da oggi; rispediamo il pezzo domani.",
            message_id="<magazzino-1@negozio.it>",
            headers={"In-Reply-To": sent["Message-ID"]},
        ),
    )
    poll_mailbox(db, mailbox.id)
    page.reload()
    answer = page.locator("#timeline li.msg-note").filter(has_text="Imballo doppio")
    answer.wait_for()
    assert "Risposta da magazzino@negozio.it" in (answer.text_content() or "")
    page.locator("#departments-panel details.side-thread").first.wait_for()
    assert "Imballo doppio" in page.locator("#departments-panel").inner_text()
    page.locator("#departments-panel").scroll_into_view_if_needed()
    screenshot(page, "departments-side-conversation.png")

    # Hand-offs in several states, then the supervisor's list (in English: Marco's language).
    with db.transaction() as s:
        conv = s.get(Conversation, conversation.id)
        for dept_id, kind, outcome in [
            (vendite_id, HandoffKind.SALES, HandoffStatus.WON),
            (vendite_id, HandoffKind.SALES, None),
            (logistica_id, HandoffKind.OTHER, HandoffStatus.REJECTED),
        ]:
            h = actions.do_create_handoff(
                s, conversation=conv, author=personas.sara,
                department=s.get(Department, dept_id), kind=kind,
                summary="Il cliente chiede un preventivo per 20 pezzi.",
            )  # fmt: skip
            if outcome:
                actions.do_set_handoff_outcome(
                    s, handoff=h, status=outcome, note="Fatto", by="Anna"
                )
    boss = new_page(personas.supervisor)
    boss.context.set_default_timeout(60_000)
    boss.goto("/handoffs")
    boss.locator("#handoff-list tr[data-handoff]").first.wait_for()
    assert boss.locator("#handoff-list tr[data-handoff]").count() == 3
    counts = boss.locator("#handoff-counts").text_content() or ""
    assert "Vendite" in counts and "Won" in counts
    screenshot(boss, "departments-handoffs-en.png")
    boss.goto(f"/handoffs?department={vendite_id}&status=pending")
    assert boss.locator("#handoff-list tr[data-handoff]").count() == 1

    admin = new_page(personas.admin)
    admin.context.set_default_timeout(60_000)
    admin.goto("/admin/departments")
    admin.locator("#departments").get_by_text("Logistica").wait_for()
    screenshot(admin, "departments-admin.png")
    assert console.errors == []
