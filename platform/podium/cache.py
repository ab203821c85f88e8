"""Django's Redis cache, except that an unreachable Redis is a miss, not a 500.

The default cache holds the rate limits (failed logins, failed tokens, the intake) and
small caches. When Redis restarts, Django's own backend raises on every call, and every
request that consults a limit fails with a 500 (a soak with two Redis restarts lost 92 of
2,000 intake requests that way). A rate limit that cannot be read is not enforced for those
seconds — the site stays up and says so in the log — and a cache that cannot be read is
empty. Other Redis errors (a wrong type, a script error) still raise.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from django.core.cache.backends.redis import RedisCache
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

log = logging.getLogger(__name__)

UNREACHABLE = (RedisConnectionError, RedisTimeoutError)
LOG_EVERY_S = 10.0


class TolerantRedisCache(RedisCache):
    _last_logged = 0.0

    def _unreachable(self, operation: str, exc: Exception) -> None:
        now = time.monotonic()
        if now - TolerantRedisCache._last_logged >= LOG_EVERY_S:
            TolerantRedisCache._last_logged = now
            log.warning("cache unreachable (%s: %s); rate limits are not enforced meanwhile", operation, exc)

    def get(self, key, default=None, version=None) -> Any:
        try:
            return super().get(key, default, version)
        except UNREACHABLE as exc:
            self._unreachable("get", exc)
            return default

    def get_many(self, keys, version=None) -> dict:
        try:
            return super().get_many(keys, version)
        except UNREACHABLE as exc:
            self._unreachable("get_many", exc)
            return {}

    def has_key(self, key, version=None) -> bool:
        try:
            return super().has_key(key, version)
        except UNREACHABLE as exc:
            self._unreachable("has_key", exc)
            return False

    def add(self, key, value, timeout=None, version=None) -> bool:
        try:
            return super().add(key, value, timeout, version)
        except UNREACHABLE as exc:
            self._unreachable("add", exc)
            return False

    def set(self, key, value, timeout=None, version=None) -> None:
        try:
            super().set(key, value, timeout, version)
        except UNREACHABLE as exc:
            self._unreachable("set", exc)

    def set_many(self, data, timeout=None, version=None) -> list:
        try:
            return super().set_many(data, timeout, version)
        except UNREACHABLE as exc:
            self._unreachable("set_many", exc)
            return list(data)

    def touch(self, key, timeout=None, version=None) -> bool:
        try:
            return super().touch(key, timeout, version)
        except UNREACHABLE as exc:
            self._unreachable("touch", exc)
            return False

    def delete(self, key, version=None) -> bool:
        try:
            return super().delete(key, version)
        except UNREACHABLE as exc:
            self._unreachable("delete", exc)
            return False

    def delete_many(self, keys, version=None) -> None:
        try:
            super().delete_many(keys, version)
        except UNREACHABLE as exc:
            self._unreachable("delete_many", exc)

    def incr(self, key, delta=1, version=None) -> int:
        try:
            return super().incr(key, delta, version)
        except UNREACHABLE as exc:
            self._unreachable("incr", exc)
            return delta
