"""Read serializers for hot list endpoints: DRF's output, without DRF's per-row overhead.

A ``ModelSerializer`` rebuilds its fields from the model on every instantiation and, per row
and field, walks ``_readable_fields``, ``get_attribute`` and the field's
``to_representation``. For a 20-row page of a 25-field model that was most of the request.
``FastRepresentationMixin`` keeps DRF's fields (so the OpenAPI schema, the browsable API and
every other use stay the same) and only changes how a row is turned into a dict:

- the fields a ``ModelSerializer`` builds are built once per class, then shallow-copied
  (binding sets attributes on the copy only; the shared parts — validators, choices,
  querysets — are only read by a serializer that never validates input);
- each field gets a compiled getter and converter, chosen for the field types whose DRF
  output is simple enough to reproduce exactly (strings, integers, UUIDs, JSON, primary-key
  relations, ISO-8601 datetimes); any other field (choices, decimals, methods, nested
  serializers, dotted or callable sources…) goes through DRF's own code path;
- these steps are built once per class; rendering an instance copies and binds only the fields
  that take DRF's path (``_bound_field``), not all of them (``self.fields`` stays DRF's, built
  when something asks for it). The 201 body of an orchestrated payment, with its nested events,
  attempts and refunds, took 0.21 ms to serialise before and 0.08 ms after.

``FastRowsMixin`` (on a list view) goes one step further when every readable field of the
serializer reads one column: the page is fetched with ``QuerySet.values`` (no model instances,
no ``Money`` objects, only the columns the output needs) and each row dict is rendered by
``FastRepresentationMixin.row_representation`` — the same converters, and DRF's own
``to_representation`` for the rest (choices, decimals).

``tests/core/test_hot_path.py`` checks the output equals DRF's, key by key, for every field type used.
"""

from __future__ import annotations

import copy
import datetime
import operator
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import orjson
from django.conf import settings
from django.db import connections, models, router
from django.db.models.expressions import Col
from django.utils import timezone
from rest_framework import ISO_8601, relations
from rest_framework import fields as drf_fields
from rest_framework.fields import SkipField
from rest_framework.pagination import CursorPagination
from rest_framework.relations import PKOnlyObject
from rest_framework.response import Response
from rest_framework.settings import api_settings

from apps.core.db.prepared import statement_cursor
from apps.core.db.statements import converted_row

_MISSING = object()


def _iso_datetime(value: datetime.datetime, tz: Any) -> str:
    if tz is not None:
        value = value.astimezone(tz) if timezone.is_aware(value) else timezone.make_aware(value, tz)
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _converter(field: Any) -> tuple[Callable[[Any], Any] | None, bool]:
    """(converter, needs_timezone) for a field whose DRF output we reproduce exactly, else (None, _)."""
    kind = type(field)
    if kind is drf_fields.CharField:
        return str, False
    if kind is drf_fields.IntegerField:
        return int, False
    if kind is drf_fields.UUIDField and field.uuid_format == "hex_verbose":
        return str, False
    if kind is drf_fields.JSONField and not field.binary:
        return (lambda value: value), False
    if kind is drf_fields.BooleanField:
        return bool, False
    if (
        kind is drf_fields.DateTimeField
        and getattr(field, "format", api_settings.DATETIME_FORMAT) == ISO_8601
        and not hasattr(field, "timezone")
    ):
        return None, True
    return None, False


def _current_timezone() -> Any:
    """What DRF's ``DateTimeField.default_timezone`` answers (fields with a ``timezone`` of their
    own take DRF's path)."""
    return timezone.get_current_timezone() if settings.USE_TZ else None


