"""Small HTTP helpers the messaging adapters share: bounded downloads, error classification."""

from __future__ import annotations

from collections.abc import Mapping

import httpx

from sportello.channels.base import ChannelError

TIMEOUT = httpx.Timeout(15.0, connect=5.0)


def is_temporary_status(status_code: int) -> bool:
    """Worth retrying: timeouts, rate limits and the provider's own failures."""
    return status_code in (408, 425, 429) or status_code >= 500


def download(
    url: str,
    *,
    max_bytes: int,
    headers: Mapping[str, str] | None = None,
    auth: tuple[str, str] | None = None,
    what: str = "media",
) -> tuple[bytes, str]:
    """GET ``url`` and return (body, content type), refusing bodies over ``max_bytes``.

    Raises ChannelError: temporary for network trouble, 429 and 5xx; permanent otherwise."""
    try:
        with httpx.stream(
            "GET",
            url,
            headers=dict(headers or {}),
            auth=auth,
            timeout=TIMEOUT,
            follow_redirects=True,  # httpx drops Authorization on a redirect to another host
        ) as response:
            if response.status_code >= 400:
                raise ChannelError(
                    f"downloading the {what} failed: HTTP {response.status_code}",
                    permanent=not is_temporary_status(response.status_code),
                )
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise ChannelError(f"the {what} is larger than {max_bytes} bytes", permanent=True)
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > max_bytes:
                    raise ChannelError(
                        f"the {what} is larger than {max_bytes} bytes", permanent=True
                    )
                chunks.append(chunk)
            content_type = response.headers.get("content-type", "application/octet-stream")
            return b"".join(chunks), content_type.split(";")[0].strip()
    except httpx.HTTPError as exc:
        raise ChannelError(f"downloading the {what} failed: {exc}", permanent=False) from exc
