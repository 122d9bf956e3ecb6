"""Operating hours and cut-offs: when a payment submitted at ``now`` settles on a rail.

A rail with ``operates_24x7`` settles ``settlement_seconds`` after submission. Any
other rail reads its ``cutoff``::

    {"tz": "Europe/Brussels", "days": [0, 1, 2, 3, 4], "start": "00:00", "end": "16:00",
     "calendar": "target", "holidays": ["2026-12-24"]}

``days`` are ISO weekdays counted from Monday = 0 (default Monday to Friday),
``start`` / ``end`` the local window in which orders are accepted for today
(``end`` is the cut-off; without it the whole day counts), ``calendar: "target"``
adds the TARGET closing days (1 January, Good Friday, Easter Monday, 1 May,
25 and 26 December) and ``holidays`` any other closed dates.

An order outside the window is accepted at the opening of the next operating
day. A rail that settles in a day or more counts its settlement in operating
days from the day of acceptance (SEPA SCT is D+1: an order on Monday before
16:00 arrives on Tuesday, one on Friday after 16:00 on Tuesday), arriving at the
local time it was accepted; a faster rail settles its seconds after acceptance.
Pure: the same ``now`` gives the same answer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from apps.payments.rails.base import RailCapabilities

_DAY = 86400
_WEEKDAYS = frozenset(range(5))


@dataclass(frozen=True)
class Settlement:
    """When a payment settles: seconds from now, the moment, and business days when counted in days."""

    eta_seconds: int
    settles_at: datetime
    business_days: int | None = None


@dataclass(frozen=True, eq=False)  # one instance per distinct cutoff (cached), hashed by identity
class _Hours:
    tz: ZoneInfo
    days: frozenset[int]
    start: time
    end: time | None
    target: bool
    holidays: frozenset[date]

    def operating(self, day: date) -> bool:
        if day.weekday() not in self.days or day in self.holidays:
            return False
        return not (self.target and day in target_closing_days(day.year))

    def next_operating(self, day: date) -> date:
        for _ in range(366):
            day += timedelta(days=1)
            if self.operating(day):
                return day
        raise ValueError("The rail's operating hours have no operating day in a year.")


def _clock(value: Any, default: time | None) -> time | None:
    if not value:
        return default
    hours, _, minutes = str(value).partition(":")
    return time(int(hours), int(minutes or 0))


@lru_cache(maxsize=64)
def _parse(
    tz: str, days: tuple[int, ...], start: str, end: str, calendar: str, holidays: tuple[str, ...]
) -> _Hours:
    return _Hours(
        tz=ZoneInfo(tz or "UTC"),
        days=frozenset(days) if days else _WEEKDAYS,
        start=_clock(start, time(0, 0)) or time(0, 0),
        end=_clock(end, None),
        target=calendar.lower() == "target",
        holidays=frozenset(date.fromisoformat(d) for d in holidays),
    )


_parsed: dict[int, tuple[dict[str, Any], _Hours]] = {}


def hours_parse(cutoff: dict[str, Any]) -> _Hours:
    """The parsed hours of a catalogue snapshot's ``cutoff`` dict (memoised per dict: routing
    asks for them on every request)."""
    hit = _parsed.get(id(cutoff))
    if hit is not None and hit[0] is cutoff:
        return hit[1]
    hours = _hours_of(cutoff)
    if len(_parsed) > 256:  # catalogue reloads bring new dicts; keep this bounded
        _parsed.clear()
    _parsed[id(cutoff)] = (cutoff, hours)  # holding the dict keeps its id from being reused
    return hours


def _hours_of(cutoff: dict[str, Any]) -> _Hours:
    return _parse(
        str(cutoff.get("tz") or "UTC"),
        tuple(int(d) for d in cutoff.get("days") or ()),
        str(cutoff.get("start") or ""),
        str(cutoff.get("end") or ""),
        str(cutoff.get("calendar") or ""),
        tuple(str(d) for d in cutoff.get("holidays") or ()),
    )


@lru_cache(maxsize=16)
def target_closing_days(year: int) -> frozenset[date]:
    """The TARGET2 / T2 closing days of ``year`` (the euro settlement calendar)."""
    easter = _easter_sunday(year)
    return frozenset(
        {
            date(year, 1, 1),
            easter - timedelta(days=2),  # Good Friday
            easter + timedelta(days=1),  # Easter Monday
            date(year, 5, 1),
            date(year, 12, 25),
            date(year, 12, 26),
        }
    )


def _easter_sunday(year: int) -> date:
    """Western Easter (the anonymous Gregorian algorithm, Meeus/Jones/Butcher)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    l_ = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * l_) // 451
    month, day = divmod(h + l_ - 7 * m + 114, 31)
    return date(year, month, day + 1)


_BEFORE_OPENING, _OPEN, _AFTER_CUTOFF = 0, 1, 2


@lru_cache(maxsize=4096)
def _plan(
    hours: _Hours, day: date, phase: int, settle_days: int
) -> tuple[date, bool, date | None, int | None]:
    """For an order on local ``day`` in ``phase``: the day it is accepted, whether at the
    opening, and (for rails counted in days) the arrival day and business days from ``day``."""
    if hours.operating(day) and phase != _AFTER_CUTOFF:
        accept_day, at_opening = day, phase == _BEFORE_OPENING
    else:
        accept_day, at_opening = hours.next_operating(day), True
    if not settle_days:
        return accept_day, at_opening, None, None
    arrival = accept_day
    for _ in range(settle_days):
        arrival = hours.next_operating(arrival)
    business_days = sum(
        1 for n in range(1, (arrival - day).days + 1) if hours.operating(day + timedelta(days=n))
    )
    return accept_day, at_opening, arrival, business_days


def settlement_estimate(caps: RailCapabilities, now: datetime) -> Settlement:
    """When a payment submitted on ``caps`` at ``now`` (timezone-aware) reaches the payee."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    seconds = caps.settlement_seconds
    if caps.operates_24x7 or not caps.cutoff:
        return Settlement(eta_seconds=seconds, settles_at=now + timedelta(seconds=seconds))
    hours = hours_parse(caps.cutoff)
    local = now.astimezone(hours.tz)
    clock = local.time()
    if clock < hours.start:
        phase = _BEFORE_OPENING
    elif hours.end is not None and clock >= hours.end:
        phase = _AFTER_CUTOFF
    else:
        phase = _OPEN
    settle_days = math.ceil(seconds / _DAY) if seconds >= _DAY else 0
    accept_day, at_opening, arrival, business_days = _plan(hours, local.date(), phase, settle_days)
    accepted = datetime.combine(accept_day, hours.start, tzinfo=hours.tz) if at_opening else local
    if arrival is None:
        settles_at = accepted + timedelta(seconds=seconds)
    else:
        settles_at = datetime.combine(arrival, accepted.time(), tzinfo=hours.tz)
    eta = max(0, math.ceil((settles_at - now).total_seconds()))
    return Settlement(eta_seconds=eta, settles_at=settles_at, business_days=business_days)
