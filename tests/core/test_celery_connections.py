"""What a Celery worker does with its database connection after each task (``agentpay.celery``)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from django.conf import settings
from django.db import connection, transaction

from agentpay.celery import _connections_release, app

pytestmark = pytest.mark.django_db(transaction=True)


def _worker_task() -> SimpleNamespace:
    return SimpleNamespace(request=SimpleNamespace(is_eager=False))


def test_celery_keeps_connections_between_tasks_instead_of_closing_the_pool():
    assert settings.CELERY_DB_REUSE_MAX >= 1
    assert app.conf.get("CELERY_DB_REUSE_MAX") == settings.CELERY_DB_REUSE_MAX  # what the fix-up reads


def test_after_a_task_a_broken_or_obsolete_connection_goes(monkeypatch, handed_back):
    connection.ensure_connection()
    connection.errors_occurred = True  # as after a failed query
    monkeypatch.setattr(connection, "is_usable", lambda: False)
    assert not handed_back()
    _connections_release(task=_worker_task())
    assert handed_back()


def test_a_usable_connection_within_its_age_stays(monkeypatch):
    connection.ensure_connection()
    monkeypatch.setattr(connection, "close_at", None)  # CONN_MAX_AGE = None: persistent
    raw = connection.connection
    _connections_release(task=_worker_task())
    assert connection.connection is raw


def test_nothing_is_closed_for_an_eager_task_or_inside_a_transaction():
    connection.ensure_connection()
    raw = connection.connection
    _connections_release(task=SimpleNamespace(request=SimpleNamespace(is_eager=True)))
    assert connection.connection is raw
    with transaction.atomic():
        _connections_release(task=_worker_task())
        assert connection.connection is raw
