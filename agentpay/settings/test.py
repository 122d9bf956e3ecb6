"""Test settings.

Without DATABASE_URL / REDIS_URL the suite runs on SQLite with local memory
cache and channel layer. CI sets both (and REQUIRE_SERVICES=1) so the tests
that matter run against the real PostgreSQL and Redis.
"""

from .base import *
from .base import CACHES, CHANNEL_LAYERS, DATABASES, IS_POSTGRES, REDIS_URL, env

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
ADMIN_REQUIRE_OTP = True
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=True)
CELERY_TASK_EAGER_PROPAGATES = True
LOG_LEVEL = env.str("LOG_LEVEL", default="WARNING")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
REQUIRE_SERVICES = env.bool("REQUIRE_SERVICES", default=False)
if IS_POSTGRES:
    # No pool in tests: pytest-django creates and drops the test database.
    DATABASES["default"]["OPTIONS"].pop("pool", None)
if REDIS_URL:
    # pytest-xdist workers share one Redis: give each its own key space.
    _worker = env.str("PYTEST_XDIST_WORKER", default="main")
    CACHES["default"]["KEY_PREFIX"] = f"agentpay-test-{_worker}"
    # Redis pub/sub ignores the database number: test runs on other databases of the same Redis
    # (other checkouts, CI jobs) would hear each other's group events without it in the prefix.
    _redis_db = REDIS_URL.rsplit("/", 1)[-1] if REDIS_URL.count("/") > 2 else "0"
    CHANNEL_LAYERS["default"]["CONFIG"]["prefix"] = f"agentpay-test-db{_redis_db}-{_worker}"
# Deterministic, fast Fernet key for tests.
FIELD_ENCRYPTION_KEYS = env.list(
    "FIELD_ENCRYPTION_KEYS", default=["dGVzdC1rZXktZm9yLWFnZW50cGF5LXRlc3RzLTAwMDA="]
)
