"""Alembic helpers: upgrade, and the check ``serve`` runs before it starts."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

ROOT = Path(__file__).resolve().parents[3]
PACKAGE_MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"


class DatabaseNotReady(RuntimeError):
    pass


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(PACKAGE_MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def head_revision(url: str) -> str | None:
    return ScriptDirectory.from_config(alembic_config(url)).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def check_ready(engine: Engine, url: str) -> None:
    current = current_revision(engine)
    head = head_revision(url)
    if current is None:
        raise DatabaseNotReady(
            "the database has no tables yet: run 'sportello db upgrade' (and 'sportello demo' "
            "for demo data)"
        )
    if current != head:
        raise DatabaseNotReady(
            f"the database is at revision {current}, the code needs {head}: "
            "run 'sportello db upgrade'"
        )
