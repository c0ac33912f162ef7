"""``sportello voice asterisk``: the PBX links in the foreground (what the worker runs beside
its dispatcher), for a first set-up or to watch a PBX's calls arrive."""

from __future__ import annotations

import asyncio
import logging
import signal

import typer


def asterisk(
    rescan: float = typer.Option(30.0, help="Seconds between re-reading the PBX channels"),
) -> None:
    """Connect to every active PBX channel's Asterisk (AMI) until Ctrl-C; calls are recorded
    as the worker would record them."""
    from sportello.channels import registry
    from sportello.channels.pbx.link import PbxLinks
    from sportello.config import get_settings
    from sportello.core import migrations
    from sportello.core.db import Database

    settings = get_settings()
    db = Database(settings.database_url, process_lock=True)
    migrations.check_ready(db.engine, settings.database_url)
    registry.load_builtin()
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await PbxLinks(db, rescan=rescan).run_forever(stop)

    typer.echo("PBX links started (Ctrl-C to stop)")
    asyncio.run(main())
