"""The chat widget's endpoints.

- ``/chat/ws/{public_id}``: the widget socket, a plain Starlette WebSocket route (it is the hot
  path: FastAPI's per-connection dependency machinery buys nothing here).
- ``/chat/config/{public_id}``: colours, greeting, form and whether someone can answer now (CORS).
- ``/chat/upload/{public_id}``: a file from the widget (multipart with the visitor token; CORS).
- ``/chat/files/{public_id}/{attachment_id}``: a file of the visitor's own conversation.
- ``/chat-demo/{public_id}``: a fake shop page with the widget on it.
- ``/chat/agent/{number}/...``: the console side: typing, seen, and who the visitor is and where.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from sqlalchemy.orm import Session
from starlette.websockets import (
    WebSocket,
    WebSocketDisconnect,
    WebSocketDisconnected,
    WebSocketState,
)

from sportello.channels import service as channels_service
from sportello.channels.base import InboundAttachment, InboundMessage
from sportello.channels.chat import hub as chat_hub
from sportello.channels.chat import protocol
from sportello.channels.chat import service as chat_service
from sportello.channels.chat.protocol import ProtocolError, Visitor
from sportello.config import Settings
from sportello.conversations.models import Attachment, DeliveryState, Message
from sportello.conversations.storage import path_for
from sportello.core import access
from sportello.core.db import Database, SessionDep
from sportello.core.errors import InvalidInput, NotFound, SportelloError
from sportello.core.realtime import Hub
from sportello.core.writer import BatchWriter
from sportello.web.auth import CsrfChecked, CurrentUser
from sportello.web.render import render

log = logging.getLogger(__name__)
router = APIRouter()

CHANNEL_TTL = 15.0
HELLO_TIMEOUT = 20.0
TYPING_EVERY = 1.5
RATE_WINDOW, RATE_MAX = 10.0, 20  # visitor messages per window and socket
NONCE = os.urandom(4).hex()
INLINE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})


class ChatUnauthorized(SportelloError):
    status_code = 401
    title = "Unauthorized"


class ChatState:
    """Per-app state of the chat: the visitor hub, a short cache of channel settings, and the
    way to the consoles (this process's hub, or Redis)."""

    def __init__(
        self, db: Database, settings: Settings, console: Hub, app_writer: BatchWriter
    ) -> None:
        self.db = db
        self.settings = settings
        self.console = console
        self.hub = chat_hub.VisitorHub()
        self.writer: BatchWriter = app_writer
        self.channels: dict[str, tuple[float, chat_service.ChannelInfo | None]] = {}
        self._redis: Any = None

    async def channel(self, public_id: str) -> chat_service.ChannelInfo | None:
        cached = self.channels.get(public_id)
        now = time.monotonic()
        if cached is not None and cached[0] > now:
            return cached[1]
        info = await asyncio.to_thread(self.channel_sync, public_id)
        return info

    def channel_sync(self, public_id: str) -> chat_service.ChannelInfo | None:
        cached = self.channels.get(public_id)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        with self.db.session() as session:
            info = chat_service.load_channel(session, public_id)
        if len(self.channels) > 1000:
            self.channels.clear()
        self.channels[public_id] = (time.monotonic() + CHANNEL_TTL, info)
        return info

    def agents_online(self, channel: chat_service.ChannelInfo) -> bool:
        """Someone who may see the channel's queue has the console open (in this process).
        Routing presence will refine this."""
        queue_id = channel.queue_id
        return any(
            c.sees_everything or queue_id is None or queue_id in c.queue_ids
            for c in list(self.console.clients)  # a copy: sync routes call this from threads
        )

    def availability(self, channel: chat_service.ChannelInfo) -> tuple[bool, bool]:
        is_open = chat_service.is_open(channel.widget)
        online = self.agents_online(channel) or not channel.widget.offline_when_no_agent
        return is_open, online

    async def notify_console(self, name: str, data: dict[str, Any]) -> None:
        message = {"type": name, "data": data}
        if self.settings.redis_url:
            if self._redis is None:
                import redis.asyncio as aioredis

                self._redis = aioredis.Redis.from_url(self.settings.redis_url)
            with contextlib.suppress(Exception):
                await self._redis.publish(self.settings.redis_channel, json.dumps(message))
        else:
            await self.console.broadcast(message)

    async def close(self) -> None:
        if self._redis is not None:
            with contextlib.suppress(Exception):
                await self._redis.aclose()


def chat_state(app: Any) -> ChatState:
    state: ChatState | None = getattr(app.state, "chat", None)
    if state is None:
        state = ChatState(app.state.db, app.state.settings, app.state.hub, app.state.writer)
        app.state.chat = state
        state.hub.attach_loop(asyncio.get_running_loop())
        chat_hub.register_hub(state.hub)
    return state


@contextlib.asynccontextmanager
async def lifespan(app: Any) -> AsyncIterator[None]:
    """Started by create_app's lifespan: the visitor hub and, in scaled mode, its Redis relay."""
    state = chat_state(app)
    state.hub.attach_loop(asyncio.get_running_loop())
    stop = asyncio.Event()
    relay: asyncio.Task[None] | None = None
    if state.settings.redis_url:
        relay = asyncio.create_task(
            chat_hub.relay_from_redis(state.hub, state.settings.redis_url, stop)
        )
    try:
        yield
    finally:
        stop.set()
        if relay is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(relay, timeout=5)
        await state.close()
        chat_hub.unregister_hub(state.hub)
        app.state.chat = None


# --- the widget socket ---------------------------------------------------------------------------

_tasks: set[asyncio.Task[None]] = set()


def _spawn(work: Coroutine[Any, Any, None]) -> None:
    """Run a socket's side work (catch up, a typing frame); kept referenced until it ends."""
    task = asyncio.ensure_future(work)
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)


