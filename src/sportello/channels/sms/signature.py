"""X-Twilio-Signature, exactly as Twilio's own request validators compute it.

The signed string is the full URL Twilio requested (scheme, host, port as configured, path and
query string) followed, for form posts, by every POST parameter name and value, sorted by name and
then value, concatenated with no separators. The signature is base64(HMAC-SHA1(auth token, that)).
A JSON body is not appended; instead the URL carries ``bodySHA256=<hex sha256 of the body>``.
Because proxies and Twilio disagree about default ports, a signature is accepted with the port
added (443/80) or removed, as Twilio's SDKs do.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable
from urllib.parse import parse_qs, urlsplit, urlunsplit


def compute_signature(auth_token: str, url: str, params: Iterable[tuple[str, str]] = ()) -> str:
    pairs = sorted(set(params))  # by name, then value; an exact repeat counts once (as Twilio)
    data = url + "".join(name + value for name, value in pairs)
    digest = hmac.new(auth_token.encode(), data.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def _split_netloc(netloc: str) -> tuple[str, str, str]:
    """(userinfo@, host, port) of a URL's netloc; an IPv6 host keeps its brackets."""
    userinfo, at, hostport = netloc.rpartition("@")
    if hostport.startswith("["):
        end = hostport.find("]") + 1
        host, rest = hostport[:end], hostport[end:]
        port = rest[1:] if rest.startswith(":") else ""
    else:
        host, _, port = hostport.partition(":")
    return userinfo + at, host, port


def with_port(url: str) -> str:
    parts = urlsplit(url)
    prefix, host, port = _split_netloc(parts.netloc)
    if port:
        return url
    port = "443" if parts.scheme == "https" else "80"
    return urlunsplit(parts._replace(netloc=f"{prefix}{host}:{port}"))


def without_port(url: str) -> str:
    parts = urlsplit(url)
    prefix, host, port = _split_netloc(parts.netloc)
    if not port:
        return url
    return urlunsplit(parts._replace(netloc=f"{prefix}{host}"))


def signature_valid(
    auth_token: str,
    url: str,
    signature: str,
    *,
    params: Iterable[tuple[str, str]] = (),
    body: bytes | None = None,
) -> bool:
    """Check one candidate URL. ``params`` for form posts; ``body`` for JSON posts whose URL
    carries bodySHA256."""
    if not auth_token or not signature:
        return False
    pairs = list(params)
    body_hash = parse_qs(urlsplit(url).query).get("bodySHA256")
    if body is not None:
        # A JSON post is covered only through bodySHA256 in the signed URL: without it the
        # signature would cover the URL alone and any body could ride on it.
        if not body_hash:
            return False
        if not hmac.compare_digest(hashlib.sha256(body).hexdigest(), body_hash[0].lower()):
            return False
        pairs = []
    given = signature.strip().encode()
    return any(
        hmac.compare_digest(compute_signature(auth_token, candidate, pairs).encode(), given)
        for candidate in (with_port(url), without_port(url))
    )