class _Step:
    """How one readable field is rendered. It keeps no reference to the field: the steps are shared
    by every instance of the serializer class, and a bound field would keep the first instance
    (its object, its context, a request) alive."""

    __slots__ = ("convert", "get", "iso_datetime", "name", "pk_only")

    def __init__(self, field: Any, model: Any) -> None:
        self.name = field.field_name
        self.get: Callable[[Any], Any] | None = None
        self.convert: Callable[[Any], Any] | None = None
        self.iso_datetime = False
        self.pk_only = False
        attrs = field.source_attrs
        if len(attrs) != 1 or model is None:
            return
        try:
            model_field = model._meta.get_field(attrs[0])
        except Exception:  # not a model field: a property or method, DRF decides
            return
        if not getattr(model_field, "concrete", False):
            return
        if isinstance(field, relations.PrimaryKeyRelatedField):
            if field.pk_field is None and model_field.is_relation and not model_field.many_to_many:
                self.get = operator.attrgetter(model_field.attname)
                self.pk_only = True
            return
        self.convert, self.iso_datetime = _converter(field)
        if self.convert is not None or self.iso_datetime:
            self.get = operator.attrgetter(model_field.attname)


class _RowStep:
    """How one readable field is read from a ``values()`` row: its column and its converter.
    ``json_as_is``: the field outputs the column's JSON value unchanged (DRF's ``JSONField``), so a
    page rendered by a renderer that takes ``orjson.Fragment`` may hand it the column's text."""

    __slots__ = ("column", "convert", "iso_datetime", "json_as_is", "name")

    def __init__(
        self,
        name: str,
        column: str,
        convert: Callable[[Any], Any],
        iso_datetime: bool,
        json_as_is: bool = False,
    ) -> None:
        self.name = name
        self.column = column
        self.convert = convert
        self.iso_datetime = iso_datetime
        self.json_as_is = json_as_is


def _row_step(field: Any, model: Any) -> _RowStep | None:
    """The column a field reads and how to render it, or None when it reads more than one column
    (methods, properties, nested serializers, relations followed beyond their key)."""
    attrs = field.source_attrs
    if model is None or not attrs or field.source == "*":
        return None
    try:
        model_field = model._meta.get_field(attrs[0])
    except Exception:  # not a model field: a property or method
        return None
    if not getattr(model_field, "concrete", False) or getattr(model_field, "many_to_many", False):
        return None
    column = str(model_field.attname)
    if len(attrs) == 2 and attrs[1] == "amount" and type(model_field).__name__ == "MoneyField":
        pass  # django-money: ``<field>`` is the Decimal column, ``<field>_currency`` a field of its own
    elif len(attrs) != 1:
        return None
    elif model_field.is_relation:
        if not isinstance(field, relations.PrimaryKeyRelatedField) or field.pk_field is not None:
            return None
        return _RowStep(str(field.field_name), column, lambda value: value, False)
    convert, iso = _converter(field)
    json_as_is = type(field) is drf_fields.JSONField and not field.binary
    return _RowStep(str(field.field_name), column, convert or field.to_representation, iso, json_as_is)


