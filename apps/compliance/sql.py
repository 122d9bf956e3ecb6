"""Hand-built statements of the decision's hot path on PostgreSQL (identifiers from the models'
meta, quoted; every value a parameter), run through Django's cursor so execute wrappers, query
logging and error wrapping apply as to any ORM query.

- ``prepared_cursor``: PostgreSQL plans each of these statements once per connection.
- ``insert_sql`` / ``insert_params``: the ``INSERT`` Django would run for a model instance, so
  several can be chained as data-modifying CTEs into one statement.
- ``audit_append_sql``: appends an audit entry to the hash chain inside a statement, the head
  locked and the entry hashed by PostgreSQL, so a review or block writes in one statement.
"""

from __future__ import annotations

from typing import Any

from django.db import connections
from psycopg._queries import PostgresQuery, _query2pg

from apps.compliance import conf

_cursor_class: list[Any] = []


class _FixedShapeQuery(PostgresQuery):
    """psycopg parses a statement's ``%s`` placeholders with a regular expression and caches the
    result, except for statements over 4 KB or 50 parameters (ORM bulk inserts, whose shape
    varies). The review's chained write is both, and re-parsing it cost more CPU than the rest of
    building it; the statements of this module have a handful of fixed shapes, so they always go
    through psycopg's own (bounded, LRU) cache. ``_query2pg`` is psycopg internals: psycopg is
    pinned, and ``tests/compliance`` runs every statement of this module."""

    def convert(self, query: Any, vars: Any) -> None:
        if vars is None or not isinstance(query, str):
            super().convert(query, vars)
            return
        self.query, self._want_formats, self._order, self._parts = _query2pg(
            query.encode(self._tx.encoding), self._tx.encoding
        )
        self.dump(vars)


ONLY_WHEN_ASKED = 2**31 - 1


def _prepared_cursor_class() -> Any:
    if not _cursor_class:
        from django.db.backends.postgresql import base

        class PreparedCursor(base.ServerBindingCursor):  # type: ignore[name-defined, misc]
            """Server-side binding, every statement prepared (psycopg keeps them per connection),
            results in binary: psycopg's C loaders read the arrays of timestamps and numerics (the
            text timestamptz loader Django installs parses each value with a regular expression)."""

            _query_cls = _FixedShapeQuery

            def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
                kwargs["prepare"] = True
                kwargs["binary"] = True
                return super().execute(query, params, **kwargs)

        _cursor_class.append(PreparedCursor)
    return _cursor_class[0]


def prepared_cursor(connection: Any) -> Any:
    """A Django cursor whose statements PostgreSQL prepares once per connection: planning the
    decision's reads cost about a millisecond of server CPU every time, more than executing them.
    ``COMPLIANCE_PREPARED_STATEMENTS=false`` turns it off (behind a transaction-pooling PgBouncer
    older than 1.21, which cannot keep prepared statements)."""
    if not conf.prepared_statements():
        return connection.cursor()
    cursor_class = _prepared_cursor_class()
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


_INSERTS: dict[tuple[str, str], tuple[str, tuple[Any, ...]]] = {}


def insert_sql(model: Any, alias: str) -> tuple[str, tuple[Any, ...]]:
    """``INSERT INTO <table> (<columns>) VALUES (%s, ...)`` for ``model`` and the fields it sets:
    every concrete field but a database-generated id."""
    key = (model._meta.label, alias)
    cached = _INSERTS.get(key)
    if cached is not None:
        return cached
    qn = connections[alias].ops.quote_name
    meta = model._meta
    fields = tuple(
        f for f in meta.concrete_fields if not (f.primary_key and getattr(f, "db_returning", False))
    )
    columns = ", ".join(qn(f.column) for f in fields)
    placeholders = ", ".join(["%s"] * len(fields))
    sql = f"INSERT INTO {qn(meta.db_table)} ({columns}) VALUES ({placeholders})"  # noqa: S608
    _INSERTS[key] = (sql, fields)
    return sql, fields


def insert_params(obj: Any, fields: tuple[Any, ...], connection: Any) -> list[Any]:
    """The values Django's insert compiler would send (``pre_save`` fills ``auto_now_add``)."""
    return [f.get_db_prep_save(f.pre_save(obj, True), connection) for f in fields]


_APPEND: dict[str, tuple[str, str, tuple[Any, ...]]] = {}


def audit_append_sql(alias: str) -> tuple[str, str, tuple[Any, ...]]:
    """``(ctes, advance, fields)``: data-modifying CTEs that append one audit entry to the chain,
    the statement that ends them, and the entry's fields whose values follow the three hash parts
    as the CTEs' parameters.

    ``h`` locks the chain head (``FOR UPDATE``); ``a`` inserts the entry at the head's sequence + 1,
    linked to its hash, and hashes it in PostgreSQL: SHA-256 over the canonical JSON that
    ``services.audit_hash_parts`` splits around ``prev_hash`` and ``sequence``, the same bytes
    ``services.audit_hash`` hashes. The statement they go into must end with ``advance``, which
    moves the head and returns the entry's sequence, previous hash and hash (no row when the head
    row does not exist yet; nothing was appended then)."""
    cached = _APPEND.get(alias)
    if cached is not None:
        return cached
    from apps.compliance.models import AuditChainHead, AuditEntry

    connection = connections[alias]
    qn = connection.ops.quote_name
    head = {f.attname: qn(f.column) for f in AuditChainHead._meta.concrete_fields}
    computed = {
        "sequence": "h.seq + 1",
        "prev_hash": "h.prev",
        "hash": "encode(sha256(convert_to(%s || h.prev || %s || (h.seq + 1)::text || %s, 'UTF8')), 'hex')",
    }
    fields = tuple(
        f for f in AuditEntry._meta.concrete_fields if not f.primary_key and f.attname not in computed
    )
    entry = {f.attname: qn(f.column) for f in AuditEntry._meta.concrete_fields}
    columns = [entry[name] for name in computed] + [qn(f.column) for f in fields]
    # INSERT … SELECT types its values from the select list, not the columns: cast each parameter.
    values = list(computed.values()) + [f"%s::{f.cast_db_type(connection)}" for f in fields]  # type: ignore[attr-defined]
    sql = (
        f"h AS (SELECT {head['sequence']} AS seq, {head['last_hash']} AS prev "  # noqa: S608
        f"FROM {qn(AuditChainHead._meta.db_table)} WHERE {head['id']} = 1 FOR UPDATE), "
        f"a AS (INSERT INTO {qn(AuditEntry._meta.db_table)} ({', '.join(columns)}) "
        f"SELECT {', '.join(values)} FROM h "
        f"RETURNING {entry['sequence']} AS seq, {entry['prev_hash']} AS prev, {entry['hash']} AS hash)"
    )
    advance = (
        f"UPDATE {qn(AuditChainHead._meta.db_table)} SET {head['sequence']} = a.seq, "  # noqa: S608
        f"{head['last_hash']} = a.hash FROM a WHERE {head['id']} = 1 RETURNING a.seq, a.prev, a.hash"
    )
    _APPEND[alias] = (sql, advance, fields)
    return _APPEND[alias]
