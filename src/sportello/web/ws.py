"""The console's WebSocket: one per tab, carrying live events the user may see."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from starlette.websockets import WebSocketDisconnected

from sportello.accounts import service as accounts_service
from sportello.core import access
from sportello.core.db import Database
from sportello.core.realtime import Client, Hub
from sportello.replies import collision
from sportello.web.auth import SESSION_COOKIE

router = APIRouter()


def _authenticate(db: Database, token: str | None) -> Client | None:
    if not token:
        return None
    with db.session() as session:
        user = accounts_service.user_for_session_token(session, token)
        if user is None:
            return None
        scope = access.realtime_scope(session, user)
        return Client(
            websocket=None,  # type: ignore[arg-type]  # set by the caller
            user_id=user.id,
            sees_everything=scope["sees_everything"],
            queue_ids=scope["queue_ids"],
        )


@router.websocket("/ws")
async def console_socket(websocket: WebSocket) -> None:
    db: Database = websocket.app.state.db
    hub: Hub = websocket.app.state.hub
    origin = websocket.headers.get("origin")
    host = websocket.headers.get("host")
    if origin and host and origin.split("://", 1)[-1] != host:
        await websocket.close(code=4403)  # cross-site WebSocket hijacking
        return
    client = await asyncio.to_thread(_authenticate, db, websocket.cookies.get(SESSION_COOKIE))
    if client is None:
        await websocket.close(code=4401)
        return
    await websocket.accept()
    client.websocket = websocket
    hub.add(client)
    from sportello.routing import presence  # routing: offline when the last tab closes

    await asyncio.to_thread(presence.socket_opened, db, client.user_id)
    try:
        await websocket.send_json({"type": "hello", "data": {"user_id": client.user_id}})
        while True:
            text = await websocket.receive_text()
            if text == "ping":
                await websocket.send_text("pong")
            elif text.startswith("{"):  # "I am looking at / writing in this conversation"
                await collision.handle(websocket.app, client, text)
    except (WebSocketDisconnect, WebSocketDisconnected):  # closed, or a send to it failed
        pass
    finally:
        hub.remove(client)
        await collision.disconnected(websocket.app, client)
        await asyncio.to_thread(presence.socket_closed, db, client.user_id)