@dataclass(eq=False, slots=True)
class Connection:
    websocket: WebSocket
    state: ChatState
    channel: chat_service.ChannelInfo
    visitor: Visitor | None = None
    keys: list[str] = field(default_factory=list)
    conv: int | None = None
    queue_id: int | None = None
    assignee_id: int | None = None
    last_id: int = 0
    page: str = ""
    title: str = ""
    busy: bool = False
    dirty: bool = False
    typing_at: float = 0.0
    rate: list[float] = field(default_factory=list)
    last_receipt: chat_service.Receipt | None = None
    recorded_page: str = ""

    @property
    def src(self) -> str:
        return f"{NONCE}:{id(self)}"

    async def send(self, frame: dict[str, Any]) -> None:
        if self.websocket.application_state == WebSocketState.CONNECTED:
            with contextlib.suppress(Exception):
                await self.websocket.send_text(json.dumps(frame, separators=(",", ":")))

    # Called by the hub, on the loop.
    def poke(self, frame: dict[str, Any]) -> None:
        if frame.get("src") == self.src:
            return
        kind = frame.get("t")
        if kind == "new":
            conv = frame.get("conv")
            _spawn(self.catch_up(conv if isinstance(conv, int) else None))
        elif kind in ("typing", "seen") and frame.get("conv") == self.conv:
            _spawn(self.send({k: v for k, v in frame.items() if k != "src"}))

    async def catch_up(self, conv: int | None = None) -> None:
        """Send what the timeline has that this socket has not sent; one reader at a time."""
        if conv is not None and conv != self.conv:
            self.dirty = True
            await self._switch()
        if self.busy:
            self.dirty = True
            return
        self.busy = True
        try:
            while True:
                self.dirty = False
                conv_id = self.conv
                if conv_id is None:
                    break
                frames = await asyncio.to_thread(self._read, conv_id, self.last_id)
                if frames and conv_id == self.conv:
                    self.last_id = max(self.last_id, frames[-1]["id"])
                    await self.send({"t": "history", "conv": conv_id, "messages": frames})
                if not self.dirty:
                    break
        finally:
            self.busy = False

    async def _switch(self) -> None:
        assert self.visitor is not None
        state = await asyncio.to_thread(self._resume, self.visitor)
        if state.conversation_id != self.conv:
            self.conv, self.last_id = state.conversation_id, 0
            self.queue_id, self.assignee_id = state.queue_id, state.assignee_id

    def _read(self, conv_id: int, after: int) -> list[dict[str, Any]]:
        with self.state.db.session() as session:
            return chat_service.history(session, conv_id, after)

    def _resume(self, visitor: Visitor) -> chat_service.VisitorState:
        with self.state.db.session() as session:
            return chat_service.resume(session, self.channel, visitor)

    def console_ref(self) -> dict[str, Any]:
        # "conversation", not "conversation_id": the console reloads parts on events that carry
        # a conversation_id, and typing must not cause that.
        return {
            "conversation": self.conv,
            "queue_id": self.queue_id,
            "assignee_id": self.assignee_id,
            "channel_id": self.channel.id,
        }


