"""The PostgreSQL backend (apps.core.db.postgresql): timestamptz values as Django's own loader gives them."""

from __future__ import annotations

import datetime

import pytest
from django.db import connection
from django.db.backends.postgresql.psycopg_any import BaseTzLoader
from django.utils import timezone
from psycopg.pq import Format

from apps.core.db.postgresql.base import TIMESTAMPTZ_OID
from apps.payments.models import OrchestrationPayment

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

SQL = """SELECT v FROM (VALUES
  ('2026-01-01 10:00:00.123456+02'::timestamptz), ('0001-01-01 00:00:00+00'::timestamptz),
  ('9999-12-31 23:59:59.999999+00'::timestamptz), ('2024-02-29 23:30:00-03:30'::timestamptz),
  (NULL::timestamptz)) AS t(v)"""


def _values() -> list[object]:
    with connection.cursor() as cursor:
        cursor.execute(SQL)
        values: list[object] = [row[0] for row in cursor.fetchall()]
        try:
            cursor.execute("SELECT 'infinity'::timestamptz")
            values.append(cursor.fetchone()[0])
        except Exception as exc:  # out of datetime's range: compare the error each loader raises
            values.append(f"{type(exc).__name__}: {exc}")
    return values


def test_the_connection_reads_timestamptz_with_the_wrapped_compiled_loader():
    connection.ensure_connection()
    loader = connection.connection.adapters.get_loader(TIMESTAMPTZ_OID, Format.TEXT)
    assert not issubclass(loader, BaseTzLoader)
    assert loader.timezone is connection.timezone  # so create_cursor registers nothing per cursor


def test_values_and_tzinfo_equal_djangos_loader(monkeypatch):
    ours = _values()
    connection.ensure_connection()

    class DjangoLoader(BaseTzLoader):
        timezone = connection.timezone

    connection.connection.adapters.register_loader("timestamptz", DjangoLoader)
    try:
        djangos = _values()
    finally:
        connection.close()  # the next test gets a connection with the backend's own map
    assert len(ours) == 6 and ours[4] is None
    assert ours == djangos
    assert repr(ours) == repr(djangos)  # the same tzinfo objects, not only equal instants


def test_finite_values_come_back_in_utc():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT '2024-02-29 23:30:00-03:30'::timestamptz, '2026-01-01 10:00:00.5+02'::timestamptz"
        )
        first, second = cursor.fetchone()
    assert first == datetime.datetime(2024, 3, 1, 3, 0, tzinfo=datetime.UTC)
    assert first.tzinfo is datetime.UTC
    assert second == datetime.datetime(2026, 1, 1, 8, 0, 0, 500000, tzinfo=datetime.UTC)


def test_a_model_round_trips_its_datetimes(organization):
    from djmoney.money import Money

    payment = OrchestrationPayment.objects.create(organization=organization, amount=Money("10.00", "BRL"))
    stored = OrchestrationPayment.objects.values_list("created_at", flat=True).get(pk=payment.pk)
    assert stored == payment.created_at
    assert timezone.is_aware(stored) and stored.utcoffset() == datetime.timedelta(0)
