from __future__ import annotations

from datetime import datetime

import pytest
from dateutil.rrule import rrulestr

from apps.intent.engine.dates import dates_extract, recurrence_extract

from .conftest import NOW


@pytest.mark.parametrize(
    ("text", "language", "value", "kind"),
    [
        ("te mando amanhã", "pt", "2026-03-11", "date"),
        ("I'll pay you on Friday", "en", "2026-03-13", "date"),
        ("next Friday", "en", "2026-03-13", "date"),
        ("el 5 de diciembre", "es", "2026-12-05", "date"),
        ("dia 15", "pt", "2026-03-15", "date"),
        ("on the 2nd", "en", "2026-04-02", "date"),  # the 2nd has passed this month
        ("by Dec 5", "en", "2026-12-05", "deadline"),
        ("até sexta", "pt", "2026-03-13", "deadline"),
        ("antes del viernes", "es", "2026-03-13", "deadline"),
        ("pasado mañana", "es", "2026-03-12", "date"),
        ("depois de amanhã", "pt", "2026-03-12", "date"),
        ("in 3 days", "en", "2026-03-13", "date"),
        ("semana que vem", "pt", "2026-03-16", "date"),
        ("fim do mês", "pt", "2026-03-31", "date"),
        ("January 3", "en", "2027-01-03", "date"),  # already past this year → next year
        ("2026-07-01", "en", "2026-07-01", "date"),
        ("04/05", "en", "2026-04-05", "date"),  # en: month/day
        ("05/04", "pt", "2026-04-05", "date"),  # pt: day/month
    ],
)
def test_dates(text: str, language: str, value: str, kind: str) -> None:
    found = dates_extract(text, now=NOW, language=language)
    assert found, text
    assert (found[0].value, found[0].kind) == (value, kind)
    assert text[found[0].start : found[0].end] == found[0].text


def test_dates_resolve_in_the_senders_zone() -> None:
    # given 23:30 in São Paulo, which is already the next day in UTC
    late = datetime.fromisoformat("2026-03-10T23:30:00-03:00")
    # then "tomorrow" is the 11th (sender's calendar), not the 12th
    assert dates_extract("tomorrow", now=late, language="en")[0].value == "2026-03-11"


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("every month on the 1st", "FREQ=MONTHLY;BYMONTHDAY=1"),
        ("el alquiler son 800 euros cada día 1", "FREQ=MONTHLY;BYMONTHDAY=1"),
        ("todo dia 5", "FREQ=MONTHLY;BYMONTHDAY=5"),
        ("weekly", "FREQ=WEEKLY"),
        ("toda sexta", "FREQ=WEEKLY;BYDAY=FR"),
        ("todos los viernes", "FREQ=WEEKLY;BYDAY=FR"),
        ("every 2 weeks", "FREQ=WEEKLY;INTERVAL=2"),
        ("a cada 15 dias", "FREQ=WEEKLY;INTERVAL=2"),
        ("800 por mes", "FREQ=MONTHLY"),
        ("mensalmente", "FREQ=MONTHLY"),
        ("every year", "FREQ=YEARLY"),
        ("every day", "FREQ=DAILY"),
    ],
)
def test_recurrence_is_a_valid_rrule(text: str, rule: str) -> None:
    rec = recurrence_extract(text, now=NOW)
    assert rec is not None and rec.rule == rule
    # and dateutil accepts it and yields occurrences
    occurrences = rrulestr(f"RRULE:{rec.rule}", dtstart=NOW.replace(tzinfo=None))
    assert occurrences[0] >= NOW.replace(tzinfo=None)


def test_monthly_day_is_not_reported_as_a_one_off_date() -> None:
    rec = recurrence_extract("paga 800 todo dia 5", now=NOW)
    assert rec is not None
    assert dates_extract("paga 800 todo dia 5", now=NOW, language="pt", skip=(rec.start, rec.end)) == []


def test_no_recurrence_in_plain_text() -> None:
    assert recurrence_extract("the movie cost $20 lol", now=NOW) is None
    assert recurrence_extract("ganho 50 por dia", now=NOW) is None  # a rate, not a schedule
