"""The platform webhooks' fast path under WSGI (granian or gunicorn): answered before Django's handler.

``agentpay.wsgi.application`` is ``WebhookFastPath(get_wsgi_application())``, what the WSGI server
calls. For the three webhook paths (``apps.conversations.middleware.webhook_routes``) it does by
hand, and only, what Django's ``WSGIHandler`` and the middleware in front of
``WebhookIngestMiddleware`` do for such a request; every other request goes to Django unchanged. Measured (``benchmarks/webhooks``): the handler's
``request_started``/``request_finished`` signals, its middleware chain and the WhiteNoise and
error middleware cost about a third of a webhook's CPU, while a webhook needs none of them beyond
what is kept here:

- the database connection's lifecycle: ``close_old_connections()`` before and after, the function
  Django's request signals call (with the connection pool it hands the connection back; a broken
  or expired connection is dropped);
- Prometheus' ``django_http_requests_before_middlewares_total`` and
  ``django_http_responses_before_middlewares_total`` counters and the latency histogram
  ``django_http_requests_latency_including_middlewares_seconds`` (what ``PrometheusBeforeMiddleware``
  records), besides the middleware's ``conversations_webhook_responses_total``;
- ``SecurityMiddleware`` itself (HTTPS redirect, HSTS, nosniff, referrer and opener policies);
- ``webhook_answer``, shared with the middleware: ``ALLOWED_HOSTS``, the request id and IP in the
  log context, the ``request_finished`` log line, ``X-Frame-Options``, the JSON 500 of a failing
  view reported through ``got_request_exception``;
- any other exception (a host not allowed, a failing security check) is turned into a response by
  Django's own ``convert_exception_to_response`` (400 / 500 bodies of the URLconf's handlers).

Not kept: WhiteNoise (it serves only ``/static/``), the ``django.request`` warning line Django's
handler adds for a 4xx/5xx (the ``request_finished`` line carries the status at warning or error
level), and the signal receivers of other libraries (Sentry's and OpenTelemetry's WSGI/Django
request hooks do not see these three paths; exceptions still reach Sentry through
``got_request_exception``). The path is only taken without a ``SCRIPT_NAME`` or
``FORCE_SCRIPT_NAME`` (a mounted prefix goes through Django, where the middleware answers), and
only for the paths the URLconf mounts. The ASGI server (uvicorn) does not use it: there the
middleware answers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, cast

from django.conf import settings
from django.core.handlers.exception import convert_exception_to_response
from django.core.handlers.wsgi import WSGIRequest
from django.db import close_old_connections
from django.http import HttpRequest, HttpResponse
from django.middleware.security import SecurityMiddleware
from django.urls import get_script_prefix, set_script_prefix
from django_prometheus.middleware import Metrics
from django_prometheus.utils import Time, TimeSince

from apps.conversations.middleware import webhook_answer, webhook_routes

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class WebhookFastPath:
    """WSGI callable: the webhook paths answered here, everything else by ``django_app``."""

    def __init__(self, django_app: WSGIApp) -> None:
        self.django_app = django_app
        self._routes: dict[str, Callable[[HttpRequest], HttpResponse]] | None = None
        self._metrics = Metrics.get_instance()

    def routes(self) -> dict[str, Callable[[HttpRequest], HttpResponse]]:
        """PATH_INFO → the webhook's answer wrapped as Django would (built once per process)."""
        if self._routes is None:
            previous = get_script_prefix()
            set_script_prefix("/")  # paths as they arrive without a SCRIPT_NAME
            try:
                found = webhook_routes()
            finally:
                set_script_prefix(previous)
            self._routes = {path: self._chain(platform) for path, platform in found.items()}
        return self._routes

    @staticmethod
    def _chain(platform: str) -> Callable[[HttpRequest], HttpResponse]:
        def answer(request: HttpRequest) -> HttpResponse:
            return webhook_answer(request, platform)

        # a sync chain (the answer is not a coroutine), so the result is a response, never an awaitable
        return cast(
            Callable[[HttpRequest], HttpResponse], convert_exception_to_response(SecurityMiddleware(answer))
        )

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        answer = None
        if not environ.get("SCRIPT_NAME") and settings.FORCE_SCRIPT_NAME is None:
            answer = self.routes().get(environ.get("PATH_INFO", ""))
        if answer is None:
            return self.django_app(environ, start_response)
        started = Time()
        self._metrics.requests_total.inc()
        close_old_connections()  # as on request_started
        try:
            response = answer(WSGIRequest(environ))
            body = response.content  # the webhook views answer with plain (not streaming) responses
        finally:
            close_old_connections()  # as on request_finished: the connection goes back to the pool
        self._metrics.responses_total.inc()
        self._metrics.requests_latency_before.observe(TimeSince(started))
        headers = [
            *response.items(),
            *(("Set-Cookie", c.output(header="")) for c in response.cookies.values()),
        ]
        if not response.has_header("Content-Length"):
            headers.append(("Content-Length", str(len(body))))
        start_response(f"{response.status_code} {response.reason_phrase}", headers)
        return [body]
