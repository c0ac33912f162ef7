"""A mailbox's settings: validated from the admin's form, read back typed from ``ChannelConfig``.

Passwords are not settings: they go to ``ChannelSetup.secrets`` (Fernet-encrypted at rest) and
come back decrypted only in ``ChannelConfig.secrets``. Nothing here logs or formats them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sportello.core.errors import InvalidInput

SECURITY = ("tls", "starttls", "none")
PROCESSED_ACTIONS = ("flag", "move")
LANGUAGES = ("it", "en")
DEFAULT_PORTS = {
    ("imap", "tls"): 993,
    ("imap", "starttls"): 143,
    ("imap", "none"): 143,
    ("smtp", "tls"): 465,
    ("smtp", "starttls"): 587,
    ("smtp", "none"): 25,
}
# Mon-Fri 9-18, Italian holidays: used for the acknowledgement's wording.
DEFAULT_HOURS: dict[str, Any] = {
    "tz": "Europe/Rome",
    "weekly": {d: [["09:00", "18:00"]] for d in ("mon", "tue", "wed", "thu", "fri")},
}
SECRET_FIELDS = ("imap_password", "smtp_password")

_ADDRESS = re.compile(r"^[^@\s<>\"]+@[A-Za-z0-9.-]+\.[A-Za-z0-9-]{2,}$")
_HOST = re.compile(r"^[A-Za-z0-9.\-:\[\]]{1,253}$")
_FOLDER_BAD = re.compile(r"[\r\n\x00]")


@dataclass(frozen=True)
class MailboxSettings:
    address: str
    display_name: str
    imap_host: str
    imap_port: int
    imap_security: str
    imap_user: str
    folder: str
    processed_action: str
    processed_folder: str
    smtp_host: str
    smtp_port: int
    smtp_security: str
    smtp_user: str
    poll_seconds: int
    use_idle: bool
    acknowledge: bool
    language: str
    rate_limit: int  # messages from one sender ...
    rate_window_minutes: int  # ... in this many minutes, beyond which nothing is acknowledged
    hours: Mapping[str, Any]
    timeout: float = 30.0

    @property
    def domain(self) -> str:
        return self.address.rsplit("@", 1)[-1].lower()

    @classmethod
    def from_settings(cls, data: Mapping[str, Any]) -> MailboxSettings:
        return cls(
            address=str(data.get("address", "")),
            display_name=str(data.get("display_name", "")),
            imap_host=str(data.get("imap_host", "")),
            imap_port=int(data.get("imap_port") or 993),
            imap_security=str(data.get("imap_security", "tls")),
            imap_user=str(data.get("imap_user", "")),
            folder=str(data.get("folder") or "INBOX"),
            processed_action=str(data.get("processed_action", "flag")),
            processed_folder=str(data.get("processed_folder", "")),
            smtp_host=str(data.get("smtp_host", "")),
            smtp_port=int(data.get("smtp_port") or 465),
            smtp_security=str(data.get("smtp_security", "tls")),
            smtp_user=str(data.get("smtp_user", "")),
            poll_seconds=int(data.get("poll_seconds") or 60),
            use_idle=bool(data.get("use_idle", True)),
            acknowledge=bool(data.get("acknowledge", False)),
            language=str(data.get("language", "it")),
            rate_limit=int(data.get("rate_limit") or 10),
            rate_window_minutes=int(data.get("rate_window_minutes") or 10),
            hours=data.get("hours") or DEFAULT_HOURS,
            timeout=float(data.get("timeout") or 30.0),
        )


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "on", "true", "yes", "si", "sì")


# What a number out of range is told, per field (catalogue entries: shown translated).
_RANGE_MESSAGES = {
    "imap_port": "give a port number from 1 to 65535",
    "smtp_port": "give a port number from 1 to 65535",
    "poll_seconds": "give a number of seconds from 5 to 3600",
    "rate_limit": "give a number from 1 to 10000",
    "rate_window_minutes": "give a number of minutes from 1 to 1440",
}


def _int(data: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = (data.get(name) or "").strip()
    if not raw:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise InvalidInput(
            _RANGE_MESSAGES.get(name, "give a whole number in the allowed range"), field=name
        )
    return int(raw)


def _choice(data: Mapping[str, str], name: str, choices: tuple[str, ...]) -> str:
    value = (data.get(name) or choices[0]).strip().lower()
    if value not in choices:
        raise InvalidInput("choose one of the options offered", field=name)
    return value


def _host(data: Mapping[str, str], name: str) -> str:
    value = (data.get(name) or "").strip()
    if not value or not _HOST.match(value):
        raise InvalidInput("give a server name such as mail.example.it", field=name)
    return value


def validate(
    data: Mapping[str, str], *, previous: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The settings to store from the admin's form (strings); raises ``InvalidInput``."""
    address = (data.get("address") or "").strip()
    if not _ADDRESS.match(address):
        raise InvalidInput(
            "give the mailbox's email address, e.g. info@negozio.it", field="address"
        )
    imap_security = _choice(data, "imap_security", SECURITY)
    smtp_security = _choice(data, "smtp_security", SECURITY)
    folder = (data.get("folder") or "INBOX").strip() or "INBOX"
    processed_action = _choice(data, "processed_action", PROCESSED_ACTIONS)
    processed_folder = (data.get("processed_folder") or "").strip()
    if processed_action == "move" and not processed_folder:
        raise InvalidInput("name the folder to move processed mail to", field="processed_folder")
    for name, value in (("folder", folder), ("processed_folder", processed_folder)):
        if _FOLDER_BAD.search(value) or len(value) > 200:
            raise InvalidInput("not a valid folder name", field=name)
    hours = (previous or {}).get("hours") or DEFAULT_HOURS
    return {
        "address": address,
        "display_name": (data.get("display_name") or "").strip()[:200],
        "imap_host": _host(data, "imap_host"),
        "imap_port": _int(data, "imap_port", DEFAULT_PORTS[("imap", imap_security)], 1, 65535),
        "imap_security": imap_security,
        "imap_user": (data.get("imap_user") or address).strip()[:320],
        "folder": folder,
        "processed_action": processed_action,
        "processed_folder": processed_folder,
        "smtp_host": _host(data, "smtp_host"),
        "smtp_port": _int(data, "smtp_port", DEFAULT_PORTS[("smtp", smtp_security)], 1, 65535),
        "smtp_security": smtp_security,
        "smtp_user": (data.get("smtp_user") or data.get("imap_user") or address).strip()[:320],
        "poll_seconds": _int(data, "poll_seconds", 60, 5, 3600),
        "use_idle": _flag(data.get("use_idle", "on")),
        "acknowledge": _flag(data.get("acknowledge")),
        "language": _choice(data, "language", LANGUAGES),
        "rate_limit": _int(data, "rate_limit", 10, 1, 10_000),
        "rate_window_minutes": _int(data, "rate_window_minutes", 10, 1, 1440),
        "hours": hours,
    }


def secrets_from(data: Mapping[str, str], *, required: bool) -> dict[str, str]:
    """The passwords given in a form; blank ones are left out (kept, on an update)."""
    found = {name: data[name] for name in SECRET_FIELDS if data.get(name)}
    if required and "imap_password" not in found:
        raise InvalidInput("give the IMAP password", field="imap_password")
    if required and "smtp_password" not in found:
        found["smtp_password"] = found.get("imap_password", "")
    return found
