"""The engines on their own: sentiment (Italian and English), calibration from CSAT, language
identification, the intent classifier, redaction."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from sportello.nlp import assist, intent, language, sentiment

DATA = Path(__file__).resolve().parents[2] / "bench" / "data"


def _rows(name: str) -> list[tuple[str, str]]:
    with (DATA / name).open(encoding="utf-8") as handle:
        return [(r["label"], r["text"]) for r in csv.DictReader(handle, delimiter="\t")]


@pytest.mark.parametrize(
    ("name", "lang", "floor"), [("sentiment_it.tsv", "it", 0.8), ("sentiment_en.tsv", "en", 0.75)]
)
def test_sentiment_accuracy_on_the_labelled_sets(name: str, lang: str, floor: float) -> None:
    rows = _rows(name)
    right = sum(sentiment.analyse(text, lang).label == gold for gold, text in rows)
    assert right / len(rows) >= floor


def test_italian_rules() -> None:
    assert sentiment.analyse("Sono soddisfatto", "it").label == "positive"
    assert sentiment.analyse("Non sono soddisfatto", "it").label == "negative"  # negation
    calm = sentiment.score("Il servizio è lento", "it")
    angry = sentiment.score("Il servizio è DAVVERO LENTO!!!", "it")
    assert angry < calm < 0  # boosters, capitals, exclamation marks
    assert (
        sentiment.analyse("Bello il plaid ma la consegna è stata un disastro", "it").label
        == "negative"
    )
    assert sentiment.analyse("", "it").label == "neutral"


def test_conversation_score_weighs_recent_messages() -> None:
    calmed = sentiment.conversation_score([-0.9, -0.5, 0.8])
    lost_patience = sentiment.conversation_score([0.8, -0.5, -0.9])
    assert calmed > 0 > lost_patience


def test_calibration_moves_thresholds_to_the_csat() -> None:
    # Customers of this shop are unhappy already at mildly negative scores.
    pairs = [(-0.1, 1)] * 10 + [(-0.12, 2)] * 5 + [(0.0, 3)] * 5 + [(0.1, 5)] * 10
    fitted = sentiment.calibrate(pairs)
    assert fitted is not None
    assert -0.12 <= fitted.negative < 0 < fitted.positive <= 0.1
    assert fitted.label(-0.1) == "negative"
    assert sentiment.DEFAULT.label(-0.1) == "neutral"
    assert sentiment.calibrate(pairs[:5]) is None


def test_language_detection() -> None:
    assert language.detect("Buongiorno, il mio pacco non è ancora arrivato")[0] == "it"
    assert language.detect("Hello, my parcel has not arrived yet")[0] == "en"
    assert language.detect("ok", fallback="en") == ("en", 0.0)


def _csv(name: str) -> list[tuple[str, str]]:
    with (DATA / name).open(encoding="utf-8") as handle:
        return [(r["text"], r["label"]) for r in csv.DictReader(handle)]


def test_intent_learns_and_says_when_not_sure() -> None:
    train = _csv("intent_train.csv")
    result = intent.train([t for t, _ in train], [lab for _, lab in train])
    assert result.accuracy is not None and result.held_out > 0
    test = _csv("intent_test.csv")
    out = intent.predict(result.model, [t for t, _ in test], threshold=0.0)
    right = sum(lab == gold for (lab, _), (_, gold) in zip(out, test, strict=True))
    assert right / len(test) >= 0.6
    # An impossible threshold: nothing is sure, every label is None.
    assert all(lab is None for lab, _ in intent.predict(result.model, ["boh"], threshold=1.01))
    blob = intent.dumps(result.model)
    again = intent.loads(blob)
    assert intent.predict(again, ["dov'è il mio pacco"], threshold=0.0)[0][0] == "spedizione"
    with pytest.raises(intent.NotEnoughData):
        intent.train(["a", "b"], ["x", "y"])


def test_redaction_hides_personal_data_and_puts_it_back() -> None:
    redactor = assist.Redactor(names=["Mario Rossi", "Mario", "Rossi"])
    text = (
        "Sono Mario Rossi, scrivetemi a mario.rossi@example.it o chiamate il +39 333 123 4567. "
        "IBAN IT60 X054 2811 1010 0000 0123 456, CF RSSMRA80A01H501U."
    )
    hidden = redactor.redact(text)
    for secret in (
        "Mario",
        "Rossi",
        "mario.rossi@example.it",
        "333 123 4567",
        "IT60",
        "RSSMRA80A01H501U",
    ):
        assert secret not in hidden
    assert "[EMAIL_1]" in hidden and "[IBAN_1]" in hidden and "[CODICE_FISCALE_1]" in hidden
    assert redactor.restore(hidden) == text