def _hello_visitor(conn: Connection, frame: dict[str, Any], secret_key: str) -> Visitor:
    channel = conn.channel
    token = frame.get("token")
    visitor = (
        protocol.read_token(token, channel.public_id, secret_key)
        if isinstance(token, str)
        else None
    )
    user = frame.get("user")
    if isinstance(user, dict) and (user.get("id") or user.get("hash")):
        identity = protocol.verify_user(
            channel.identity_secret, str(user.get("id") or ""), str(user.get("hash") or "")
        )
        if (
            visitor is None
            or visitor.verified_kind != identity.kind
            or visitor.verified_value != identity.value
        ):
            # Someone else, or the same browser now logged in: a visitor of its own.
            visitor = Visitor(
                channel.public_id, protocol.new_visitor_id(), identity.kind, identity.value
            )
    elif visitor is not None and visitor.verified_kind:
        # The host site's user logged out: the next person at this browser starts afresh.
        visitor = None
    return visitor or Visitor(channel.public_id, protocol.new_visitor_id())


async def _hello(conn: Connection, frame: dict[str, Any]) -> None:
    state, channel = conn.state, conn.channel
    secret_key = state.settings.effective_secret_key()
    visitor = _hello_visitor(conn, frame, secret_key)
    conn.visitor = visitor
    conn.page = protocol.clean_page(frame.get("page"))
    conn.title = protocol.clip(frame.get("title"), 300)
    lang = protocol.clip(frame.get("lang"), 8)
    resumed = await asyncio.to_thread(conn._resume, visitor)
    conn.conv, conn.queue_id, conn.assignee_id = (
        resumed.conversation_id,
        resumed.queue_id,
        resumed.assignee_id,
    )
    last = frame.get("last")
    same_conv = frame.get("conv") == resumed.conversation_id
    conn.last_id = last if isinstance(last, int) and last > 0 and same_conv else 0
    conn.keys = visitor.keys()
    state.hub.add(conn, conn.keys)  # before reading: a reply stored meanwhile is not missed
    is_open, online = state.availability(channel)
    seen = 0
    if conn.conv is not None:
        seen = await asyncio.to_thread(_seen_mark, state.db, conn.conv)
    await conn.send(
        {
            "t": "welcome",
            "token": protocol.make_token(visitor, secret_key),
            "visitor": visitor.visitor_id,
            "verified": visitor.verified_kind is not None,
            "conv": conn.conv,
            "open": is_open,
            "online": online,
            "prechat_done": resumed.prechat_done,
            "seen": seen,
        }
    )
    if conn.conv is not None:
        await conn.catch_up()
        if conn.page:
            await _page(conn, conn.page, conn.title, lang)


def _seen_mark(db: Database, conv: int) -> int:
    """Visitor messages count as seen by the agent up to the agent's latest reply."""
    from sqlalchemy import select

    from sportello.conversations.models import Direction

    with db.session() as session:
        last_out = session.scalar(
            select(Message.id)
            .where(Message.conversation_id == conv, Message.direction == Direction.OUTBOUND)
            .order_by(Message.id.desc())
            .limit(1)
        )
    return int(last_out or 0)


async def _page(conn: Connection, url: str, title: str, lang: str = "") -> None:
    assert conn.visitor is not None
    visitor = conn.visitor

    def write(session: Session) -> bool:
        row = chat_service.update_page(
            session, conn.channel, visitor, url=url, title=title, lang=lang
        )
        return row is not None

    if await conn.state.writer.run(write):
        await conn.state.notify_console(
            "chat.visitor", {**conn.console_ref(), "online": True, "page": url, "title": title}
        )


