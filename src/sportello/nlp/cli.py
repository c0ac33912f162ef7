"""``sportello nlp``: sentiment and intent from the command line, one text per line in, one
JSON object per line out; ``train-intents`` trains triage from a CSV (columns text,label)."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import Annotated

import typer

nlp_app = typer.Typer(help="Language tools: sentiment, intent triage.", no_args_is_help=True)


def _lines() -> list[str]:
    return [line.rstrip("\r\n") for line in sys.stdin]


@nlp_app.command("sentiment")
def sentiment_command(
    lang: Annotated[
        str | None, typer.Option("--lang", help="it or en; detected per line when left out")
    ] = None,
) -> None:
    """Read one text per line on standard input; print one JSON object per line
    (label, score, language)."""
    from sportello.nlp import language, sentiment

    if lang is not None and lang not in ("it", "en"):
        raise typer.BadParameter("it or en", param_hint="--lang")
    out = sys.stdout
    for text in sys.stdin:
        text = text.rstrip("\r\n")
        code = lang or language.detect(text)[0]
        result = sentiment.analyse(text, code)
        out.write(json.dumps({"text": text, **result.as_dict()}, ensure_ascii=False) + "\n")
    out.flush()


def _brand_id(session: object) -> int:
    from sportello.accounts import service as accounts_service

    return accounts_service.default_brand(session).id  # type: ignore[arg-type]


@nlp_app.command("train-intents")
def train_intents(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV: text,label")],
) -> None:
    """Train the triage classifier from a CSV (header text,label); the model becomes the one
    in use. Prints the accuracy on a held-back fifth as JSON."""
    from sportello.config import get_settings
    from sportello.core.db import Database
    from sportello.core.errors import InvalidInput
    from sportello.nlp import actions

    with file.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        if not reader.fieldnames or not {"text", "label"} <= set(reader.fieldnames):
            typer.echo("error: the CSV needs the columns text and label", err=True)
            raise typer.Exit(2)
        rows = [(r["text"] or "", r["label"] or "") for r in reader]
    db = Database(get_settings().database_url)
    try:
        with db.transaction() as session:
            model = actions.do_train_intents(
                session,
                brand_id=_brand_id(session),
                texts=[t for t, _ in rows],
                labels=[lab for _, lab in rows],
            )
            summary = {
                "model_id": model.id,
                "examples": model.examples,
                "labels": model.labels,
                "held_out": model.held_out,
                "accuracy": model.accuracy,
                "coverage": model.coverage,
                "sure_accuracy": model.sure_accuracy,
            }
    except InvalidInput as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    finally:
        db.dispose()
    typer.echo(json.dumps(summary, ensure_ascii=False))


@nlp_app.command("intent")
def intent_command(
    threshold: Annotated[
        float | None, typer.Option(help="confidence below which the label is null")
    ] = None,
) -> None:
    """Read one text per line; print one JSON object per line with label (null when not
    sure) and confidence, from the triage model in use."""
    from sportello.config import get_settings
    from sportello.core.db import Database
    from sportello.nlp import actions, intent, service

    db = Database(get_settings().database_url)
    try:
        with db.session() as session:
            brand_id = _brand_id(session)
            row = service.active_model(session, brand_id)
            if row is None:
                typer.echo(
                    "error: no triage model yet: run `sportello nlp train-intents`", err=True
                )
                raise typer.Exit(2)
            cut = (
                threshold
                if threshold is not None
                else service.settings_for(session, brand_id).triage_threshold
            )
            model = actions.load_model(row)
    finally:
        db.dispose()
    texts = _lines()
    out = sys.stdout
    for text, (label, confidence) in zip(
        texts, intent.predict(model, texts, threshold=cut), strict=True
    ):
        out.write(
            json.dumps(
                {"text": text, "label": label, "confidence": round(confidence, 4)},
                ensure_ascii=False,
            )
            + "\n"
        )
    out.flush()