class FastRepresentationMixin:
    """Mix into a read-only ``ModelSerializer`` (before it in the bases) used on hot list pages.

    Output only: the shallow-copied fields must not be used to validate input."""

    def _class_fields(self) -> dict[str, Any]:
        """The fields ``ModelSerializer`` builds, built once per class (unbound)."""
        cls = type(self)
        cached = cls.__dict__.get("_fast_built_fields")
        if cached is None:
            cached = super().get_fields()  # type: ignore[misc]
            cls._fast_built_fields = cached  # type: ignore[attr-defined]
        return cached  # type: ignore[no-any-return]

    def get_fields(self) -> dict[str, Any]:
        return {name: copy.copy(field) for name, field in self._class_fields().items()}

    def _steps(self) -> list[_Step]:
        """The readable fields' steps, built once per class (from the first instance's fields,
        which are built once per class anyway): a step with a getter reads the instance and uses
        its field only for the current time zone, so any instance may share it; a step without
        one goes through DRF with the instance's own bound field (``_bound_field``)."""
        cls = type(self)
        steps = cls.__dict__.get("_fast_class_steps")
        if steps is None:
            model = getattr(getattr(self, "Meta", None), "model", None)
            readable = self._readable_fields  # type: ignore[attr-defined]
            steps = [_Step(field, model) for field in readable]
            cls._fast_class_steps = steps  # type: ignore[attr-defined]
        return steps  # type: ignore[no-any-return]

    def _bound_field(self, name: str) -> Any:
        """This instance's field ``name``, bound as ``self.fields[name]`` would be, without
        copying and binding every other field (only the fields DRF renders need one)."""
        if "fields" in self.__dict__:  # already built (a form, the schema…): DRF's own
            return self.fields[name]  # type: ignore[attr-defined]
        bound: dict[str, Any] | None = self.__dict__.get("_fast_bound")
        if bound is None:
            bound = {}
            self._fast_bound = bound
        field = bound.get(name)
        if field is None:
            field = bound[name] = copy.copy(self._class_fields()[name])
            field.bind(field_name=name, parent=self)
        return field

    def row_steps(self) -> list[_RowStep] | None:
        """Per readable field, its column and converter; None if a field needs a model instance."""
        cls = type(self)
        if "_fast_row_steps" not in cls.__dict__:
            model = getattr(getattr(self, "Meta", None), "model", None)
            steps = [_row_step(field, model) for field in self._readable_fields]  # type: ignore[attr-defined]
            cls._fast_row_steps = None if any(step is None for step in steps) else steps  # type: ignore[attr-defined]
        return cls.__dict__["_fast_row_steps"]  # type: ignore[no-any-return]

    def row_representation(self, row: dict[str, Any], tz: Any = _MISSING) -> dict[str, Any]:
        """The output of ``to_representation`` for the model instance ``row`` (a ``values()`` dict
        holding every column of ``row_steps``) was read from. ``tz``: the current time zone, when
        the caller (a page of rows) has looked it up already."""
        ret: dict[str, Any] = {}
        for step in self.row_steps() or ():
            value = row[step.column]
            if value is None:
                ret[step.name] = None
            elif step.iso_datetime:
                if tz is _MISSING:
                    tz = _current_timezone()
                ret[step.name] = _iso_datetime(value, tz) if value else None
            else:
                ret[step.name] = step.convert(value)
        return ret

    def to_representation(self, instance: Any) -> dict[str, Any]:
        ret: dict[str, Any] = {}
        tz: Any = _MISSING
        for step in self._steps():
            if step.get is not None:
                value = step.get(instance)
                if value is None:
                    ret[step.name] = None
                elif step.pk_only:
                    ret[step.name] = value
                elif step.iso_datetime:
                    if tz is _MISSING:
                        tz = _current_timezone()
                    ret[step.name] = _iso_datetime(value, tz) if value else None
                else:
                    ret[step.name] = step.convert(value)  # type: ignore[misc]
                continue
            field = self._bound_field(step.name)
            try:
                attribute = field.get_attribute(instance)
            except SkipField:
                continue
            check_for_none = attribute.pk if isinstance(attribute, PKOnlyObject) else attribute
            ret[step.name] = None if check_for_none is None else field.to_representation(attribute)
        return ret


# Field types whose validation reads nothing but their own constructor arguments: no context, no
# parent, no state kept between calls (DRF's ``run_validation`` / ``to_internal_value``).
_STATELESS_INPUT_FIELDS: frozenset[type] = frozenset(
    {
        drf_fields.BooleanField,
        drf_fields.CharField,
        drf_fields.ChoiceField,
        drf_fields.DecimalField,
        drf_fields.EmailField,
        drf_fields.IntegerField,
        drf_fields.UUIDField,
    }
)


def _stateless(field: Any) -> bool:
    if type(field) in (drf_fields.DictField, drf_fields.ListField):
        return _stateless(field.child)
    if type(field) not in _STATELESS_INPUT_FIELDS:
        return False
    return not getattr(field.default, "requires_context", False) and not any(
        getattr(v, "requires_context", False) for v in field.validators
    )


