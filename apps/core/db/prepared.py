"""Cursors whose statements PostgreSQL prepares once per connection.

Django binds parameters client-side, so PostgreSQL parses and plans every statement it is sent;
for the short statements of the hot paths (the compliance decision's reads, a list page) planning
costs the server more than executing them. ``prepared_cursor`` gives a Django cursor (execute
wrappers, query logging, error wrapping apply as to any ORM query) that binds server-side and asks
psycopg to prepare each statement; psycopg keeps the prepared statements per connection (an LRU of
``prepared_max``), so a pooled connection plans each shape once.

Turned off by the callers' settings (``DB_PREPARED_STATEMENTS``) behind a transaction-pooling
PgBouncer older than 1.21, which cannot keep prepared statements. PostgreSQL only: callers use
``connection.cursor()`` elsewhere.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from psycopg._queries import PostgresQuery, _query2pg

# A threshold no statement reaches: psycopg prepares exactly the statements that ask for it.
ONLY_WHEN_ASKED = 2**31 - 1

_cursor_classes: dict[bool, Any] = {}


class _FixedShapeQuery(PostgresQuery):
    """psycopg parses a statement's ``%s`` placeholders with a regular expression and caches the
    result, except for statements over 4 KB or 50 parameters (ORM bulk inserts, whose shape
    varies). The compliance review's chained write is both, and re-parsing it cost more CPU than
    the rest of building it; the statements sent through these cursors have a handful of fixed
    shapes, so they always go through psycopg's own (bounded, LRU) cache. ``_query2pg`` is psycopg
    internals: psycopg is pinned, and ``tests/compliance`` and ``tests/core`` run these cursors."""

    def convert(self, query: Any, vars: Any) -> None:
        if vars is None or not isinstance(query, str):
            super().convert(query, vars)
            return
        self.query, self._want_formats, self._order, self._parts = _query2pg(
            query.encode(self._tx.encoding), self._tx.encoding
        )
        self.dump(vars)


def _cursor_class(binary: bool) -> Any:
    cls = _cursor_classes.get(binary)
    if cls is None:
        from django.db.backends.postgresql import base

        class PreparedCursor(base.ServerBindingCursor):  # type: ignore[name-defined, misc]
            """Server-side binding, every statement prepared; with ``binary`` results come in
            binary, read by psycopg's C loaders (arrays of timestamps and numerics), else as text,
            as Django's own cursors read them (its converters, e.g. ``JSONField.from_db_value``,
            expect text)."""

            _query_cls = _FixedShapeQuery

            def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
                kwargs["prepare"] = True
                kwargs["binary"] = binary
                return super().execute(query, params, **kwargs)

        cls = _cursor_classes[binary] = PreparedCursor
    return cls


def prepared_cursor(connection: Any, *, binary: bool = True) -> Any:
    """A Django cursor on ``connection`` (PostgreSQL) whose statements are prepared once per
    connection; ``binary``: results in binary format (see ``PreparedCursor``)."""
    cursor_class = _cursor_class(binary)
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    raw = connection.connection
    if raw.prepare_threshold is None:
        # Django turns psycopg's preparing off (``None``), which also refuses ``prepare=True``.
        # Only server-binding cursors ever prepare and Django's own cursors bind client-side, so a
        # threshold no statement reaches prepares exactly the statements that ask for it.
        raw.prepare_threshold = ONLY_WHEN_ASKED
    with connection.wrap_database_errors:
        return connection._prepare_cursor(cursor_class(raw))


def statement_cursor(connection: Any) -> Any:
    """The cursor for a hand-built hot-path statement (``apps.core.db.statements``, list pages):
    prepared, with results as text (what the ORM's converters expect), on PostgreSQL when
    ``DB_PREPARED_STATEMENTS`` is on; Django's own cursor otherwise."""
    if connection.vendor == "postgresql" and getattr(settings, "DB_PREPARED_STATEMENTS", False):
        return prepared_cursor(connection, binary=False)
    return connection.cursor()
