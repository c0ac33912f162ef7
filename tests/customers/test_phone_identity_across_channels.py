"""One customer per phone number: SMS, WhatsApp (Cloud API or through Twilio) and the API find the
same customer for the same E.164 number, whichever came first, through the real adapters' webhook
handling; merge candidates propose the customers that share a number; revision 0003 rewrites
the numbers stored under the old reading of digits without ``+``."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import time
from typing import Any
from urllib.parse import parse_qsl, urlencode

import pytest
from sqlalchemy import event, func, select

from sportello.channels.sms.signature import compute_signature
from sportello.conversations.models import Conversation
from sportello.core import migrations
from sportello.core.db import Database
from sportello.core.errors import Conflict
from sportello.customers import actions, service
from sportello.customers.identities import normalize_identity
from sportello.customers.models import Customer, CustomerIdentity, IdentityKind
from tests.channels.messaging import create_channel, fixture_bytes, fixture_json
from tests.factories import csrf_from, login

NUMBER = "+393331234567"
WA_ID = "393331234567"  # Meta's wa_id: the same number, digits only
PNID = "1122334455667"  # the phone number id in the WhatsApp fixtures
APP_SECRET = "app-secret-di-prova"
TWILIO_SID = "AC00000000000000000000000000000001"
TWILIO_TOKEN = "12345"  # the Twilio fixtures are signed with it
TWILIO_URL = "https://example.com/twilio/sms"  # and for this URL


# ---- channels and posting ---------------------------------------------------------------------


WHATSAPP = {
    "phone_number_id": PNID,
    "access_token": "EAAG-access-token",
    "app_secret": APP_SECRET,
    "verify_token": "verifica",
    "api_base": "http://127.0.0.1:9",
}
SMS = {
    "account_sid": TWILIO_SID,
    "auth_token": TWILIO_TOKEN,
    "from_number": "+15005550006",
    "api_base": "http://127.0.0.1:9",
    "webhook_url": TWILIO_URL,
}


@pytest.fixture
def whatsapp(db, personas):  # type: ignore[no-untyped-def]
    return create_channel(db, personas, "whatsapp", WHATSAPP)


@pytest.fixture
def sms(db, personas):  # type: ignore[no-untyped-def]
    return create_channel(db, personas, "sms", SMS)


def post_whatsapp(client, channel, *, wa_id: str = WA_ID, message_id: str, text: str = "Ciao"):  # type: ignore[no-untyped-def]
    """Meta's text message fixture, from ``wa_id``, signed with the channel's app secret."""
    payload: dict[str, Any] = copy.deepcopy(fixture_json("whatsapp/split/message__text.json"))
    value = payload["entry"][0]["changes"][0]["value"]
    value["contacts"][0]["wa_id"] = wa_id
    value["contacts"][0]["profile"]["name"] = "Mario Rossi"
    message = value["messages"][0]
    message.update(
        {
            "from": wa_id,
            "id": message_id,
            "timestamp": str(int(time.time())),
            "text": {"body": text},
        }
    )
    body = json.dumps(payload).encode()
    signature = "sha256=" + hmac.new(APP_SECRET.encode(), body, hashlib.sha256).hexdigest()
    response = client.post(
        f"/hooks/{channel.public_id}",
        content=body,
        headers={"Content-Type": "application/json", "X-Hub-Signature-256": signature},
    )
    assert response.status_code == 200, response.text
    return response.json()["received"][0]


def post_twilio(client, channel, body: bytes) -> None:  # type: ignore[no-untyped-def]
    """A Twilio webhook form, signed as Twilio signs it for the configured URL."""
    params = parse_qsl(body.decode(), keep_blank_values=True)
    response = client.post(
        f"/hooks/{channel.public_id}",
        content=body,
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": compute_signature(TWILIO_TOKEN, TWILIO_URL, params),
        },
    )
    assert response.status_code == 200, response.text


def post_sms(client, channel, *, sender: str = NUMBER, sid: str, text: str = "Ciao") -> None:  # type: ignore[no-untyped-def]
    """Twilio's inbound SMS fixture, from ``sender``."""
    fixture = fixture_bytes("twilio/inbound_sms_plain.form.txt").decode()
    form = dict(parse_qsl(fixture, keep_blank_values=True))
    form.update({"From": sender, "MessageSid": sid, "SmsMessageSid": sid, "SmsSid": sid})
    form["Body"] = text
    post_twilio(client, channel, urlencode(form).encode())


