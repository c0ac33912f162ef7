"""Test fixtures: a real database (SQLite by default, PostgreSQL with SPORTELLO_TEST_DATABASE_URL),
migrated once per run and emptied before each test; an app; named personas."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from sportello.config import Settings, get_settings
from sportello.core.db import Database
from sportello.models import metadata

PG_URL_ENV = "SPORTELLO_TEST_DATABASE_URL"


def _prepare_postgres(url: str) -> None:
    parsed = make_url(url)
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{parsed.database}"'))
    except Exception as exc:
        pytest.exit(f"PostgreSQL at {url} is unreachable: {exc}", returncode=3)
    finally:
        admin.dispose()


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("data")


@pytest.fixture(scope="session")
def database_url(data_dir: Path) -> str:
    url = os.environ.get(PG_URL_ENV)
    if url:
        _prepare_postgres(url)
        return url
    return f"sqlite:///{data_dir / 'test.db'}"


@pytest.fixture(scope="session", autouse=True)
def test_settings(data_dir: Path, database_url: str) -> Iterator[Settings]:
    os.environ["SPORTELLO_DATA_DIR"] = str(data_dir)
    os.environ["SPORTELLO_DATABASE_URL"] = database_url
    os.environ["SPORTELLO_SECRET_KEY"] = "test-secret-key-not-for-production"
    os.environ["SPORTELLO_WEBFORM_RATE_LIMIT"] = "5/minute"
    # Still argon2id, just cheap: tests create many users.
    os.environ["SPORTELLO_ARGON2_TIME_COST"] = "1"
    os.environ["SPORTELLO_ARGON2_MEMORY_KIB"] = "1024"
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()


@pytest.fixture
def fresh_database_url(database_url: str, tmp_path: Path) -> Callable[[str], str]:
    """Makes an empty database named ``name`` and gives its URL: a file on SQLite; on PostgreSQL
    one beside this run's test database (so that runs do not collide), dropped first if left over.
    For tests that migrate a database of their own."""

    def make(name: str) -> str:
        if database_url.startswith("sqlite"):
            return f"sqlite:///{tmp_path / (name + '.db')}"
        url = make_url(database_url)
        fresh = url.set(database=f"{url.database}_{name}").render_as_string(hide_password=False)
        _prepare_postgres(fresh)
        return fresh

    return make


@pytest.fixture(scope="session")
def migrated_db(test_settings: Settings, database_url: str) -> Iterator[Database]:
    from sportello.cli import ensure_defaults
    from sportello.core import migrations

    migrations.upgrade(database_url)
    db = Database(database_url)
    ensure_defaults(db)
    yield db
    db.dispose()


def _empty(db: Database) -> None:
    tables = [t.name for t in reversed(metadata.sorted_tables)]
    with db.engine.begin() as conn:
        if db.is_sqlite:
            conn.exec_driver_sql("PRAGMA defer_foreign_keys=ON")
            for name in tables:
                conn.exec_driver_sql(f'DELETE FROM "{name}"')
        else:
            quoted = ", ".join(f'"{name}"' for name in tables)
            conn.exec_driver_sql(f"TRUNCATE {quoted} RESTART IDENTITY CASCADE")


@pytest.fixture
def db(migrated_db: Database) -> Iterator[Database]:
    from sportello.cli import ensure_defaults
    from sportello.core import ratelimit

    _empty(migrated_db)
    ensure_defaults(migrated_db)
    ratelimit.reset()
    yield migrated_db


@pytest.fixture(scope="session")
def shared_app(migrated_db: Database, test_settings: Settings):  # type: ignore[no-untyped-def]
    """One app for the run. FastAPI 0.16x builds each included route's handler lazily, per app:
    about 2.5 s of signature and model work on the first requests of every new app, which a
    fresh app per test paid a thousand times. The app holds no per-test state beyond its
    settings (reset below); the database is emptied by ``db`` as before."""
    from sportello.main import create_app

    return create_app(test_settings, db=migrated_db, run_workers=False)


@pytest.fixture
def app(db: Database, test_settings: Settings, shared_app):  # type: ignore[no-untyped-def]
    shared_app.state.settings = test_settings  # a test may have swapped them
    return shared_app


@pytest.fixture
def client(app) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    with TestClient(app, base_url="http://testserver") as c:
        yield c


@pytest.fixture
def personas(db: Database):  # type: ignore[no-untyped-def]
    from tests.factories import make_personas

    return make_personas(db)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Browser tests run last, all together: while Playwright's driver is alive its event loop
    counts as running in this thread, and a later test's asyncio.run() would fail."""
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)
