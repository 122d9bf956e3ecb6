"""Hot statements with the SQL the ORM compiled for them, kept per process.

Building a queryset and compiling it costs several times more CPU than running the statement:
on the 2-core benchmark machine ``KycProfile.objects.filter(...).values_list("tier",
flat=True).first()`` took 0.72 ms of CPU, the same SQL through Django's cursor 0.13 ms; an ORM
``create`` 0.61 ms, the same INSERT 0.30 ms. Statements that run on every payment with the same
shape and new values keep their SQL here (per process: a deploy that migrates restarts them).

``CompiledRead(model, build)``: ``build(*values)`` returns the queryset (a ``values_list``,
flat or not, of the row or rows wanted) for those values. The first call per database builds and
compiles it and keeps the SQL only when the parameters the ORM bound are exactly ``values``, in
order and unchanged (on PostgreSQL, strings, integers and UUIDs bind as given; SQLite binds a
UUID as hex text, so there the ORM runs every time, and so it does for any value it would
rewrite). A later call whose values differ in type from the compiled one's runs the ORM (a
``None`` compiles ``IS NULL``, with one parameter fewer; an ``int`` for a text column would be
converted), and so does any other queryset (``values()`` dicts, named tuples, model instances).
Rows are read through Django's cursor (execute wrappers, query logging) and converted by the
compiler's own converters (JSON, …), as the queryset would.

``rows_insert(objs)`` and ``row_update(obj, fields)``: ``save(force_insert=True)`` /
``bulk_create`` and ``save(update_fields=...)`` with their statement built once per model,
database and shape; the ORM does them whenever a model's save signals or own ``save()`` must run
(see each). ``tests/core/test_statements.py`` compares every path with the ORM's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from django.core.exceptions import EmptyResultSet
from django.db import DatabaseError, connections, models, router, transaction
from django.db.models import signals
from django.db.models.query import FlatValuesListIterable, ValuesListIterable

from apps.core.db.prepared import statement_cursor


class _Statement:
    __slots__ = ("converters", "flat", "sql", "types")

    def __init__(self, sql: str, converters: dict[int, Any], flat: bool, types: tuple[type, ...]) -> None:
        self.sql, self.converters, self.flat, self.types = sql, converters, flat, types


class CompiledRead:
    def __init__(self, model: Any, build: Callable[..., Any]) -> None:
        self.model, self.build = model, build
        self._statements: dict[str, _Statement | None] = {}  # alias -> statement (None: ORM only)

    def rows(self, *values: Any) -> list[Any]:
        """The queryset's rows for ``values``: tuples, or single values for a flat ``values_list``."""
        alias = router.db_for_read(self.model)
        if alias not in self._statements:
            return self._compile(alias, values, keep=True)
        statement = self._statements[alias]
        if statement is None or tuple(map(type, values)) != statement.types:
            return self._compile(alias, values, keep=False)
        return _run(connections[alias], statement, list(values))

    def first(self, *values: Any) -> Any:
        """The first row (or value) for ``values``, or None; ``build`` should slice to one row."""
        found = self.rows(*values)
        return found[0] if found else None

    def _compile(self, alias: str, values: tuple[Any, ...], *, keep: bool) -> list[Any]:
        queryset = self.build(*values)
        if not keep or queryset.db != alias or any(v is None for v in values):
            return list(queryset)
        connection = connections[alias]
        compiler = queryset.query.get_compiler(queryset.db)
        try:
            sql, params = compiler.as_sql()
        except EmptyResultSet:  # e.g. ``__in=[]``: the ORM answers without a statement
            self._statements[alias] = None
            return list(queryset)
        converters = compiler.get_converters([s[0] for s in compiler.select[0 : compiler.col_count]])
        iterable = queryset._iterable_class
        statement = _Statement(sql, converters, iterable is FlatValuesListIterable, tuple(map(type, values)))
        same = len(params) == len(values) and all(
            type(p) is type(v) and p == v for p, v in zip(params, values, strict=True)
        )
        tuples = iterable in (ValuesListIterable, FlatValuesListIterable)
        self._statements[alias] = statement if same and tuples else None
        if not tuples:
            return list(queryset)
        return _run(connection, statement, list(params))


