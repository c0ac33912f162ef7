from __future__ import annotations

from collections.abc import Iterator

import pytest

from sportello.channels.voice.daemons import Stack
from sportello.config import Settings
from sportello.core.db import Database
from tests.channels.voice.harness import need_voice_tools, reap_sipps, run_stack, serve


@pytest.fixture(scope="module")
def voice_server(migrated_db: Database, test_settings: Settings) -> Iterator[str]:
    """One server for the module: each test's ``db`` fixture empties the tables it reads."""
    yield from serve(migrated_db, test_settings)


@pytest.fixture(scope="module")
def voice_stack(
    voice_server: str, migrated_db: Database, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    need_voice_tools()
    yield from run_stack(voice_server, tmp_path_factory.mktemp("stack"), db=migrated_db)


@pytest.fixture(autouse=True)
def _sipps_end_with_the_test() -> Iterator[None]:
    yield
    reap_sipps()


@pytest.fixture
def stack(voice_stack: Stack, db: Database) -> Stack:
    """The module's Kamailio and rtpengine, after this test's database is emptied."""
    return voice_stack


from tests.web.conftest import browser, console, live_server, new_page  # noqa: E402, F401
