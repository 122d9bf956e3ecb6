"""Hot one-shape reads with the SQL the ORM compiled for them, kept per process.

Building a queryset and compiling it costs several times more CPU than running the statement:
on the 2-core benchmark machine ``KycProfile.objects.filter(...).values_list("tier",
flat=True).first()`` took 0.72 ms of CPU, the same SQL through Django's cursor 0.13 ms. A read
that runs on every payment with the same shape and new values keeps its compiled statement
here.

``CompiledRead(model, build)``: ``build(*values)`` returns the queryset (a ``values_list``,
flat or not, of the row or rows wanted) for those values. The first call per database builds and
compiles it and keeps the SQL only when the parameters the ORM bound are exactly ``values``, in
order and unchanged (on PostgreSQL, strings, integers and UUIDs bind as given; SQLite binds a
UUID as hex text, so there the ORM runs every time, and so it does for any value it would
rewrite). A later call whose values differ in type from the compiled one's runs the ORM (a
``None`` compiles ``IS NULL``, with one parameter fewer; an ``int`` for a text column would be
converted), and so does any other queryset (``values()`` dicts, named tuples, model instances). Rows are read through Django's cursor (execute wrappers, query logging) and
converted by the compiler's own converters (JSON, …), as the queryset would.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.exceptions import EmptyResultSet
from django.db import connections, router
from django.db.models.query import FlatValuesListIterable, ValuesListIterable


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
        connection = connections[alias]
        with connection.cursor() as cursor:
            cursor.execute(statement.sql, list(values))
            fetched = cursor.fetchall()
        return _converted(fetched, statement, connection)

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
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            fetched = cursor.fetchall()
        return _converted(fetched, statement, connection)


def _converted(fetched: list[tuple[Any, ...]], statement: _Statement, connection: Any) -> list[Any]:
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
