"""`sportello nlp`: sentiment and intent from standard input, training from a CSV."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from sportello.cli import app
from sportello.core.db import Database

DATA = Path(__file__).resolve().parents[2] / "bench" / "data"


def test_sentiment_lines() -> None:
    result = CliRunner().invoke(
        app, ["nlp", "sentiment"], input="Grazie, perfetto!\nThis is awful\n\n"
    )
    assert result.exit_code == 0, result.output
    lines = [json.loads(x) for x in result.stdout.splitlines()]
    assert [x["label"] for x in lines] == ["positive", "negative", "neutral"]
    assert lines[0]["language"] == "it" and lines[1]["language"] == "en"
    forced = CliRunner().invoke(app, ["nlp", "sentiment", "--lang", "en"], input="ok\n")
    assert json.loads(forced.stdout)["language"] == "en"
    assert CliRunner().invoke(app, ["nlp", "sentiment", "--lang", "xx"], input="").exit_code != 0


def test_train_then_intent(db: Database, personas: Any, tmp_path: Path) -> None:
    runner = CliRunner()
    nothing = runner.invoke(app, ["nlp", "intent"], input="ciao\n")
    assert nothing.exit_code == 2
    bad = tmp_path / "bad.csv"
    bad.write_text("testo,etichetta\nciao,x\n")
    assert runner.invoke(app, ["nlp", "train-intents", str(bad)]).exit_code == 2
    trained = runner.invoke(app, ["nlp", "train-intents", str(DATA / "intent_train.csv")])
    assert trained.exit_code == 0, trained.output
    summary = json.loads(trained.stdout)
    assert summary["examples"] == 48 and summary["accuracy"] is not None
    out = runner.invoke(
        app, ["nlp", "intent"], input="mi mandate la fattura con partita iva?\nboh\n"
    )
    assert out.exit_code == 0, out.output
    first, _second = [json.loads(x) for x in out.stdout.splitlines()]
    assert first["label"] == "fattura" and first["confidence"] >= 0.5
    strict = runner.invoke(app, ["nlp", "intent", "--threshold", "1.01"], input="boh\n")
    assert json.loads(strict.stdout)["label"] is None
