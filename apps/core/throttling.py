"""Fixed-window rate limits on the shared store (Redis in production).

DRF's stock throttles keep a list of timestamps per key and rewrite it on every
request, which is neither atomic across processes nor cheap at 1000/min. These
use one atomic counter per key and window (``cache.incr``), so N web processes
behind a load balancer share one limit. A refused request gets 429 with
``Retry-After`` (seconds to the end of the window).
"""

from __future__ import annotations

import time
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.core.cache import cache
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle

from apps.core.authentication import ApiKeyPrincipal


def _parse_rate(rate: str) -> tuple[int, int]:
    num, period = rate.split("/")
    seconds = {"s": 1, "m": 60, "h": 3600, "d": 86400}[period[0]]
    return int(num), seconds


@lru_cache(maxsize=1)
def _redis_client() -> Any:
    """One pooled redis-py client per process (Django's RedisCache builds a client per call)."""
    url = getattr(settings, "REDIS_URL", "")
    if not url:
        return None
    import redis

    return redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)


def _hit(key: str, ttl: int) -> int:
    """Count one hit on ``key`` in a window of ``ttl`` seconds; atomic across processes.

    On Redis: INCR and EXPIRE NX in one pipelined round trip. Elsewhere the
    Django cache (add, then incr).
    """
    client = _redis_client()
    if client is not None:
        pipe = client.pipeline(transaction=False)
        pipe.incr(f"{settings.CACHES['default'].get('KEY_PREFIX', '')}:{key}")
        pipe.expire(f"{settings.CACHES['default'].get('KEY_PREFIX', '')}:{key}", ttl, nx=True)
        count, _ = pipe.execute()
        return int(count)
    if cache.add(key, 1, timeout=ttl):
        return 1
    try:
        return int(cache.incr(key))
    except ValueError:  # expired between add and incr
        cache.add(key, 1, timeout=ttl)
        return 1


class CounterThrottle(BaseThrottle):
    scope: str = ""

    def __init__(self) -> None:
        rates = api_settings.DEFAULT_THROTTLE_RATES
        self.num_requests, self.duration = _parse_rate(str(rates[self.scope]))
        self._wait = 0.0

    def get_ident_key(self, request: Any, view: Any) -> str | None:
        raise NotImplementedError

    def allow_request(self, request: Any, view: Any) -> bool:
        ident = self.get_ident_key(request, view)
        if ident is None:
            return True
        now = time.time()
        window = int(now // self.duration)
        key = f"throttle:{self.scope}:{ident}:{window}"
        count = _hit(key, self.duration + 1)
        if count > self.num_requests:
            self._wait = (window + 1) * self.duration - now
            return False
        return True

    def wait(self) -> float | None:
        return max(1.0, self._wait)


class PerIPThrottle(CounterThrottle):
    """Per client IP: 1000/min by default."""

    scope = "ip"

    def get_ident_key(self, request: Any, view: Any) -> str | None:
        return self.get_ident(request)


class PerUserThrottle(CounterThrottle):
    """Per person or API key: 100/min by default."""

    scope = "user"

    def get_ident_key(self, request: Any, view: Any) -> str | None:
        user = getattr(request, "user", None)
        if isinstance(user, ApiKeyPrincipal):
            return user.pk
        if user is not None and user.is_authenticated:
            return str(user.pk)
        return None


class PerConversationThrottle(CounterThrottle):
    """Per conversation: 10/min by default. Views name the conversation id with
    ``conversation_lookup`` (a URL kwarg) or the request body's ``conversation_id``."""

    scope = "conversation"

    def get_ident_key(self, request: Any, view: Any) -> str | None:
        kwarg = getattr(view, "conversation_lookup", "conversation_id")
        value = (getattr(view, "kwargs", {}) or {}).get(kwarg)
        if value is None and request.method not in ("GET", "HEAD", "OPTIONS"):
            data = getattr(request, "data", None)
            if isinstance(data, dict):
                value = data.get("conversation_id")
        return str(value) if value else None
