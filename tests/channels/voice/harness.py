"""The voice test harness: Sportello served by uvicorn on a free loopback port, its own Kamailio
and rtpengine (generated configs, free ports), and sipp playing callers and agents' phones."""

from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sportello.channels.voice.daemons import Stack, StackConfig, free_port, start_stack
from sportello.config import Settings
from sportello.core.db import Database

SCENARIOS = Path(__file__).with_name("scenarios")
SIPP = shutil.which("sipp")


def need_voice_tools() -> None:
    for tool in ("/usr/sbin/kamailio", "/usr/bin/rtpengine", "/usr/bin/sipp"):
        if not Path(tool).exists():
            pytest.skip(f"{tool} is not installed (scripts/test-services)")


def serve(
    db: Database, settings: Settings, *, run_workers: bool = False, voice_ws_url: str = ""
) -> Iterator[str]:
    import uvicorn

    from sportello.main import create_app

    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    settings = settings.model_copy(
        update={
            "base_url": base_url,
            "dispatcher_poll_seconds": 0.2,
            "voice_ws_url": voice_ws_url,
        }
    )
    app = create_app(settings, db=db, run_workers=run_workers)
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", ws="websockets-sansio"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="voice-live-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("the live server did not start")
        time.sleep(0.02)
    # Warm up (imports, the thread pool): Kamailio gives Sportello a few seconds per question.
    import httpx

    from sportello.channels.voice.daemons import kamailio_token

    httpx.post(f"{base_url}/voice/kamailio/route", data={"token": kamailio_token()}, timeout=120)
    try:
        yield base_url
    finally:
        server.should_exit = True
        thread.join(timeout=15)


def media_ports() -> int:
    """A base port for sipp's media: it binds audio at base and base+1, video at base+2 and
    base+3. Taken below the kernel's ephemeral range and below rtpengine's (20000 and up), with all
    four free, so that another process's port cannot land on the video pair."""
    for _ in range(200):
        base = random.randrange(10000, 19996, 2)
        socks: list[socket.socket] = []
        try:
            for offset in range(4):
                sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                socks.append(sock)
                sock.bind(("127.0.0.1", base + offset))
            return base
        except OSError:
            continue
        finally:
            for sock in socks:
                sock.close()
    raise RuntimeError("no four free UDP ports for sipp's media")


def stack_config(
    sportello_url: str,
    ws_port: int | None = None,
    *,
    rtp_ports: int = 200,
    children: int = 4,
    max_branches: int = 30,
) -> StackConfig:
    rtp = free_port(2)  # socket.SOCK_DGRAM
    base = 20000 + (rtp % 20000)
    return StackConfig(
        sportello_url=sportello_url,
        sip_port=free_port(2),
        ws_port=ws_port or free_port(),
        ng_port=free_port(2),
        cli_port=free_port(),
        rtp_min=base,
        rtp_max=base + rtp_ports - 1,
        children=children,
        debug=2,
        max_branches=max_branches,
    )


def run_stack(
    sportello_url: str,
    directory: Path,
    ws_port: int | None = None,
    *,
    db: Database | None = None,
    **config: int,
) -> Iterator[Stack]:
    """The stack; with ``db``, also the listener for the keys callers press (rtpengine reports
    them to it), as ``sportello voice up`` runs it."""
    from sportello.channels.voice.dtmf import DtmfListener

    cfg = stack_config(sportello_url, ws_port, **config)
    cfg.dtmf_port = free_port(2) if db is not None else 0
    listener = DtmfListener(db, cfg.host, cfg.dtmf_port, cfg.ng) if db is not None else None
    stack = start_stack(cfg, directory)
    try:
        yield stack
    finally:
        stack.stop()
        if listener is not None:
            listener.close()


# Every sipp a test started: the conftest waits for (or stops) them after each test, so that no
# phone outlives its test (a sipp Popen dropped while running is a ResourceWarning, an error
# under -W error: the restarted-rtpengine test lost its second agent phone that way).
STARTED: list[Sipp] = []


def reap_sipps(timeout: float = 5.0) -> None:
    """Wait for the sipps still running after a test (they are finishing their last message),
    then stop any that does not end."""
    deadline = time.monotonic() + timeout
    while STARTED:
        run = STARTED.pop()
        try:
            run.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            run.stop()


@dataclass
class Sipp:
    """One sipp run; ``proc`` while it runs in the background."""

    proc: subprocess.Popen[bytes]
    log: Path

    def wait(self, timeout: float = 20) -> int:
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"sipp did not finish\n{self.output()}") from None

    def output(self) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        errors = sorted(self.log.parent.glob("*_errors.log"))
        for path in errors:
            text += "\n--- " + path.name + "\n" + path.read_text(errors="replace")[-4000:]
        return text[-8000:]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def sipp(
    stack: Stack,
    scenario: str,
    workdir: Path,
    *,
    service: str,
    port: int | None = None,
    calls: int = 1,
    rate: float | None = None,
    variables: dict[str, Any] | None = None,
    extra: list[str] | None = None,
    code: int | None = None,
    timeout: str = "30s",
) -> Sipp:
    """Start sipp with a scenario of ``scenarios/`` against the test's Kamailio."""
    assert SIPP is not None
    workdir.mkdir(parents=True, exist_ok=True)
    given = Path(scenario)
    source = (given if given.is_absolute() else SCENARIOS / scenario).read_text()
    scenario = given.name
    if code is not None:
        source = source.replace("@CODE@", str(code))
    for name, value in (variables or {}).items():
        source = source.replace(f"@{name.upper()}@", str(value))
    path = workdir / scenario
    path.write_text(source)
    args = [
        SIPP,
        f"{stack.config.host}:{stack.config.sip_port}",
        "-sf",
        str(path),
        "-s",
        service,
        "-i",
        "127.0.0.1",
        "-mi",
        "127.0.0.1",
        "-p",
        str(port or free_port(2)),
        "-mp",
        str(media_ports()),
        "-m",
        str(calls),
        "-timeout",  # the whole run's limit
        timeout,
        "-timeout_error",
        "-trace_err",
        "-nostdin",
    ]
    if rate is not None:
        args += ["-r", str(rate)]
    args += extra or []
    if os.environ.get("SPORTELLO_VOICE_TRACE"):
        args.append("-trace_msg")
    log = workdir / f"{scenario}.out"
    with open(log, "wb") as out:
        proc = subprocess.Popen(args, cwd=workdir, stdout=out, stderr=subprocess.STDOUT)
    run = Sipp(proc, log)
    STARTED.append(run)
    return run


def register_agent(
    stack: Stack, workdir: Path, username: str, password: str, uas_port: int
) -> None:
    run = sipp(
        stack,
        "register.xml",
        workdir / f"reg-{username}",
        service=username,
        variables={"uas_port": uas_port},
        extra=["-au", username, "-ap", password],
    )
    assert run.wait() == 0, run.output() + stack.logs()
