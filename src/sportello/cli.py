"""The `sportello` command: serve, worker, db upgrade, demo, user create."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import sys
from typing import TYPE_CHECKING, Annotated

import typer

from sportello.channels.pbx import cli as pbx_cli
from sportello.channels.voice.cli import voice_app
from sportello.config import get_settings
from sportello.knowledge.cli import kb_app
from sportello.nlp.cli import nlp_app
from sportello.workforce.cli import wfm_app

if TYPE_CHECKING:
    from sportello.core.db import Database

# gen0 allocations between young collections (default 700), then how many young collections per
# middle one, and middle ones per full one (defaults 10 and 10).
GC_THRESHOLDS = (10_000, 10, 100)

app = typer.Typer(help="Sportello: omnichannel customer service.", no_args_is_help=True)
db_app = typer.Typer(help="Database commands.", no_args_is_help=True)
user_app = typer.Typer(help="User accounts.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(user_app, name="user")
app.add_typer(wfm_app, name="wfm")
app.add_typer(kb_app, name="kb")
app.add_typer(nlp_app, name="nlp")
app.add_typer(voice_app, name="voice")
voice_app.command("asterisk")(pbx_cli.asterisk)


def _database() -> Database:
    from sportello.core.db import Database

    return Database(get_settings().database_url)


def _tune_threads(switch_interval_ms: float) -> None:
    """How long a thread may hold the GIL while others wait (Python's default: 5 ms). `serve` runs
    the sockets' event loop beside writer and dispatcher threads; each time a thread gives the
    GIL away for I/O (every SQLite call does), it can wait that long to get it back. Measured by
    bench/chat.py with 2,000 visitors: 0.5 ms cut the ack p99 by 1.6-2.5x at the same CPU."""
    if switch_interval_ms > 0:
        sys.setswitchinterval(switch_interval_ms / 1000)


def _tune_gc() -> None:
    """Long-running processes: what is alive after start-up (modules, the app, SQLAlchemy's
    compiled caches) is frozen out of the cyclic collector, and young collections run less often.
    With 2,000 widget sockets the default thresholds spent ~8% of the server's CPU in
    `gc_collect_main` (perf, bench/chat.py at 400 msg/s), scanning objects that refcounting frees
    anyway or that live for the whole connection."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def ensure_defaults(db) -> None:  # type: ignore[no-untyped-def]
    """What every install has: one brand, the conversation counter."""
    from sqlalchemy import select

    from sportello.accounts.models import Brand
    from sportello.conversations.actions import FIRST_NUMBER
    from sportello.conversations.models import Counter

    with db.transaction() as session:
        if session.scalar(select(Brand.id).limit(1)) is None:
            session.add(Brand(name="Sportello", slug="default"))
        if session.get(Counter, "conversation") is None:
            session.add(Counter(name="conversation", value=FIRST_NUMBER - 1))


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the database to the latest schema (safe to run again)."""
    from sportello.core import migrations

    settings = get_settings()
    migrations.upgrade(settings.database_url)
    db = _database()
    ensure_defaults(db)
    db.dispose()
    typer.echo(f"Database is up to date ({migrations.head_revision(settings.database_url)}).")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    workers: Annotated[
        bool, typer.Option("--workers/--no-workers", help="Run the dispatcher in this process.")
    ] = True,
    reload: Annotated[bool, typer.Option(help="Reload on code changes (development).")] = False,
) -> None:
    """Run the web server (and, unless --no-workers, the dispatcher and jobs)."""
    import uvicorn

    from sportello.core import migrations

    settings = get_settings()
    db = _database()
    try:
        migrations.check_ready(db.engine, settings.database_url)
    except migrations.DatabaseNotReady as exc:
        typer.secho(f"Cannot start: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(code=2) from None
    finally:
        db.dispose()
    settings.run_workers = workers
    _tune_threads(settings.switch_interval_ms)
    from sportello.main import create_app

    typer.echo(f"Sportello on http://{host}:{port}/")
    application = create_app(settings)
    _tune_gc()
    uvicorn.run(
        application,
        host=host,
        port=port,
        log_level=settings.log_level,
        proxy_headers=False,  # the app reads them itself (settings.trusted_proxies)
        # Live frames are tiny JSON; permessage-deflate would cost ~40 KB of zlib state per
        # socket (measured by bench/chat.py) for no gain.
        ws_per_message_deflate=False,
    )


@app.command()
def worker() -> None:
    """Run a dispatcher process (scaled mode: several may run beside `serve --no-workers`)."""
    from sportello.channels import registry
    from sportello.core import migrations, realtime
    from sportello.core.dispatcher import Dispatcher

    settings = get_settings()
    from sportello.core.db import Database

    _tune_threads(settings.switch_interval_ms)
    db = Database(settings.database_url, process_lock=True)  # `serve` writes beside us
    migrations.check_ready(db.engine, settings.database_url)
    registry.load_builtin()
    from sportello import wiring

    wiring.load_handlers()
    wiring.schedule_periodic(db)  # the sweeps, nightly and weekly jobs
    _tune_gc()

    dispatcher = Dispatcher(db)
    if settings.redis_url:
        dispatcher.add_batch_handler(
            realtime.redis_publisher(settings.redis_url, settings.redis_channel)
        )
    else:
        typer.echo("warning: no SPORTELLO_REDIS_URL: live updates stay in this process", err=True)
    stop = asyncio.Event()

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        from sportello.channels.email.poller import MailPoller

        tasks = [
            dispatcher.run_forever(
                stop,
                settings.dispatcher_poll_seconds,
                gather_seconds=settings.dispatcher_gather_ms / 1000,
            ),
            MailPoller(db).run_forever(stop),
            *wiring.long_running(db, stop),
        ]
        if settings.redis_url:  # woken at once by the web processes' commits
            tasks.append(
                realtime.relay_wakeups(
                    settings.redis_url, stop, dispatcher.wake, settings.redis_channel
                )
            )
        await asyncio.gather(*tasks)

    typer.echo(f"worker {dispatcher.name} started")
    asyncio.run(main())


@app.command()
def demo(
    reset: Annotated[
        bool, typer.Option(help="Load even if the database has conversations.")
    ] = False,
    seed: Annotated[int, typer.Option(help="Random seed, for repeatable data.")] = 42,
) -> None:
    """Load a realistic Italian online shop: users, teams, customers, conversations."""
    from sportello import demo as demo_data

    db = _database()
    ensure_defaults(db)
    logins = demo_data.load(db, seed=seed, force=reset)
    db.dispose()
    if logins is None:
        typer.echo("Demo data already loaded (use --reset to load again).")
        logins = demo_data.LOGINS
    typer.echo("Demo logins (email / password):")
    for email, password, role in logins:
        typer.echo(f"  {role:<10} {email:<32} {password}")


reports_app = typer.Typer(help="Reports and their aggregates.", no_args_is_help=True)
app.add_typer(reports_app, name="reports")


@reports_app.command("rebuild")
def reports_rebuild() -> None:
    """Recompute the report aggregates from the conversations (after a bulk load or a change of
    the short-abandon threshold or the FCR window)."""
    import time

    from sportello.reports import actions as reports_actions

    db = _database()
    started = time.perf_counter()
    try:
        count = reports_actions.do_rebuild_in_chunks(db)
    finally:
        db.dispose()
    seconds = time.perf_counter() - started
    typer.echo(f"Rebuilt the report aggregates of {count} conversations in {seconds:.1f}s.")


@reports_app.command("send-weekly")
def reports_send_weekly(
    to: Annotated[
        str, typer.Option(help="Only to this user (e-mail); default: every supervisor.")
    ] = "",
) -> None:
    """Send last week's report e-mail now, through the brand's mailbox."""
    from sqlalchemy import select

    from sportello.accounts.models import User
    from sportello.reports import actions as reports_actions

    db = _database()
    try:
        only = None
        if to:
            with db.session() as session:
                only = session.scalar(select(User).where(User.email == to.strip().lower()))
                if only is None:
                    typer.secho(f"Error: no user {to}", fg=typer.colors.RED, err=True)
                    raise typer.Exit(code=1)
                session.expunge(only)
        sent = reports_actions.do_send_weekly_report(db, only=only)
    finally:
        db.dispose()
    typer.echo(f"Sent {sent} weekly report(s).")


@user_app.command("create")
def user_create(
    email: str,
    name: Annotated[str, typer.Option(help="Full name.")],
    role: Annotated[str, typer.Option(help="admin, supervisor or agent.")] = "agent",
    password: Annotated[
        str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)
    ] = "",
    language: Annotated[str, typer.Option(help="it or en.")] = "it",
) -> None:
    """Create a user who can log in to the console."""
    from sportello.accounts.actions import do_create_user
    from sportello.accounts.models import Role
    from sportello.core.errors import SportelloError

    db = _database()
    try:
        with db.transaction() as session:
            user = do_create_user(
                session,
                email=email,
                name=name,
                role=Role(role),
                password=password,
                language=language,
            )
            typer.echo(f"Created {user.role.value} {user.email}")
    except (SportelloError, ValueError) as exc:
        typer.secho(f"Error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(code=1) from None
    finally:
        db.dispose()


@app.command("import")
def import_file(
    path: Annotated[str, typer.Argument(help="The CSV or JSON file.")],
    format: Annotated[
        str,
        typer.Option(
            "--format", help="csv-customers, csv-conversations, zendesk, freshdesk, zammad."
        ),
    ],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Check only: counts, nothing written.")
    ] = False,
) -> None:
    """Import customers and past conversations (no size limit; nothing is sent to anybody)."""
    import json
    from pathlib import Path

    from sportello.accounts import service as accounts_service
    from sportello.core.errors import SportelloError
    from sportello.imports import actions as imports_actions
    from sportello.imports import handlers as imports_handlers

    db = _database()
    try:
        data = Path(path).read_bytes()
        with db.transaction() as session:
            job = imports_actions.do_create_import(
                session,
                brand_id=accounts_service.default_brand(session).id,
                user=None,
                fmt=format,
                filename=Path(path).name,
                data=data,
                start=not dry_run,
                limit=None,
                queue=False,
            )
            import_id = job.id
        result = imports_actions.run_import(
            db, import_id, dry_run=dry_run, on_messages=imports_handlers.index_function(db)
        )
    except (SportelloError, OSError) as exc:
        typer.secho(f"Error: {getattr(exc, 'message', exc)}", fg=typer.colors.RED, err=True)
        raise typer.Exit(code=1) from None
    finally:
        db.dispose()
    typer.echo(
        json.dumps({"import": import_id, "dry_run": dry_run, **result}, indent=2, default=str)
    )


def main() -> None:  # pragma: no cover
    logging.basicConfig(level=logging.INFO)
    app(prog_name="sportello")
    sys.exit(0)


if __name__ == "__main__":  # pragma: no cover
    app(prog_name="sportello")
