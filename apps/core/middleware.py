"""Request-level plumbing: JSON errors for the API, log context."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import structlog
from django.http import HttpRequest, HttpResponse, JsonResponse
from django_structlog.middlewares import RequestMiddleware
from rest_framework.throttling import BaseThrottle

from apps.core.exceptions import server_error_body

logger = structlog.get_logger(__name__)


class ApiErrorMiddleware:
    """Any exception escaping an API view becomes a JSON 500 without internals."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if request.path.startswith("/api/"):
            logger.exception("unhandled_exception", path=request.path, exc_info=exception)
            return JsonResponse(server_error_body(), status=500)
        return None


class LogContextMiddleware:
    """Bind the organisation to the structlog context once DRF or the session knows the user."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view_func: Any, view_args: Any, view_kwargs: dict[str, Any]
    ) -> None:
        for key in ("conversation_id", "payment_id"):
            if key in view_kwargs:
                structlog.contextvars.bind_contextvars(**{key: str(view_kwargs[key])})


class RequestLogMiddleware(RequestMiddleware):
    """django-structlog's request logging, with the client IP the rate limits use.

    django-structlog asks django-ipware, which believes any ``X-Forwarded-For`` a client sends
    and costs more than the rest of a small request. The logs should name the same address
    the per-IP limit counts: ``REMOTE_ADDR``, or the address ``NUM_PROXIES`` trusted proxies
    put in ``X-Forwarded-For``.
    """

    _ident = BaseThrottle()

    @classmethod
    def bind_ip(cls, request: HttpRequest) -> None:
        structlog.contextvars.bind_contextvars(ip=cls._ident.get_ident(request))  # type: ignore[arg-type]
