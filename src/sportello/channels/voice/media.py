"""What a waiting caller hears: announcements (greeting, out of hours) and music on hold, played
by rtpengine into the call as early media (183 Session Progress with rtpengine's SDP).

Sportello speaks rtpengine's ng control protocol (bencoded dictionaries over UDP, the address
Kamailio gives with each routing question): ``offer`` the caller's SDP, ``answer`` it for the
queue (a silent, receive-only party), then ``play media`` a WAV file to the caller. When an agent
is dialed the media stops and Kamailio's own offer to the agent takes the call over.

Announcements are WAV files: an admin uploads them per channel (``save_announcement``); until
then a default is generated with the ``wave`` module (a short two-tone chime for the greeting and
out-of-hours notice, a soft arpeggio for the music)."""

from __future__ import annotations

import io
import logging
import math
import secrets
import socket
import struct
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bencode

from sportello.channels.voice.messages import _, invalid
from sportello.config import get_settings

log = logging.getLogger(__name__)

# The greeting, the music on hold and the closed notice; the callback offer ("press 1 to be
# called back") and its confirmation; the caller's position in the queue (1 to 5, then "more").
POSITIONS = ("pos1", "pos2", "pos3", "pos4", "pos5", "pos_more")
KINDS = ("greeting", "music", "closed", "offer", "booked", *POSITIONS)
MAX_BYTES = 5 * 1024 * 1024
MAX_SECONDS = 600
RATES = (8000, 11025, 16000, 22050, 32000, 44100, 48000)
QUEUE_TAG = "sportello-queue"


def directory() -> Path:
    return get_settings().data_dir / "voice" / "announcements"


def _path(channel_id: int | None, kind: str) -> Path:
    return directory() / (f"{channel_id}-{kind}.wav" if channel_id else f"default-{kind}.wav")


# --- the default announcements ---------------------------------------------------------------


def _tones(notes: list[tuple[float, float]], rate: int = 8000, volume: float = 0.3) -> bytes:
    """16-bit mono PCM of (frequency Hz, seconds) notes, each faded in and out (0 Hz: silence)."""
    frames = bytearray()
    for freq, seconds in notes:
        count = int(rate * seconds)
        fade = max(1, int(rate * 0.02))
        for i in range(count):
            env = min(1.0, i / fade, (count - i) / fade)
            value = math.sin(2 * math.pi * freq * i / rate) if freq else 0.0
            frames += struct.pack("<h", int(32767 * volume * env * value))
    return bytes(frames)


DEFAULT_NOTES: dict[str, list[tuple[float, float]]] = {
    # A two-tone chime and a pause: "please hold".
    "greeting": [(659.3, 0.35), (523.3, 0.5), (0, 0.4)],
    # A slow C-major arpeggio, twice (about 10 s).
    "music": [(f, 0.6) for f in (261.6, 329.6, 392.0, 523.3, 392.0, 329.6, 293.7, 349.2)] * 2,
    # Three falling tones: "closed".
    "closed": [(784.0, 0.3), (659.3, 0.3), (523.3, 0.6), (0, 0.3)],
    # Three rising tones, twice: "press 1".
    "offer": [(523.3, 0.25), (659.3, 0.25), (784.0, 0.4), (0, 0.3)] * 2,
    # Two high tones: "we will call you back".
    "booked": [(1046.5, 0.3), (1318.5, 0.5), (0, 0.3)],
    # The position in the queue as that many pips (six quick ones: more than five).
    **{f"pos{n}": [(1000.0, 0.15), (0, 0.2)] * n + [(0, 0.3)] for n in range(1, 6)},
    "pos_more": [(1000.0, 0.08), (0, 0.08)] * 6 + [(0, 0.3)],
}


def position_kind(position: int) -> str:
    """The announcement for a caller's position in the queue (1 = next)."""
    return f"pos{position}" if 1 <= position <= 5 else "pos_more"


