"""``sportello kb``: import a knowledge base from a file or folder, search it as the help center."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from sportello.core.db import Database

kb_app = typer.Typer(help="Knowledge base: import articles, search them.", no_args_is_help=True)


def _database() -> Database:
    from sportello.config import get_settings
    from sportello.core.db import Database

    return Database(get_settings().database_url)


@kb_app.command("import")
def import_(
    path: Annotated[
        Path,
        typer.Argument(
            help="A .csv or .json file (plain, Zendesk Guide or Freshdesk export), a .md file "
            "or a folder of Markdown files.",
            exists=True,
        ),
    ],
    by: Annotated[str, typer.Option(help="E-mail of the editor the articles belong to.")] = "",
    language: Annotated[str, typer.Option(help="Language of records that name none.")] = "it",
    draft: Annotated[bool, typer.Option(help="Import as drafts instead of published.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Import articles; titles already present are skipped, invalid records reported."""
    from sqlalchemy import select

    from sportello.accounts import service as accounts_service
    from sportello.accounts.models import Role, User
    from sportello.core.errors import SportelloError
    from sportello.knowledge import actions, importer

    db = _database()
    try:
        items = importer.read_path(path)
        with db.transaction() as s:
            stmt = select(User).where(User.role == Role.ADMIN).order_by(User.id).limit(1)
            if by:
                stmt = select(User).where(User.email == by.strip().lower())
            editor = s.scalar(stmt)
            if editor is None:
                typer.secho(f"Error: no user {by or '(admin)'}", fg=typer.colors.RED, err=True)
                raise typer.Exit(code=1)
            report = actions.do_import_articles(
                s,
                brand_id=accounts_service.default_brand(s).id,
                by=editor,
                items=items,
                language=language,
                publish=not draft,
            )
    except SportelloError as exc:
        typer.secho(f"Error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(code=1) from None
    finally:
        db.dispose()
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "created": report.created,
                    "skipped": report.skipped,
                    "errors": [{"record": n, "error": e} for n, e in report.errors],
                },
                ensure_ascii=False,
            )
        )
        return
    typer.echo(
        f"Imported {len(report.created)} article(s); skipped {len(report.skipped)} already "
        f"present; {len(report.errors)} invalid."
    )
    for number, error in report.errors:
        typer.echo(f"  record {number}: {error}", err=True)


@kb_app.command("embed")
def embed() -> None:
    """Give every article and learned question a vector from the installed model."""
    from sportello.knowledge import actions, semantic

    if semantic.embedder() is None:
        typer.secho("Error: no semantic model (see SPORTELLO_KB_SEMANTIC)", fg=typer.colors.RED)
        raise typer.Exit(code=1)
    db = _database()
    try:
        with db.transaction() as s:
            done = actions.embed_missing(s)
    finally:
        db.dispose()
    typer.echo(f"Embedded {done} article(s) and question(s).")


@kb_app.command("search")
def search(
    query: Annotated[str, typer.Argument(help="What a customer would type.")],
    lang: Annotated[str, typer.Option("--lang", help="it or en (default: guessed).")] = "",
    limit: Annotated[int, typer.Option(help="How many articles.", min=1, max=100)] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON array of id, title, score.")] = (
        False
    ),
) -> None:
    """The published articles ranked exactly as the help center ranks them."""
    from sportello.accounts import service as accounts_service
    from sportello.knowledge import helpcenter, text

    if lang and lang not in text.LANGUAGES:
        typer.secho("Error: --lang must be it or en", fg=typer.colors.RED, err=True)
        raise typer.Exit(code=2)
    db = _database()
    try:
        with db.session() as s:
            language = lang or text.guess_language(query)
            accounts_service.default_brand(s)
            result = helpcenter.ranked(s, language, query, limit=limit)
            rows = [
                {
                    "id": h.article.id,
                    "title": h.article.title,
                    "score": round(h.rank, 6),
                    "confidence": round(h.confidence, 4),
                }
                for h in result.hits
            ]
    finally:
        db.dispose()
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False))
        return
    for row in rows:
        typer.echo(f"{row['id']:>7}  {row['score']:8.4f}  {row['title']}")