async def _message(conn: Connection, frame: dict[str, Any]) -> None:
    assert conn.visitor is not None
    client_id = protocol.check_client_id(frame.get("cid"))
    text = protocol.check_text(frame.get("text"))
    now = time.monotonic()
    conn.rate = [t for t in conn.rate if now - t < RATE_WINDOW]
    if len(conn.rate) >= RATE_MAX:
        raise ProtocolError("rate_limited", "too many messages: wait a few seconds")
    conn.rate.append(now)
    visitor, channel, page, title = conn.visitor, conn.channel, conn.page, conn.title

    # Same conversation and page as the last message: the hot path skips the visitor row.
    known = conn.last_receipt if conn.last_receipt and conn.recorded_page == page else None

    def write(session: Session) -> chat_service.Receipt:
        return chat_service.receive_message(
            session,
            channel,
            visitor,
            text=text,
            client_id=client_id,
            page=page,
            title=title,
            known=known,
        )

    done = await conn.state.writer.run(write)
    if not done.duplicate:
        conn.last_receipt, conn.recorded_page = done, page
    message_id, conv, duplicate = done.message_id, done.conversation_id, done.duplicate
    queue_id, assignee_id = done.queue_id, done.assignee_id
    if conv != conn.conv:
        conn.conv, conn.last_id = conv, 0
    conn.queue_id, conn.assignee_id = queue_id, assignee_id
    await conn.send(
        {"t": "ack", "cid": client_id, "id": message_id, "conv": conv, "dup": duplicate}
    )
    if not duplicate:
        # The visitor's other tabs show it too.
        frame = {"t": "new", "conv": conv, "id": message_id, "src": conn.src}
        chat_hub.publish(conn.keys, frame, redis_url=conn.state.settings.redis_url)


async def _marks(conn: Connection, frame: dict[str, Any], state: DeliveryState) -> None:
    conv = conn.conv
    if conv is None:
        return
    ids: list[int] = []
    up_to: int | None = None
    if state == DeliveryState.READ:
        value = frame.get("up_to")
        if not isinstance(value, int):
            return
        up_to = value
    else:
        raw = frame.get("ids")
        ids = [i for i in raw if isinstance(i, int)] if isinstance(raw, list) else []
        if not ids:
            return

    def write(session: Session) -> list[int]:
        return chat_service.mark_outbound(session, conv, state, ids=ids, up_to=up_to)

    await conn.state.writer.run(write)


async def _typing(conn: Connection, frame: dict[str, Any]) -> None:
    if conn.conv is None:
        return
    on = bool(frame.get("on"))
    now = time.monotonic()
    if on and now - conn.typing_at < TYPING_EVERY:
        return
    conn.typing_at = now if on else 0.0
    await conn.state.notify_console("chat.typing", {**conn.console_ref(), "typing": on})


async def _prechat(conn: Connection, frame: dict[str, Any]) -> None:
    assert conn.visitor is not None
    visitor = conn.visitor
    name = protocol.clip(frame.get("name"), 200)
    email = protocol.clip(frame.get("email"), 320)
    topic = protocol.clip(frame.get("topic"), 100)

    def write(session: Session) -> None:
        chat_service.save_prechat(
            session, conn.channel, visitor, name=name, email=email, topic=topic
        )

    await conn.state.writer.run(write)
    await conn.send({"t": "prechat_ok"})


async def _offline(conn: Connection, frame: dict[str, Any]) -> None:
    assert conn.visitor is not None
    visitor = conn.visitor
    client_id = protocol.check_client_id(frame.get("cid"))
    text = protocol.check_text(frame.get("text"))
    name = protocol.clip(frame.get("name"), 200)
    email = protocol.clip(frame.get("email"), 320)
    if not email:
        raise ProtocolError("email_required", "leave an email address for our answer")

    def write(session: Session) -> tuple[int, bool]:
        result = chat_service.leave_offline_message(
            session,
            conn.channel,
            visitor,
            client_id=client_id,
            name=name,
            email=email,
            text=text,
            page=conn.page,
        )
        return result.conversation_id, result.channel_id == conn.channel.id

    conv, here = await conn.state.writer.run(write)
    if here and conn.conv is None:
        conn.conv = conv
    await conn.send({"t": "offline_ok", "cid": client_id})


