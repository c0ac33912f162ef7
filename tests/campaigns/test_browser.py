"""Campaigns in a real browser: a supervisor imports a list (mapping its columns), starts a
preview call campaign and a WhatsApp template campaign (sent through a fake Graph API server by
the live server's own workers); an agent works the call list with the softphone hook, a
retry and a callback. Saves the screenshots docs/screenshots/campaigns-*.png."""

from __future__ import annotations

import re
import time

import pytest
from sqlalchemy import select

from sportello.campaigns.models import Campaign, CampaignContact, ContactStatus
from tests.campaigns.helpers import CSV, PNID, whatsapp_channel
from tests.channels.messaging import Reply
from tests.web.conftest import screenshot

pytestmark = pytest.mark.browser

ALWAYS = {
    "weekdays_from": "00:00",
    "weekdays_until": "23:59",
    "saturday_from": "00:00",
    "saturday_until": "23:59",
    "sunday_from": "00:00",
    "sunday_until": "23:59",
}


def _campaign_form(page, *, name, kind, list_id, extra=None):  # type: ignore[no-untyped-def]
    page.goto("/campaigns/new")
    page.fill("input[name=name]", name)
    page.select_option("#kind", kind)
    page.select_option("#list_id", str(list_id))
    page.select_option("#legal_basis", "contract")
    page.select_option("select[name=purpose]", "service")
    for field, value in ALWAYS.items():
        page.fill(f"input[name={field}]", value)
    page.check("input[name=holidays]")
    for selector, value in (extra or {}).items():
        if selector.startswith("select"):
            page.select_option(selector.split("|")[1], value)
        else:
            page.fill(selector, value)
    page.click("#save-campaign")
    page.wait_for_url(re.compile(r".*/campaigns/\d+$"))
    return int(page.url.rsplit("/", 1)[1])


def test_supervisor_and_agent_run_campaigns(new_page, personas, db, provider, tmp_path):
    provider.on(
        "POST",
        f"/{PNID}/messages",
        *[Reply(json={"messages": [{"id": f"wamid.B{n}"}]}) for n in range(10)],
    )
    whatsapp_channel(db, personas, provider.url)
    boss = new_page(personas.supervisor, locale="it-IT")
    # The list: upload, map the columns, see what was skipped.
    boss.goto("/campaigns/lists/new")
    source = tmp_path / "clienti.csv"
    source.write_text(CSV, encoding="utf-8")
    boss.fill("#upload-form input[name=name]", "Clienti con ordini pronti")
    boss.set_input_files("#upload-form input[name=file]", str(source))
    boss.click("#upload-form button[type=submit]")
    boss.wait_for_selector("#mapping-form")
    assert boss.input_value("#map-phone") == "Telefono"
    boss.click("#import-list")
    boss.wait_for_selector("#list-figures")
    assert boss.text_content("#valid-rows") == "3"
    assert boss.text_content("#invalid-rows") == "2"
    screenshot(boss, "campaigns-list-import.png")
    list_id = int(re.search(r"/campaigns/lists/(\d+)", boss.url).group(1))
    # A preview call campaign.
    calls = _campaign_form(
        boss,
        name="Richiamo ordini pronti",
        kind="call",
        list_id=list_id,
        extra={"input[name=question] >> nth=0": "Passa a ritirare in negozio o spediamo?"},
    )
    boss.click("#start")
    boss.wait_for_selector("#r-total")
    assert boss.text_content("#r-total") == "3"
    # A WhatsApp template campaign: sent by the server's workers at its rate.
    messages = _campaign_form(
        boss,
        name="Ordine pronto su WhatsApp",
        kind="whatsapp",
        list_id=list_id,
        extra={
            "select|#channel_id": whatsapp_channel_id(db),
            "select|#template_key": "promemoria:it",
            "#template_params": "name,Ordine",
            "input[name=rate_per_minute]": "600",
        },
    )
    boss.click("#start")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        boss.goto(f"/campaigns/{messages}")
        if boss.text_content("#r-sent") == "3":
            break
        time.sleep(0.5)
    assert boss.text_content("#r-sent") == "3"
    assert len(provider.calls("POST", f"/{PNID}/messages")) == 3
    screenshot(boss, "campaigns-whatsapp.png")
    # The agent works the call list: the softphone hook dials, a retry, a callback.
    agent = new_page(personas.sara, locale="it-IT")
    agent.add_init_script(
        "window.dialed = []; window.sportelloSoftphone = "
        "{dial: function (n, o) { window.dialed.push(n); }};"
    )
    agent.goto("/campaigns")
    agent.click(f"#work-{calls}")
    agent.click("#next")
    agent.wait_for_selector("#contact-card")
    agent.reload()  # the init script runs on this load too
    agent.click("#dial")
    agent.wait_for_function("window.dialed.length === 1")
    assert agent.evaluate("window.dialed") == ["+393331234567"]
    screenshot(agent, "campaigns-work.png")
    agent.check("input[name=disposition][value=no_answer]")
    agent.click("#save-outcome")
    agent.wait_for_selector("#saved")
    agent.click("#next")
    agent.wait_for_selector("#contact-card")
    assert agent.text_content("#contact-phone") == "+393477654321"
    agent.fill("input[name=a_q1]", "Spedite pure")
    agent.check("input[name=disposition][value=callback]")
    agent.fill("#callback_at", "2099-01-05T10:30")
    agent.click("#save-outcome")
    agent.wait_for_selector("#saved")
    with db.session() as s:
        by_phone = {
            c.phone: c
            for c in s.scalars(select(CampaignContact).where(CampaignContact.campaign_id == calls))
        }
        assert by_phone["+393331234567"].status == ContactStatus.PENDING  # the retry
        assert by_phone["+393331234567"].attempts == 1
        assert by_phone["+393477654321"].callback_agent_id == personas.sara.id
        assert s.get_one(Campaign, calls).status == "running"
    boss.goto(f"/campaigns/{calls}")
    assert boss.text_content("#r-attempted") == "2"
    screenshot(boss, "campaigns-report.png")
    boss.goto("/campaigns/compliance")
    screenshot(boss, "campaigns-compliance.png")
    english = new_page(personas.supervisor, locale="en-GB")
    english.goto("/campaigns")
    screenshot(english, "campaigns-index-en.png")


def whatsapp_channel_id(db):  # type: ignore[no-untyped-def]
    from sportello.channels.models import Channel

    with db.session() as s:
        return str(s.scalar(select(Channel.id).where(Channel.kind == "whatsapp")))
