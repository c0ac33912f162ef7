"""In a real browser: a colleague signs in with the company's Keycloak (the local test
provider's own sign-in form), lands in the inbox; then the admin's trust pages (single sign-on,
audit log with that sign-in, privacy) and a customer's privacy panel. Saves the screenshots."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sportello.accounts import sso
from sportello.privacy import actions as privacy_actions
from tests.accounts.oidc_provider import (
    CLIENT_ID,
    CLIENT_SECRET,
    Account,
    Provider,
    running_provider,
)
from tests.factories import inbound, receive
from tests.web.conftest import browser, console, live_server, new_page, screenshot  # noqa: F401

pytestmark = pytest.mark.browser


@pytest.fixture
def idp() -> Iterator[Provider]:
    sso.clear_cache()
    with running_provider() as provider:
        provider.accounts["sara@negozio.it"] = Account("kc-sara", "Sara Conti")
        yield provider
    sso.clear_cache()


def test_sign_in_with_keycloak_then_the_trust_pages(db, personas, idp, new_page, console) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    with db.transaction() as s:
        sso.do_save_provider(
            s,
            slug="keycloak",
            name="Keycloak Casa Lavanda",
            preset="keycloak",
            issuer=idp.issuer,
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            allowed_domains=["negozio.it"],
        )
    received = receive(db, personas.api_channel, inbound("Vorrei i miei dati, grazie."))
    with db.transaction() as s:
        from sportello.conversations.models import Conversation
        from sportello.customers.models import Customer

        customer = s.get(Customer, s.get(Conversation, received.conversation_id).customer_id)
        privacy_actions.do_record_consent(
            s,
            customer=customer,
            purpose="Sondaggi di soddisfazione",
            source="chat",
            text="Accetto di ricevere un breve sondaggio dopo l'assistenza.",
        )
        customer_id = customer.id

    page = new_page()
    page.goto("/login")
    button = page.get_by_role("link", name="Accedi con Keycloak Casa Lavanda")
    screenshot(page, "trust-sso-login.png")
    button.click()
    page.wait_for_selector("#idp-login")  # the provider's own page
    page.fill("input[name=email]", "sara@negozio.it")
    page.click("#idp-login")
    page.wait_for_url("**/inbox/mine")
    assert page.locator("#live").count() == 1

    admin = new_page(personas.admin)
    admin.goto("/admin/sso")
    assert admin.locator("#sso-providers").inner_text().count("Keycloak Casa Lavanda") == 1
    screenshot(admin, "trust-sso-admin.png")
    admin.goto("/admin/audit?action=login.succeeded")
    entries = admin.locator("#audit-entries").inner_text()
    assert "sara@negozio.it" in entries and "sso:keycloak" in entries
    admin.goto("/admin/audit")
    screenshot(admin, "trust-audit.png")
    admin.goto(f"/customers/{customer_id}")
    admin.wait_for_selector("#privacy #consents")
    assert "Sondaggi di soddisfazione" in admin.locator("#consents").inner_text()
    admin.locator("#privacy").scroll_into_view_if_needed()
    screenshot(admin, "trust-customer-privacy.png")
    with admin.expect_download() as download:
        admin.click("#gdpr-export button")
    assert download.value.suggested_filename == f"customer-{customer_id}.zip"
    admin.fill("#gdpr-erase input[name=confirm]", str(customer_id))
    admin.click("#gdpr-erase button[type=submit]")
    admin.wait_for_url("**/admin/audit?target=customer*")
    log = admin.locator("#audit-entries").inner_text()
    assert "customer.erased" in log and "customer.exported" in log
    screenshot(admin, "trust-audit-erasure.png")
    admin.goto("/admin/privacy")
    screenshot(admin, "trust-privacy.png")
    assert console.errors == []
