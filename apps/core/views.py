"""Health endpoints and JSON error pages."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import DisallowedHost
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from apps.core.exceptions import error_body


def healthz(request: HttpRequest) -> JsonResponse:
    """The process is alive (no dependencies checked)."""
    return JsonResponse({"status": "ok"})


def _check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def _check_cache() -> None:
    cache.set("readyz:probe", "1", timeout=5)
    if cache.get("readyz:probe") != "1":
        raise RuntimeError("cache did not return the probe value")


def _check_broker() -> None:
    from agentpay.celery import app

    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)


def readiness() -> dict[str, str]:
    checks: dict[str, Any] = {"database": _check_database, "cache": _check_cache}
    if settings.READYZ_CHECK_BROKER and not settings.CELERY_TASK_ALWAYS_EAGER:
        checks["broker"] = _check_broker
    results: dict[str, str] = {}
    for name, check in checks.items():
        try:
            check()
            results[name] = "ok"
        except Exception as exc:  # any failure makes the part unready
            results[name] = f"error: {type(exc).__name__}"
    return results


def readyz(request: HttpRequest) -> JsonResponse:
    """Database, cache and broker reachable; 503 naming the failed parts."""
    results = readiness()
    failed = [name for name, state in results.items() if state != "ok"]
    if failed:
        body = error_body("not_ready", f"Not ready: {', '.join(failed)} unreachable.", checks=results)
        return JsonResponse(body, status=503)
    return JsonResponse({"status": "ok", "checks": results})


def _wants_json(request: HttpRequest) -> bool:
    return request.path.startswith("/api/") or "application/json" in request.META.get("HTTP_ACCEPT", "")


def _error(request: HttpRequest, status: int, code: str, message: str) -> HttpResponse:
    if _wants_json(request):
        return JsonResponse(error_body(code, message), status=status)
    return render(request, "error.html", {"status": status, "message": message}, status=status)


def error_400(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if isinstance(exception, DisallowedHost):
        return _error(request, 400, "disallowed_host", "This host name is not served here (ALLOWED_HOSTS).")
    return _error(request, 400, "bad_request", "Bad request.")


def error_403(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _error(request, 403, "permission_denied", "Permission denied.")


def error_404(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _error(request, 404, "not_found", "Not found.")


def error_500(request: HttpRequest) -> HttpResponse:
    return _error(request, 500, "server_error", "An unexpected error occurred.")
