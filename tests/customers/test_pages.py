"""Customer pages: every conversation on every channel, editing, merging, scoping."""

from __future__ import annotations

from sqlalchemy import select

from sportello.conversations.models import Conversation
from sportello.customers.models import Customer, CustomerIdentity
from tests.factories import csrf_from, inbound, login, receive


def test_customer_page_shows_identities_and_conversations_on_every_channel(client, personas, db):
    api = receive(db, personas.api_channel, inbound("Dal sito", provider_id="a", subject="Ordine"))
    form = receive(db, personas.webform, inbound("Dal modulo", subject="Preventivo"))
    assert api.customer.id == form.customer.id
    login(client, personas.supervisor)
    page = client.get(f"/customers/{api.customer.id}").text
    assert "mario.rossi@example.it" in page
    assert f"#{api.conversation.number}" in page and f"#{form.conversation.number}" in page
    # the conversation page's customer panel lists both as well
    panel = client.get(f"/c/{api.conversation.number}").text
    assert f'href="/c/{form.conversation.number}"' in panel


def test_an_agent_sees_only_the_conversations_of_their_scope(client, personas, db):
    api = receive(db, personas.api_channel, inbound("Dal sito", provider_id="a", subject="Ordine"))
    form = receive(db, personas.webform, inbound("Dal modulo", subject="Preventivo"))
    login(client, personas.sara)
    page = client.get(f"/customers/{api.customer.id}").text
    assert f"#{api.conversation.number}" in page and f"#{form.conversation.number}" not in page
    other = receive(db, personas.webform, inbound("x", email="solo.vendite@example.it"))
    assert client.get(f"/customers/{other.customer.id}").status_code == 404
    listing = client.get("/customers").text
    assert "Mario Rossi" in listing and "solo.vendite@example.it" not in listing


def test_edit_name_and_notes(client, personas, db):
    result = receive(db, personas.api_channel, inbound("x", provider_id="a"))
    login(client, personas.sara)
    url = f"/customers/{result.customer.id}"
    token = csrf_from(client.get(url).text)
    response = client.post(
        url,
        data={"name": "Mario Rossi (Lodi)", "notes": "Preferisce il telefono", "csrf_token": token},
        follow_redirects=False,
    )
    assert response.status_code == 303
    with db.session() as s:
        customer = s.get(Customer, result.customer.id)
        assert (customer.name, customer.notes) == ("Mario Rossi (Lodi)", "Preferisce il telefono")


def test_supervisor_merges_a_duplicate(client, personas, db):
    mario = receive(db, personas.api_channel, inbound("uno", provider_id="a"))
    duplicate = receive(
        db, personas.webform, inbound("due", email="m.rossi@lavoro.it", name="M. Rossi")
    )
    login(client, personas.supervisor)
    url = f"/customers/{mario.customer.id}"
    page = client.get(url).text
    candidates = client.get(f"{url}/merge-candidates", params={"q": "lavoro"}).text
    assert f'value="{duplicate.customer.id}"' in candidates
    response = client.post(
        f"{url}/merge",
        data={"source_id": str(duplicate.customer.id), "csrf_token": csrf_from(page)},
        follow_redirects=False,
    )
    assert response.status_code == 303
    with db.session() as s:
        assert s.get(Customer, duplicate.customer.id).merged_into_id == mario.customer.id
        owners = set(s.scalars(select(Conversation.customer_id)))
        assert owners == {mario.customer.id}
        assert (
            len(
                s.scalars(
                    select(CustomerIdentity).where(
                        CustomerIdentity.customer_id == mario.customer.id
                    )
                ).all()
            )
            == 2
        )
    assert "Customers merged." in client.get(f"{url}?merged=1").text
    assert client.get(f"/customers/{duplicate.customer.id}").status_code == 404


def test_agents_cannot_merge(client, personas, db):
    mario = receive(db, personas.api_channel, inbound("uno", provider_id="a"))
    other = receive(db, personas.api_channel, inbound("due", provider_id="b", email="x@example.it"))
    login(client, personas.sara)
    url = f"/customers/{mario.customer.id}"
    page = client.get(url).text
    assert "merge-form" not in page
    response = client.post(
        f"{url}/merge", data={"source_id": str(other.customer.id), "csrf_token": csrf_from(page)}
    )
    assert response.status_code == 403
    with db.session() as s:
        assert s.get(Customer, other.customer.id).merged_into_id is None


def test_merging_into_itself_is_refused(client, personas, db):
    mario = receive(db, personas.api_channel, inbound("uno", provider_id="a"))
    login(client, personas.supervisor)
    url = f"/customers/{mario.customer.id}"
    token = csrf_from(client.get(url).text)
    response = client.post(
        f"{url}/merge",
        data={"source_id": str(mario.customer.id), "csrf_token": token},
        headers={"accept": "text/html"},
    )
    assert response.status_code == 422
