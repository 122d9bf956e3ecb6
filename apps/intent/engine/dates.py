"""Dates, deadlines and recurrences (en/pt/es), resolved against the message time in the sender's zone."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from dateutil.rrule import rrulestr

from apps.intent.types import DateEntity

_WEEKDAYS = {
    "monday": 0,
    "mon": 0,
    "tuesday": 1,
    "tue": 1,
    "wednesday": 2,
    "wed": 2,
    "thursday": 3,
    "thu": 3,
    "friday": 4,
    "fri": 4,
    "saturday": 5,
    "sat": 5,
    "sunday": 6,
    "sun": 6,
    "segunda": 0,
    "segunda-feira": 0,
    "terça": 1,
    "terca": 1,
    "terça-feira": 1,
    "terca-feira": 1,
    "quarta": 2,
    "quarta-feira": 2,
    "quinta": 3,
    "quinta-feira": 3,
    "sexta": 4,
    "sexta-feira": 4,
    "sábado": 5,
    "sabado": 5,
    "domingo": 6,
    "lunes": 0,
    "martes": 1,
    "miércoles": 2,
    "miercoles": 2,
    "jueves": 3,
    "viernes": 4,
}
_BYDAY = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
_MONTHS = {
    "january": 1,
    "jan": 1,
    "february": 2,
    "feb": 2,
    "march": 3,
    "mar": 3,
    "april": 4,
    "apr": 4,
    "may": 5,
    "june": 6,
    "jun": 6,
    "july": 7,
    "jul": 7,
    "august": 8,
    "aug": 8,
    "september": 9,
    "sep": 9,
    "sept": 9,
    "october": 10,
    "oct": 10,
    "november": 11,
    "nov": 11,
    "december": 12,
    "dec": 12,
    "janeiro": 1,
    "fevereiro": 2,
    "março": 3,
    "marco": 3,
    "abril": 4,
    "maio": 5,
    "junho": 6,
    "julho": 7,
    "agosto": 8,
    "setembro": 9,
    "outubro": 10,
    "novembro": 11,
    "dezembro": 12,
    "enero": 1,
    "febrero": 2,
    "marzo": 3,
    "mayo": 5,
    "junio": 6,
    "julio": 7,
    "septiembre": 9,
    "setiembre": 9,
    "octubre": 10,
    "noviembre": 11,
    "diciembre": 12,
}
_REL = {
    "today": 0,
    "tonight": 0,
    "hoje": 0,
    "hj": 0,
    "hoy": 0,
    "tomorrow": 1,
    "tmrw": 1,
    "tmr": 1,
    "tomorow": 1,
    "amanhã": 1,
    "amanha": 1,
    "mañana": 1,
    "manana": 1,
    "yesterday": -1,
    "ontem": -1,
    "ayer": -1,
    "day after tomorrow": 2,
    "depois de amanhã": 2,
    "depois de amanha": 2,
    "pasado mañana": 2,
    "pasado manana": 2,
}
_WD = "|".join(sorted((re.escape(w) for w in _WEEKDAYS), key=len, reverse=True))
_MO = "|".join(sorted((re.escape(w) for w in _MONTHS), key=len, reverse=True))
_RELW = "|".join(sorted((re.escape(w) for w in _REL), key=len, reverse=True))
_DEADLINE = r"(?P<dl>by|before|until|till|no\s+later\s+than|due|até|ate|antes\s+d[eoa]|hasta|antes\s+del?|a\s+más\s+tardar)\s+(?:the\s+|o\s+|a\s+|el\s+|la\s+)?"

_DATE = re.compile(
    rf"(?<![\w])(?:{_DEADLINE})?(?:"
    rf"(?P<rel>{_RELW})"
    rf"|(?P<iso>\d{{4}}-\d{{2}}-\d{{2}})"
    rf"|(?P<num>\d{{1,2}})/(?P<num2>\d{{1,2}})(?:/(?P<numy>\d{{2,4}}))?"
    rf"|(?:(?:next|this|coming|pr[oó]xim[oa]|est[ea]|el\s+pr[oó]ximo|la\s+pr[oó]xima|el|on|na|no|nesta|neste)\s+)?(?P<wd>{_WD})(?P<wdnext>\s+(?:que\s+vem|que\s+viene|próxim[oa]|proxim[oa]))?"
    rf"|(?P<mon1>{_MO})\.?\s+(?P<d1>\d{{1,2}})(?:st|nd|rd|th)?(?:,?\s+(?P<y1>\d{{4}}))?"
    rf"|(?:(?:dia|día|el)\s+)?(?P<d2>\d{{1,2}})(?:st|nd|rd|th|º|o)?\s+(?:de\s+|of\s+)?(?P<mon2>{_MO})(?:\s+(?:de\s+)?(?P<y2>\d{{4}}))?"
    rf"|(?:the\s+|on\s+the\s+|dia\s+|día\s+|el\s+día\s+|el\s+dia\s+)(?P<dom>\d{{1,2}})(?P<domsfx>st|nd|rd|th)?(?![\d/])"
    rf"|(?P<nextweek>next\s+week|semana\s+que\s+vem|pr[oó]xima\s+semana|la\s+semana\s+que\s+viene|la\s+pr[oó]xima\s+semana)"
    rf"|(?P<eom>end\s+of\s+(?:the\s+)?month|fim\s+do\s+m[eê]s|final\s+do\s+m[eê]s|fin\s+de(?:l)?\s+mes|final\s+de(?:l)?\s+mes)"
    rf"|(?:in|em|en|daqui\s+a|dentro\s+de)\s+(?P<ndays>\d{{1,2}})\s+(?P<unit>days?|dias|días|weeks?|semanas)"
    rf")(?![\w])",
    re.IGNORECASE,
)

_RECUR = re.compile(
    r"(?<![\w])(?P<every>every|each|todo|toda|todos|todas|cada|a\s+cada|once\s+a|per|por|ao|al|a)\s+"
    r"(?:(?P<interval>\d{1,2}|two|dois|duas|dos|other)\s+)?"
    r"(?:os\s+|as\s+|los\s+|las\s+|the\s+)?"
    r"(?P<unit>days?|dia|d[ií]as|weeks?|semanas?|months?|m[eê]s|meses|years?|anos?|años?|"
    rf"(?P<rwd>{_WD})(?:s|es)?)(?![\w])"
    r"|(?<![\w])(?P<adverb>monthly|weekly|daily|yearly|annually|biweekly|fortnightly|mensalmente|mensal|semanalmente|semanal|"
    r"diariamente|anualmente|quinzenal|quinzenalmente|mensualmente|mensual|quincenal|quincenalmente|/mo|/month|/mês)(?![\w])",
    re.IGNORECASE,
)
_MONTHDAY = re.compile(
    r"(?:on\s+the|the|dia|día|el\s+día|el\s+dia|day)\s+(?P<d>\d{1,2})(?:st|nd|rd|th|º)?(?![\d/])"
    r"|(?P<d2>\d{1,2})(?:st|nd|rd|th)\s+of\s+(?:every|each|the)\s+month",
    re.IGNORECASE,
)
# "todo dia 5" / "cada día 1" are monthly, not daily.
_DAY_OF_MONTH_EVERY = re.compile(
    r"(?:todo|cada|every)\s+(?:dia|día|el\s+día)\s+(?P<d>\d{1,2})(?![\d/])", re.IGNORECASE
)


@dataclass(frozen=True)
class Recurrence:
    rule: str
    start: int
    end: int


def _next_weekday(today: date, wd: int) -> date:
    ahead = (wd - today.weekday()) % 7
    return today + timedelta(days=ahead or 7)


def _next_monthday(today: date, day: int) -> date | None:
    if not 1 <= day <= 31:
        return None
    y, m = today.year, today.month
    for _ in range(13):
        if day <= calendar.monthrange(y, m)[1]:
            candidate = date(y, m, day)
            if candidate >= today:
                return candidate
        m += 1
        if m > 12:
            y, m = y + 1, 1
    return None


def _safe_date(y: int, m: int, d: int) -> date | None:
    try:
        return date(y, m, d)
    except ValueError:
        return None


def _future(today: date, m: int, d: int, y: int | None) -> date | None:
    if y is not None:
        return _safe_date(y, m, d)
    candidate = _safe_date(today.year, m, d)
    if candidate is not None and candidate < today - timedelta(days=1):
        candidate = _safe_date(today.year + 1, m, d)
    return candidate


def _resolve(m: re.Match[str], today: date, language: str) -> date | None:
    g = m.groupdict()
    if g["rel"]:
        return today + timedelta(days=_REL[g["rel"].casefold()])
    if g["iso"]:
        try:
            return date.fromisoformat(g["iso"])
        except ValueError:
            return None
    if g["num"]:
        a, b = int(g["num"]), int(g["num2"])
        month, day = (a, b) if language == "en" else (b, a)
        year = None
        if g["numy"]:
            year = int(g["numy"]) + (2000 if len(g["numy"]) == 2 else 0)
        if not 1 <= month <= 12:
            return None
        return _future(today, month, day, year)
    if g["wd"]:
        return _next_weekday(today, _WEEKDAYS[g["wd"].casefold()])
    if g["mon1"]:
        return _future(today, _MONTHS[g["mon1"].casefold()], int(g["d1"]), int(g["y1"]) if g["y1"] else None)
    if g["mon2"]:
        return _future(today, _MONTHS[g["mon2"].casefold()], int(g["d2"]), int(g["y2"]) if g["y2"] else None)
    if g["dom"]:
        return _next_monthday(today, int(g["dom"]))
    if g["nextweek"]:
        return today + timedelta(days=7 - today.weekday())
    if g["eom"]:
        return date(today.year, today.month, calendar.monthrange(today.year, today.month)[1])
    if g["ndays"]:
        n = int(g["ndays"])
        return today + timedelta(days=n * (7 if g["unit"].casefold().startswith(("week", "semana")) else 1))
    return None


def recurrence_extract(text: str, *, now: datetime) -> Recurrence | None:
    """An RFC 5545 RRULE value ("FREQ=MONTHLY;BYMONTHDAY=1"), checked by dateutil."""
    dom = _DAY_OF_MONTH_EVERY.search(text)
    if dom:
        rule = f"FREQ=MONTHLY;BYMONTHDAY={int(dom.group('d'))}"
        return _checked(rule, dom.start(), dom.end(), now)
    m = _RECUR.search(text)
    if not m:
        return None
    g = m.groupdict()
    start, end = m.start(), m.end()
    interval = 1
    if g["adverb"]:
        adv = g["adverb"].casefold()
        if adv in ("biweekly", "fortnightly", "quinzenal", "quinzenalmente", "quincenal", "quincenalmente"):
            freq, interval = "WEEKLY", 2
        elif adv.startswith(("month", "mensal", "mensual", "/")):
            freq = "MONTHLY"
        elif adv.startswith(("week", "semanal")):
            freq = "WEEKLY"
        elif adv.startswith(("dail", "diar")):
            freq = "DAILY"
        else:
            freq = "YEARLY"
        byday = None
    else:
        every = g["every"].casefold()
        unit = g["unit"].casefold()
        byday = None
        if g["rwd"]:
            freq = "WEEKLY"
            byday = _BYDAY[_WEEKDAYS[g["rwd"].casefold()]]
        elif unit.startswith(("day", "dia", "día")):
            if every in ("per", "por", "ao", "al", "a"):
                return None  # "por dia" is a rate, not a schedule
            freq = "DAILY"
        elif unit.startswith(("week", "semana")):
            freq = "WEEKLY"
        elif unit.startswith(("month", "mês", "mes")):
            freq = "MONTHLY"
        else:
            freq = "YEARLY"
        if every == "a" and freq != "MONTHLY":
            return None
        raw_interval = (g["interval"] or "").casefold()
        if raw_interval in ("two", "dois", "duas", "dos", "other"):
            interval = 2
        elif raw_interval.isdigit():
            interval = max(1, int(raw_interval))
        if freq == "DAILY" and interval in (14, 15):
            freq, interval = "WEEKLY", 2
    parts = [f"FREQ={freq}"]
    if interval > 1:
        parts.append(f"INTERVAL={interval}")
    if byday:
        parts.append(f"BYDAY={byday}")
    if freq == "MONTHLY":
        md = _MONTHDAY.search(text)
        if md:
            parts.append(f"BYMONTHDAY={int(md.group('d') or md.group('d2'))}")
            start, end = min(start, md.start()), max(end, md.end())
    return _checked(";".join(parts), start, end, now)


def _checked(rule: str, start: int, end: int, now: datetime) -> Recurrence | None:
    try:
        rrulestr(f"RRULE:{rule}", dtstart=now.replace(tzinfo=None))
    except (ValueError, TypeError):
        return None
    return Recurrence(rule=rule, start=start, end=end)


def dates_extract(
    text: str, *, now: datetime, language: str, skip: tuple[int, int] | None = None
) -> list[DateEntity]:
    """Dates in ``text`` as ISO dates in the sender's zone (``now`` is already in it)."""
    today = now.date()
    out: list[DateEntity] = []
    for m in _DATE.finditer(text):
        if skip and m.start() < skip[1] and m.end() > skip[0]:
            continue
        g = m.groupdict()
        if g["dom"] and not g["domsfx"] and m.group(0).casefold().startswith("the "):
            continue  # "the 3" is a count, "the 3rd" is a date
        resolved = _resolve(m, today, language)
        if resolved is None:
            continue
        kind = "deadline" if g["dl"] else "date"
        out.append(
            DateEntity(value=resolved.isoformat(), kind=kind, start=m.start(), end=m.end(), text=m.group(0))
        )
    return out
