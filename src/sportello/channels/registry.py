"""The map from channel kind to adapter.

Each kind is a subpackage ``sportello.channels.<kind>`` with an ``adapter`` module that calls
``register(...)`` on import; ``load_builtin`` imports them all, so adding a kind edits no
shared file.
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil

from sportello.channels.base import Capabilities, ChannelAdapter, capabilities_of

_ADAPTERS: dict[str, ChannelAdapter] = {}
_loaded = False


def register(adapter: ChannelAdapter) -> ChannelAdapter:
    _ADAPTERS[adapter.kind] = adapter
    return adapter


def builtin_kinds() -> list[str]:
    import sportello.channels as package

    found = []
    for info in pkgutil.iter_modules(package.__path__):
        if info.ispkg and importlib.util.find_spec(f"sportello.channels.{info.name}.adapter"):
            found.append(info.name)
    return sorted(found)


def load_builtin() -> None:
    global _loaded
    if _loaded:
        return
    for kind in builtin_kinds():
        importlib.import_module(f"sportello.channels.{kind}.adapter")
    _loaded = True


def get_adapter(kind: str) -> ChannelAdapter:
    load_builtin()
    try:
        return _ADAPTERS[kind]
    except KeyError:
        raise LookupError(f"no adapter for channel kind {kind!r}") from None


def kinds() -> list[str]:
    load_builtin()
    return sorted(_ADAPTERS)


def capabilities(kind: str) -> Capabilities:
    """What channels of ``kind`` can do (an unknown kind: the defaults)."""
    load_builtin()
    adapter = _ADAPTERS.get(kind)
    return capabilities_of(adapter) if adapter is not None else Capabilities(replies=False)
