"""``sportello voice config`` and ``sportello voice up``: Kamailio's and rtpengine's configs
generated from Sportello's settings, and both started for a single-machine install."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import typer

from sportello.channels.voice.daemons import StackConfig, start_stack, write_configs
from sportello.channels.voice.dtmf import DtmfListener
from sportello.config import get_settings
from sportello.core.db import Database

voice_app = typer.Typer(help="The phone: Kamailio and rtpengine.", no_args_is_help=True)

HOST = typer.Option("127.0.0.1", help="Address Kamailio and rtpengine listen on")
SIP_PORT = typer.Option(5060, help="SIP port (UDP and TCP) for phones and the trunk")
WS_PORT = typer.Option(8088, help="WebSocket port for the console softphone")
NG_PORT = typer.Option(2223, help="rtpengine's control port (loopback)")
DTMF_PORT = typer.Option(2226, help="Where rtpengine reports callers' keys (0: off)")
DIRECTORY = typer.Option(Path("data/voice"), help="Where the configs and logs go")


def _config(host: str, sip_port: int, ws_port: int, ng_port: int, record: bool) -> StackConfig:
    return StackConfig(
        sportello_url=get_settings().base_url,
        host=host,
        sip_port=sip_port,
        ws_port=ws_port,
        ng_port=ng_port,
        record=record,
    )


@voice_app.command("config")
def voice_config(
    host: str = HOST,
    sip_port: int = SIP_PORT,
    ws_port: int = WS_PORT,
    ng_port: int = NG_PORT,
    directory: Path = DIRECTORY,
    record: bool = typer.Option(False, help="Record calls (rtpengine)"),
) -> None:
    """Write kamailio.cfg and rtpengine's command line (the token in it is a secret: mode 600)."""
    cfg = _config(host, sip_port, ws_port, ng_port, record)
    path = write_configs(cfg, directory)
    typer.echo(f"{path}\n{directory / 'rtpengine.args'}")
    typer.echo(f"Set SPORTELLO_VOICE_WS_URL={cfg.ws_url} for the console softphone.")


@voice_app.command("up")
def voice_up(
    host: str = HOST,
    sip_port: int = SIP_PORT,
    ws_port: int = WS_PORT,
    ng_port: int = NG_PORT,
    directory: Path = DIRECTORY,
    record: bool = typer.Option(False, help="Record calls (rtpengine)"),
    dtmf_port: int = DTMF_PORT,
) -> None:
    """Start rtpengine and Kamailio in the foreground until Ctrl-C (logs in the directory),
    with the listener for the keys callers press (rtpengine reports them on --dtmf-port)."""
    cfg = _config(host, sip_port, ws_port, ng_port, record)
    cfg.dtmf_port = dtmf_port
    stack = start_stack(cfg, directory)
    db = Database(get_settings().database_url)
    listener = DtmfListener(db, host, dtmf_port, cfg.ng) if dtmf_port else None
    typer.echo(f"Kamailio on {host}:{sip_port} (SIP), {stack.config.ws_url} (softphone)")
    stopping = False

    def stop(*_args: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    try:
        while not stopping and all(p.poll() is None for p in stack.processes):
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        if listener is not None:
            listener.close()
        stack.stop()
        db.dispose()
        typer.echo(
            stack.logs()[-2000:] if any(p.returncode for p in stack.processes) else "stopped"
        )
