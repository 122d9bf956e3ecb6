"""Django's Redis cache with one connection pool and one redis-py client per process.

Two costs of ``django.core.cache.backends.redis`` show at scale:

- Django keeps a cache backend per thread, and each backend builds its own connection pools.
  Channels runs each WebSocket consumer's sync code in a thread of its own, so every open
  socket held a Redis connection until Redis refused clients at 10,000. Here the pools are
  shared by every backend of the process (redis-py pools are thread-safe), and with
  ``redis.BlockingConnectionPool`` (the settings' default) their size is capped: a thread
  waits for a free connection instead of opening another.
- ``RedisCacheClient.get_client`` builds a new ``redis.Redis`` around the pool on every cache
  call; in redis-py 8 that constructor costs more than the round trip of a small GET. One
  client per pool serves every thread.
"""

from __future__ import annotations

import threading
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient as DjangoRedisCacheClient

_lock = threading.Lock()
_pools: dict[tuple[str, str], Any] = {}
_clients: dict[int, Any] = {}


class RedisCacheClient(DjangoRedisCacheClient):
    def _get_connection_pool(self, write: bool) -> Any:
        index = self._get_connection_pool_index(write)  # type: ignore[attr-defined]
        server = self._servers[index]  # type: ignore[attr-defined]
        key = (server, repr((self._pool_class, sorted(self._pool_options.items(), key=str))))  # type: ignore[attr-defined]
        pool = _pools.get(key)
        if pool is None:
            with _lock:
                pool = _pools.get(key)
                if pool is None:
                    pool = _pools[key] = self._pool_class.from_url(server, **self._pool_options)  # type: ignore[attr-defined]
        return pool

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        pool = self._get_connection_pool(write)
        client = _clients.get(id(pool))
        if client is None:
            with _lock:
                client = _clients.get(id(pool))
                if client is None:
                    client = _clients[id(pool)] = self._client(connection_pool=pool)  # type: ignore[attr-defined]
        return client


class RedisCache(DjangoRedisCache):
    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = RedisCacheClient


def shared_redis() -> Any:
    """The default cache's redis-py client when that cache is Redis (one per process), for the
    hand-off queues and flags every process must see; None for a local-memory cache, which only
    its own process sees (the callers then send one task per item instead)."""
    inner = getattr(cache, "_cache", None)
    return inner.get_client(write=True) if isinstance(inner, RedisCacheClient) else None


def shared_key(name: str) -> str:
    """``name`` under the default cache's key prefix (so test workers and deployments sharing one
    Redis keep apart, and the test suite's per-worker cleanup removes it)."""
    return f"{settings.CACHES['default'].get('KEY_PREFIX', '')}:{name}"


_scripts: dict[tuple[int, str], Any] = {}


def registered_script(client: Any, source: str) -> Any:
    """The Lua script ``source`` registered on ``client``: calling it sends EVALSHA (and the script
    itself when Redis does not know it yet). One per client and script; the cache has one client
    per process."""
    key = (id(client), source)
    script = _scripts.get(key)
    if script is None:
        script = _scripts[key] = client.register_script(source)
    return script
