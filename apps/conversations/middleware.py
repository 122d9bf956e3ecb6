"""The platform webhooks' short way through Django.

A WhatsApp, Slack or Telegram webhook is a machine posting a signed body: no session, user, OTP
device, CSRF token, flash messages or frames. The middleware stack that serves people cost about
as much CPU as verifying, storing and handing off the event, so this middleware, placed after the
ones that matter to every request (Prometheus' request counter and latency, SecurityMiddleware's
HTTPS redirect and headers, WhiteNoise, the API's JSON 500), answers the three webhook paths
itself and lets everything else through untouched. What it keeps of the rest:

- ``ALLOWED_HOSTS``: the host is validated (CommonMiddleware would; a bad host is a 400);
- the request id (a proxy's ``X-Request-ID`` when trusted, as for the request log, else a new
  one) and client IP in the log context, one ``request_finished`` line per request at
  django-structlog's levels (there is no ``request_started`` line);
- ``X-Frame-Options``, and a counter of webhook answers by platform and status;
- an exception in the view is reported (``got_request_exception``, which Sentry listens to),
  logged, and answered with the AgentPay 500 body, as ``ApiErrorMiddleware`` does.

Under a WSGI server (granian, gunicorn) the same answer (``webhook_answer``) is given even earlier,
in front of Django's WSGI handler (``apps.conversations.wsgi``); this middleware serves the ASGI
server, the test client and a deployment mounted under a script prefix.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable

import structlog
from django.conf import settings
from django.core.signals import got_request_exception
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import NoReverseMatch, reverse
from prometheus_client import Counter

from apps.core.exceptions import server_error_body
from apps.core.middleware import RequestLogMiddleware, upstream_request_id
from apps.core.middleware import request_logger as logger

webhook_responses_total = Counter(
    "conversations_webhook_responses_total", "Platform webhook answers", ["platform", "status"]
)

View = Callable[[HttpRequest], HttpResponse]
ROUTES = {"whatsapp": "v1:webhook-whatsapp", "slack": "v1:webhook-slack", "telegram": "v1:webhook-telegram"}


def _level(status: int) -> int:
    """django-structlog's level for a response status (its defaults: 2xx/3xx info, 4xx warning)."""
    if status >= 500:
        return getattr(settings, "DJANGO_STRUCTLOG_STATUS_5XX_LOG_LEVEL", logging.ERROR)
    if status >= 400:
        return getattr(settings, "DJANGO_STRUCTLOG_STATUS_4XX_LOG_LEVEL", logging.WARNING)
    return getattr(settings, "DJANGO_STRUCTLOG_STATUS_2XX_LOG_LEVEL", logging.INFO)


_routes: dict[str, str] | None = None


def webhook_routes() -> dict[str, str]:
    """Path → platform of the webhooks mounted in the URLconf (resolved once per process)."""
    global _routes
    if _routes is None:
        found: dict[str, str] = {}
        for platform, name in ROUTES.items():
            try:
                found[reverse(name)] = platform
            except NoReverseMatch:  # not mounted in this URLconf: served the usual way, if at all
                continue
        _routes = found
    return _routes


def webhook_answer(request: HttpRequest, platform: str) -> HttpResponse:
    """Answer one platform webhook: what this middleware and the WSGI fast path
    (``apps.conversations.wsgi``) both do around the platform's view (see the module docstring)."""
    from apps.conversations.api import views

    view: View = getattr(views, f"{platform}_webhook")
    request.get_host()  # ALLOWED_HOSTS: DisallowedHost becomes the usual 400
    structlog.contextvars.bind_contextvars(request_id=upstream_request_id(request) or str(uuid.uuid4()))
    RequestLogMiddleware.bind_ip(request)
    try:
        response = view(request)
    except Exception:
        got_request_exception.send(sender=WebhookIngestMiddleware, request=request)
        logger.exception("unhandled_exception", path=request.path)
        response = JsonResponse(server_error_body(), status=500)
    try:
        response.headers.setdefault("X-Frame-Options", settings.X_FRAME_OPTIONS)
        webhook_responses_total.labels(platform, str(response.status_code)).inc()
        logger.log(
            _level(response.status_code),
            "request_finished",
            code=response.status_code,
            request=f"{request.method} {request.path}",
        )
    finally:
        structlog.contextvars.clear_contextvars()
    return response


class WebhookIngestMiddleware:
    """Serve ``POST|GET /api/v1/webhooks/{whatsapp,slack,telegram}`` without the rest of the stack."""

    def __init__(self, get_response: View) -> None:
        self.get_response = get_response
        self._routes: dict[str, str] | None = None

    def routes(self) -> dict[str, str]:
        if self._routes is None:
            self._routes = webhook_routes()
        return self._routes

    def __call__(self, request: HttpRequest) -> HttpResponse:
        platform = self.routes().get(request.path)
        if platform is None:
            return self.get_response(request)
        return webhook_answer(request, platform)
