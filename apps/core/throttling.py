"""Fixed-window rate limits on the shared store (Redis in production).

DRF's stock throttles keep a list of timestamps per key and rewrite it on every
request, which is neither atomic across processes nor cheap at 1000/min. These
use one atomic counter per key and window (``cache.incr``), so N web processes
behind a load balancer share one limit. A refused request gets 429 with
``Retry-After`` (seconds to the end of the window).
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

from django.core.cache import cache
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle

from apps.core.authentication import ApiKeyPrincipal
from apps.core.cache import registered_script, shared_key, shared_redis


def _parse_rate(rate: str) -> tuple[int, int]:
    num, period = rate.split("/")
    seconds = {"s": 1, "m": 60, "h": 3600, "d": 86400}[period[0]]
    return int(num), seconds


def _hits(keys: dict[str, int]) -> dict[str, int]:
    """Count one hit on each key (``{key: window seconds}``); atomic across processes.

    On Redis: INCR and EXPIRE NX for every key in one pipelined round trip. Elsewhere the
    Django cache (add, then incr).
    """
    client = shared_redis()
    if client is not None:
        pipe = client.pipeline(transaction=False)
        _queue_hits(pipe, keys)
        return _counts(pipe.execute(), keys)
    return {key: _cache_hit(key, ttl) for key, ttl in keys.items()}


def _queue_hits(pipe: Any, keys: dict[str, int]) -> None:
    for key, ttl in keys.items():
        pipe.incr(shared_key(key))
        pipe.expire(shared_key(key), ttl, nx=True)


def _counts(replies: list[Any], keys: dict[str, int]) -> dict[str, int]:
    """The counts of ``_queue_hits(keys)`` from the last ``2 * len(keys)`` replies of a pipeline."""
    first = len(replies) - 2 * len(keys)
    return {key: int(replies[first + 2 * i]) for i, key in enumerate(keys)}


# GET the cached value, then INCR and EXPIRE NX every counter: one EVALSHA. A redis-py pipeline of
# the same 1 + 2n commands cost the web process more CPU (each command packed and each reply
# parsed on its own) than the round trip itself.
_GET_AND_HITS_LUA = """
local out = {redis.call('GET', KEYS[1])}
for i = 2, #KEYS do
  out[i] = redis.call('INCR', KEYS[i])
  redis.call('EXPIRE', KEYS[i], ARGV[i - 1], 'NX')
end
return out
"""


def hits_with_cache_get(keys: dict[str, int], cache_key: str) -> tuple[Any, dict[str, int]]:
    """Count ``keys`` as ``_hits`` does and read ``cache_key`` from the Django cache (None when
    absent), in one round trip on Redis. Returns (value, counts)."""
    client = shared_redis()
    if client is None:
        return cache.get(cache_key), _hits(keys)
    replies = registered_script(client, _GET_AND_HITS_LUA)(
        keys=[cache.make_and_validate_key(cache_key), *(shared_key(key) for key in keys)],
        args=list(keys.values()),
    )
    raw = replies[0]
    value = None if raw is None else cache._cache._serializer.loads(raw)  # type: ignore[attr-defined]
    return value, {key: int(count) for key, count in zip(keys, replies[1:], strict=True)}


_NOW = "_agentpay_throttle_now"
_COUNTS = "_agentpay_throttle_counts"
_LATER: Any = "__later__"  # an ident that only the request body names (known after authentication)


def _view_keys(request: Any, view: Any, now: float, *, principal: str | None = None) -> dict[str, int]:
    """``{key: window seconds}`` of every counter throttle of ``view`` that can name its key now
    (``principal``: the caller, while authentication has not finished)."""
    keys: dict[str, int] = {}
    for throttle in view.get_throttles() if view is not None and hasattr(view, "get_throttles") else ():
        if isinstance(throttle, CounterThrottle):
            key = throttle._key(request, view, now, principal=principal)
            if key is not None and key is not _LATER:
                keys.setdefault(key, throttle.duration + 1)
    return keys


def prefetch_keys(request: Any, *, principal: str) -> dict[str, int] | None:
    """The rate-limit keys (and windows) the view's counter throttles will count for this
    request when its caller is ``principal``, so authentication can count them in its own
    round trip. Keys a throttle can only name later (from the request body) are left out; that
    throttle counts them itself. None when the request names no view."""
    view = (getattr(request, "parser_context", None) or {}).get("view")
    if view is None or not hasattr(view, "get_throttles"):
        return None
    now = time.time()
    keys = _view_keys(request, view, now, principal=principal)
    with contextlib.suppress(AttributeError):
        setattr(request, _NOW, now)
    return keys or None


def counts_attach(request: Any, counts: dict[str, int]) -> None:
    """Hand counts taken during authentication to the view's throttles."""
    with contextlib.suppress(AttributeError):
        setattr(request, _COUNTS, {**(getattr(request, _COUNTS, None) or {}), **counts})