def _run(connection: Any, statement: _Statement, params: list[Any]) -> list[Any]:
    """Execute ``statement`` through Django's cursor; its rows converted as the queryset's."""
    with statement_cursor(connection) as cursor:
        cursor.execute(statement.sql, params)
        fetched = cursor.fetchall()
    converters = statement.converters
    out: list[Any] = []
    for raw in fetched:
        if not converters:
            out.append(raw[0] if statement.flat else raw)
            continue
        row = converted_row(raw, converters, connection)
        out.append(row[0] if statement.flat else tuple(row))
    return out


def converted_row(raw: tuple[Any, ...], converters: dict[int, Any], connection: Any) -> list[Any]:
    """A fetched row with the compiler's converters applied (``compiler.get_converters``), as
    ``SQLCompiler.apply_converters`` does."""
    row = list(raw)
    for pos, (convs, expression) in converters.items():
        value = row[pos]
        for convert in convs:
            value = convert(value, expression, connection)
        row[pos] = value
    return row


# --- inserts ---------------------------------------------------------------------------------
# ``Model.save()`` of a new row builds an ``InsertQuery`` and compiles it every time: 0.61 ms of
# CPU for an outbox row on the benchmark machine, the same INSERT through the cursor 0.30 ms.
_INSERTS: dict[tuple[Any, str, int], tuple[str, tuple[Any, ...], tuple[Any, ...]]] = {}


def rows_insert(objs: Sequence[models.Model]) -> None:
    """Insert new instances of one model as ``save(force_insert=True)`` (one instance) or
    ``bulk_create`` (several) would — the same columns, ``pre_save`` values (``auto_now_add``),
    prepared parameters and returned keys, the instances marked saved — in one INSERT whose SQL
    is built once per model, database and row count.

    The ORM does it instead when the model has save signals or a ``save()`` of its own (they must
    run), parents (multi-table inheritance), ``order_with_respect_to``, returned columns other than
    an integer key, or a value that is an expression (``F()``, a database default), and on a
    database that cannot return the inserted key."""
    if not objs:
        return
    model = type(objs[0])
    alias = router.db_for_write(model, instance=objs[0])
    connection = connections[alias]
    plan = _insert_plan(model, alias, len(objs)) if _insertable(model, objs, connection) else None
    if plan is None:
        _orm_insert(objs, alias)
        return
    sql, fields, returning = plan
    params: list[Any] = []
    for obj in objs:
        obj._prepare_related_fields_for_save(operation_name="save")  # type: ignore[attr-defined]
        for field in fields:
            value = field.pre_save(obj, True)
            if hasattr(value, "resolve_expression"):  # an expression: the ORM compiles it
                _orm_insert(objs, alias)
                return
            params.append(field.get_db_prep_save(value, connection))
    with transaction.mark_for_rollback_on_error(using=alias), statement_cursor(connection) as cursor:
        cursor.execute(sql, params)
        returned = cursor.fetchall() if returning else ()
    for obj, row in zip(objs, returned, strict=False):
        for value, field in zip(row, returning, strict=True):
            setattr(obj, field.attname, value)
    for obj in objs:
        obj._state.adding = False
        obj._state.db = alias


_UPDATES: dict[tuple[Any, str, tuple[str, ...]], tuple[str, tuple[Any, ...]]] = {}


