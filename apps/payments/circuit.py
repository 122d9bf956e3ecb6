"""Per-rail circuit breaker shared by every process through the Django cache (Redis in production).

Closed: traffic flows. ``failure_threshold`` consecutive failures (or an
unhealthy probe) open it for ``open_seconds``; after that one trial is let
through (half-open) and a success closes it again.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from django.core.cache import cache

from apps.payments import conf

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"


def _failures_key(rail: str) -> str:
    return f"payments:circuit:{rail}:failures"


def _opened_key(rail: str) -> str:
    return f"payments:circuit:{rail}:opened_at"


def _state_from(opened_at: float | None, now: float) -> str:
    if opened_at is None:
        return CLOSED
    return OPEN if now - opened_at < conf.circuit_open_seconds() else HALF_OPEN


# Routing reads the breakers on every decision; a process reuses what it read for
# LOCAL_TTL seconds (changes made by this process are seen at once).
LOCAL_TTL = 1.0
_local: dict[tuple[str, ...], tuple[float, dict[str, float | None]]] = {}


def _local_clear() -> None:
    _local.clear()


def circuit_states(rails: Iterable[str]) -> dict[str, str]:
    """States of several rails with at most one cache round trip per second."""
    names = tuple(rails)
    now = time.time()
    hit = _local.get(names)
    if hit is None or now - hit[0] > LOCAL_TTL:
        values = cache.get_many([_opened_key(r) for r in names])
        hit = (now, {r: values.get(_opened_key(r)) for r in names})
        _local[names] = hit
    return {r: _state_from(hit[1][r], now) for r in names}


def circuit_state(rail: str) -> str:
    return circuit_states([rail])[rail]


def circuit_open(rail: str) -> None:
    cache.set(_opened_key(rail), time.time(), timeout=None)
    _local_clear()


def circuit_record(rail: str, *, ok: bool) -> str:
    """Count an outcome; returns the state afterwards."""
    if ok:
        if circuit_state(rail) != CLOSED:
            _local_clear()
        cache.delete_many([_failures_key(rail), _opened_key(rail)])
        return CLOSED
    state = circuit_state(rail)
    cache.add(_failures_key(rail), 0, timeout=3600)
    try:
        failures = cache.incr(_failures_key(rail))
    except ValueError:
        failures = 1
    if state == HALF_OPEN or (state == CLOSED and failures >= conf.circuit_failure_threshold()):
        circuit_open(rail)
        return OPEN
    return state


def circuit_reset(rail: str) -> None:
    cache.delete_many([_failures_key(rail), _opened_key(rail)])
    _local_clear()