async def _transcript(conn: Connection, frame: dict[str, Any]) -> None:
    conv = conn.conv
    if conv is None:
        raise ProtocolError("no_conversation", "there is no chat to send yet")
    email = protocol.clip(frame.get("email"), 320)

    def write(session: Session) -> str:
        return chat_service.request_transcript(session, conv, email).status

    status = await conn.state.writer.run(write)
    await conn.send({"t": "transcript_ok", "status": status})


async def _choice(conn: Connection, frame: dict[str, Any]) -> None:
    """A button under a team message was tapped (a survey score): taken by the hook that owns
    the button's prefix, never stored as a message. Unknown choices are dropped."""
    assert conn.visitor is not None
    choice = protocol.clip(frame.get("id"), 100)
    visitor, channel = conn.visitor, conn.channel
    inbound = InboundMessage(identity=visitor.primary, text="", meta={"choice": choice})

    def write(session: Session) -> bool:
        return channels_service.take_choice(session, channel, inbound)

    taken = await conn.state.writer.run(write)
    await conn.send({"t": "choice_ok", "id": choice, "taken": taken})


HANDLERS = {
    "msg": _message,
    "choice": _choice,
    "typing": _typing,
    "prechat": _prechat,
    "offline": _offline,
    "transcript": _transcript,
}


async def chat_socket(websocket: WebSocket) -> None:
    state = chat_state(websocket.app)
    public_id = str(websocket.path_params["public_id"])
    channel = await state.channel(public_id)
    if channel is None:
        await websocket.close(code=4404)
        return
    if not channel.widget.origin_allowed(
        websocket.headers.get("origin"), websocket.headers.get("host")
    ):
        await websocket.close(code=4403)
        return
    await websocket.accept()
    conn = Connection(websocket, state, channel)
    try:
        try:
            first = await asyncio.wait_for(websocket.receive_text(), HELLO_TIMEOUT)
            hello = protocol.parse_frame(first)
            if hello["t"] != "hello":
                raise ProtocolError("hello_first", "the first frame is hello")
            await _hello(conn, hello)
        except ProtocolError as exc:
            await conn.send({"t": "error", "code": exc.code, "message": exc.message})
            await websocket.close(code=4403 if exc.code == "identity_rejected" else 4400)
            return
        except TimeoutError:
            await websocket.close(code=4408)
            return
        while True:
            text = await websocket.receive_text()
            if text == "ping":
                await websocket.send_text("pong")
                continue
            frame: dict[str, Any] = {}
            try:
                frame = protocol.parse_frame(text)
                kind = frame["t"]
                if kind == "delivered":
                    await _marks(conn, frame, DeliveryState.DELIVERED)
                elif kind == "read":
                    await _marks(conn, frame, DeliveryState.READ)
                elif kind == "page":
                    conn.page = protocol.clean_page(frame.get("url"))
                    conn.title = protocol.clip(frame.get("title"), 300)
                    if conn.page:
                        await _page(conn, conn.page, conn.title)
                elif kind in HANDLERS:
                    await HANDLERS[kind](conn, frame)
            except ProtocolError as exc:
                await conn.send(
                    {
                        "t": "error",
                        "code": exc.code,
                        "message": exc.message,
                        "cid": frame.get("cid"),
                    }
                )
            except SportelloError as exc:
                await conn.send({"t": "error", "code": "invalid", "message": exc.message})
    except (WebSocketDisconnect, WebSocketDisconnected):
        pass  # gone (or a send found it gone first)
    finally:
        if conn.keys:
            state.hub.remove(conn, conn.keys)
        if conn.conv is not None and conn.visitor is not None:
            others = any(state.hub.listeners.get(k) for k in conn.keys)
            if not others:
                with contextlib.suppress(Exception):
                    await state.notify_console(
                        "chat.visitor", {**conn.console_ref(), "online": False}
                    )


router.add_websocket_route("/chat/ws/{public_id}", chat_socket)


# --- HTTP endpoints of the widget --------------------------------------------------------------


def _cors(channel: chat_service.ChannelInfo | None, request: Request) -> dict[str, str]:
    origin = request.headers.get("origin")
    headers = {"Vary": "Origin", "Cache-Control": "no-store"}
    if (
        origin
        and channel is not None
        and channel.widget.origin_allowed(origin, request.headers.get("host"))
    ):
        headers["Access-Control-Allow-Origin"] = origin
    return headers


