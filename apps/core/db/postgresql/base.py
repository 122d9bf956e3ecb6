"""Django's PostgreSQL backend, with ``timestamptz`` columns read by psycopg's C loader.

Django (``django.db.backends.postgresql.psycopg_any.register_tzloader``) reads every
``timestamptz`` through a Python subclass of psycopg's ``TimestamptzLoader`` that replaces the
value's ``tzinfo`` with the connection's timezone. A subclass of the Python class is never swapped
for the compiled one psycopg-binary ships (that swap is by exact class, and the compiled class
cannot be subclassed), so each value is parsed by Python: about 2 µs, 40 of them on a 20-row page
of payments (``benchmarks/api_baseline``: 0.17 → 0.09 ms per such query).

This backend registers, in the connection's adapter map, a loader that parses with the compiled
loader and then does what Django's does (``replace(tzinfo=connection timezone)``). It keeps
Django's ``timezone`` attribute, so ``DatabaseWrapper.create_cursor`` sees the connection agree and
registers nothing per cursor. Without the compiled module (pure-Python psycopg) the wrapped loader
is the Python one and values are the same. ``tests/core/test_db_backend.py`` checks values and
their ``tzinfo`` equal Django's own loader's.
"""

from __future__ import annotations

import datetime
from functools import lru_cache
from typing import Any

import psycopg
from django.db.backends.postgresql import base, operations
from psycopg import adapt, adapters
from psycopg.pq import Format

TIMESTAMPTZ_OID = adapters.types["timestamptz"].oid
# The process-wide map holds the compiled loader when psycopg-binary / psycopg-c is installed.
_FAST_LOADER: Any = adapters.get_loader(TIMESTAMPTZ_OID, Format.TEXT)


@lru_cache
def _loader_class(tz: datetime.tzinfo | None) -> type[adapt.Loader]:
    class TimestamptzLoader(adapt.Loader):
        timezone = tz  # read by Django's create_cursor

        def __init__(self, oid: int, context: Any = None) -> None:
            super().__init__(oid, context)
            self._parse = _FAST_LOADER(oid, context).load

        def load(self, data: Any) -> datetime.datetime:
            return self._parse(data).replace(tzinfo=tz)  # type: ignore[no-any-return]

    return TimestamptzLoader


@lru_cache
def _adapters(template: adapt.AdaptersMap, tz: datetime.tzinfo | None) -> adapt.AdaptersMap:
    context = adapt.AdaptersMap(template)
    context.register_loader("timestamptz", _loader_class(tz))
    return context


class DatabaseOperations(operations.DatabaseOperations):
    def last_executed_query(self, cursor: Any, sql: Any, params: Any) -> Any:  # str, or None
        """What query logging (``DEBUG``, ``CaptureQueriesContext``) records. Django reads the text a
        client-binding cursor sent; a server-binding one (``apps.core.db.prepared``) sent ``$1``
        placeholders and keeps no text, so the statement is composed with its parameters, as
        Django does when server-side binding is on for the whole connection."""
        text = super().last_executed_query(cursor, sql, params)
        if text is None and params is not None and not isinstance(cursor, psycopg.ClientCursor):
            try:
                return self.compose_sql(sql, params)  # type: ignore[no-any-return]
            except psycopg.errors.DataError:
                return None
        return text


class DatabaseWrapper(base.DatabaseWrapper):
    ops_class = DatabaseOperations

    def get_connection_params(self) -> dict[str, Any]:
        params = super().get_connection_params()
        if "context" in params:  # Django's adapter map (psycopg 3)
            params["context"] = _adapters(params["context"], self.timezone)
        return params