def row_update(obj: models.Model, update_fields: Sequence[str]) -> None:
    """``obj.save(update_fields=update_fields)`` — the same ``pre_save`` values (``auto_now``),
    prepared parameters, ``DatabaseError`` when no row matched — in one UPDATE whose SQL is built
    once per model, database and field list. The ORM does it instead in the cases
    ``rows_insert`` leaves to it, for a model with ``select_on_save``, a name that is not a
    concrete field of the model's own table, or the primary key among the fields."""
    model = type(obj)
    names = tuple(update_fields)
    if not names:
        return  # as save(update_fields=[]): nothing to do
    alias = router.db_for_write(model, instance=obj)
    connection = connections[alias]
    plan = _update_plan(model, alias, names) if _updatable(model, obj) else None
    if plan is None:
        obj.save(update_fields=names, using=alias)
        return
    sql, fields = plan
    params: list[Any] = []
    for field in fields:
        value = field.pre_save(obj, False)
        if hasattr(value, "resolve_expression"):  # an expression: the ORM compiles it
            obj.save(update_fields=names, using=alias)
            return
        params.append(field.get_db_prep_save(value, connection))
    params.append(model._meta.pk.get_db_prep_value(obj.pk, connection))
    with transaction.mark_for_rollback_on_error(using=alias), statement_cursor(connection) as cursor:
        cursor.execute(sql, params)
        matched = cursor.rowcount
    if matched == 0:
        raise DatabaseError("Save with update_fields did not affect any rows.")
    obj._state.db = alias


def _updatable(model: Any, obj: models.Model) -> bool:
    meta = model._meta
    if meta.parents or meta.proxy or meta.select_on_save or model.save is not models.Model.save:
        return False
    if type(obj) is not model or obj._state.adding or obj.pk is None:
        return False
    return not (signals.pre_save.has_listeners(model) or signals.post_save.has_listeners(model))


def _update_plan(model: Any, alias: str, names: tuple[str, ...]) -> tuple[str, tuple[Any, ...]] | None:
    key = (model, alias, names)
    plan = _UPDATES.get(key)
    if plan is None:
        meta = model._meta
        by_name = {f.name: f for f in meta.local_concrete_fields} | {
            f.attname: f for f in meta.local_concrete_fields
        }
        fields = tuple(by_name.get(name) for name in names)
        if any(f is None or f.primary_key or f.generated for f in fields):
            return None
        qn = connections[alias].ops.quote_name
        assignments = ", ".join(f"{qn(f.column)} = %s" for f in fields)  # type: ignore[union-attr]
        sql = f"UPDATE {qn(meta.db_table)} SET {assignments} WHERE {qn(meta.pk.column)} = %s"  # noqa: S608
        plan = _UPDATES[key] = (sql, fields)
    return plan


def _orm_insert(objs: Sequence[models.Model], alias: str) -> None:
    if len(objs) == 1:
        objs[0].save(force_insert=True, using=alias)
    else:
        type(objs[0])._default_manager.using(alias).bulk_create(objs)


def _insertable(model: Any, objs: Sequence[models.Model], connection: Any) -> bool:
    meta = model._meta
    if meta.parents or meta.proxy or meta.order_with_respect_to or model.save is not models.Model.save:
        return False
    if any(type(obj) is not model or not obj._state.adding for obj in objs):
        return False
    if signals.pre_save.has_listeners(model) or signals.post_save.has_listeners(model):
        return False
    returning = meta.db_returning_fields
    features = connection.features
    if returning and not (
        features.can_return_columns_from_insert and features.can_return_rows_from_bulk_insert
    ):
        return False
    return all(
        isinstance(f, models.AutoField | models.BigAutoField | models.SmallAutoField) for f in returning
    )


def _insert_plan(model: Any, alias: str, count: int) -> tuple[str, tuple[Any, ...], tuple[Any, ...]] | None:
    key = (model, alias, count)
    plan = _INSERTS.get(key)
    if plan is None:
        meta = model._meta
        connection = connections[alias]
        qn = connection.ops.quote_name
        # the primary key only when it is not generated by the database (as save() with no pk set)
        fields = tuple(f for f in meta.local_concrete_fields if not f.generated and f is not meta.auto_field)
        returning = tuple(meta.db_returning_fields)
        row = "(" + ", ".join(["%s"] * len(fields)) + ")"
        sql = (  # identifiers from the model's meta, quoted; every value is a parameter
            f"INSERT INTO {qn(meta.db_table)} ({', '.join(qn(f.column) for f in fields)}) "  # noqa: S608
            f"VALUES {', '.join([row] * count)}"
        )
        if returning:
            returning_sql, _ = connection.ops.return_insert_columns(returning)
            sql += " " + returning_sql
        plan = _INSERTS[key] = (sql, fields, returning)
    return plan
