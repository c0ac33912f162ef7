"""Rate limits (the `limits` library): in memory for one process, in Redis when configured."""

from __future__ import annotations

from functools import lru_cache

from limits import RateLimitItem, parse
from limits.storage import MemoryStorage, RedisStorage, Storage
from limits.strategies import MovingWindowRateLimiter


@lru_cache(maxsize=4)
def _limiter(redis_url: str | None) -> MovingWindowRateLimiter:
    storage: Storage = RedisStorage(redis_url) if redis_url else MemoryStorage()
    return MovingWindowRateLimiter(storage)


@lru_cache(maxsize=64)
def _item(rule: str) -> RateLimitItem:
    return parse(rule)


def hit(rule: str, *keys: str, redis_url: str | None = None) -> bool:
    """Count one hit; False when the limit (e.g. "5/10minute") is exceeded."""
    return _limiter(redis_url).hit(_item(rule), *keys)


def retry_after(rule: str, *keys: str, redis_url: str | None = None) -> int:
    stats = _limiter(redis_url).get_window_stats(_item(rule), *keys)
    import time

    return max(1, int(stats.reset_time - time.time()))


def reset() -> None:
    """Forget every count (tests)."""
    _limiter(None).storage.reset()
