"""The Asterisk Manager Interface link, on panoramisk: connect, log in, hand every event to a
callback, notice a dropped connection, and send one-shot actions (Originate, QueuePause).

panoramisk parses the protocol (blocks of ``Key: value`` lines ended by a blank line; a block
with neither ``Event`` nor ``Response`` is dropped) and matches responses to ActionIDs. Its own
reconnect (a fixed delay, retried silently) is replaced here by a loop with backoff that says
in the log, once per outage, that the PBX is unreachable.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from panoramisk import Manager

log = logging.getLogger(__name__)
# panoramisk's own logger, quieter: its debug lines echo whole messages.
_lib_log = logging.getLogger("sportello.channels.pbx.panoramisk")

LOGIN_TIMEOUT = 10.0
ACTION_TIMEOUT = 10.0
BACKOFF_FIRST = 1.0
BACKOFF_MAX = 60.0


@dataclass(frozen=True)
class AmiSettings:
    host: str
    port: int
    username: str
    secret: str

    def __repr__(self) -> str:  # never the secret, in a log line or a traceback
        return f"AmiSettings({self.host}:{self.port}, user={self.username!r})"


class AmiError(Exception):
    """The PBX could not be reached, refused the login, or refused an action. ``str`` is safe to
    show and log (it never holds the secret)."""


class _Manager(Manager):  # type: ignore[misc]
    """panoramisk's Manager, with reconnecting left to ``AmiLink`` (no timers of its own)."""

    def __init__(self, **config: Any) -> None:
        super().__init__(**config)
        self.lost = asyncio.Event()

    def connection_made(self, f: asyncio.Future[Any]) -> None:
        if f.cancelled() or f.exception() is not None:
            return  # the caller awaiting connect() sees the error
        super().connection_made(f)

    def connection_lost(self, exc: object) -> None:
        self._connected = False
        pinger: asyncio.TimerHandle | None = getattr(self, "pinger", None)
        if pinger is not None:
            pinger.cancel()
            self.pinger = None
        self.lost.set()


def _manager(settings: AmiSettings, *, events: bool, ping: int = 20) -> _Manager:
    return _Manager(
        host=settings.host,
        port=settings.port,
        username=settings.username,
        secret=settings.secret,
        events="on" if events else "off",
        ping_delay=ping,
        ping_interval=ping,
        loop=asyncio.get_running_loop(),
        log=_lib_log,
    )


async def _login(manager: _Manager) -> str:
    """Connect and log in; returns the banner's version. Raises AmiError."""
    try:
        await asyncio.wait_for(manager.connect(), LOGIN_TIMEOUT)
    except (TimeoutError, OSError) as exc:
        raise AmiError(
            f"cannot reach {manager.config['host']}:{manager.config['port']}: "
            f"{exc.__class__.__name__} {exc}".strip()
        ) from None
    # panoramisk sends the Login from a callback of the connection's future, which runs some
    # loop turns after connect() returns (more of them on a busy machine): wait for it.
    deadline = asyncio.get_running_loop().time() + LOGIN_TIMEOUT
    while (future := manager.authenticated_future) is None:
        if asyncio.get_running_loop().time() > deadline:
            manager.close()
            raise AmiError("no login sent")
        await asyncio.sleep(0.01)
    try:
        response = await asyncio.wait_for(asyncio.shield(future), LOGIN_TIMEOUT)
    except TimeoutError:
        manager.close()
        raise AmiError("the PBX did not answer the login") from None
    if not response.success:
        manager.close()
        raise AmiError(f"login refused: {response.get('Message') or response.get('Response')}")
    return str(getattr(manager.protocol, "version", None) or "")


async def send_action(settings: AmiSettings, action: Mapping[str, Any]) -> dict[str, str]:
    """Log in, send one action, return its response, log off. Raises AmiError."""
    manager = _manager(settings, events=False)
    try:
        await _login(manager)
        try:
            # The first response is the answer (an async Originate's OriginateResponse comes
            # when the call is answered; the call's own events follow it, not this future).
            response = await asyncio.wait_for(
                manager.send_action(dict(action), as_list=False), ACTION_TIMEOUT
            )
        except TimeoutError:
            raise AmiError(f"the PBX did not answer {action.get('Action')}") from None
        if isinstance(response, list):
            response = response[0]
        if not response.success:
            raise AmiError(f"{action.get('Action')} refused: {response.get('Message') or 'error'}")
        return {str(k): str(v) for k, v in response.items()}
    finally:
        with contextlib.suppress(Exception):
            manager.send_action({"Action": "Logoff"})
        manager.close()


async def check(settings: AmiSettings) -> str:
    """Log in and out: the PBX's AMI version, or AmiError."""
    manager = _manager(settings, events=False)
    try:
        return await _login(manager)
    finally:
        with contextlib.suppress(Exception):
            manager.send_action({"Action": "Logoff"})
        manager.close()


def next_delay(previous: float) -> float:
    """Exponential backoff with a little jitter, capped."""
    return min(BACKOFF_MAX, previous * 2) * random.uniform(0.9, 1.1)


class AmiLink:
    """One PBX connection kept up until ``stop``: events go to ``on_event`` (called in order, in
    the event loop), state changes to ``on_state(state, detail)`` with state ``connected`` or
    ``error``."""

    def __init__(
        self,
        settings: AmiSettings,
        *,
        on_event: Callable[[dict[str, str]], Any],
        on_state: Callable[[str, str], Any],
        label: str = "",
    ) -> None:
        self.settings = settings
        self.on_event = on_event
        self.on_state = on_state
        self.label = label or f"{settings.host}:{settings.port}"
        self.connected = False

    async def run(self, stop: asyncio.Event) -> None:
        delay = BACKOFF_FIRST
        failing = False
        while not stop.is_set():
            manager = _manager(self.settings, events=True)
            manager.register_event("*", self._dispatch)
            try:
                version = await _login(manager)
            except AmiError as exc:
                if not failing:
                    log.warning("PBX %s unreachable: %s (retrying with backoff)", self.label, exc)
                    failing = True
                await _maybe(self.on_state("error", str(exc)))
                manager.close()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
                delay = next_delay(delay)
                continue
            log.info("PBX %s connected (AMI %s)", self.label, version)
            failing, delay, self.connected = False, BACKOFF_FIRST, True
            await _maybe(self.on_state("connected", f"AMI {version}".strip()))
            lost = asyncio.create_task(manager.lost.wait())
            stopping = asyncio.create_task(stop.wait())
            await asyncio.wait({lost, stopping}, return_when=asyncio.FIRST_COMPLETED)
            lost.cancel()
            stopping.cancel()
            self.connected = False
            manager.close()
            if not stop.is_set():
                log.warning("PBX %s: connection lost, reconnecting", self.label)
                await _maybe(self.on_state("error", "connection lost"))

    def _dispatch(self, _manager: object, message: Mapping[str, Any]) -> Any:
        event = {str(k): v if isinstance(v, str) else str(v) for k, v in message.items()}
        return self.on_event(event)


async def _maybe(result: Any) -> None:
    if asyncio.iscoroutine(result) or isinstance(result, asyncio.Future):
        await result
