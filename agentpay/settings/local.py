"""Local development: the embedded defaults plus DEBUG and a relaxed admin."""

from .base import *
from .base import env

DEBUG = env.bool("DEBUG", default=True)
ADMIN_REQUIRE_OTP = env.bool("ADMIN_REQUIRE_OTP", default=False)
LOG_FORMAT = env.str("LOG_FORMAT", default="console")

from agentpay.logging import configure_structlog  # noqa: E402

from .base import LOG_LEVEL  # noqa: E402

LOGGING = configure_structlog(level=LOG_LEVEL, fmt=LOG_FORMAT)
