"""Settings shared by every environment.

Every integration is switched by configuration (django-environ). With no
environment variables at all, AgentPay runs embedded: SQLite in WAL mode, an
in-memory channel layer, a local-memory cache and Celery on kombu's filesystem
transport. ``DATABASE_URL`` and ``REDIS_URL`` move it onto PostgreSQL and Redis.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import environ

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(environ.Env().str("AGENTPAY_VAR_DIR", default=str(BASE_DIR / "var")))

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False) if (BASE_DIR / ".env").exists() else None

SECRET_KEY = env.str("SECRET_KEY", default="agentpay-insecure-local-development-key-change-me-0123456789")
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "daphne",
    "apps.core.admin_config.AgentPayAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    # third party
    "channels",
    "rest_framework",
    "rest_framework_api_key",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "djmoney",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "django_celery_beat",
    "django_prometheus",
    "django_structlog",
    # AgentPay
    "apps.core",
    "apps.conversations",
    "apps.intent",
    "apps.payments",
    "apps.compliance",
    "apps.accounting",
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "apps.core.middleware.ApiErrorMiddleware",
    # platform webhooks answer here, without sessions, auth, CSRF, messages (see its docstring)
    "apps.conversations.middleware.WebhookIngestMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "apps.core.middleware.RequestLogMiddleware",
    "apps.core.middleware.LogContextMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "agentpay.urls"
ASGI_APPLICATION = "agentpay.asgi.application"
WSGI_APPLICATION = "agentpay.wsgi.application"
AUTH_USER_MODEL = "core.User"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database --------------------------------------------------------------
SQLITE_PATH = VAR_DIR / "agentpay.sqlite3"
DATABASE_URL = env.str("DATABASE_URL", default="")
if DATABASE_URL:
    DATABASES = {"default": env.db_url_config(DATABASE_URL)}
else:
    DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(SQLITE_PATH)}}
    # A fresh clone has no var/ (it is git-ignored): SQLite cannot create its file without it.
    SQLITE_PATH.parent.mkdir(parents=True, exist_ok=True)

DB_ENGINE = DATABASES["default"]["ENGINE"]
IS_POSTGRES = "postgresql" in DB_ENGINE
if IS_POSTGRES:
    # Django's backend, with timestamptz values parsed by psycopg's C loader (its docstring)
    DATABASES["default"]["ENGINE"] = "apps.core.db.postgresql"
    # psycopg 3 connection pool (Django >= 5.1); CONN_MAX_AGE must be 0 with a pool.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"].setdefault("OPTIONS", {})
    # Hot-path statements (list pages, compiled inserts/updates/reads, the compliance decision)
    # prepared once per connection (apps.core.db.prepared); off behind a transaction-pooling
    # PgBouncer older than 1.21.
    DB_PREPARED_STATEMENTS = env.bool("DB_PREPARED_STATEMENTS", default=True)
    if env.bool("DATABASE_POOL", default=True):
        DATABASES["default"]["OPTIONS"]["pool"] = {
            "min_size": env.int("DATABASE_POOL_MIN", default=2),
            "max_size": env.int("DATABASE_POOL_MAX", default=20),
            "timeout": env.int("DATABASE_POOL_TIMEOUT", default=10),
        }
else:
    # WAL lets the web process read while a worker writes; IMMEDIATE takes the
    # write lock at BEGIN so concurrent writers queue instead of deadlocking.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=10000;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
DATABASES["default"]["ATOMIC_REQUESTS"] = False

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: cache, channel layer, broker, rate limits ----------------------
REDIS_URL = env.str("REDIS_URL", default="")
REDIS_MAX_CONNECTIONS = env.int("REDIS_MAX_CONNECTIONS", default=50)  # per process, per pool
CACHES: dict[str, dict[str, Any]]
CHANNEL_LAYERS: dict[str, dict[str, Any]]
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "apps.core.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="agentpay"),
            "TIMEOUT": 300,
            # Channels runs each WebSocket consumer's sync code in a thread of its own: an unbounded
            # pool grew one Redis connection per open socket until Redis refused clients at 10,000.
            # A blocking pool caps the process's connections; a thread waits for a free one.
            "OPTIONS": {
                "pool_class": "redis.BlockingConnectionPool",
                "max_connections": REDIS_MAX_CONNECTIONS,
                "timeout": 5,
                "socket_timeout": 2,
                "socket_connect_timeout": 2,
            },
        }
    }
    # "pubsub" (default): one PUBLISH per group event, each process fans out to its own sockets,
    # which is what a live feed with thousands of watchers needs. "core": Redis lists per
    # channel (at-least-once delivery to specific channels, N writes per group event).
    CHANNEL_LAYER = env.str("CHANNEL_LAYER", default="pubsub")
    # redis-py 8 defaults to a 5 s socket timeout, the same as channels-redis's blocking
    # BZPOPMIN: the read then timed out and killed the consumer's receive loop.
    _channel_hosts = [{"address": REDIS_URL, "socket_timeout": 15, "socket_connect_timeout": 5}]
    _channel_prefix = env.str("CHANNEL_PREFIX", default="agentpay")
    if CHANNEL_LAYER == "core":
        CHANNEL_LAYERS = {
            "default": {
                "BACKEND": "channels_redis.core.RedisChannelLayer",
                "CONFIG": {
                    "hosts": _channel_hosts,
                    "prefix": _channel_prefix,
                    "capacity": 1000,
                    "expiry": 30,
                },
            }
        }
    else:
        CHANNEL_LAYERS = {
            "default": {
                "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
                "CONFIG": {"hosts": _channel_hosts, "prefix": _channel_prefix},
            }
        }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "agentpay"}}
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# --- Celery ----------------------------------------------------------------
CELERY_BROKER_DIR = VAR_DIR / "celery"
if REDIS_URL:
    CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL)
    CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default=REDIS_URL)
    CELERY_BROKER_TRANSPORT_OPTIONS: dict = {"visibility_timeout": 3600}
else:
    # Embedded: kombu's filesystem transport. Real worker processes, no server.
    CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
    CELERY_RESULT_BACKEND = env.str(
        "CELERY_RESULT_BACKEND", default=f"file://{CELERY_BROKER_DIR / 'results'}"
    )
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_BROKER_DIR / "queue"),
        "data_folder_out": str(CELERY_BROKER_DIR / "queue"),
        "processed_folder": str(CELERY_BROKER_DIR / "processed"),
        "control_folder": str(CELERY_BROKER_DIR / "control"),
        "store_processed": False,
    }
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Celery's Django fix-up closes every database connection before and after each task, and in a
# prefork worker with Django's connection pool it closes the whole pool (each task then waited for
# two new PostgreSQL connections: benchmarks/webhooks/drain.py). With a reuse count it does so only
# every 2 x N tasks; in between agentpay.celery hands each task's connection back to the pool (or
# drops a broken one) as Django does after a request.
CELERY_DB_REUSE_MAX = env.int("CELERY_DB_REUSE_MAX", default=100)
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_EXPIRES = timedelta(hours=6)
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# Each app adds its periodic tasks to this dict in its AppConfig.ready();
# agentpay.celery installs them into django-celery-beat at worker/beat start.
CELERY_BEAT_SCHEDULE: dict = {}

# --- Auth, passwords, sessions ---------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "admin:login"
# Seconds a JWT caller's user row and memberships stay cached (dropped by signal on change).
AUTH_CACHE_SECONDS = env.int("AUTH_CACHE_SECONDS", default=60)
# The admin requires a verified django-otp device unless explicitly relaxed (local only).
ADMIN_REQUIRE_OTP = env.bool("ADMIN_REQUIRE_OTP", default=True)
OTP_TOTP_ISSUER = "AgentPay"

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("pt", "Português"), ("es", "Español")]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS: list = []
MEDIA_ROOT = VAR_DIR / "media"
MEDIA_URL = "/media/"

AWS_STORAGE_BUCKET_NAME = env.str("AWS_STORAGE_BUCKET_NAME", default="")
STORAGES: dict[str, dict[str, Any]] = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
if AWS_STORAGE_BUCKET_NAME:
    STORAGES["default"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": AWS_STORAGE_BUCKET_NAME,
            "endpoint_url": env.str("AWS_S3_ENDPOINT_URL", default=None),
            "region_name": env.str("AWS_S3_REGION_NAME", default=None),
            "default_acl": None,
            "querystring_auth": True,
        },
    }

# --- Money -----------------------------------------------------------------
CURRENCIES = (
    "AUD",
    "BRL",
    "CAD",
    "CHF",
    "CNY",
    "CZK",
    "DKK",
    "EUR",
    "GBP",
    "HKD",
    "HUF",
    "INR",
    "JPY",
    "MXN",
    "NOK",
    "NZD",
    "PLN",
    "SEK",
    "SGD",
    "USD",
    "ARS",
    "CLP",
    "COP",
    "PEN",
    "ZAR",
    "USDC",
)
CURRENCY_CHOICES = [(c, c) for c in CURRENCIES]
CURRENCY_DECIMAL_PLACES = 4
DEFAULT_CURRENCY = "USD"

# --- REST framework --------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "apps.core.authcache.CachedJWTAuthentication",
        "apps.core.authentication.OrganizationAPIKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": [
        "apps.core.permissions.IsOrganizationMember",
        "apps.core.permissions.HasApiKeyScope",
        "apps.core.permissions.HasRole",
    ],
    "DEFAULT_THROTTLE_CLASSES": [
        "apps.core.throttling.PerIPThrottle",
        "apps.core.throttling.PerUserThrottle",
        # only counts requests that name a conversation (URL kwarg or body ``conversation_id``)
        "apps.core.throttling.PerConversationThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "ip": env.str("THROTTLE_IP", default="1000/min"),
        "user": env.str("THROTTLE_USER", default="100/min"),
        "conversation": env.str("THROTTLE_CONVERSATION", default="10/min"),
    },
    "DEFAULT_PAGINATION_CLASS": "apps.core.pagination.CreatedAtCursorPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["apps.core.filtering.FilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "apps.core.exceptions.api_exception_handler",
    "DEFAULT_RENDERER_CLASSES": [
        "apps.core.renderers.JSONRenderer",  # DRF's JSON, encoded by orjson
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    "NUM_PROXIES": env.int("NUM_PROXIES", default=0),
    "COERCE_DECIMAL_TO_STRING": True,
}

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env.int("JWT_ACCESS_MINUTES", default=15)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env.int("JWT_REFRESH_DAYS", default=7)),
    "SIGNING_KEY": env.str("JWT_SIGNING_KEY", default=SECRET_KEY),
    "AUTH_HEADER_TYPES": ("Bearer",),
    "UPDATE_LAST_LOGIN": False,
}

API_KEY_CUSTOM_HEADER = "HTTP_X_API_KEY"

SPECTACULAR_SETTINGS = {
    "TITLE": "AgentPay API",
    "DESCRIPTION": "Conversational payments: intent, orchestration, compliance and accounting.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    # several models have a "status": name each choice set after what it is the status of
    "ENUM_NAME_OVERRIDES": {
        "PaymentStatusEnum": "apps.payments.choices.PaymentStatus",
        "RefundStatusEnum": "apps.payments.choices.RefundStatus",
    },
}

# --- Logging (structlog JSON) ----------------------------------------------
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOG_FORMAT = env.str("LOG_FORMAT", default="json")  # json | console

from agentpay.logging import configure_structlog  # noqa: E402

LOGGING = configure_structlog(level=LOG_LEVEL, fmt=LOG_FORMAT)
DJANGO_STRUCTLOG_CELERY_ENABLED = True
DJANGO_STRUCTLOG_IP_LOGGING_ENABLED = True
# a proxy's X-Request-ID names the request in the logs and the audit trail only when trusted
# (apps.core.middleware.upstream_request_id); otherwise each request gets a fresh id
DJANGO_STRUCTLOG_TRUST_UPSTREAM_REQUEST_ID = env.bool("TRUST_UPSTREAM_REQUEST_ID", default=False)

# --- Security --------------------------------------------------------------
# Fernet keys for PII encryption at rest (comma separated, newest first).
FIELD_ENCRYPTION_KEYS = env.list("FIELD_ENCRYPTION_KEYS", default=[])
# Key for keyed hashes (blind indexes) of PII used for search.
PII_HASH_KEY = env.str("PII_HASH_KEY", default=SECRET_KEY)
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

# --- Observability ---------------------------------------------------------
SENTRY_DSN = env.str("SENTRY_DSN", default="")
OTEL_EXPORTER_OTLP_ENDPOINT = env.str("OTEL_EXPORTER_OTLP_ENDPOINT", default="")
PROMETHEUS_EXPORT_MIGRATIONS = False

from agentpay.observability import init_sentry  # noqa: E402

init_sentry(dsn=SENTRY_DSN, environment=env.str("SENTRY_ENVIRONMENT", default="local"))

# --- AgentPay --------------------------------------------------------------
AGENTPAY_PUBLIC_URL = env.str("AGENTPAY_PUBLIC_URL", default="http://127.0.0.1:8000")
# Checks in /readyz; the broker check can be disabled where no broker is used.
READYZ_CHECK_BROKER = env.bool("READYZ_CHECK_BROKER", default=True)
