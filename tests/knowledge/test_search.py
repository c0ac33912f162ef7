"""Search: stemming, accents, typos, synonyms, title boost, statuses, safety against any input."""

from __future__ import annotations

import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from sportello.accounts.models import User
from sportello.core.db import Database
from sportello.knowledge import actions, service, text
from sportello.knowledge.models import ArticleStatus, Term
from tests.factories import inbound, receive
from tests.knowledge.conftest import KB, titles


def search(db: Database, kb: KB, q: str, **kwargs):  # type: ignore[no-untyped-def]
    with db.session() as s:
        return service.search_articles(s, q, brand_id=kb.brand_id, **kwargs)


def test_text_folding_and_stemming():
    assert text.fold("Perché così? Città") == "perche cosi? citta"
    assert text.terms("Le spedizioni sono arrivate", "it") == text.terms("spedizione arrivata")
    assert text.guess_language("where is my order please") == "en"
    assert text.guess_language("dov'è il mio ordine") == "it"


def test_stemmed_accent_insensitive_search(db, kb):
    assert titles(search(db, kb, "spedizioni"))[0] == "Tempi di spedizione"
    assert titles(search(db, kb, "restituzione prodotti"))[0] == "Resi e rimborsi"
    # "è gratuita" / "e gratuita": accents do not matter
    assert titles(search(db, kb, "consegna gratùita"))[0] == "Tempi di spedizione"


def test_typo_tolerance_for_short_queries(db, kb):
    result = search(db, kb, "spedizone")
    assert titles(result)[0] == "Tempi di spedizione"
    assert result.corrections  # the typo was corrected, not just ignored
    assert titles(search(db, kb, "rimborzo"))[0] == "Resi e rimborsi"


def test_synonyms_editable_by_admins_expand_queries(db, kb, personas):
    assert search(db, kb, "restituzione").hits  # stem match already
    assert not search(db, kb, "riaccredito").hits
    with db.transaction() as s:
        admin = s.get_one(User, personas.admin.id)
        actions.do_add_synonyms(
            s, brand_id=kb.brand_id, by=admin, words=["rimborso", "riaccredito", "soldi indietro"]
        )
    assert titles(search(db, kb, "riaccredito"))[0] == "Resi e rimborsi"
    assert titles(search(db, kb, "voglio i soldi indietro"))[0] == "Resi e rimborsi"


def test_synonyms_need_an_admin(db, kb, personas):
    import pytest

    from sportello.core.errors import PermissionDenied

    with db.transaction() as s, pytest.raises(PermissionDenied):
        actions.do_add_synonyms(
            s, brand_id=kb.brand_id, by=s.get_one(User, personas.sara.id), words=["a1", "b1"]
        )


def test_title_boost(db, kb):
    with db.transaction() as s:
        editor = s.get_one(User, kb.editor.id)
        for title, body in [
            ("Buoni e promozioni", "Il buono vale sei mesi. Il buono non si converte. Ogni buono."),
            ("Carte regalo", "Le carte si comprano online e valgono un anno."),
        ]:
            actions.do_create_article(
                s, brand_id=kb.brand_id, by=editor, title=title, body_md=body,
                status=ArticleStatus.PUBLISHED,
            )  # fmt: skip
        editor_id = editor.id
    assert editor_id
    assert titles(search(db, kb, "regalo"))[0] == "Carte regalo"
    assert titles(search(db, kb, "buono"))[0] == "Buoni e promozioni"


def test_statuses_and_languages(db, kb):
    public = titles(search(db, kb, "rimborso manuale gestionale"))
    assert "Procedura interna per i rimborsi manuali" not in public
    agents = titles(search(db, kb, "rimborso manuale gestionale", statuses=service.FOR_AGENTS))
    assert agents[0] == "Procedura interna per i rimborsi manuali"
    assert not search(db, kb, "garanzia").hits  # drafts are never public
    assert titles(search(db, kb, "refund", language="en")) == ["Returns and refunds"]


def test_prefix_search_as_you_type(db, kb):
    assert titles(search(db, kb, "sped", prefix=True))[0] == "Tempi di spedizione"
    assert titles(search(db, kb, "pagam", prefix=True))[0] == "Metodi di pagamento"


def test_confidence_and_best_passage(db, kb):
    with db.session() as s:
        result = service.search_articles(s, "quando arriva il rimborso?", brand_id=kb.brand_id)
        best = result.hits[0]
        assert best.article.title == "Resi e rimborsi"
        assert best.confidence > 0.5
        passage = service.best_passage(best.article, result.query)
        assert "rimborso arriva" in passage
        weak = service.search_articles(s, "orari del negozio di Milano", brand_id=kb.brand_id)
        assert not weak.hits or weak.hits[0].confidence < 0.5


