"""The keys callers press, as rtpengine reports them.

rtpengine (Debian's 10.5) sees the RFC 4733 telephone-events in the caller's RTP and, started with
``--dtmf-log-dest=host:port``, sends each one as a JSON datagram::

    {"callid": "...", "source_tag": "<caller's From tag>", "type": "DTMF", "event": 1, ...}

Kamailio 5.6's rtpengine module has no DTMF event route and SIP INFO is not what trunks send, so
Sportello listens for these datagrams itself (``sportello voice up`` runs the listener beside
Kamailio and rtpengine) and hands each key to :func:`actions.do_keypress`."""

from __future__ import annotations

import json
import logging
import socket
import threading

from sportello.channels.voice import actions
from sportello.core.db import Database

log = logging.getLogger(__name__)


def handle_datagram(db: Database, data: bytes, ng: str) -> None:
    """One datagram from rtpengine: a key of a call (anything else is logged and dropped)."""
    try:
        report = json.loads(data.decode())
        call_id = str(report["callid"])
        event = int(report["event"])
        tag = str(report.get("source_tag") or "")
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        log.warning("voice: unreadable DTMF report dropped: %r", data[:200])
        return
    if report.get("type", "DTMF") != "DTMF":
        return
    actions.do_keypress(db, sip_call_id=call_id, event=event, ng=ng, from_tag=tag)


class DtmfListener:
    """A UDP socket for rtpengine's DTMF reports, served by a thread until ``close``."""

    def __init__(self, db: Database, host: str, port: int, ng: str) -> None:
        self.db, self.ng = db, ng
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, port))
        self.sock.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="voice-dtmf", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data, source = self.sock.recvfrom(65535)
            except TimeoutError:
                continue
            except OSError:
                return
            if source[0] != self.sock.getsockname()[0] and source[0] != "127.0.0.1":
                log.warning("voice: DTMF report from %s (not rtpengine) dropped", source[0])
                continue
            try:
                handle_datagram(self.db, data, self.ng)
            except Exception:
                log.exception("voice: DTMF report not handled")

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()
