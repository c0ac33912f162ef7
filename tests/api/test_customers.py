"""The customers API: create with identities, search, scope, identities, merge."""

from __future__ import annotations

from tests.api.helpers import assert_problem
from tests.factories import inbound, receive

MARIO = {
    "name": "Mario Rossi",
    "identities": [
        {"kind": "email", "value": "Mario.Rossi@Example.IT"},
        {"kind": "phone", "value": "333 123 4567"},
    ],
}


def test_create_get_update(client, personas, auth):
    headers = auth(personas.supervisor)
    created = client.post("/api/v1/customers", json=MARIO, headers=headers)
    assert created.status_code == 201, created.text
    body = created.json()
    assert [(i["kind"], i["value"]) for i in body["identities"]] == [
        ("email", "mario.rossi@example.it"),
        ("phone", "+393331234567"),
    ]
    url = f"/api/v1/customers/{body['id']}"
    assert client.get(url, headers=headers).json()["name"] == "Mario Rossi"
    updated = client.patch(url, json={"notes": "Preferisce il telefono"}, headers=headers)
    assert updated.status_code == 200
    assert (updated.json()["name"], updated.json()["notes"]) == (
        "Mario Rossi",
        "Preferisce il telefono",
    )


def test_identity_owned_by_another_customer_is_409(client, personas, auth):
    headers = auth(personas.supervisor)
    assert client.post("/api/v1/customers", json=MARIO, headers=headers).status_code == 201
    again = client.post(
        "/api/v1/customers",
        json={
            "name": "Altro",
            "identities": [{"kind": "email", "value": "mario.rossi@example.it"}],
        },
        headers=headers,
    )
    assert_problem(again, 409)
    names = [c["name"] for c in client.get("/api/v1/customers", headers=headers).json()["items"]]
    assert names == ["Mario Rossi"]  # the failed create left nothing behind


def test_invalid_identities_are_422_naming_the_field(client, personas, auth):
    headers = auth(personas.supervisor)
    bad_kind = client.post(
        "/api/v1/customers",
        json={"identities": [{"kind": "fax", "value": "1"}]},
        headers=headers,
    )
    assert assert_problem(bad_kind, 422)["errors"][0]["field"] == "identities.0.kind"
    bad_email = client.post(
        "/api/v1/customers",
        json={"identities": [{"kind": "email", "value": "not-an-email"}]},
        headers=headers,
    )
    assert assert_problem(bad_email, 422)["errors"][0]["field"] == "email"


def test_search_by_name_and_identity_and_pages(client, personas, auth):
    headers = auth(personas.supervisor)
    for n, name in enumerate(["Mario Rossi", "Maria Bianchi", "Giovanni Verdi"]):
        client.post(
            "/api/v1/customers",
            json={"name": name, "identities": [{"kind": "email", "value": f"c{n}@shop.example"}]},
            headers=headers,
        )

    def names(**params) -> list[str]:
        page = client.get("/api/v1/customers", params=params, headers=headers).json()
        return [c["name"] for c in page["items"]]

    assert names(q="mari") == ["Maria Bianchi", "Mario Rossi"]
    assert names(q="c2@shop") == ["Giovanni Verdi"]
    assert names(q="100%") == []
    first = client.get("/api/v1/customers", params={"limit": 2}, headers=headers).json()
    assert len(first["items"]) == 2 and first["next_cursor"]
    rest = client.get(
        "/api/v1/customers", params={"limit": 2, "cursor": first["next_cursor"]}, headers=headers
    ).json()
    assert [c["name"] for c in rest["items"]] == ["Mario Rossi"]
    assert rest["next_cursor"] is None


def test_agents_see_only_customers_of_their_conversations(
    client, personas, auth, assistenza_conversation, vendite_conversation
):
    luca = auth(personas.luca)
    listed = client.get("/api/v1/customers", headers=luca).json()["items"]
    assert [c["name"] for c in listed] == ["Anna Neri"]
    mario = assistenza_conversation.customer_id
    assert_problem(client.get(f"/api/v1/customers/{mario}", headers=luca), 404)
    assert_problem(
        client.patch(f"/api/v1/customers/{mario}", json={"name": "x"}, headers=luca), 404
    )
    assert client.get(f"/api/v1/customers/{mario}", headers=auth(personas.sara)).status_code == 200


def test_add_identity(client, personas, auth, assistenza_conversation):
    headers = auth(personas.sara)
    url = f"/api/v1/customers/{assistenza_conversation.customer_id}/identities"
    added = client.post(url, json={"kind": "phone", "value": "+39 02 1234 5678"}, headers=headers)
    assert added.status_code == 201, added.text
    assert (added.json()["kind"], added.json()["value"]) == ("phone", "+390212345678")
    customer = client.get(
        f"/api/v1/customers/{assistenza_conversation.customer_id}", headers=headers
    ).json()
    assert len(customer["identities"]) == 2


def test_merge_is_for_supervisors(client, db, personas, auth, assistenza_conversation):
    other = receive(
        db, personas.api_channel, inbound("Sono sempre Mario", email="mario@lavoro.example")
    )
    source, target = other.customer.id, assistenza_conversation.customer_id
    url = f"/api/v1/customers/{source}/merge"
    assert_problem(client.post(url, json={"target_id": target}, headers=auth(personas.sara)), 403)

    headers = auth(personas.supervisor)
    merged = client.post(url, json={"target_id": target}, headers=headers)
    assert merged.status_code == 200, merged.text
    assert merged.json()["id"] == target
    assert {i["value"] for i in merged.json()["identities"]} == {
        "mario.rossi@example.it",
        "mario@lavoro.example",
    }
    assert_problem(client.get(f"/api/v1/customers/{source}", headers=headers), 404)
    conversations = client.get(
        "/api/v1/conversations", params={"customer_id": target}, headers=headers
    ).json()["items"]
    assert len(conversations) == 2
    self_merge = client.post(
        f"/api/v1/customers/{target}/merge", json={"target_id": target}, headers=headers
    )
    assert assert_problem(self_merge, 422)["errors"][0]["field"] == "target_id"
