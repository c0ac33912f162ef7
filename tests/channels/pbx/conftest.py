from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from sportello.channels.pbx.link import PbxLinks
from sportello.core.db import Database
from tests.channels.pbx.fake_ami import FakeAmi
from tests.web.conftest import browser, live_server  # noqa: F401


@pytest.fixture
def fake_ami() -> Iterator[FakeAmi]:
    server = FakeAmi().start()
    yield server
    server.close()


@contextmanager
def running_links(db: Database, rescan: float = 0.2) -> Iterator[PbxLinks]:
    """The worker's PBX links, in a thread with its own event loop, until the block ends."""
    loop = asyncio.new_event_loop()
    links = PbxLinks(db, rescan=rescan)
    stop: asyncio.Event | None = None
    started = threading.Event()

    async def main() -> None:
        nonlocal stop
        stop = asyncio.Event()
        started.set()
        await links.run_forever(stop)

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    started.wait(5)
    try:
        yield links
    finally:
        assert stop is not None
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)
        loop.close()
