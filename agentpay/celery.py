"""The Celery application.

Embedded mode uses kombu's filesystem transport (real worker and beat
processes, nothing to install); with REDIS_URL the broker and result backend
are Redis. Periodic tasks are declared by each app in ``CELERY_BEAT_SCHEDULE``
and synced into django-celery-beat so the admin can change them.
"""

from __future__ import annotations

import os
from typing import Any

from celery import Celery
from celery.signals import beat_init, task_postrun, worker_process_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "agentpay.settings.local")

app = Celery("agentpay")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def _ensure_broker_dirs() -> None:
    from django.conf import settings

    options = getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", {}) or {}
    for key in ("data_folder_in", "data_folder_out", "processed_folder", "control_folder"):
        if options.get(key):
            os.makedirs(options[key], exist_ok=True)
    backend = str(getattr(settings, "CELERY_RESULT_BACKEND", ""))
    if backend.startswith("file://"):
        os.makedirs(backend.removeprefix("file://"), exist_ok=True)


@app.on_after_finalize.connect
def _setup(sender: Celery, **kwargs: object) -> None:
    _ensure_broker_dirs()


@worker_process_init.connect
def _worker_tracing(**kwargs: object) -> None:
    from agentpay.observability import init_tracing

    init_tracing("agentpay-worker")


@task_postrun.connect
def _connections_release(task: Any = None, **kwargs: object) -> None:
    """After each task a worker runs, what Django does after each request: a connection that failed
    or outlived its age goes (with the pool, back to it; ``CONN_MAX_AGE = 0`` there), the rest stays
    open. Not for a task run eagerly inside the caller's process (and maybe its transaction)."""
    if getattr(getattr(task, "request", None), "is_eager", False):
        return
    from django.db import close_old_connections, connections

    if any(conn.in_atomic_block for conn in connections.all(initialized_only=True)):
        return
    close_old_connections()


@beat_init.connect
def _sync_beat_schedule(**kwargs: object) -> None:
    from apps.core.services import periodic_tasks_sync

    periodic_tasks_sync()
