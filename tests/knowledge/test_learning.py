"""The shop's own signals teach the ranking: a help-center reader's click and "was this helpful"
answer on a search result, and an agent's article link answering a question the bot handed over.
With the real multilingual model: the signal must change the ranking of a *similar* question."""

from __future__ import annotations

import html
import re

from sqlalchemy import select

from sportello.accounts.models import User
from sportello.conversations import actions as conversations_actions
from sportello.conversations.models import Conversation
from sportello.core.dispatcher import Dispatcher
from sportello.knowledge import actions, learning, semantic, service
from sportello.knowledge.models import Article, LearnedQuestion
from tests.factories import csrf_from
from tests.knowledge.conftest import KB
from tests.knowledge.test_bot import enable_bot, say
from tests.knowledge.test_retrieval import embed_all, real_model

assert learning.learn_from_agent_replies  # its handler is registered on import

SIMILAR = "mi risulta un doppio addebito sulla carta"


def _standing(db, kb: KB, title: str, question: str) -> tuple[int, float]:  # type: ignore[no-untyped-def]
    """The article's rank and confidence for a question."""
    with db.session() as s:
        result = service.search_articles(s, question, brand_id=kb.brand_id, language="it")
    for rank, hit in enumerate(result.hits):
        if hit.article.title == title:
            return rank, hit.confidence
    return 99, 0.0


def _learned(db) -> list[tuple[str, str, str]]:  # type: ignore[no-untyped-def]
    with db.session() as s:
        return [
            (s.get_one(Article, q.article_id).title, q.source, q.text)
            for q in s.scalars(select(LearnedQuestion).order_by(LearnedQuestion.id))
        ]


def _result_link(client, query: str, slug: str) -> str:  # type: ignore[no-untyped-def]
    page = client.get("/help/it/search", params={"q": query})
    links = re.findall(r'href="(/help/it/articles/' + slug + r'\?[^"]+)"', page.text)
    assert links, page.text
    return html.unescape(links[0])


def test_a_help_center_click_then_a_yes_teach_a_similar_question(client, db, kb: KB):
    semantic.set_embedder(real_model())
    embed_all(db, kb)
    searched = "addebito doppio carta pagamento"
    _rank, before = _standing(db, kb, "Metodi di pagamento", SIMILAR)
    link = _result_link(client, searched, "metodi-di-pagamento")
    page = client.get(link)
    assert page.status_code == 200
    assert _learned(db) == [("Metodi di pagamento", "click", searched)]
    rank, after = _standing(db, kb, "Metodi di pagamento", SIMILAR)
    assert rank == 0 and after > before + 0.1
    # the vote form carries the search; "yes" makes the click a helpful answer
    data = {
        "csrf_token": csrf_from(page.text),
        "helpful": "yes",
        **dict(re.findall(r'type="hidden" name="(q|t)" value="([^"]*)"', page.text)),
    }
    voted = client.post("/help/it/articles/metodi-di-pagamento/vote", data=data)
    assert voted.status_code == 200
    assert _learned(db) == [("Metodi di pagamento", "helpful", searched)]


def test_a_no_forgets_the_click_and_forged_links_teach_nothing(client, db, kb: KB):
    link = _result_link(client, "rimborso reso", "resi-e-rimborsi")
    page = client.get(link)
    assert [source for _t, source, _q in _learned(db)] == ["click"]
    data = {"csrf_token": csrf_from(page.text), "helpful": "no"}
    data |= dict(re.findall(r'type="hidden" name="(q|t)" value="([^"]*)"', page.text))
    client.post("/help/it/articles/resi-e-rimborsi/vote", data=data)
    assert _learned(db) == []
    # a made-up query or a token for another article: a view, nothing learned
    forged = link.replace("rimborso+reso", "compra+da+noi")
    assert client.get(forged).status_code == 200
    token = re.search(r"t=([0-9a-f]+)", link).group(1)  # type: ignore[union-attr]
    other = f"/help/it/articles/tempi-di-spedizione?q=rimborso+reso&t={token}"
    assert client.get(other).status_code == 200
    client.get("/help/it/articles/resi-e-rimborsi?q=x&t=" + "0" * 24)
    assert _learned(db) == []


def test_an_agents_article_link_after_a_handover_is_learned(db, kb: KB, personas):
    semantic.set_embedder(real_model())
    embed_all(db, kb)
    enable_bot(db, personas.api_channel, threshold=0.99)  # it hands everything over
    question = "ho visto sull'estratto conto che la cifra compare due volte"
    conversation_id = say(db, personas, question)
    _rank, before = _standing(db, kb, "Metodi di pagamento", SIMILAR)

    def reply(text: str, conversation: int = conversation_id) -> None:
        with db.transaction() as s:
            conversations_actions.do_send_reply(
                s,
                conversation=s.get_one(Conversation, conversation),
                author=s.get_one(User, personas.sara.id),
                text=text,
            )
        Dispatcher(db).drain()

    reply("Buongiorno, verifico subito con l'amministrazione.")  # no article: nothing learned
    assert _learned(db) == []
    reply("Ecco come funziona: http://127.0.0.1:8000/help/it/articles/metodi-di-pagamento")
    assert _learned(db) == [("Metodi di pagamento", "handover", question)]
    rank, after = _standing(db, kb, "Metodi di pagamento", SIMILAR)
    assert rank == 0 and after > before + 0.1
    # a conversation the bot did not hand over teaches nothing
    enable_bot(db, personas.api_channel, enabled=False)
    other = say(db, personas, "una domanda qualsiasi sul reso", email="altro@example.it")
    reply("Vedi http://127.0.0.1:8000/help/it/articles/resi-e-rimborsi", other)
    assert [t for t, _s, _q in _learned(db)] == ["Metodi di pagamento"]


def test_reader_signals_are_checked(db, kb: KB):
    with db.transaction() as s:
        article = s.get_one(Article, kb.ids["Resi e rimborsi"])
        token = actions.reader_token(article.id, "reso")
        assert actions.reader_token_ok(article.id, "reso", token)
        assert not actions.reader_token_ok(article.id, "resi", token)
        assert not actions.reader_token_ok(article.id, "", actions.reader_token(article.id, ""))
        try:
            actions.do_learn_from_reader(s, article=article, query="reso", signal="maybe")
        except actions.InvalidInput:
            pass
        else:
            raise AssertionError("an unknown signal must be refused")
