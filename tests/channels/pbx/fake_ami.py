"""A fake Asterisk Manager Interface server for the tests: a real asyncio TCP server (in a
thread of its own) that speaks the AMI text protocol: the ``Asterisk Call Manager/…`` banner,
``Action`` blocks in, ``Response`` and ``Event`` blocks out, each ended by a blank line
(``\\r\\n\\r\\n``). It checks the Login's Secret, records every action it receives and sends the
event blocks a test gives it."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterable, Mapping

EOL = "\r\n"
BANNER = "Asterisk Call Manager/7.0.3" + EOL


def block(fields: Mapping[str, str]) -> str:
    return "".join(f"{k}: {v}{EOL}" for k, v in fields.items()) + EOL


def parse(text: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for line in text.split(EOL):
        key, sep, value = line.partition(": ")
        if sep:
            fields[key] = value
    return fields


class FakeAmi:
    def __init__(self, *, username: str = "sportello", secret: str = "s3greto") -> None:
        self.username, self.secret = username, secret
        self.actions: list[dict[str, str]] = []
        self.logins = 0
        self.writers: list[asyncio.StreamWriter] = []
        self.loop = asyncio.new_event_loop()
        self.server: asyncio.AbstractServer | None = None
        self.port = 0
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    # -- lifecycle (called from the test's thread)
    def start(self, port: int = 0) -> FakeAmi:
        self._thread.start()
        self.server = self._call(asyncio.start_server(self._client, "127.0.0.1", port))
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    def close(self) -> None:
        self.drop()
        if self.server is not None:
            self.server.close()
            self._call(self.server.wait_closed())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        if not self._thread.is_alive():
            self.loop.close()  # its self-pipe is a socket pair: left open, a later test pays for it

    def restart(self) -> None:
        """Stop listening and drop every client, then listen again on the same port."""
        assert self.server is not None
        self.drop()
        self.server.close()
        self._call(self.server.wait_closed())
        self.server = self._call(asyncio.start_server(self._client, "127.0.0.1", self.port))

    def pause(self) -> None:
        """Drop every client and stop listening (the PBX is down)."""
        assert self.server is not None
        self.drop()
        self.server.close()
        self._call(self.server.wait_closed())

    def resume(self) -> None:
        self.server = self._call(asyncio.start_server(self._client, "127.0.0.1", self.port))

    def drop(self) -> None:
        async def _drop() -> None:
            for writer in list(self.writers):
                writer.close()
            self.writers.clear()

        self._call(_drop())

    def send(self, *blocks: Mapping[str, str] | str) -> None:
        """Send event blocks (or raw text) to every logged-in client."""
        data = "".join(b if isinstance(b, str) else block(b) for b in blocks)

        async def _send() -> None:
            for writer in self.writers:
                writer.write(data.encode())
                await writer.drain()

        self._call(_send())

    def sent_actions(self, name: str) -> list[dict[str, str]]:
        return [a for a in self.actions if a.get("Action", "").lower() == name.lower()]

    def wait_for(self, check: Callable[[], object], timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if check():
                return
            time.sleep(0.02)
        raise AssertionError("timed out waiting for the fake AMI server")

    def _call(self, coro):  # type: ignore[no-untyped-def]
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)

    # -- the protocol (in the server's loop)
    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(BANNER.encode())
        buffer = ""
        try:
            while True:
                data = await reader.read(4096)
                if not data:
                    break
                buffer += data.decode()
                while EOL + EOL in buffer:
                    text, buffer = buffer.split(EOL + EOL, 1)
                    action = parse(text)
                    if action:
                        self.actions.append(action)
                        writer.write(self._answer(action, writer).encode())
                        await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            if writer in self.writers:
                self.writers.remove(writer)
            writer.close()

    def _answer(self, action: Mapping[str, str], writer: asyncio.StreamWriter) -> str:
        name = action.get("Action", "").lower()
        action_id = action.get("ActionID", "")
        if name == "login":
            if action.get("Username") == self.username and action.get("Secret") == self.secret:
                self.logins += 1
                if action.get("Events", "on") != "off":
                    self.writers.append(writer)
                return block(
                    {
                        "Response": "Success",
                        "ActionID": action_id,
                        "Message": "Authentication accepted",
                    }
                ) + block(
                    {"Event": "FullyBooted", "Privilege": "system,all", "Status": "Fully Booted"}
                )
            return block(
                {"Response": "Error", "ActionID": action_id, "Message": "Authentication failed"}
            )
        if name == "logoff":
            return block(
                {
                    "Response": "Goodbye",
                    "ActionID": action_id,
                    "Message": "Thanks for all the fish.",
                }
            )
        if name == "originate":
            # Async: queued now, the outcome as an OriginateResponse event (Reason 4: answered).
            return block(
                {
                    "Response": "Success",
                    "ActionID": action_id,
                    "Message": "Originate successfully queued",
                }
            ) + block(
                {
                    "Event": "OriginateResponse",
                    "Privilege": "call,all",
                    "ActionID": action_id,
                    "Response": "Success",
                    "Channel": action.get("Channel", "") + "-00000030",
                    "Context": action.get("Context", ""),
                    "Exten": action.get("Exten", ""),
                    "Reason": "4",
                    "Uniqueid": action.get("ChannelId", ""),
                }
            )
        if name == "queuepause":
            return block(
                {
                    "Response": "Success",
                    "ActionID": action_id,
                    "Message": "Interface paused successfully",
                }
            )
        if name == "ping":
            return block({"Response": "Success", "ActionID": action_id, "Ping": "Pong"})
        return block(
            {"Response": "Error", "ActionID": action_id, "Message": "Invalid/unknown command"}
        )


def events(*blocks: Mapping[str, str]) -> Iterable[Mapping[str, str]]:
    return blocks
