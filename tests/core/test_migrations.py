"""Migrations: from empty on the test database's engine, idempotent, matching the models."""

from __future__ import annotations

import subprocess
import sys

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from sportello.core import migrations
from sportello.core.db import Database
from sportello.knowledge.search_ddl import include_name
from sportello.models import metadata


def test_upgrade_from_empty_is_idempotent_and_matches_models(fresh_database_url):
    url = fresh_database_url("migrate_check")
    db = Database(url)
    try:
        try:
            migrations.check_ready(db.engine, url)
            raise AssertionError("an empty database must not be ready")
        except migrations.DatabaseNotReady as exc:
            assert "sportello db upgrade" in str(exc)
        migrations.upgrade(url)
        migrations.upgrade(url)  # a second run changes nothing and does not fail
        migrations.check_ready(db.engine, url)
        tables = set(inspect(db.engine).get_table_names())
        assert set(metadata.tables) <= tables
        with db.engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"include_name": include_name})
            diff = compare_metadata(context, metadata)
        assert diff == [], f"models and migrations differ: {diff}"
    finally:
        db.dispose()


def test_serve_refuses_an_unmigrated_database_and_names_the_command(tmp_path):
    env = {
        "SPORTELLO_DATABASE_URL": f"sqlite:///{tmp_path / 'empty.db'}",
        "SPORTELLO_DATA_DIR": str(tmp_path),
        "PATH": "/usr/bin:/bin",
    }
    result = subprocess.run(
        [sys.executable, "-m", "sportello.cli", "serve", "--port", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "sportello db upgrade" in result.stderr


def test_cli_db_upgrade_then_user_create(tmp_path):
    env = {
        "SPORTELLO_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
        "SPORTELLO_DATA_DIR": str(tmp_path),
        "PATH": "/usr/bin:/bin",
    }

    def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "sportello.cli", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            input=stdin,
        )

    assert run("db", "upgrade").returncode == 0
    again = run("db", "upgrade")
    assert again.returncode == 0 and "up to date" in again.stdout
    created = run(
        "user",
        "create",
        "anna@negozio.it",
        "--name",
        "Anna Neri",
        "--role",
        "supervisor",
        "--password",
        "una-password-sicura",
    )
    assert created.returncode == 0, created.stderr
    assert "supervisor anna@negozio.it" in created.stdout
    duplicate = run(
        "user", "create", "anna@negozio.it", "--name", "Anna", "--password", "una-password-sicura"
    )
    assert duplicate.returncode == 1 and "already exists" in duplicate.stderr
    for command in (
        ["--help"],
        ["serve", "--help"],
        ["db", "upgrade", "--help"],
        ["demo", "--help"],
    ):
        assert run(*command).returncode == 0