def post_api(client, personas, *, kind: str, value: str, message_id: str):  # type: ignore[no-untyped-def]
    response = client.post(
        f"/api/v1/channels/{personas.api_channel.public_id}/messages",
        json={
            "id": message_id,
            "from": {"kind": kind, "value": value, "name": "Mario Rossi"},
            "text": "Scrivo dal vostro sito",
        },
        headers={"Authorization": f"Bearer {personas.api_token}"},
    )
    assert response.status_code == 201, response.text
    return response.json()["received"][0]


def identities(db) -> set[tuple[str, str, int]]:  # type: ignore[no-untyped-def]
    with db.session() as s:
        return {(i.kind.value, i.value, i.customer_id) for i in s.scalars(select(CustomerIdentity))}


def live_customers(db) -> list[int]:  # type: ignore[no-untyped-def]
    with db.session() as s:
        return list(s.scalars(select(Customer.id).where(Customer.merged_into_id.is_(None))))


def assert_one_customer(db, *kinds: str, number: str = NUMBER) -> int:  # type: ignore[no-untyped-def]
    (customer_id,) = live_customers(db)
    assert identities(db) == {(k, number, customer_id) for k in kinds}
    with db.session() as s:
        owners = set(s.scalars(select(Conversation.customer_id)))
    assert owners == {customer_id}
    return customer_id


# ---- any order of first contact --------------------------------------------------------------


def test_sms_then_whatsapp_is_one_customer(client, db, whatsapp, sms):
    post_sms(client, sms, sid="SM1", text="Il mio ordine?")
    post_whatsapp(client, whatsapp, message_id="wamid.1", text="Vi scrivo anche qui")
    customer_id = assert_one_customer(db, "phone", "whatsapp")
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Conversation)) == 2
        assert s.get_one(Customer, customer_id).name == "Mario Rossi"  # WhatsApp's profile name


def test_whatsapp_then_sms_is_one_customer(client, db, whatsapp, sms):
    post_whatsapp(client, whatsapp, message_id="wamid.1")
    post_sms(client, sms, sid="SM1")
    assert_one_customer(db, "phone", "whatsapp")


def test_api_with_a_national_number_then_whatsapp_then_sms_is_one_customer(
    client, db, personas, whatsapp, sms
):
    # An integrator gives the number as an Italian would write it: no +39.
    first = post_api(client, personas, kind="phone", value="333 123 4567", message_id="a1")
    post_whatsapp(client, whatsapp, message_id="wamid.1")
    post_sms(client, sms, sid="SM1")
    assert assert_one_customer(db, "phone", "whatsapp") == first["customer_id"]


def test_whatsapp_through_twilio_then_the_cloud_api_then_sms_is_one_customer(
    client, db, whatsapp, sms
):
    post_twilio(client, sms, fixture_bytes("twilio/inbound_whatsapp_via_twilio.form.txt"))
    post_whatsapp(client, whatsapp, message_id="wamid.1")
    post_sms(client, sms, sid="SM1")
    assert_one_customer(db, "phone", "whatsapp")


def test_api_whatsapp_id_without_plus_then_sms_from_abroad_is_one_customer(
    client, db, personas, sms
):
    # A US WhatsApp id as Meta gives it; read as Italian it would be +3914155552671.
    post_api(client, personas, kind="whatsapp", value="14155552671", message_id="a1")
    post_twilio(client, sms, fixture_bytes("twilio/inbound_sms_plain.form.txt"))
    assert_one_customer(db, "phone", "whatsapp", number="+14155552671")


def test_later_messages_add_nothing_and_thread(client, db, whatsapp, sms):
    post_sms(client, sms, sid="SM1")
    post_whatsapp(client, whatsapp, message_id="wamid.1")
    before = identities(db)
    post_whatsapp(client, whatsapp, message_id="wamid.2")
    post_sms(client, sms, sid="SM2")
    assert identities(db) == before
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Conversation)) == 2


@pytest.mark.parametrize(
    ("kind", "raw"),
    [
        ("whatsapp", "393331234567"),  # wa_id
        ("whatsapp", "+393331234567"),
        ("phone", "+393331234567"),  # SMS, E.164
        ("phone", "+39 333 123 4567"),
        ("phone", "0039 333 1234567"),
        ("phone", "333 123 4567"),  # national, no +39
        ("phone", "39 333 123 4567"),  # +39 without the +
        ("whatsapp", "333-123-4567"),
    ],
)
def test_italian_numbers_with_or_without_39_are_one_number(kind, raw):
    assert normalize_identity(kind, raw) == (IdentityKind(kind), NUMBER)


