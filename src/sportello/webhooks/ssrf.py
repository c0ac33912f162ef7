"""SSRF guard for every outgoing call to a URL an admin typed (webhooks, order connectors).

A target whose host resolves to a private, loopback, link-local, reserved or multicast address is
refused unless the admin allowed private targets for that subscription or connector (an
intranet shop, the tests' local receivers). Redirects are never followed by the callers.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from sportello.core.errors import InvalidInput


class BlockedTarget(InvalidInput):
    """The URL points at a private network (or cannot be resolved)."""

    permanent = True


def check_url(url: str, *, field: str = "url") -> str:
    """The URL's syntax: http(s), a host, no credentials inside."""
    url = (url or "").strip()
    if not url:
        raise InvalidInput("give the address (URL)", field=field)
    if len(url) > 2000:
        raise InvalidInput("the address is too long", field=field)
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises on a bad port)
    except ValueError:
        raise InvalidInput("this is not a valid web address", field=field) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput("the address must start with http:// or https://", field=field)
    if parts.username or parts.password:
        raise InvalidInput(
            "put credentials in the authentication fields, not in the address", field=field
        )
    if any(ch in url for ch in " \r\n\t"):
        raise InvalidInput("this is not a valid web address", field=field)
    return url


def _is_private(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return bool(
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_reserved
        or ip.is_multicast
        or ip.is_unspecified
    )


def guard(url: str, *, allow_private: bool, field: str = "url") -> None:
    """Refuse a target on a private network unless allowed. Resolves the host (DNS)."""
    host = urlsplit(url).hostname or ""
    if allow_private:
        return
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        raise BlockedTarget("the address's host name cannot be resolved", field=field) from None
    if not infos or any(_is_private(str(info[4][0])) for info in infos):
        raise BlockedTarget(
            "the address points at a private or local network: allow private targets to use it",
            field=field,
        )
