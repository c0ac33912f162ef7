"""The console's search (/search, GET /api/v1/search): names, emails, phone numbers, numbers,
subjects and messages, with the knowledge base's stems, accent folding and typo fixes, grouped,
paged and scoped. Runs on SQLite and, with SPORTELLO_TEST_DATABASE_URL, on PostgreSQL."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from sportello.accounts.models import User
from sportello.channels.base import Identity
from sportello.core.dispatcher import Dispatcher
from sportello.knowledge import actions as kb_actions
from sportello.knowledge import indexing  # noqa: F401  (registers the message indexer)
from sportello.knowledge import query as kbquery
from sportello.knowledge.models import ArticleStatus
from sportello.search import service
from tests.api.helpers import make_token
from tests.factories import inbound, login, receive


@dataclass
class Corpus:
    nicolo: int  # conversation numbers
    anna: int
    bruno: int


@pytest.fixture
def corpus(db, personas) -> Corpus:
    with db.transaction() as s:
        admin = s.get_one(User, personas.admin.id)
        # The shop's vocabulary, which typo fixes lean on, comes from its help center.
        kb_actions.do_create_article(
            s,
            brand_id=personas.brand_id,
            by=admin,
            title="Quando arriva il rimborso?",
            body_md="Il rimborso arriva in 5 giorni. Spediamo ogni giorno, gratis.",
            status=ArticleStatus.PUBLISHED,
        )
    kbquery.invalidate()
    nicolo = receive(
        db,
        personas.api_channel,
        inbound(
            "Perché il rimborso non è ancora arrivato? Abito in una città piccola.",
            email="nicolo.colombo@example.it",
            name="Nicolò Colombo",
            subject="Rimborso ordine CL-40211",
            extra_identities=[Identity("phone", "+39 333 1234567")],
        ),
    )
    anna = receive(
        db,
        personas.api_channel,
        inbound(
            "Il pacco è stato spedito lunedì ma non lo vedo.",
            email="anna.blu@example.org",
            name="Anna Blu",
            subject="Spedizioni lente",
        ),
    )
    bruno = receive(
        db,
        personas.webform,
        inbound("Vorrei un rimborso per la tovaglia", email="bruno@example.net", name="Bruno Neri"),
    )
    Dispatcher(db).drain()  # the message index is kept by a dispatcher handler
    return Corpus(nicolo.conversation.number, anna.conversation.number, bruno.conversation.number)


def _search(db, user, q, **kw):
    with db.session() as s:
        found = service.search(s, s.get_one(User, user.id), q, **kw)
        return (
            [c.name for c in found.customers.items],
            [c.number for c in found.conversations.items],
            [(h.conversation.number, h.snippet) for h in found.messages.items],
        )


def test_accents_are_folded_both_ways(db, personas, corpus):
    _customers, conversations, messages = _search(db, personas.supervisor, "citta")
    assert conversations == [corpus.nicolo]
    assert "città piccola" in messages[0][1]
    assert _search(db, personas.supervisor, "nicolo")[0] == ["Nicolò Colombo"]
    assert _search(db, personas.supervisor, "NICOLÒ")[0] == ["Nicolò Colombo"]
    # "perché" is a stop word of the shared analysis (not indexed, as in the knowledge base):
    # with a content word beside it the search still finds the message.
    assert _search(db, personas.supervisor, "perche rimborso arrivato")[1][0] == corpus.nicolo


def test_stems_find_other_forms_of_a_word(db, personas, corpus):
    # "spedizioni" (noun) finds "spedito" (verb) in a message and "Spedizioni" in a subject.
    _, conversations, messages = _search(db, personas.supervisor, "spedizioni")
    assert conversations == [corpus.anna]
    assert messages and "spedito" in messages[0][1]
    _, conversations, _ = _search(db, personas.supervisor, "spedite")
    assert conversations == [corpus.anna]
    assert set(_search(db, personas.supervisor, "rimborsi")[1]) == {corpus.nicolo, corpus.bruno}


def test_typos_are_forgiven(db, personas, corpus):
    with db.session() as s:
        found = service.search(s, s.get_one(User, personas.supervisor.id), "rimborzo")
        assert found.corrections == {"rimborzo": "rimbors"}
        assert {c.number for c in found.conversations.items} == {corpus.nicolo, corpus.bruno}
    assert _search(db, personas.supervisor, "Nicolo Colombi")[0] == ["Nicolò Colombo"]
    assert _search(db, personas.supervisor, "bruno nerri")[0] == ["Bruno Neri"]


@pytest.mark.parametrize(
    "q", ["333 1234567", "3331234567", "+39 333 123 4567", "0039 333-123-4567", "1234567"]
)
def test_phone_numbers_in_any_format(db, personas, corpus, q):
    assert _search(db, personas.supervisor, q)[0] == ["Nicolò Colombo"]


def test_emails_names_and_numbers(db, personas, corpus):
    assert _search(db, personas.supervisor, "nicolo.colombo@example.it")[0] == ["Nicolò Colombo"]
    assert _search(db, personas.supervisor, "anna.blu@")[0] == ["Anna Blu"]
    assert _search(db, personas.supervisor, "example.net")[0] == ["Bruno Neri"]
    assert _search(db, personas.supervisor, "Colombo")[0] == ["Nicolò Colombo"]
    for q in (str(corpus.anna), f"#{corpus.anna}"):
        assert _search(db, personas.supervisor, q)[1][0] == corpus.anna
    # A subject word that no message has.
    assert _search(db, personas.supervisor, "CL-40211")[1][0] == corpus.nicolo
    assert _search(db, personas.supervisor, "lente")[1] == [corpus.anna]


def test_results_are_scoped_to_what_the_user_may_see(db, personas, corpus):
    # Sara (Assistenza) sees the API channel's queue; Luca (Vendite) the web form's.
    customers, conversations, messages = _search(db, personas.sara, "rimborso")
    assert corpus.bruno not in conversations and corpus.nicolo in conversations
    assert "Bruno Neri" not in customers and _search(db, personas.sara, "Bruno")[0] == []
    assert all(number != corpus.bruno for number, _ in messages)
    _customers, conversations, messages = _search(db, personas.luca, "rimborso")
    assert conversations == [corpus.bruno] and [n for n, _ in messages] == [corpus.bruno]
    assert _search(db, personas.luca, "Nicolò")[0] == []
    assert _search(db, personas.luca, "333 1234567")[0] == []
    assert _search(db, personas.luca, str(corpus.nicolo))[1] == []


def test_hostile_and_empty_queries(db, personas, corpus):
    for q in ['" OR * NEAR(', "100%_", "\\", "", "   ", "il la", "😀" * 500, "a" * 5000]:
        _search(db, personas.supervisor, q)  # no error
    assert _search(db, personas.supervisor, "100%_") == ([], [], [])


def test_groups_page_with_more(db, personas, corpus):
    for i in range(23):
        receive(
            db,
            personas.api_channel,
            inbound(f"La tovaglia numero {i} è macchiata", email=f"c{i}@example.it", name=f"C{i}"),
        )
    Dispatcher(db).drain()
    seen: list[int] = []
    with db.session() as s:
        boss = s.get_one(User, personas.supervisor.id)
        for offset in (0, 10, 20):
            page = service.search(s, boss, "tovaglia", groups=("messages",), offset=offset)
            seen += [h.message.id for h in page.messages.items]
            assert page.messages.more == (offset < 20)
            assert page.customers.items == []  # only the group asked for
        assert len(seen) == len(set(seen)) == 24
        conversations = service.search(s, boss, "tovaglia", groups=("conversations",), limit=20)
        assert len(conversations.conversations.items) == 20 and conversations.conversations.more


def test_search_page_groups_and_more_results(client, db, personas, corpus):
    for i in range(12):
        receive(db, personas.api_channel, inbound(f"Reso {i}", email=f"r{i}@example.it"))
    Dispatcher(db).drain()
    login(client, personas.sara)
    page = client.get("/search", params={"q": "reso"}).text
    assert page.count('data-more="') >= 1 and "Altri risultati" in page
    conversations = page.split('id="result-conversations"')[1].split("</ul>")[0]
    assert conversations.count("data-row") == 10
    more = client.get("/search", params={"q": "reso", "group": "conversations"}).text
    assert more.split('id="result-conversations"')[1].split("</ul>")[0].count("data-row") == 12
    assert 'id="result-customers"' not in more and "Tutti i risultati" in more
    page = client.get("/search", params={"q": "città"}).text
    assert f'href="/c/{corpus.nicolo}' in page and "città piccola" in page
    assert "Nessun cliente corrisponde." in page
    assert (
        client.get("/search", params={"q": "100%_", "group": "nope", "offset": -4}).status_code
        == 200
    )


def test_api_search(client, db, personas, corpus):
    auth = {"Authorization": f"Bearer {make_token(db, personas.sara)}"}
    body = client.get("/api/v1/search", params={"q": "333 1234567"}, headers=auth).json()
    assert [c["name"] for c in body["customers"]["items"]] == ["Nicolò Colombo"]
    body = client.get("/api/v1/search", params={"q": "rimborzo"}, headers=auth).json()
    assert body["corrections"] == {"rimborzo": "rimbors"}
    assert [c["number"] for c in body["conversations"]["items"]] == [corpus.nicolo]
    assert body["messages"]["items"][0]["conversation_number"] == corpus.nicolo
    one = client.get(
        "/api/v1/search", params={"q": "rimborso", "group": "messages", "limit": 1}, headers=auth
    ).json()
    assert set(one) == {"q", "corrections", "messages"} and len(one["messages"]["items"]) == 1
    assert client.get("/api/v1/search", params={"q": ""}, headers=auth).status_code == 422
    assert client.get("/api/v1/search", params={"q": "x"}).status_code == 401