@router.get("/chat/config/{public_id}", include_in_schema=False)
def widget_config(public_id: str, request: Request) -> JSONResponse:
    state: ChatState = chat_state_sync(request)
    channel = state.channel_sync(public_id)
    if channel is None:
        return JSONResponse(
            {"error": "unknown channel"}, status_code=404, headers=_cors(None, request)
        )
    is_open, online = state.availability(channel)
    body = {**channel.widget.public(), "open": is_open, "online": online}
    return JSONResponse(body, headers=_cors(channel, request))


def chat_state_sync(request: Request) -> ChatState:
    state: ChatState | None = getattr(request.app.state, "chat", None)
    if state is None:
        raise NotFound("chat is starting")
    return state


def _visitor_from_token(state: ChatState, channel: chat_service.ChannelInfo, token: str) -> Visitor:
    visitor = protocol.read_token(token, channel.public_id, state.settings.effective_secret_key())
    if visitor is None:
        raise ChatUnauthorized("invalid visitor token")
    return visitor


@router.post("/chat/upload/{public_id}", include_in_schema=False)
def widget_upload(
    public_id: str,
    request: Request,
    token: Annotated[str, Form(max_length=1000)],
    cid: Annotated[str, Form(max_length=64)],
    file: Annotated[UploadFile, File()],
    text: Annotated[str, Form(max_length=protocol.MAX_TEXT)] = "",
) -> JSONResponse:
    state = chat_state_sync(request)
    channel = state.channel_sync(public_id)
    if channel is None:
        raise NotFound("unknown channel")
    headers = _cors(channel, request)
    try:
        visitor = _visitor_from_token(state, channel, token)
        client_id = protocol.check_client_id(cid)
        content_type = (
            (file.content_type or "application/octet-stream").split(";")[0].strip().lower()
        )
        if content_type not in channel.widget.upload_types:
            return JSONResponse(
                {"error": "type", "message": f"files of type {content_type} are not accepted"},
                status_code=415,
                headers=headers,
            )
        limit = min(channel.widget.max_upload_bytes, state.settings.max_upload_bytes)
        data = file.file.read(limit + 1)
        if len(data) > limit:
            return JSONResponse(
                {"error": "size", "message": f"files up to {limit // 1024} KB", "limit": limit},
                status_code=413,
                headers=headers,
            )
        if not data:
            raise InvalidInput("the file is empty", field="file")
        attachment = InboundAttachment(file.filename or "file", content_type, data)
        with state.db.transaction() as session:
            result = chat_service.receive_message(
                session,
                channel,
                visitor,
                text=text,
                client_id=client_id,
                attachments=[attachment],
            )
            body = {
                "id": result.message_id,
                "conv": result.conversation_id,
                "dup": result.duplicate,
            }
    except ProtocolError as exc:
        return JSONResponse(
            {"error": exc.code, "message": exc.message}, status_code=422, headers=headers
        )
    except SportelloError as exc:
        return JSONResponse(
            {"error": "invalid", "message": exc.message},
            status_code=exc.status_code,
            headers=headers,
        )
    chat_hub.publish(
        visitor.keys(),
        {"t": "new", "conv": body["conv"], "id": body["id"]},
        redis_url=state.settings.redis_url,
    )
    return JSONResponse(body, status_code=200 if body["dup"] else 201, headers=headers)


@router.get("/chat/files/{public_id}/{attachment_id}", include_in_schema=False)
def widget_file(public_id: str, attachment_id: int, t: str, request: Request) -> Response:
    state = chat_state_sync(request)
    channel = state.channel_sync(public_id)
    if channel is None:
        raise NotFound("file not found")
    visitor = _visitor_from_token(state, channel, t)
    with state.db.session() as session:
        attachment = session.get(Attachment, attachment_id)
        customer = chat_service.find_customer(session, visitor)
        if attachment is None or customer is None:
            raise NotFound("file not found")
        message = session.get_one(Message, attachment.message_id)
        conversation = message.conversation_id
        from sportello.conversations.models import Conversation

        owner = session.get_one(Conversation, conversation).customer_id
        if owner != customer.id or message.direction.value not in ("inbound", "outbound"):
            raise NotFound("file not found")
        path = path_for(state.settings.attachments_dir, attachment.sha256)
        inline = attachment.content_type in INLINE_TYPES
        return FileResponse(
            path,
            media_type=attachment.content_type if inline else "application/octet-stream",
            filename=attachment.filename,
            content_disposition_type="inline" if inline else "attachment",
        )


