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

from apps.compliance import conf
from apps.core.db import prepared


def prepared_cursor(connection: Any) -> Any:
    """A Django cursor whose statements PostgreSQL prepares once per connection
    (``apps.core.db.prepared``): planning the decision's reads cost about a millisecond of server
    CPU every time, more than executing them. ``COMPLIANCE_PREPARED_STATEMENTS=false`` (default:
    ``DB_PREPARED_STATEMENTS``) turns it off."""
    if not conf.prepared_statements():
        return connection.cursor()
    return prepared.prepared_cursor(connection)


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
