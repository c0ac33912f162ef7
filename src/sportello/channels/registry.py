"""The map from channel kind to adapter. Kinds register themselves on import."""

from __future__ import annotations

import importlib

from sportello.channels.base import ChannelAdapter

_ADAPTERS: dict[str, ChannelAdapter] = {}
BUILTIN_KINDS = ("api", "webform")


def register(adapter: ChannelAdapter) -> ChannelAdapter:
    _ADAPTERS[adapter.kind] = adapter
    return adapter


def load_builtin() -> None:
    for kind in BUILTIN_KINDS:
        importlib.import_module(f"sportello.channels.{kind}.adapter")


def get_adapter(kind: str) -> ChannelAdapter:
    if not _ADAPTERS:
        load_builtin()
    try:
        return _ADAPTERS[kind]
    except KeyError:
        raise LookupError(f"no adapter for channel kind {kind!r}") from None


def kinds() -> list[str]:
    if not _ADAPTERS:
        load_builtin()
    return sorted(_ADAPTERS)
