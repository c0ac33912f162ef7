"""Scaled mode, for real: two web processes and a worker on PostgreSQL, live events through Redis.

A console connected to web process A sees, live, a message that arrived through web process B and
was dispatched by a separate worker process.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid

import httpx
import pytest
from websockets.sync.client import connect

from sportello.accounts import actions as accounts_actions
from sportello.accounts.models import Role
from sportello.channels import actions as channels_actions
from sportello.core.db import Database

pytestmark = pytest.mark.skipif(
    not os.environ.get("SPORTELLO_TEST_DATABASE_URL"),
    reason="scaled mode needs PostgreSQL (run by the PostgreSQL pass of scripts/check)",
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_http(url: str, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise AssertionError(f"{url} did not come up")


def test_event_crosses_processes_through_redis(db: Database, database_url, test_settings, tmp_path):
    with db.transaction() as s:
        from sqlalchemy import select

        from sportello.accounts.models import Brand

        brand = s.scalars(select(Brand)).first()
        sara = accounts_actions.do_create_user(
            s,
            email="sara@negozio.it",
            name="Sara Conti",
            role=Role.SUPERVISOR,
            password="password-di-prova-123",
        )
        channel, shown = channels_actions.do_create_channel(
            s, brand_id=brand.id, kind="api", name="App", queue=None, data={}
        )
        _, session_token = accounts_actions.do_login(
            s, email=sara.email, password="password-di-prova-123", ip=None, user_agent="test"
        )
    env = {
        **os.environ,
        "SPORTELLO_DATABASE_URL": database_url,
        "SPORTELLO_REDIS_URL": "redis://127.0.0.1:6379/0",
        "SPORTELLO_REDIS_CHANNEL": f"sportello-test:{uuid.uuid4().hex}",
        "SPORTELLO_DATA_DIR": str(tmp_path),
        "SPORTELLO_DISPATCHER_POLL_SECONDS": "0.2",
    }
    port_a, port_b = _free_port(), _free_port()
    cli = [sys.executable, "-m", "sportello.cli"]
    logs = [open(tmp_path / f"proc-{i}.log", "wb") for i in range(3)]  # noqa: SIM115
    procs = [
        subprocess.Popen(
            [*cli, "serve", "--no-workers", "--port", str(port_a)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=logs[0],
        ),
        subprocess.Popen(
            [*cli, "serve", "--no-workers", "--port", str(port_b)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=logs[1],
        ),
        subprocess.Popen([*cli, "worker"], env=env, stdout=subprocess.DEVNULL, stderr=logs[2]),
    ]
    try:
        deadline = time.monotonic() + 60
        _wait_http(f"http://127.0.0.1:{port_a}/healthz", deadline)
        _wait_http(f"http://127.0.0.1:{port_b}/healthz", deadline)
        with connect(
            f"ws://127.0.0.1:{port_a}/ws",
            additional_headers={"Cookie": f"sportello_session={session_token}"},
            open_timeout=10,
        ) as ws:
            assert json.loads(ws.recv(timeout=10))["type"] == "hello"
            time.sleep(0.5)  # let A's Redis subscription settle
            response = httpx.post(
                f"http://127.0.0.1:{port_b}/api/v1/channels/{channel.public_id}/messages",
                headers={"Authorization": f"Bearer {shown['token']}"},
                json={
                    "id": "scaled-1",
                    "from": {"kind": "email", "value": "anna@example.it"},
                    "text": "Buongiorno da un altro processo",
                },
                timeout=10,
            )
            assert response.status_code == 201, response.text
            conversation_id = response.json()["received"][0]["conversation_id"]
            seen = []
            end = time.monotonic() + 15
            while time.monotonic() < end:
                message = json.loads(ws.recv(timeout=max(0.1, end - time.monotonic())))
                seen.append(message["type"])
                if message["type"] == "message.received":
                    assert message["data"]["conversation_id"] == conversation_id
                    break
            assert "message.received" in seen, seen
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        for log in logs:
            log.close()
