"""Kamailio and rtpengine: their configs generated from Sportello's settings, and the processes.

``sportello voice config`` writes ``kamailio.cfg`` (and the rtpengine command line) into a
directory; ``sportello voice up`` starts both in the foreground. Tests and the benchmark start
their own pair on loopback on free ports with :func:`start_stack` (never the system services).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from sportello.config import get_settings

TEMPLATE = Path(__file__).with_name("kamailio.cfg.in")
KAMAILIO = "/usr/sbin/kamailio"
RTPENGINE = "/usr/bin/rtpengine"
MODULES = "/usr/lib/x86_64-linux-gnu/kamailio/modules"


def kamailio_token() -> str:
    """The token Kamailio posts with every request to Sportello: derived from the
    secret key, so the generated config and the server agree without a stored secret."""
    key = get_settings().effective_secret_key().encode()
    return hmac.new(key, b"sportello-voice-kamailio", hashlib.sha256).hexdigest()[:40]


def sip_realm() -> str:
    """The SIP domain (and digest realm) of the agents' accounts."""
    host = urlsplit(get_settings().base_url).hostname or "sportello.local"
    return "sportello.local" if host in ("127.0.0.1", "localhost") else host


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class StackConfig:
    sportello_url: str
    host: str = "127.0.0.1"
    sip_port: int = 5060
    ws_port: int = 8088
    ng_port: int = 2223
    cli_port: int = 2224  # rtpengine-ctl's port (two rtpengines on one machine need two)
    max_branches: int = 30  # Kamailio's limit (31 at most): a waiting call's questions
    dtmf_port: int = 2226  # where rtpengine reports the keys callers press (0: nowhere)
    rtp_min: int = 30000
    rtp_max: int = 30999
    children: int = 4
    debug: int = 1
    record: bool = False
    trunk_host: str = ""
    realm: str = field(default_factory=sip_realm)
    token: str = field(default_factory=kamailio_token)

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.ws_port}"

    @property
    def ng(self) -> str:
        return f"{self.host}:{self.ng_port}"


def kamailio_cfg(cfg: StackConfig) -> str:
    trunk = ""
    if cfg.trunk_host:
        trunk = (
            '    $du = "sip:' + cfg.trunk_host + '";\n'
            '    t_on_branch("MEDIA"); t_on_reply("CALL_REPLY"); route(RELAY); exit;'
        )
    values = {
        "DEBUG": str(cfg.debug),
        "CHILDREN": str(cfg.children),
        "REALM": cfg.realm,
        "HOST": cfg.host,
        "SIP_PORT": str(cfg.sip_port),
        "WS_PORT": str(cfg.ws_port),
        "MODULES": MODULES,
        "SPORTELLO_URL": cfg.sportello_url.rstrip("/"),
        "TOKEN": cfg.token,
        "RTPENGINE_NG": f"{cfg.host}:{cfg.ng_port}",
        "RECORD": "yes" if cfg.record else "no",
        "MAX_BRANCHES": str(cfg.max_branches),
        "TRUNK_ROUTE": trunk,
    }
    text = TEMPLATE.read_text()
    for key, value in values.items():
        text = text.replace(f"@@{key}@@", value)
    return text


def rtpengine_args(cfg: StackConfig, spool: Path | None = None) -> list[str]:
    args = [
        RTPENGINE,
        # Not Debian's /etc/rtpengine/rtpengine.conf: its listen-http (localhost:2225) made a
        # second rtpengine on the machine (a test's beside the system's, or the one restarted)
        # fail to start with "Failed to init websocket listener".
        "--config-file=none",
        "--foreground",
        "--log-stderr",
        "--table=-1",  # userspace forwarding, no kernel module
        f"--interface={cfg.host}",
        f"--listen-ng={cfg.host}:{cfg.ng_port}",
        f"--listen-cli={cfg.host}:{cfg.cli_port}",
        f"--port-min={cfg.rtp_min}",
        f"--port-max={cfg.rtp_max}",
        "--log-level=5",
        "--delete-delay=0",
    ]
    if cfg.dtmf_port:
        args.append(f"--dtmf-log-dest={cfg.host}:{cfg.dtmf_port}")
    if spool is not None:
        args += [f"--recording-dir={spool}", "--recording-method=pcap"]
    return args


def write_configs(cfg: StackConfig, directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "kamailio.cfg"
    path.write_text(kamailio_cfg(cfg))
    path.chmod(0o600)  # it holds the token Kamailio gives Sportello
    (directory / "rtpengine.args").write_text("\n".join(rtpengine_args(cfg)) + "\n")
    return path


@dataclass
class Stack:
    config: StackConfig
    directory: Path
    processes: list[subprocess.Popen[bytes]]

    def stop(self) -> None:
        for proc in self.processes:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    continue
        for proc in self.processes:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()

    def logs(self) -> str:
        out = []
        for name in ("kamailio.log", "rtpengine.log"):
            path = self.directory / name
            if path.exists():
                out.append(f"--- {name}\n" + path.read_text(errors="replace")[-20000:])
        return "\n".join(out)


def _wait_udp_listen(port: int, proc: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode}")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                return  # taken: the daemon listens
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on udp {port}")


def start_stack(cfg: StackConfig, directory: Path, *, record_dir: Path | None = None) -> Stack:
    """Start rtpengine then Kamailio in the foreground (own process groups), logs in
    ``directory``. The caller stops them with ``Stack.stop()``."""
    if not (shutil.which(KAMAILIO) and shutil.which(RTPENGINE)):
        raise RuntimeError("kamailio and rtpengine are not installed (scripts/test-services)")
    path = write_configs(cfg, directory)
    procs: list[subprocess.Popen[bytes]] = []
    stack = Stack(cfg, directory, procs)
    try:
        with open(directory / "rtpengine.log", "wb") as log:
            procs.append(
                subprocess.Popen(  # noqa: S603 - our own fixed argument lists
                    rtpengine_args(cfg, record_dir),
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
        _wait_udp_listen(cfg.ng_port, procs[-1], 10)
        run = directory / "run"
        run.mkdir(exist_ok=True)
        with open(directory / "kamailio.log", "wb") as log:
            procs.append(
                subprocess.Popen(  # noqa: S603 - our own fixed argument lists
                    [
                        KAMAILIO,
                        "-DD",
                        "-E",
                        "-f",
                        str(path),
                        "-Y",
                        str(run),
                        "-P",
                        str(run / "kamailio.pid"),
                        "-m",
                        "64",
                        "-M",
                        "8",
                    ],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
        _wait_udp_listen(cfg.sip_port, procs[-1], 10)
    except Exception:
        stack.stop()
        raise RuntimeError(f"voice stack did not start\n{stack.logs()}") from None
    return stack


def restart_rtpengine(stack: Stack) -> None:
    """Stop rtpengine and start it again on the same ports (what a crash and the service
    manager's restart do): calls in progress lose their media, not their signalling."""
    old = stack.processes[0]
    if old.poll() is None:
        os.killpg(old.pid, signal.SIGTERM)
        old.wait(timeout=10)
    with open(stack.directory / "rtpengine.log", "ab") as log:
        proc = subprocess.Popen(  # noqa: S603 - our own fixed argument lists
            rtpengine_args(stack.config),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    stack.processes[0] = proc
    _wait_udp_listen(stack.config.ng_port, proc, 10)
