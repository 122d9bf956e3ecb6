"""Domain errors and the one error body every 4xx/5xx uses.

``{"code": "payment_not_found", "message": "...", "errors": {"field": ["..."]}}``
"""

from __future__ import annotations

from typing import Any

import structlog
from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

logger = structlog.get_logger(__name__)


class ApplicationError(Exception):
    """A domain error with a stable machine-readable code, mapped to an HTTP status."""

    code: str = "application_error"
    status_code: int = status.HTTP_400_BAD_REQUEST
    message: str = "The request could not be processed."

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        status_code: int | None = None,
        errors: dict[str, list[str]] | None = None,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.message = message or self.message
        self.code = code or self.code
        self.status_code = status_code or self.status_code
        self.errors = errors or {}
        self.extra = extra or {}
        self.headers = headers or {}
        super().__init__(self.message)


class NotFound(ApplicationError):
    code = "not_found"
    status_code = status.HTTP_404_NOT_FOUND
    message = "Not found."


class Conflict(ApplicationError):
    code = "conflict"
    status_code = status.HTTP_409_CONFLICT
    message = "Conflict."


class Unprocessable(ApplicationError):
    code = "unprocessable"
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    message = "The request is well formed but cannot be processed."


class Forbidden(ApplicationError):
    code = "forbidden"
    status_code = status.HTTP_403_FORBIDDEN
    message = "You do not have permission to perform this action."


def error_body(code: str, message: str, errors: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    return {"code": code, "message": message, "errors": errors or {}, **extra}


def server_error_body() -> dict[str, Any]:
    """The body of every 500: nothing about what went wrong."""
    return error_body("server_error", "An unexpected error occurred.")


def _flatten(detail: Any) -> dict[str, Any]:
    if isinstance(detail, dict):
        return {str(k): _flatten_list(v) for k, v in detail.items()}
    return {"non_field_errors": _flatten_list(detail)}


def _flatten_list(value: Any) -> Any:
    if isinstance(value, list):
        return [str(v) if not isinstance(v, dict | list) else v for v in value]
    if isinstance(value, dict):
        return {str(k): _flatten_list(v) for k, v in value.items()}
    return [str(value)]


_DRF_CODES = {
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.AuthenticationFailed: "authentication_failed",
    exceptions.PermissionDenied: "permission_denied",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.NotAcceptable: "not_acceptable",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.Throttled: "throttled",
    exceptions.ParseError: "parse_error",
    exceptions.ValidationError: "validation_error",
}


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF exception handler producing the AgentPay error body."""
    if isinstance(exc, ApplicationError):
        body = error_body(exc.code, exc.message, exc.errors, **exc.extra)
        return Response(body, status=exc.status_code, headers=exc.headers)
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(
            detail=exc.message_dict if hasattr(exc, "error_dict") else exc.messages
        )
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()

    response = exception_handler(exc, context)
    if response is None:
        logger.exception("api_unhandled_exception", exc_info=exc)
        return Response(server_error_body(), status=500)

    assert isinstance(exc, exceptions.APIException)
    code = next((c for cls, c in _DRF_CODES.items() if isinstance(exc, cls)), None)
    if isinstance(exc, exceptions.ValidationError):
        response.data = error_body("validation_error", "Invalid input.", _flatten(exc.detail))
    else:
        detail = exc.detail
        message = str(detail) if not isinstance(detail, dict | list) else "Request failed."
        response.data = error_body(code or str(getattr(exc, "default_code", "error")), message)
        wait = getattr(exc, "wait", None)
        if isinstance(exc, exceptions.Throttled) and wait is not None:
            response.data["retry_after"] = int(wait)
    return response
