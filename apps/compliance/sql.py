"""Hand-built statements of the decision's hot path on PostgreSQL (identifiers from the models'
meta, quoted; every value a parameter), run through Django's cursor so execute wrappers, query
logging and error wrapping apply as to any ORM query.

- ``prepared_cursor``: PostgreSQL plans each of these statements once per connection.
- ``insert_sql`` / ``insert_params``: the ``INSERT`` Django would run for a model instance, so
  several can be chained as data-modifying CTEs into one statement.
- ``review_snapshot_sql``: locks the audit chain head and reads what a review case snapshots
  (the counterparty's payments and open cases, the conversation excerpt) in one statement.
"""

from __future__ import annotations

from typing import Any

from django.db import connections

from apps.compliance import conf

_cursor_class: list[Any] = []
ONLY_WHEN_ASKED = 2**31 - 1


def _prepared_cursor_class() -> Any:
    if not _cursor_class:
        from django.db.backends.postgresql import base

        class PreparedCursor(base.ServerBindingCursor):  # type: ignore[name-defined, misc]
            """Server-side binding, every statement prepared (psycopg keeps them per connection),
            results in binary: psycopg's C loaders read the arrays of timestamps and numerics (the
            text timestamptz loader Django installs parses each value with a regular expression)."""

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


_SNAPSHOT: dict[str, str] = {}


def review_snapshot_sql(alias: str) -> str:
    """Lock the audit chain head (``FOR UPDATE``) and read, for the payee, its payments by status
    and the ten newest, its open payment cases, and the conversation's ten messages up to the
    payment's; one row (none when the head row does not exist yet)."""
    sql = _SNAPSHOT.get(alias)
    if sql is not None:
        return sql
    from apps.compliance.choices import OPEN_CASE_STATUSES
    from apps.compliance.models import AuditChainHead, Case
    from apps.conversations.models import ConversationMessage
    from apps.payments.models import OrchestrationPayment

    qn = connections[alias].ops.quote_name

    def cols(model: Any) -> dict[str, str]:
        return {f.attname: qn(f.column) for f in model._meta.concrete_fields}

    pay, case, msg, head = (
        cols(m) for m in (OrchestrationPayment, Case, ConversationMessage, AuditChainHead)
    )
    pay_t, case_t, msg_t, head_t = (
        qn(m._meta.db_table) for m in (OrchestrationPayment, Case, ConversationMessage, AuditChainHead)
    )
    open_statuses = ", ".join(f"'{s}'" for s in OPEN_CASE_STATUSES)
    theirs = (
        f"{pay['organization_id']} = %(org)s AND {pay['payee_ref']} = %(payee)s AND {pay['id']} <> %(pk)s"
    )
    at = pay["created_at"]
    sql = f"""
SELECT h.{head["sequence"]}, h.{head["last_hash"]}, s.*, r.*, oc.*, x.* FROM {head_t} h CROSS JOIN
(SELECT array_agg(g.st ORDER BY g.st) AS s_status, array_agg(g.n ORDER BY g.st) AS s_n,
        MIN(g.f) AS s_first, MAX(g.l) AS s_last
   FROM (SELECT {pay["status"]} AS st, COUNT(*) AS n, MIN({at}) AS f, MAX({at}) AS l
           FROM {pay_t} WHERE {theirs} GROUP BY 1) g
) s CROSS JOIN
(SELECT array_agg(w.a ORDER BY w.a DESC) AS r_at, array_agg(w.v ORDER BY w.a DESC) AS r_amt,
        array_agg(w.c ORDER BY w.a DESC) AS r_cur, array_agg(w.st ORDER BY w.a DESC) AS r_status,
        array_agg(w.payer ORDER BY w.a DESC) AS r_payer
   FROM (SELECT {at} AS a, {pay["amount"]} AS v, {pay["amount_currency"]} AS c, {pay["status"]} AS st,
                {pay["payer_ref"]} AS payer
           FROM {pay_t} WHERE {theirs} ORDER BY {at} DESC LIMIT 10) w
) r CROSS JOIN
(SELECT COUNT(*) AS open_cases FROM {case_t} c JOIN {pay_t} p ON c.{case["payment_id"]} = p.{pay["id"]}
  WHERE c.{case["organization_id"]} = %(org)s AND p.{pay["payee_ref"]} = %(payee)s
    AND c.{case["status"]} IN ({open_statuses})
) oc CROSS JOIN
(SELECT array_agg(m.a ORDER BY m.a) AS m_at, array_agg(m.d ORDER BY m.a) AS m_dir,
        array_agg(m.sn ORDER BY m.a) AS m_sender, array_agg(m.t ORDER BY m.a) AS m_text
   FROM (SELECT {msg["created_at"]} AS a, {msg["direction"]} AS d, {msg["sender_name"]} AS sn,
                {msg["message_text"]} AS t
           FROM {msg_t}
          WHERE {msg["conversation_id"]} = %(conversation)s
            AND {msg["created_at"]} <= COALESCE(
                (SELECT {msg["created_at"]} FROM {msg_t} WHERE {msg["id"]} = %(anchor)s), 'infinity')
          ORDER BY {msg["created_at"]} DESC LIMIT 10) m
) x
WHERE h.{head["id"]} = 1
FOR UPDATE OF h
"""  # noqa: S608 - identifiers come from the models' meta and are quoted; values are parameters
    _SNAPSHOT[alias] = sql
    return sql