class InputFieldsMixin:
    """For a plain input ``Serializer`` built on every request: DRF deep-copies the declared fields
    each time (``Field.__deepcopy__`` re-instantiates each one from its arguments): 272 µs of
    ``POST /payments/orchestrate``'s CPU per validation, 120 µs with this mixin. Here they are copied
    once per class and shallow-copied per instance — ``bind`` then sets the name and parent on the
    copy — when every field is of a type whose validation keeps no state and reads no context
    (``_STATELESS_INPUT_FIELDS``; a ``DictField``/``ListField`` of one); otherwise DRF's deep copy.
    The shared parts (validators, choices, a child field) are only read."""

    def get_fields(self) -> dict[str, Any]:
        cls = type(self)
        shared = cls.__dict__.get("_input_built_fields", _MISSING)
        if shared is _MISSING:
            built = super().get_fields()  # type: ignore[misc]
            shared = built if all(_stateless(f) for f in built.values()) else None
            cls._input_built_fields = shared  # type: ignore[attr-defined]
            return built if shared is None else {name: copy.copy(field) for name, field in shared.items()}
        if shared is None:
            return super().get_fields()  # type: ignore[misc, no-any-return]
        return {name: copy.copy(field) for name, field in shared.items()}


# (view, database alias, shape) -> the page statement and how to read its rows; bounded: a client
# asking for unusual page sizes or offsets only misses (its pages are built by the ORM).
_PAGE_STATEMENTS: OrderedDict[tuple[Any, ...], _PageStatement] = OrderedDict()
_PAGE_STATEMENTS_MAX = 256


class _PageStatement:
    """A page's SQL, its column names and converters; ``text_converters`` leaves out the converters
    of the JSON columns in ``json_text`` (``JSONField.from_db_value``: their text is kept and
    handed to the renderer as an ``orjson.Fragment``)."""

    __slots__ = ("converters", "json_text", "names", "preps", "sql", "text_converters")

    def __init__(
        self,
        sql: str,
        names: list[str],
        converters: dict[int, Any],
        preps: list[Any],
        json_columns: frozenset[str],
    ) -> None:
        self.sql, self.names, self.converters, self.preps = sql, names, converters, preps
        self.json_text = tuple(
            pos
            for pos, (convs, expression) in converters.items()
            if _plain_json(names[pos], convs, expression, json_columns)
        )
        self.text_converters = {pos: c for pos, c in converters.items() if pos not in self.json_text}


def _plain_json(name: str, convs: list[Any], expression: Any, json_columns: frozenset[str]) -> bool:
    """A column whose only conversion is a model ``JSONField``'s own decoding (no custom decoder, a
    column rather than a key transform) that the serializer outputs unchanged."""
    field = getattr(expression, "output_field", None)
    return (
        name in json_columns
        and isinstance(field, models.JSONField)
        and field.decoder is None
        and type(expression) is Col
        and len(convs) == 1
        and getattr(convs[0], "__func__", None) is models.JSONField.from_db_value
    )