@router.get("/chat-demo/{public_id}", response_class=HTMLResponse, include_in_schema=False)
def demo_page(public_id: str, request: Request, lang: str = "it") -> HTMLResponse:
    state = chat_state_sync(request)
    channel = state.channel_sync(public_id)
    if channel is None:
        raise NotFound("no such chat channel")
    return render(
        request,
        "chat/demo.html",
        {"public_id": public_id, "lang": "en" if lang == "en" else "it", "channel": channel},
    )


# --- the console's side --------------------------------------------------------------------------


def _chat_conversation(session: SessionDep, user: CurrentUser, number: int) -> Any:
    conversation = access.access_conversation_by_number(session, user, number)
    if conversation.channel is None or conversation.channel.kind != "chat":
        raise NotFound("not a chat")
    return conversation


@router.post("/chat/agent/{number}/typing", include_in_schema=False, dependencies=[CsrfChecked])
def agent_typing(
    number: int, request: Request, session: SessionDep, user: CurrentUser, on: bool = True
) -> JSONResponse:
    """The console tells the visitor an agent is writing (and has seen their messages)."""
    conversation = _chat_conversation(session, user, number)
    keys = chat_service.visitor_keys_for_conversation(session, conversation)
    redis_url = request.app.state.settings.redis_url
    name = user.name.split(" ")[0] if user.name else ""
    chat_hub.publish(
        keys, {"t": "typing", "conv": conversation.id, "on": on, "name": name}, redis_url=redis_url
    )
    seen = chat_service.last_inbound_id(session, conversation.id)
    chat_hub.publish(
        keys, {"t": "seen", "conv": conversation.id, "up_to": seen}, redis_url=redis_url
    )
    return JSONResponse({"ok": True})


@router.post("/chat/agent/{number}/seen", include_in_schema=False, dependencies=[CsrfChecked])
def agent_seen(
    number: int, request: Request, session: SessionDep, user: CurrentUser
) -> JSONResponse:
    """The agent opened the conversation: the visitor's messages show as read."""
    conversation = _chat_conversation(session, user, number)
    keys = chat_service.visitor_keys_for_conversation(session, conversation)
    seen = chat_service.last_inbound_id(session, conversation.id)
    chat_hub.publish(
        keys,
        {"t": "seen", "conv": conversation.id, "up_to": seen},
        redis_url=request.app.state.settings.redis_url,
    )
    return JSONResponse({"ok": True, "up_to": seen})


@router.get("/chat/agent/{number}/visitor", include_in_schema=False)
def agent_visitor(
    number: int, request: Request, session: SessionDep, user: CurrentUser
) -> JSONResponse:
    """Who the visitor is and where they are on the site, for the console's side panel."""
    conversation = _chat_conversation(session, user, number)
    row = chat_service.visitor_for_conversation(session, conversation.id)
    keys = chat_service.visitor_keys_for_conversation(session, conversation)
    state: ChatState | None = getattr(request.app.state, "chat", None)
    online = state is not None and any(state.hub.listeners.get(k) for k in keys)
    return JSONResponse(
        {
            "conversation_id": conversation.id,
            "online": online,
            "page": row.page_url if row else "",
            "page_title": row.page_title if row else "",
            "name": row.name if row else "",
            "email": row.email if row else "",
            "topic": row.topic if row else "",
            "verified_as": row.verified_as if row else None,
            "language": row.language if row else "",
            "last_seen_at": row.last_seen_at.isoformat() if row else None,
            "transcripts": [
                {
                    "email": r.email,
                    "status": r.status,
                    "note": r.note,
                    "requested_at": r.requested_at.isoformat(),
                }
                for r in chat_service.transcripts_for(session, conversation.id)
            ],
        }
    )