def default_announcement(kind: str) -> Path:
    """The generated default for ``kind`` (written once, in the data directory)."""
    path = _path(None, kind)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        with wave.open(str(tmp), "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(8000)
            out.writeframes(_tones(DEFAULT_NOTES[kind]))
        tmp.replace(path)
    return path


def announcement(channel_id: int | None, kind: str) -> Path:
    """The file played for ``kind`` on a channel: the uploaded one, else the default."""
    uploaded = _path(channel_id, kind) if channel_id else None
    if uploaded is not None and uploaded.exists():
        return uploaded
    return default_announcement(kind)


# --- uploads ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class AudioInfo:
    seconds: float
    rate: int
    channels: int
    size: int


def check_wav(data: bytes) -> AudioInfo:
    """A WAV file rtpengine can play, or a translated 422 saying what is wrong with it."""
    if not data:
        raise invalid(_("the audio file is empty"), field="file")
    if len(data) > MAX_BYTES:
        raise invalid(
            _("the audio file is larger than %(mb)s MB"), field="file", mb=MAX_BYTES // 1048576
        )
    try:
        with wave.open(io.BytesIO(data), "rb") as wav:
            rate, channels, width = wav.getframerate(), wav.getnchannels(), wav.getsampwidth()
            frames = wav.getnframes()
    except (wave.Error, EOFError, struct.error) as exc:
        log.info("voice: announcement upload refused: %s", exc)
        raise invalid(_("not a WAV audio file (PCM)"), field="file") from None
    if rate not in RATES or channels not in (1, 2) or width not in (1, 2):
        raise invalid(
            _("give a mono or stereo WAV, 8 or 16 bit, at 8000 to 48000 Hz"), field="file"
        )
    seconds = frames / rate
    if seconds < 0.2 or seconds > MAX_SECONDS:
        raise invalid(
            _("the announcement lasts from 0.2 seconds to %(max)s minutes"),
            field="file",
            max=MAX_SECONDS // 60,
        )
    return AudioInfo(seconds=round(seconds, 2), rate=rate, channels=channels, size=len(data))


def save_announcement(channel_id: int, kind: str, data: bytes) -> AudioInfo:
    if kind not in KINDS:
        raise invalid(_("unknown announcement"), field="kind")
    info = check_wav(data)
    path = _path(channel_id, kind)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    return info


def remove_announcement(channel_id: int, kind: str) -> None:
    if kind not in KINDS:
        raise invalid(_("unknown announcement"), field="kind")
    _path(channel_id, kind).unlink(missing_ok=True)


def duration(path: Path) -> float:
    with wave.open(str(path), "rb") as wav:
        return wav.getnframes() / wav.getframerate()


# --- rtpengine's ng protocol ------------------------------------------------------------------


class MediaError(Exception):
    """rtpengine did not do what was asked (or did not answer)."""


class Rtpengine:
    """A small ng client: one UDP request, one answer matched by its cookie."""

    def __init__(self, address: str, timeout: float = 2.0) -> None:
        host, _sep, port = address.rpartition(":")
        if not host or not port.isdigit():
            raise MediaError(f"not an ng address: {address!r}")
        self.address = (host, int(port))
        self.timeout = timeout

    def command(self, name: str, **params: Any) -> dict[str, Any]:
        cookie = secrets.token_hex(6).encode()
        packet = cookie + b" " + bencode.encode({"command": name, **params})
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(self.timeout)
            try:
                sock.sendto(packet, self.address)
                while True:
                    data = sock.recv(65535)
                    got, _sep, body = data.partition(b" ")
                    if got == cookie:
                        break
            except OSError as exc:
                raise MediaError(f"rtpengine at {self.address} did not answer {name}") from exc
        try:
            answer = dict(bencode.decode(body))
        except (bencode.BencodeDecodeError, TypeError, ValueError) as exc:
            raise MediaError(f"rtpengine answered {name} with garbage") from exc
        if answer.get("result") != "ok":
            raise MediaError(f"rtpengine refused {name}: {answer.get('error-reason', answer)}")
        return answer

    def early_media(self, call_id: str, from_tag: str, sdp: str) -> str:
        """Set the call up in rtpengine for the caller alone and return the SDP to answer the
        caller with (rtpengine's address), for a 183 Session Progress."""
        common = {
            "call-id": call_id,
            "from-tag": from_tag,
            "replace": ["origin", "session-connection"],
            "ICE": "remove",
            "transport-protocol": "RTP/AVP",
        }
        self.command("offer", sdp=sdp, **common)
        # The queue's side: a party on the discard port (what the caller says goes nowhere).
        queue_sdp = (
            "v=0\r\no=sportello 1 1 IN IP4 127.0.0.1\r\ns=queue\r\nc=IN IP4 127.0.0.1\r\n"
            "t=0 0\r\nm=audio 9 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\n"
            "a=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
            "a=fmtp:101 0-16\r\na=sendrecv\r\n"
        )
        answered = self.command("answer", sdp=queue_sdp, **{**common, "to-tag": QUEUE_TAG})
        return str(answered["sdp"])

    def play(self, call_id: str, from_tag: str, path: Path, repeat: int = 1) -> float:
        """Play a file to the caller (``repeat`` times over, without a gap); the length of one
        playing in seconds."""
        params: dict[str, Any] = {"call-id": call_id, "from-tag": from_tag, "file": str(path)}
        if repeat > 1:
            params["repeat-times"] = repeat
        answer = self.command("play media", **params)
        return int(answer.get("duration", 0)) / 1000 or duration(path)

    def stop(self, call_id: str, from_tag: str) -> None:
        self.command("stop media", **{"call-id": call_id, "from-tag": from_tag})