def test_vocabulary_counts_follow_edits(db, kb):
    with db.transaction() as s:
        editor = s.get_one(User, kb.editor.id)
        article = service.get_article(s, kb.ids["Metodi di pagamento"])
        actions.do_update_article(
            s, article=article, by=editor, title="Metodi di pagamento", body_md="Satispay e PayPal."
        )
    with db.session() as s:
        counts = dict(
            s.execute(select(Term.term, Term.doc_count).where(Term.language == "it")).all()
        )
    assert counts.get("satispay") == 1
    assert counts.get("bonif", 0) == 0


FTS_SOUP = ['"', "*", "NEAR(", "OR", "-", "AND NOT", "^", ":", "(", ")", "'", "{", "}", "\\", "%"]


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.one_of(st.sampled_from(FTS_SOUP), st.text(max_size=30), st.sampled_from(["reso", "è"])),
        max_size=12,
    ).map(" ".join)
)
def test_any_input_never_errors(db, kb, q):
    with db.session() as s:
        for prefix in (False, True):
            service.search_articles(s, q, brand_id=kb.brand_id, prefix=prefix)
        service.search_articles(s, q, brand_id=kb.brand_id, statuses=list(ArticleStatus))


def test_huge_and_symbol_queries_are_fast(db, kb):
    with db.session() as s:
        for q in ["reso " * 100_000, '"*' * 50_000, "NEAR(a b) OR -c " * 1000, "😀" * 10_000]:
            started = time.perf_counter()
            service.search_articles(s, q, brand_id=kb.brand_id, prefix=True)
            assert time.perf_counter() - started < 1.0


def test_conversation_search_is_stemmed_and_scoped(db, personas):
    from sportello.core.dispatcher import Dispatcher
    from sportello.knowledge import indexing  # noqa: F401

    receive(db, personas.api_channel, inbound("Le scarpe sono arrivate rotte, voglio il rimborso"))
    receive(db, personas.webform, inbound("Domanda sulle spedizioni", email="b@example.it"))
    Dispatcher(db).drain()
    with db.session() as s:
        sara = s.get_one(User, personas.sara.id)  # Assistenza: sees the API channel's queue
        luca = s.get_one(User, personas.luca.id)  # Vendite: sees the web form's queue
        found = service.search_conversations(s, sara, "rimborsi scarpa")
        assert [c.subject[:10] for c in found] == ["Le scarpe "]
        assert service.search_conversations(s, luca, "rimborsi scarpa") == []
        assert len(service.search_conversations(s, luca, "spedizione")) == 1
        assert service.search_conversations(s, sara, '" OR * NEAR(') == []


def test_candidate_budget_bounds_common_word_queries(db, kb, monkeypatch):
    from sportello.knowledge import query as kbquery

    monkeypatch.setattr(kbquery, "CANDIDATE_BUDGET", 1)  # every word is "too common" now
    with db.session() as s:
        parsed = kbquery.parse(s, "consegna rimborso", brand_id=kb.brand_id)
        plan = kbquery.match_plan(parsed, s)
        assert plan.capped and not plan.any_of and plan.title_of
        result = service.search_articles(s, "rimborsi", brand_id=kb.brand_id)
        assert titles(result) == ["Resi e rimborsi"]  # title matches, newest first, ranked


class _FakeEmbedder:
    """A bag-of-concepts 'model': enough to check the hybrid plumbing without torch."""

    name = "fake"
    concepts = (("soldi", "rimborso", "refund"), ("pacco", "spedizione", "consegna"))

    def encode(self, texts):  # type: ignore[no-untyped-def]
        import numpy as np

        rows = []
        for t in texts:
            low = t.lower()
            v = np.array([sum(w in low for w in c) for c in self.concepts] + [0.1], dtype="f4")
            rows.append(v / np.linalg.norm(v))
        return np.vstack(rows)


def test_hybrid_semantic_ranking_when_a_model_is_installed(db, kb, personas):
    import pytest

    pytest.importorskip("numpy")
    from sportello.knowledge import semantic
    from sportello.knowledge.models import Embedding

    question = "dove sono i miei soldi"  # no word in common with the refunds article
    assert not search(db, kb, question).hits  # lexical alone: nothing
    semantic.set_embedder(_FakeEmbedder())
    with db.transaction() as s:
        for article_id in kb.ids.values():
            semantic.embed_article(s, service.get_article(s, article_id))
    with db.session() as s:
        assert s.scalars(select(Embedding)).first() is not None
        result = service.search_articles(s, question, brand_id=kb.brand_id)
        assert titles(result)[0] == "Resi e rimborsi"  # brought in by the semantic side
        # the fused score is the confidence: meaning found without a shared word counts
        assert result.hits[0].confidence > 0.5