class _PagePlan:
    """The rows of one page of a view's unfiltered list, read with the statement the ORM compiled for
    the same page shape the first time (see ``FastRowsMixin.fixed_shape_params``).

    A shape is what CursorPagination does to the queryset — its ordering, which position filter
    (field and lookup), the slice — and the view's own statement around it; the values (the view's
    scope, the cursor position) are parameters. The first request of a shape is built and compiled
    by the ORM, and its statement is kept only if the parameters the ORM bound are exactly the
    view's scope followed by the position as the field prepares it; later requests of the shape
    reuse that SQL with their own values. Rows are read through Django's cursor (execute wrappers,
    query logging) and converted by the compiler's own converters (JSON, …), as ``values()`` does."""

    def __init__(
        self,
        key: tuple[Any, ...],
        build: Callable[[], Any],
        scope: list[Any],
        json_columns: frozenset[str] = frozenset(),
        json_text: bool = False,
    ) -> None:
        self.key, self.build, self.scope = key, build, scope
        self.json_columns, self.json_text = json_columns, json_text

    def rows(self, ops: tuple[tuple[Any, ...], ...]) -> list[dict[str, Any]]:
        shape = tuple(op[:2] if op[0] == "filter" else op for op in ops)
        values = [op[2] for op in ops if op[0] == "filter"]
        key = (*self.key, shape)
        statement = _PAGE_STATEMENTS.get(key)
        if statement is None:
            queryset = self.build()
            for op in ops:
                if op[0] == "order_by":
                    queryset = queryset.order_by(*op[1])
                elif op[0] == "filter":
                    queryset = queryset.filter(**{op[1]: op[2]})
                else:
                    queryset = queryset[op[1] : op[2]]
            connection = connections[queryset.db]
            compiler = queryset.query.get_compiler(queryset.db)
            sql, params = compiler.as_sql()
            query = queryset.query
            names = list(query.selected) if query.selected else [*query.extra_select, *query.values_select]
            converters = compiler.get_converters([s[0] for s in compiler.select[0 : compiler.col_count]])
            preps = [_lookup_prep(queryset.model, op[1], connection) for op in ops if op[0] == "filter"]
            statement = _PageStatement(sql, names, converters, preps, self.json_columns)
            expected = [*self.scope, *(prep(v) for prep, v in zip(preps, values, strict=True))]
            if queryset.db == self.key[1] and list(params) == expected:
                _PAGE_STATEMENTS[key] = statement
                while len(_PAGE_STATEMENTS) > _PAGE_STATEMENTS_MAX:
                    _PAGE_STATEMENTS.popitem(last=False)
            return _page_rows(connection, statement, list(params), json_text=self.json_text)
        connection = connections[self.key[1]]
        params = [*self.scope, *(prep(v) for prep, v in zip(statement.preps, values, strict=True))]
        return _page_rows(connection, statement, params, json_text=self.json_text)


def scope_param(model: Any, field_name: str, value: Any) -> Any:
    """``value`` as a ``filter(<field_name>=value)`` on ``model`` binds it (for
    ``FastRowsMixin.fixed_shape_params``): a UUID is a ``UUID`` on PostgreSQL, hex text on SQLite."""
    field = model._meta.get_field(field_name)
    return field.get_db_prep_value(field.get_prep_value(value), connections[router.db_for_read(model)])


def _lookup_prep(model: Any, lookup: str, connection: Any) -> Callable[[Any], Any]:
    """The parameter a ``<field>__lt`` / ``__gt`` filter binds for a value (``get_prep_value`` then
    ``get_db_prep_value``, as the lookup does)."""
    field = model._meta.get_field(lookup.split("__", 1)[0])
    return lambda value: field.get_db_prep_value(field.get_prep_value(value), connection, prepared=True)


def _page_rows(
    connection: Any, statement: _PageStatement, params: list[Any], *, json_text: bool = False
) -> list[dict[str, Any]]:
    """The page's rows as ``values()`` dicts. On PostgreSQL the statement is prepared once per
    connection (``DB_PREPARED_STATEMENTS``): planning it cost the server more than running it.
    ``json_text``: the plain JSON columns keep their text, as ``orjson.Fragment`` values."""
    with statement_cursor(connection) as cursor:
        cursor.execute(statement.sql, params)
        fetched = cursor.fetchall()
    names = statement.names
    fragments = statement.json_text if json_text else ()
    converters = statement.text_converters if fragments else statement.converters
    out = []
    for raw in fetched:
        row = converted_row(raw, converters, connection)
        for pos in fragments:
            if row[pos] is not None:
                row[pos] = orjson.Fragment(row[pos])
        out.append(dict(zip(names, row, strict=False)))
    return out