@pytest.mark.parametrize(
    ("kind", "raw", "expected"),
    [
        ("whatsapp", "14155552671", "+14155552671"),
        ("phone", "14155552671", "+14155552671"),
        ("whatsapp", "4915112345678", "+4915112345678"),
        ("phone", "4915112345678", "+4915112345678"),
        ("phone", "02 1234 5678", "+390212345678"),  # a Milan landline keeps its 0
        # Valid nowhere (the fixtures' number): a WhatsApp id starts with its country code.
        ("whatsapp", "972987654321", "+972987654321"),
        ("whatsapp", "+972987654321", "+972987654321"),
    ],
)
def test_digits_without_plus_that_are_no_italian_number_are_international(kind, raw, expected):
    assert normalize_identity(kind, raw)[1] == expected


def test_email_identities_are_untouched(client, db, personas, whatsapp):
    post_api(client, personas, kind="email", value="Mario.Rossi@Example.IT", message_id="a1")
    post_whatsapp(client, whatsapp, message_id="wamid.1")
    assert len(live_customers(db)) == 2  # nothing links an address to a number
    assert ("email", "mario.rossi@example.it") in {(k, v) for k, v, _ in identities(db)}


# ---- the hot path -------------------------------------------------------------------------------


def identity_statements(db, work) -> list[str]:  # type: ignore[no-untyped-def]
    seen: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        if "customer_identity" in statement:
            seen.append(statement.split()[0].upper())

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        with db.transaction() as s:
            work(s)
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    return seen


def test_one_identity_query_a_message(db):
    def whatsapp_message(s):  # type: ignore[no-untyped-def]
        # As the WhatsApp adapter gives it: the number as whatsapp, and as phone too.
        return actions.find_or_create_customer_id(
            s, kind="whatsapp", value=NUMBER, extra=[("phone", NUMBER)], name="Mario"
        )

    with db.transaction() as s:
        customer_id, _ = actions.find_or_create_customer_id(s, kind="phone", value=NUMBER)
    # First WhatsApp contact of a known SMS customer: one lookup, one insert of the new kind.
    assert identity_statements(db, whatsapp_message) == ["SELECT", "INSERT"]
    # From then on: one lookup, nothing else.
    assert identity_statements(db, whatsapp_message) == ["SELECT"]
    assert identity_statements(
        db, lambda s: actions.find_or_create_customer_id(s, kind="phone", value="3331234567")
    ) == ["SELECT"]
    with db.session() as s:
        assert service.get_by_identity(s, kind="whatsapp", value=WA_ID).id == customer_id


# ---- identities added by hand, and duplicates from before ---------------------------------------


def test_a_number_cannot_be_given_to_a_second_customer_under_another_kind(db):
    with db.transaction() as s:
        anna = actions.do_create_customer(s, name="Anna", identities=[("whatsapp", WA_ID)])
        bruno = actions.do_create_customer(s, name="Bruno")
        with pytest.raises(Conflict):
            actions.do_add_identity(s, customer=bruno, kind="phone", value="333 123 4567")
        phone = actions.do_add_identity(s, customer=anna, kind="phone", value="333 123 4567")
        assert (phone.kind, phone.value) == (IdentityKind.PHONE, NUMBER)
        assert service.get_by_identity(s, kind="phone", value=NUMBER).id == anna.id
        found_id, _name = actions.find_or_create_customer_id(s, kind="whatsapp", value=WA_ID)
        assert found_id == anna.id


def two_customers_sharing_a_number(db) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    """As SMS then WhatsApp left them before one number meant one customer."""
    with db.transaction() as s:
        by_sms = actions.do_create_customer(s, name="", identities=[("phone", NUMBER)])
        by_whatsapp = actions.do_create_customer(s, name="Mario Rossi")
        s.add(CustomerIdentity(customer=by_whatsapp, kind=IdentityKind.WHATSAPP, value=NUMBER))
        other = actions.do_create_customer(s, name="Altro", identities=[("phone", "3471112222")])
        s.flush()
        assert other.id not in (by_sms.id, by_whatsapp.id)
        return by_sms.id, by_whatsapp.id


def candidate(customer_id: int) -> str:
    return f'name="source_id" value="{customer_id}"'


