"""What a caller hears before an agent answers: rtpengine plays the greeting, then the music on
hold, as early media (183 with rtpengine's SDP); out of hours, the closed notice before the 480.
The caller is sipp, its media address a socket of the test that counts the RTP packets."""

from __future__ import annotations

import io
import itertools
import socket
import threading
import time
import wave
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from sportello.accounts.models import User
from sportello.channels.voice import media
from sportello.channels.voice.daemons import Stack
from sportello.core.db import Database
from sportello.routing import actions as routing_actions
from sportello.routing import presence
from sportello.routing.calendar import BusinessCalendar
from sportello.routing.models import BusinessCalendarRow
from tests.channels.voice.test_admin_api import _bearer
from tests.channels.voice.test_calls import _caller, _calls, _setup, _setup_passwords, _wait_for
from tests.factories import Personas, csrf_from, login


@pytest.fixture(autouse=True)
def _no_uploads() -> None:
    """Channel ids come back between tests: no announcement left over from another test."""
    for path in media.directory().glob("[0-9]*-*.wav"):
        path.unlink()


class RtpCounter:
    """A UDP socket standing for the caller's phone: counts the RTP packets rtpengine sends."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = int(self.sock.getsockname()[1])
        self.packets: list[float] = []
        self.payloads: set[int] = set()
        self.audio: list[bytes] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            if len(data) >= 12 and data[0] >> 6 == 2:  # RTP version 2
                self.packets.append(time.monotonic())
                self.payloads.add(data[1] & 0x7F)
                self.audio.append(data[12:])

    def tones(self) -> dict[str, int]:
        """The 20 ms packets heard, by pitch: each PCMU sample's sign bit flips at every zero
        crossing, 2 per period (a 400 Hz tone crosses 16 times a packet, 1000 Hz 40, 2000 Hz
        80)."""
        heard = {"low": 0, "1000": 0, "2000": 0}
        for payload in self.audio:
            signs = [b & 0x80 for b in payload if b not in (0xFF, 0x7F)]  # skip the zeros
            flips = sum(1 for a, b in itertools.pairwise(signs) if a != b)
            heard["2000" if flips > 65 else "1000" if 33 <= flips <= 55 else "low"] += 1
        return heard

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


@pytest.fixture
def rtp() -> RtpCounter:
    counter = RtpCounter()
    yield counter  # type: ignore[misc]
    counter.close()


def _wav(seconds: float, freq: float = 440.0) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(8000)
        wav.writeframes(media._tones([(freq, seconds)]))
    return out.getvalue()


def _nobody_available(db: Database, p: Personas) -> None:
    with db.transaction() as s:
        presence.do_set_presence(s, user=s.get_one(User, p.sara.id), presence="away")


def test_waiting_caller_hears_the_greeting_then_music(
    db: Database,
    personas: Personas,
    stack: Stack,
    tmp_path: Path,
    rtp: RtpCounter,
    client: TestClient,
) -> None:
    # The caller waits about 4.5 s: under the default 5 s short-abandon threshold that is a
    # coin toss on a busy machine, so the threshold is 1 s here.
    phones = _setup(db, personas, short_abandon_seconds="1")
    _nobody_available(db, personas)
    # The admin's own greeting: 2 seconds, then the (default) music.
    answer = client.put(
        f"/api/v1/voice/channels/{phones.channel_id}/announcements/greeting",
        files={"file": ("benvenuto.wav", _wav(2.0), "audio/wav")},
        headers=_bearer(db, personas.admin, ("read", "write", "admin")),
    )
    assert answer.status_code == 200, answer.text
    assert {"kind": "greeting", "custom": True, "seconds": 2.0} in answer.json()
    started = time.monotonic()
    caller = _caller(
        stack, tmp_path, "caller_listen.xml", variables={"talk": 4500, "rtp_port": rtp.port}
    )
    _wait_for(lambda: bool(_calls(db)) and _calls(db)[0].media == "greeting", 5)
    assert caller.wait() == 0, caller.output() + stack.logs()
    # Kamailio answers the CANCEL first and tells Sportello after.
    _wait_for(lambda: _calls(db)[0].state == "ended")
    (call,) = _calls(db)
    assert call.outcome == "abandoned"
    assert call.media == "music"  # the greeting ended and the music took over
    # 20 ms packets for the 4.5 s wait (minus set-up): the caller heard the queue all along.
    assert len(rtp.packets) >= 150, len(rtp.packets)
    assert rtp.packets[0] - started < 2.0
    gaps = [b - a for a, b in zip(rtp.packets, rtp.packets[1:], strict=False)]
    assert max(gaps) < 1.0  # no silence between the greeting and the music
    assert rtp.payloads == {0}  # PCMU, the codec the caller offered


def test_out_of_hours_caller_hears_the_closed_notice_before_the_480(
    db: Database, personas: Personas, stack: Stack, tmp_path: Path, rtp: RtpCounter
) -> None:
    _setup(db, personas)
    with db.transaction() as s:
        today = datetime.now(UTC).date()
        closed = BusinessCalendar.from_dict(
            {
                "tz": "Europe/Rome",
                "weekly": {
                    day: [["00:00", "24:00"]]
                    for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
                },
                "closures": [
                    {"start": str(today - timedelta(days=1)), "end": str(today + timedelta(days=1))}
                ],
            }
        )
        row = BusinessCalendarRow(
            brand_id=personas.brand_id, name="Chiuso", config=closed.to_dict()
        )
        s.add(row)
        s.flush()
        routing_actions.do_set_queue_routing(s, queue=personas.queue_assistenza, calendar_id=row.id)
    notice = media.duration(media.default_announcement("closed"))
    started = time.monotonic()
    caller = _caller(
        stack, tmp_path, "caller_closed.xml", code=480, variables={"rtp_port": rtp.port}
    )
    assert caller.wait() == 0, caller.output() + stack.logs()
    took = time.monotonic() - started
    (call,) = _calls(db)
    assert call.outcome == "closed" and call.media == "closed"
    assert took >= notice  # the 480 came after the notice
    assert len(rtp.packets) >= int(notice * 50 * 0.7), len(rtp.packets)


def test_without_rtpengine_the_call_waits_in_silence(
    db: Database, personas: Personas, caplog: pytest.LogCaptureFixture
) -> None:
    """rtpengine down (nothing on its ng port): the call is queued as before, the log says why
    the caller hears nothing."""
    from sportello.channels.voice import actions
    from sportello.channels.voice.daemons import free_port

    _setup(db, personas)
    _nobody_available(db, personas)
    sdp = (
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
        "m=audio 4000 RTP/AVP 0\r\n"
    )
    answer = actions.route_call(
        db,
        sip_call_id="silent-1",
        caller="+393331234567",
        did="+390212345678",
        media_request=actions.MediaRequest(ng=f"127.0.0.1:{free_port(2)}", from_tag="t1", sdp=sdp),
    )
    assert answer.action == "wait" and answer.sdp == ""
    assert "no announcement for call silent-1" in caplog.text
    (call,) = _calls(db)
    assert call.state == "queued" and call.media is None


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"", "the audio file is empty"),
        (b"RIFF\x00\x00\x00\x00WAVEjunk\x00\x01", "not a WAV audio file"),
        (b"<script>alert(1)</script>", "not a WAV audio file"),
        (b"\x00" * (media.MAX_BYTES + 10), "larger than 5 MB"),
    ],
)
def test_bad_announcement_uploads_are_refused(
    db: Database, personas: Personas, client: TestClient, payload: bytes, message: str
) -> None:
    phones = _setup(db, personas)
    headers = _bearer(db, personas.admin, ("read", "write", "admin"))
    answer = client.put(
        f"/api/v1/voice/channels/{phones.channel_id}/announcements/music",
        files={"file": ("x.wav", payload, "audio/wav")},
        headers=headers,
    )
    assert answer.status_code == 422, answer.text
    assert message in answer.text
    listed = client.get(
        f"/api/v1/voice/channels/{phones.channel_id}/announcements", headers=headers
    ).json()
    assert all(not a["custom"] for a in listed)


def test_announcement_page_upload_and_translated_error(
    db: Database, personas: Personas, client: TestClient
) -> None:
    phones = _setup(db, personas)
    login(client, personas.admin)
    page = client.get("/admin/voice")
    assert page.status_code == 200 and "Musica di attesa" in page.text
    token = csrf_from(page.text)
    url = f"/admin/voice/channels/{phones.channel_id}/announcements/closed"
    bad = client.post(
        url, data={"csrf_token": token}, files={"file": ("a.wav", b"MZ\x90", "audio/wav")}
    )
    assert bad.status_code == 422 and "non è un file audio WAV" in bad.text
    good = client.post(
        url, data={"csrf_token": token}, files={"file": ("a.wav", _wav(1.0), "audio/wav")}
    )
    assert good.status_code in (200, 303), good.text
    assert media.announcement(phones.channel_id, "closed").name == f"{phones.channel_id}-closed.wav"
    # Unknown kinds and channels: 422 / 404, never a 500.
    assert (
        client.post(
            f"/admin/voice/channels/{phones.channel_id}/announcements/jingle",
            data={"csrf_token": token},
            files={"file": ("a.wav", _wav(1.0), "audio/wav")},
        ).status_code
        == 422
    )
    assert (
        client.post(
            "/admin/voice/channels/999999/announcements/closed",
            data={"csrf_token": token},
            files={"file": ("a.wav", _wav(1.0), "audio/wav")},
        ).status_code
        == 404
    )
    removed = client.post(url, data={"csrf_token": token, "remove": "1"})
    assert removed.status_code in (200, 303)
    assert media.announcement(phones.channel_id, "closed").name == "default-closed.wav"


def test_rtpengine_restarted_mid_call_keeps_the_record(
    db: Database,
    personas: Personas,
    stack: Stack,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """rtpengine dies and comes back while Sara talks to the caller: the media of that call is
    lost, but the hang-up goes through, Kamailio says what happened and the record is whole."""
    from sportello.channels.voice.daemons import restart_rtpengine
    from tests.channels.voice.test_calls import _agent_phone

    phones = _setup(db, personas)
    sara_phone = _agent_phone(stack, tmp_path, personas.sara, phones)
    caller = _caller(stack, tmp_path, variables={"talk": 4000})
    _wait_for(lambda: bool(_calls(db)) and _calls(db)[0].state == "talking", 10)
    restart_rtpengine(stack)
    assert caller.wait(30) == 0, caller.output() + stack.logs()
    assert sara_phone.wait() == 0, sara_phone.output()
    _wait_for(lambda: _calls(db)[0].state == "ended")
    (call,) = _calls(db)
    assert call.outcome == "answered" and call.ended_by == "customer"
    assert call.agent_id == personas.sara.id
    assert call.answered_at is not None and call.ended_at is not None
    assert (call.ended_at - call.answered_at).total_seconds() >= 3
    assert f"rtpengine lost the media of call {call.sip_call_id}" in caplog.text
    # The restarted rtpengine takes the next call (once Sara ends her wrap-up).
    from sportello.channels.voice import actions
    from sportello.channels.voice.models import VoiceCall

    with db.transaction() as s:
        actions.do_finish_wrapup(
            s, call=s.get_one(VoiceCall, call.id), user=s.get_one(User, personas.sara.id)
        )
    sara_phone = _agent_phone(
        stack, tmp_path / "again", personas.sara, _setup_passwords(db, personas)
    )
    again = _caller(stack, tmp_path / "again")
    assert again.wait(30) == 0, again.output() + stack.logs()
    assert sara_phone.wait() == 0, sara_phone.output()
    _wait_for(lambda: len(_calls(db)) == 2 and _calls(db)[1].outcome == "answered")
    assert f"lost the media of call {_calls(db)[1].sip_call_id}" not in caplog.text


def test_waiting_callers_hear_their_position_in_the_queue(
    db: Database, personas: Personas, stack: Stack, tmp_path: Path, client: TestClient
) -> None:
    """Every 2 s a waiting caller hears their place: Anna, first in the queue, the "first"
    announcement (a 1000 Hz tone here), Bruno, who called after her, the "second" one (2000 Hz);
    music (400 Hz) around them. What each phone received is told apart by pitch."""
    phones = _setup(db, personas, position_every_seconds="2", short_abandon_seconds="1")
    _nobody_available(db, personas)
    headers = _bearer(db, personas.admin, ("read", "write", "admin"))
    for kind, seconds, freq in (
        ("music", 6.0, 400.0),
        ("pos1", 1.0, 1000.0),
        ("pos2", 1.0, 2000.0),
    ):
        answer = client.put(
            f"/api/v1/voice/channels/{phones.channel_id}/announcements/{kind}",
            files={"file": (f"{kind}.wav", _wav(seconds, freq), "audio/wav")},
            headers=headers,
        )
        assert answer.status_code == 200, answer.text
    anna, bruno = RtpCounter(), RtpCounter()
    try:
        first = _caller(
            stack,
            tmp_path / "anna",
            "caller_listen.xml",
            variables={"talk": 4800, "rtp_port": anna.port},
        )
        _wait_for(lambda: len(_calls(db)) == 1, 5)
        second = _caller(
            stack,
            tmp_path / "bruno",
            "caller_listen.xml",
            variables={
                "talk": 3500,
                "rtp_port": bruno.port,
                "caller": "+393339876543",
                "name": "Bruno Neri",
            },
        )
        assert first.wait() == 0, first.output() + stack.logs()
        assert second.wait() == 0, second.output() + stack.logs()
    finally:
        anna.close()
        bruno.close()
    calls = _calls(db)
    assert len(calls) == 2 and all(c.announced_at is not None for c in calls)
    heard_anna, heard_bruno = anna.tones(), bruno.tones()
    # A 1 s announcement is 50 packets; some are lost to the fades and the switch.
    assert heard_anna["1000"] >= 35 and heard_anna["2000"] <= 2, heard_anna
    assert heard_bruno["2000"] >= 35 and heard_bruno["1000"] <= 2, heard_bruno
    assert heard_anna["low"] >= 100 and heard_bruno["low"] >= 50  # greeting and music too
