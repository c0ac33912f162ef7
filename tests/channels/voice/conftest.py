from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sportello.channels.voice.daemons import Stack
from sportello.config import Settings
from sportello.core.db import Database
from tests.channels.voice.harness import need_voice_tools, run_stack, serve


@pytest.fixture
def voice_server(db: Database, test_settings: Settings) -> Iterator[str]:
    yield from serve(db, test_settings)


@pytest.fixture
def voice_stack(voice_server: str, tmp_path: Path) -> Iterator[Stack]:
    need_voice_tools()
    yield from run_stack(voice_server, tmp_path / "stack")
