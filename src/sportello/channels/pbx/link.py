"""The worker's PBX links: one AMI connection per active PBX channel, kept up with backoff, its
events applied in order to the calls (``actions.do_apply_event``), its state written for the
admin page. Started by the worker (``wiring.LONG_RUNNING``) and by ``sportello voice asterisk``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Mapping
from dataclasses import dataclass

from sportello.channels.models import Channel
from sportello.channels.pbx import actions, ami, service
from sportello.channels.pbx.messages import _, invalid
from sportello.core.db import Database

log = logging.getLogger(__name__)

# The events that can change a call; the PBX sends many more (RTCP, VarSet, Newexten...), which
# are dropped before they cost a database round trip.
FOLLOWED = frozenset(
    {
        "Newchannel",
        "DialBegin",
        "DialEnd",
        "AgentConnect",
        "BridgeEnter",
        "QueueCallerAbandon",
        "Hangup",
    }
)
RESCAN_SECONDS = 30.0


@dataclass
class _Running:
    fingerprint: tuple[object, ...]
    task: asyncio.Task[None]
    stop: asyncio.Event


def _fingerprint(channel: Channel, settings: ami.AmiSettings) -> tuple[object, ...]:
    return (settings.host, settings.port, settings.username, settings.secret, channel.is_active)


class PbxLinks:
    """Every active PBX channel's link; the channels are re-read every ``rescan`` seconds, so a
    channel added, changed or switched off on the admin page is picked up without a restart."""

    def __init__(self, db: Database, *, rescan: float = RESCAN_SECONDS) -> None:
        self.db = db
        self.rescan = rescan
        self.running: dict[int, _Running] = {}
        self.events: asyncio.Queue[tuple[int, dict[str, str]]] = asyncio.Queue()

    def _wanted(self) -> dict[int, tuple[tuple[object, ...], ami.AmiSettings | None, str]]:
        with self.db.transaction() as session:
            return {
                c.id: (_fingerprint(c, s), s, c.name)
                for c in service.active_channels(session)
                if (s := service.ami_settings(c)).host and s.username
            }

    async def run_forever(self, stop: asyncio.Event) -> None:
        consumer = asyncio.create_task(self._consume())
        try:
            while not stop.is_set():
                try:
                    wanted = await asyncio.to_thread(self._wanted)
                except Exception:
                    log.exception("pbx: cannot read the PBX channels")
                    # Keep what runs: the database may be back at the next rescan.
                    wanted = {cid: (r.fingerprint, None, "") for cid, r in self.running.items()}
                self._reconcile(wanted)
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.rescan)
        finally:
            for running in self.running.values():
                running.stop.set()
            await asyncio.gather(*(r.task for r in self.running.values()), return_exceptions=True)
            consumer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await consumer

    def _reconcile(
        self, wanted: Mapping[int, tuple[tuple[object, ...], ami.AmiSettings | None, str]]
    ) -> None:
        for channel_id in list(self.running):
            if (
                channel_id not in wanted
                or wanted[channel_id][0] != self.running[channel_id].fingerprint
            ):
                self.running.pop(channel_id).stop.set()
        for channel_id, (fingerprint, settings, name) in wanted.items():
            if channel_id in self.running or settings is None:
                continue
            stop = asyncio.Event()
            link = ami.AmiLink(
                settings,
                on_event=functools.partial(self._received, channel_id),
                on_state=functools.partial(self._state, channel_id),
                label=f"{name} ({settings.host}:{settings.port})",
            )
            self.running[channel_id] = _Running(
                fingerprint, asyncio.create_task(link.run(stop)), stop
            )

    def _received(self, channel_id: int, event: dict[str, str]) -> None:
        if event.get("Event") in FOLLOWED:
            self.events.put_nowait((channel_id, event))

    async def _state(self, channel_id: int, state: str, detail: str) -> None:
        try:
            await asyncio.to_thread(self._record_state, channel_id, state, detail)
        except Exception:
            log.exception("pbx: cannot record the link state of channel %s", channel_id)

    def _record_state(self, channel_id: int, state: str, detail: str) -> None:
        with self.db.transaction() as session:
            if session.get(Channel, channel_id) is not None:
                actions.do_record_link_state(
                    session, channel_id=channel_id, state=state, detail=detail
                )

    async def _consume(self) -> None:
        while True:
            channel_id, event = await self.events.get()
            try:
                await asyncio.to_thread(self.apply, channel_id, event)
            except Exception:  # one bad event must not stop the calls after it
                log.exception(
                    "pbx: event %s of channel %s not applied", event.get("Event"), channel_id
                )
            finally:
                self.events.task_done()

    def apply(self, channel_id: int, event: Mapping[str, str]) -> None:
        with self.db.transaction() as session:
            channel = session.get(Channel, channel_id)
            if channel is not None:
                actions.do_apply_event(session, channel=channel, event=event)


async def run_links(db: Database, stop: asyncio.Event) -> None:
    """The worker's long-running task (see ``wiring.LONG_RUNNING``)."""
    await PbxLinks(db).run_forever(stop)


def originate(db: Database, placed: actions.Originate) -> None:
    """Send a click-to-call's Originate (after its call record is committed). On failure the
    call ends as failed and InvalidInput says why, in the user's words."""
    with db.transaction() as session:
        channel = session.get_one(Channel, placed.channel_id)
        settings = service.ami_settings(channel)
    try:
        asyncio.run(ami.send_action(settings, placed.action))
    except ami.AmiError as exc:
        with db.transaction() as session:
            actions.do_originate_failed(session, call_id=placed.call_id, reason=str(exc))
        raise invalid(_("the PBX refused the call: %(value)s"), value=str(exc)[:200]) from None
    log.info("pbx: click-to-call %s sent to the PBX", placed.call_id)


def check(db: Database, channel_id: int) -> tuple[str, str]:
    """Log in to the channel's PBX once and record the outcome: (state, detail)."""
    with db.transaction() as session:
        channel = session.get_one(Channel, channel_id)
        settings = service.ami_settings(channel)
    try:
        version = asyncio.run(ami.check(settings))
        state, detail = "connected", f"AMI {version}".strip()
    except ami.AmiError as exc:
        state, detail = "error", str(exc)
    with db.transaction() as session:
        actions.do_record_link_state(session, channel_id=channel_id, state=state, detail=detail)
    return state, detail
