from __future__ import annotations

import pytest
from sqlalchemy import select

from sportello.conversations.models import Conversation
from sportello.core.errors import Conflict, InvalidInput
from sportello.customers import actions, service
from sportello.customers.identities import normalize_identity
from sportello.customers.models import Customer, CustomerMerge
from tests.factories import inbound, receive


@pytest.mark.parametrize(
    ("kind", "raw", "expected"),
    [
        ("phone", "333 123 4567", "+393331234567"),
        ("phone", "+39 02 1234 5678", "+390212345678"),
        ("phone", "0039 333 1234567", "+393331234567"),
        ("email", " Anna.Verdi@Posta.IT ", "anna.verdi@posta.it"),
        ("visitor", "v_abc", "v_abc"),
    ],
)
def test_identities_are_normalised(kind, raw, expected):
    assert normalize_identity(kind, raw)[1] == expected


@pytest.mark.parametrize(
    ("kind", "raw"), [("phone", "ciao"), ("email", "no-at-sign"), ("fax", "1"), ("email", "")]
)
def test_bad_identities_are_refused(kind, raw):
    with pytest.raises(InvalidInput):
        normalize_identity(kind, raw)


def test_identity_belongs_to_one_customer(db):
    with db.transaction() as s:
        a = actions.do_create_customer(s, name="Anna", identities=[("phone", "3331234567")])
        b = actions.do_create_customer(s, name="Bruno")
        with pytest.raises(Conflict):
            actions.do_add_identity(s, customer=b, kind="phone", value="+39 333 123 4567")
        assert service.get_by_identity(s, kind="phone", value="333-123-4567").id == a.id


def test_merge_moves_conversations_and_identities_and_is_recorded(db, personas):
    by_mail = receive(
        db,
        personas.api_channel,
        inbound(email="anna@example.it", name="Anna Verdi", provider_id="1"),
    )
    with db.transaction() as s:
        phone_customer = actions.do_create_customer(
            s, name="", identities=[("phone", "3471112222")]
        )
    with db.transaction() as s:
        source = s.get(Customer, phone_customer.id)
        target = s.get(Customer, by_mail.customer.id)
        record = actions.do_merge_customers(s, source=source, target=target, by=personas.supervisor)
        assert record.details["identities"] == [["phone", "+393471112222"]]
    with db.session() as s:
        target = s.get(Customer, by_mail.customer.id)
        assert {(i.kind.value, i.value) for i in target.identities} == {
            ("email", "anna@example.it"),
            ("phone", "+393471112222"),
        }
        assert s.get(Customer, phone_customer.id).merged_into_id == target.id
        assert s.scalar(select(CustomerMerge)).merged_by_id == personas.supervisor.id
        # A later message to the old identity lands on the surviving customer.
        assert service.get_by_identity(s, kind="phone", value="+393471112222").id == target.id
        assert s.get(Conversation, by_mail.conversation.id).customer_id == target.id


def test_merge_into_itself_or_twice_is_refused(db):
    with db.transaction() as s:
        a = actions.do_create_customer(s, name="A")
        b = actions.do_create_customer(s, name="B")
        with pytest.raises(InvalidInput):
            actions.do_merge_customers(s, source=a, target=a, by=None)
        actions.do_merge_customers(s, source=a, target=b, by=None)
        with pytest.raises(Conflict):
            actions.do_merge_customers(s, source=a, target=b, by=None)