def _cache_hit(key: str, ttl: int) -> int:
    if cache.add(key, 1, timeout=ttl):
        return 1
    try:
        return int(cache.incr(key))
    except ValueError:  # expired between add and incr
        cache.add(key, 1, timeout=ttl)
        return 1


class CounterThrottle(BaseThrottle):
    """A fixed-window counter for one scope.

    DRF asks each throttle of a view in turn; the first counter throttle asked counts the
    request against every counter throttle of the view in one Redis round trip and keeps
    the counts on the request, so the others only take theirs (each count is taken once).
    """

    scope: str = ""

    def __init__(self) -> None:
        rates = api_settings.DEFAULT_THROTTLE_RATES
        self.num_requests, self.duration = _parse_rate(str(rates[self.scope]))
        self._wait = 0.0

    def get_ident_key(self, request: Any, view: Any) -> str | None:
        raise NotImplementedError

    def prefetch_ident(self, request: Any, view: Any, principal: str) -> str | None:
        """The ident before authentication has finished, the caller being ``principal``;
        ``_LATER`` when it can't be known yet. By default the ident doesn't depend on the caller."""
        return self.get_ident_key(request, view)

    def _key(self, request: Any, view: Any, now: float, *, principal: str | None = None) -> str | None:
        ident = (
            self.get_ident_key(request, view)
            if principal is None
            else self.prefetch_ident(request, view, principal)
        )
        if ident is None or ident is _LATER:
            return ident
        return f"throttle:{self.scope}:{ident}:{int(now // self.duration)}"

    def allow_request(self, request: Any, view: Any) -> bool:
        now = getattr(request, _NOW, None) or time.time()  # the window authentication counted in
        key = self._key(request, view, now)
        if key is None:
            return True
        counts: dict[str, int] | None = getattr(request, _COUNTS, None)
        if counts is None or key not in counts:
            counts = counts or {}
            pending = {key: self.duration + 1}
            for sibling_key, ttl in _view_keys(request, view, now).items():
                if sibling_key not in counts:
                    pending.setdefault(sibling_key, ttl)
            counts = {**counts, **_hits(pending)}
            with contextlib.suppress(AttributeError):  # a request object that takes no attributes
                setattr(request, _COUNTS, counts)
        if counts.pop(key) > self.num_requests:
            window = int(now // self.duration)
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

    def prefetch_ident(self, request: Any, view: Any, principal: str) -> str | None:
        return principal


class PerConversationThrottle(CounterThrottle):
    """Per conversation: 10/min by default. Views name the conversation id with
    ``conversation_lookup`` (a URL kwarg) or the request body's ``conversation_id``."""

    scope = "conversation"

    def get_ident_key(self, request: Any, view: Any) -> str | None:
        value = self._from_url(view)
        if value is None and request.method not in ("GET", "HEAD", "OPTIONS"):
            data = getattr(request, "data", None)
            if isinstance(data, dict):
                value = data.get("conversation_id")
        return str(value) if value else None

    def prefetch_ident(self, request: Any, view: Any, principal: str) -> str | None:
        value = self._from_url(view)
        if value is None and request.method not in ("GET", "HEAD", "OPTIONS"):
            return _LATER  # the body names it: parsed after authentication
        return str(value) if value else None

    @staticmethod
    def _from_url(view: Any) -> Any:
        kwarg = getattr(view, "conversation_lookup", "conversation_id")
        return (getattr(view, "kwargs", {}) or {}).get(kwarg)
