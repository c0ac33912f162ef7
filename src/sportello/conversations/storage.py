"""Attachment bytes on disk, content-addressed: data/attachments/ab/cd/<sha256>."""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path

from sportello.core.errors import SportelloError


class AttachmentTooLarge(SportelloError):
    status_code = 413
    title = "Attachment too large"


_UNSAFE = re.compile(r"[^\w.\- ()\[\]@+,]+", re.UNICODE)


def safe_filename(name: str) -> str:
    name = name.replace("\\", "/").rsplit("/", 1)[-1].strip().strip(".")
    name = _UNSAFE.sub("_", name)
    return (name or "attachment")[:200]


def path_for(root: Path, sha256: str) -> Path:
    return root / sha256[:2] / sha256[2:4] / sha256


def store_bytes(root: Path, data: bytes, *, max_bytes: int) -> tuple[str, int]:
    if len(data) > max_bytes:
        raise AttachmentTooLarge(
            f"attachment of {len(data)} bytes is over the limit of {max_bytes} bytes",
            limit=max_bytes,
        )
    digest = hashlib.sha256(data).hexdigest()
    target = path_for(root, digest)
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    return digest, len(data)
