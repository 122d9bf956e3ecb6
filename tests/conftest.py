"""Shared fixtures.

With ``REQUIRE_SERVICES=1`` (CI) a missing PostgreSQL or Redis fails the run;
otherwise tests marked ``postgres`` / ``redis`` are skipped when the service is
not configured.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from tests.factories import MembershipFactory, OrganizationFactory, UserFactory

ROOT = Path(__file__).resolve().parent.parent
REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"


def pytest_sessionstart(session: pytest.Session) -> None:
    if not REQUIRE_SERVICES:
        return
    problems = []
    if not settings.IS_POSTGRES:
        problems.append("DATABASE_URL is not a PostgreSQL URL")
    if not settings.REDIS_URL:
        problems.append("REDIS_URL is not set")
    else:
        import redis

        try:
            redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2).ping()
        except Exception as exc:
            problems.append(f"Redis unreachable: {exc}")
    if problems:
        pytest.exit("REQUIRE_SERVICES=1 but " + "; ".join(problems), returncode=3)


def _is_transactional(item: pytest.Item) -> bool:
    marker = item.get_closest_marker("django_db")
    names = getattr(item, "fixturenames", ())
    return (
        bool(marker and marker.kwargs.get("transaction"))
        or "transactional_db" in names
        or "live_server" in names
    )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    """A transactional test ends with a flush, which also empties the rows data migrations
    seeded (rail catalogue, default rules and limits, role groups): put them back, so the
    next test in this worker sees the database ``migrate`` leaves."""
    yield
    # After the session's last test pytest-django has dropped the test database: seeding now
    # would write into the real database DATABASE_URL names (or fail when it doesn't exist).
    if nextitem is None or not _is_transactional(item):
        return
    import importlib

    from django.apps import apps
    from django.contrib.auth.models import Group, Permission
    from pytest_django.plugin import blocking_manager_key

    from apps.core.services import roles_sync
    from apps.payments.rails.registry import rail_catalog_invalidate

    with item.config.stash[blocking_manager_key].unblock():
        importlib.import_module("apps.payments.migrations.0003_seed_rail_catalog").seed(apps, None)
        importlib.import_module("apps.compliance.migrations.0002_default_rules_and_limits").seed(apps, None)
        roles_sync(group_model=Group, permission_model=Permission)
    rail_catalog_invalidate()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "postgres" in item.keywords and not settings.IS_POSTGRES:
            item.add_marker(pytest.mark.skip(reason="needs PostgreSQL (set DATABASE_URL)"))
        if ("redis" in item.keywords or "celery_worker" in item.keywords) and not settings.REDIS_URL:
            item.add_marker(pytest.mark.skip(reason="needs Redis (set REDIS_URL)"))
        if "browser" in item.keywords and not Path("/usr/bin/chromium").exists() and not REQUIRE_SERVICES:
            item.add_marker(pytest.mark.skip(reason="needs Debian's chromium"))


@pytest.fixture(autouse=True)
def _clear_cache() -> Iterator[None]:
    """Empty this worker's cache keys (not the whole shared Redis, which other xdist workers use)."""
    from django.core.cache import cache

    if settings.REDIS_URL:
        import redis

        client = redis.Redis.from_url(settings.REDIS_URL)
        prefix = settings.CACHES["default"].get("KEY_PREFIX", "")
        keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()
    else:
        cache.clear()
    yield


@pytest.fixture
def handed_back(monkeypatch: pytest.MonkeyPatch) -> Any:
    """``handed_back()``: whether the default connection was closed (handed back to the pool) since
    the fixture was set up. An in-memory SQLite test database ignores ``close()`` (closing it
    would drop the database), so there the close request is what is checked."""
    from django.db import connection

    requested: list[int] = []
    close = connection.close

    def spy() -> None:
        requested.append(1)
        close()

    monkeypatch.setattr(connection, "close", spy)
    in_memory = connection.vendor == "sqlite" and connection.is_in_memory_db()  # type: ignore[attr-defined]
    return lambda: bool(requested) and (in_memory or connection.connection is None)


@pytest.fixture
def organization(db: Any) -> Any:
    return OrganizationFactory()


@pytest.fixture
def user(organization: Any) -> Any:
    u = UserFactory()
    MembershipFactory(organization=organization, user=u, role="owner")
    return u


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def auth_client(user: Any) -> APIClient:
    """An API client authenticated as an owner of ``organization`` (JWT)."""
    from rest_framework_simplejwt.tokens import AccessToken

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(user)}")
    return client


@pytest.fixture
def api_key(organization: Any) -> tuple[Any, str]:
    from apps.core.services import api_key_create

    return api_key_create(organization=organization, name="test", scopes=["admin"])


@pytest.fixture
def key_client(api_key: tuple[Any, str]) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=api_key[1])
    return client


@pytest.fixture
def celery_worker_process(transactional_db: Any) -> Iterator[subprocess.Popen[bytes]]:
    """A real Celery worker process on the real Redis broker, using the test database.

    Tasks must be sent with ``send_task`` / ``apply_async`` from code that does
    not run eagerly: set ``settings.CELERY_TASK_ALWAYS_EAGER = False`` in the test.
    """
    from django.db import connection

    if not settings.REDIS_URL:
        pytest.skip("needs Redis")
    db = connection.settings_dict
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="agentpay.settings.test",
        CELERY_TASK_ALWAYS_EAGER="0",
        PYTHONPATH=str(ROOT),
    )
    if settings.IS_POSTGRES:
        env["DATABASE_URL"] = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    queue = f"test-{os.getpid()}-{time.monotonic_ns()}"
    env["CELERY_TEST_QUEUE"] = queue
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "agentpay",
            "worker",
            "--pool=solo",
            "-Q",
            queue,
            "--loglevel=WARNING",
            "-n",
            f"{queue}@%h",
            "--without-heartbeat",
            "--without-gossip",
            "--without-mingle",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    proc.queue = queue  # type: ignore[attr-defined]
    from agentpay.celery import app

    eager = app.conf.task_always_eager
    app.conf.task_always_eager = False
    try:
        yield proc
    finally:
        app.conf.task_always_eager = eager
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture
def rails(db: Any) -> Any:
    """The seeded rail catalogue (re-seeded if a transactional test flushed it)."""
    from apps.payments.models import RailDefinition
    from apps.payments.rails.registry import rail_catalog, rail_catalog_invalidate
    from apps.payments.rails.seed import rail_catalog_seed

    if RailDefinition.objects.count() < 7:
        rail_catalog_seed()
    rail_catalog_invalidate()
    return rail_catalog()
