"""The schema carries no index another one already provides.

Every index is written on each INSERT (and on each UPDATE that changes one of its columns), so a
plain index on ``a`` next to one on ``(a, b)`` costs every write of the table and serves no read the
composite cannot. The test reads the migrated database (SQLite or PostgreSQL), not the models.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.apps import apps
from django.db import connection, models

pytestmark = pytest.mark.django_db

OUR_APPS = ("core", "conversations", "intent", "payments", "compliance", "accounting")


def _partial_names(model: type[models.Model]) -> set[str]:
    """Indexes and unique constraints with a condition: they cover only some rows."""
    meta = model._meta
    return {
        c.name
        for c in [*meta.constraints, *meta.indexes]
        if getattr(c, "condition", None) is not None and c.name
    }


def _indexes(model: type[models.Model]) -> dict[str, Any]:
    """The migrated table's indexes on columns (name → introspection info), primary key aside."""
    with connection.cursor() as cursor:
        found: dict[str, Any] = connection.introspection.get_constraints(cursor, model._meta.db_table)
    # a unique constraint is reported as a constraint, not an index, but has one
    return {
        name: info
        for name, info in found.items()
        if (info["index"] or info["unique"])
        and not info["primary_key"]
        and info["columns"]
        and not info.get("expressions")
    }


def _redundant(model: type[models.Model]) -> list[tuple[str, str]]:
    partial = _partial_names(model)
    indexes = _indexes(model)
    out = []
    for name, info in indexes.items():
        if info["unique"] or name in partial or name.endswith("_like"):
            # a unique index is a constraint, not only a lookup path; PostgreSQL's ``_like``
            # (varchar_pattern_ops) index serves LIKE 'prefix%', which a plain one cannot
            continue
        for other, other_info in indexes.items():
            if other == name or other in partial:
                continue
            cols, other_cols = info["columns"], other_info["columns"]
            # a longer or unique index serves the lookups; of two equal plain ones, one is flagged
            longer_or_unique = len(other_cols) > len(cols) or other_info["unique"]
            if other_cols[: len(cols)] == cols and (longer_or_unique or other < name):
                out.append((name, other))
                break
    return out


def test_no_index_is_a_leading_prefix_of_another() -> None:
    redundant = {
        model._meta.db_table: pairs
        for label in OUR_APPS
        for model in apps.get_app_config(label).get_models()
        if (pairs := _redundant(model))
    }
    assert redundant == {}


def test_hot_tables_keep_the_indexes_their_reads_use() -> None:
    """What the migration removed was redundant, not needed: the lookups still have an index."""
    from apps.payments.models import OrchestrationPayment, PaymentAttempt, PaymentEvent

    def leading(model: type[models.Model]) -> set[str]:
        return {info["columns"][0] for info in _indexes(model).values()}

    assert {
        "organization_id",
        "conversation_message_id",
        "created_by_api_key_id",
        "created_by_id",
    } <= leading(OrchestrationPayment)
    assert "payment_id" in leading(PaymentEvent)
    assert "payment_id" in leading(PaymentAttempt)