def test_merge_candidates_propose_customers_with_the_same_number(client, db, personas):
    by_sms, by_whatsapp = two_customers_sharing_a_number(db)
    login(client, personas.supervisor)
    url = f"/customers/{by_sms}"
    page = client.get(url).text
    assert "Same phone number as this customer:" in page
    assert candidate(by_whatsapp) + ">" in page  # proposed, not chosen: a merge is for good
    proposed = client.get(f"{url}/merge-candidates").text
    assert candidate(by_whatsapp) in proposed and candidate(by_sms) not in proposed
    assert proposed.count('name="source_id"') == 1  # not the customer with another number
    # A number typed as people write it finds it too.
    typed = client.get(f"{url}/merge-candidates", params={"q": "333 123 4567"}).text
    assert candidate(by_whatsapp) in typed
    assert (
        "No other customer matches."
        in client.get(f"{url}/merge-candidates", params={"q": "nessuno"}).text
    )
    response = client.post(
        f"{url}/merge",
        data={"source_id": str(by_whatsapp), "csrf_token": csrf_from(page)},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert candidate(by_whatsapp) not in client.get(url).text
    with db.session() as s:
        assert service.get_by_identity(s, kind="whatsapp", value=WA_ID).id == by_sms


def test_a_customer_without_duplicates_gets_no_proposal(client, db, personas):
    two_customers_sharing_a_number(db)
    with db.transaction() as s:
        alone = actions.do_create_customer(s, identities=[("phone", "+390212345678")])
    login(client, personas.supervisor)
    page = client.get(f"/customers/{alone.id}").text
    assert "merge-form" in page and "Same phone number" not in page
    assert 'name="source_id"' not in page
    assert client.get(f"/customers/{alone.id}/merge-candidates").text.strip() == ""


def test_messages_on_duplicates_keep_their_own_threads(client, db, whatsapp, sms):
    # Until a supervisor merges them, each kind stays with the customer who has it.
    by_sms, by_whatsapp = two_customers_sharing_a_number(db)
    post_whatsapp(client, whatsapp, message_id="wamid.1")
    post_sms(client, sms, sid="SM1")
    with db.session() as s:
        owners = dict(s.execute(select(Conversation.channel_id, Conversation.customer_id)).all())
    assert owners == {whatsapp.id: by_whatsapp, sms.id: by_sms}


# ---- revision 0003 -----------------------------------------------------------------------------


def test_revision_0003_rewrites_numbers_read_as_italian(fresh_database_url):
    url = fresh_database_url("phone_migration")
    migrations.upgrade(url, "0002")
    stored = {
        # customer: [(kind, value as the old rule stored it)]
        "us": [("whatsapp", "+3914155552671"), ("phone", "+3914155552671")],
        "fixture": [("whatsapp", "+39972987654321"), ("phone", "+39972987654321")],
        "italian": [("whatsapp", "+393331234567"), ("phone", "+390212345678")],
        "both": [("phone", "+12025550123"), ("phone", "+3912025550123")],
        "uk": [("whatsapp", "+447911123456")],
        "uk_misread": [("whatsapp", "+39447911123456")],
        "email": [("email", "anna@example.it")],
    }
    db = Database(url)
    try:
        ids: dict[str, int] = {}
        with db.engine.begin() as conn:
            for name, rows in stored.items():
                customer_id = conn.execute(
                    Customer.__table__.insert().returning(Customer.__table__.c.id),
                    {"name": name},
                ).scalar_one()
                ids[name] = customer_id
                conn.execute(
                    CustomerIdentity.__table__.insert(),
                    [{"customer_id": customer_id, "kind": k, "value": v} for k, v in rows],
                )
        migrations.upgrade(url)
        with db.session() as s:
            found = {
                (i.customer_id, i.kind.value, i.value) for i in s.scalars(select(CustomerIdentity))
            }
            assert found == {
                (ids["us"], "whatsapp", "+14155552671"),
                (ids["us"], "phone", "+14155552671"),
                (ids["fixture"], "whatsapp", "+972987654321"),  # a WhatsApp id: international
                (ids["fixture"], "phone", "+39972987654321"),  # valid nowhere: as typed
                (ids["italian"], "whatsapp", "+393331234567"),
                (ids["italian"], "phone", "+390212345678"),
                (ids["both"], "phone", "+12025550123"),  # the misread twin is gone
                (ids["uk"], "whatsapp", "+447911123456"),
                (ids["uk_misread"], "whatsapp", "+39447911123456"),  # another's: left to merge
                (ids["email"], "email", "anna@example.it"),
            }
            # The same input as before finds the same customer.
            for kind, raw, owner in (
                ("whatsapp", "14155552671", "us"),
                ("phone", "+1 415 555 2671", "us"),
                ("whatsapp", "972987654321", "fixture"),
                ("whatsapp", "393331234567", "italian"),
            ):
                assert service.get_by_identity(s, kind=kind, value=raw).id == ids[owner], raw
        migrations.upgrade(url)  # at head: nothing to do
    finally:
        db.dispose()