class _ShapeRows:
    """What ``CursorPagination.paginate_queryset`` does to a queryset — ``order_by``, one position
    ``filter``, a slice, ``list()`` — recorded for ``_PagePlan`` instead of building a queryset."""

    def __init__(self, plan: _PagePlan, ops: tuple[tuple[Any, ...], ...] = ()) -> None:
        self._plan, self._ops = plan, ops

    def order_by(self, *fields: str) -> _ShapeRows:
        return _ShapeRows(self._plan, (*self._ops, ("order_by", fields)))

    def filter(self, **kwargs: Any) -> _ShapeRows:
        [(lookup, value)] = kwargs.items()
        return _ShapeRows(self._plan, (*self._ops, ("filter", lookup, value)))

    def __getitem__(self, bounds: slice) -> _ShapeRows:
        return _ShapeRows(self._plan, (*self._ops, ("slice", bounds.start, bounds.stop)))

    def __iter__(self) -> Any:
        return iter(self._plan.rows(self._ops))


class FastRowsMixin:
    """For a ``ListAPIView`` whose serializer has ``FastRepresentationMixin``: the page is read as
    ``values()`` rows of the columns the output needs and rendered without model instances.

    Filtering, ordering, pagination (a cursor reads its position from a row dict as from an
    instance) and the response are the view's own; when a field of the serializer needs an
    instance, the view lists as it would without this mixin."""

    def fixed_shape_params(self) -> list[Any] | None:
        """For a view whose queryset, without query-string filters, depends on nothing but these
        values (e.g. ``[organization.pk]``: the caller's organisation's rows), in the order its SQL
        binds them: pages asked for with only a cursor and a page size reuse the statement compiled
        for the same page shape (``_PagePlan``), and no queryset is built for them. ``None`` (the
        default): every page is built by the ORM."""
        return None

    def _fixed_shape_rows(
        self, request: Any, columns: dict[str, None], json_columns: frozenset[str]
    ) -> _ShapeRows | None:
        paginator = getattr(self, "paginator", None)
        if not isinstance(paginator, CursorPagination):
            return None
        allowed = {paginator.cursor_query_param, paginator.page_size_query_param}
        if not set(request.query_params) <= allowed:
            return None
        if any(hasattr(backend, "get_ordering") for backend in getattr(self, "filter_backends", ())):
            return None  # an ordering filter could change the ordering per request
        scope = self.fixed_shape_params()
        model = getattr(getattr(self.get_serializer_class(), "Meta", None), "model", None)  # type: ignore[attr-defined]
        if scope is None or model is None:
            return None
        plan = _PagePlan(
            (type(self), router.db_for_read(model), tuple(columns)),
            lambda: self.filter_queryset(self.get_queryset()).values(*columns),  # type: ignore[attr-defined]
            scope,
            json_columns,
            json_text=bool(getattr(getattr(request, "accepted_renderer", None), "json_fragments", False)),
        )
        return _ShapeRows(plan)

    def list(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        serializer = self.get_serializer()  # type: ignore[attr-defined]
        steps = serializer.row_steps() if isinstance(serializer, FastRepresentationMixin) else None
        if steps is None:
            return super().list(request, *args, **kwargs)  # type: ignore[misc]
        columns = dict.fromkeys(step.column for step in steps)
        paginator = getattr(self, "paginator", None)
        for name in getattr(paginator, "ordering", None) or ():
            columns.setdefault(name.lstrip("-"), None)  # the cursor reads its position from the row
        json_columns = frozenset(step.column for step in steps if step.json_as_is)
        rows = self._fixed_shape_rows(request, columns, json_columns)
        if rows is None:
            rows = self.filter_queryset(self.get_queryset()).values(*columns)  # type: ignore[attr-defined]
        page = self.paginate_queryset(rows)  # type: ignore[attr-defined]
        tz = _current_timezone()  # once per page, not per row
        data = [serializer.row_representation(row, tz) for row in (rows if page is None else page)]
        if page is not None:
            return self.get_paginated_response(data)  # type: ignore[attr-defined]
        return Response(data)
