"""``Idempotency-Key`` for POST endpoints, reusable by any app's DRF views.

Same key + same body → the stored response again with ``Idempotent-Replayed:
true``; same key + another body → 422 ``idempotency_key_reused``; while the
first request is still running → 409 ``idempotency_request_in_flight`` with
``Retry-After``. Keys are scoped to the caller and the path and kept for at
least 24 h. 5xx answers are not stored, so the client may retry them. A key
still "in flight" after ``PAYMENTS_IDEMPOTENCY_ABANDONED_SECONDS`` (300) was left
by a process that died before answering: the next retry takes it over.

Usage::

    class MyView(IdempotentAPIMixin, APIView):
        def post(self, request): ...
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework.request import Request
from rest_framework.response import Response

from apps.core.db.statements import row_update, rows_insert
from apps.core.exceptions import Conflict, Unprocessable
from apps.core.tenancy import request_organization
from apps.payments import conf
from apps.payments.models import IdempotencyRecord

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"


class IdempotencyKeyReused(Unprocessable):
    code = "idempotency_key_reused"
    message = "This Idempotency-Key was used with a different request body."


class IdempotencyInFlight(Conflict):
    code = "idempotency_request_in_flight"
    message = "A request with this Idempotency-Key is still being processed; retry shortly."


class InvalidIdempotencyKey(Unprocessable):
    code = "invalid_idempotency_key"
    message = "Idempotency-Key must be 1 to 255 printable characters."


class _Replay(Exception):
    def __init__(self, record: IdempotencyRecord) -> None:
        self.record = record


def request_fingerprint(data: Any) -> str:
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), cls=DjangoJSONEncoder)
    return hashlib.sha256(canonical.encode()).hexdigest()


def idempotency_scope(request: Any) -> str:
    org = request_organization(request)
    user = getattr(request, "user", None)
    principal = getattr(user, "pk", None) if user is not None and user.is_authenticated else "anon"
    return f"{getattr(org, 'pk', '-')}:{principal}:{request.method}:{request.path}"[:255]


def idempotency_begin(*, scope: str, key: str, fingerprint: str) -> IdempotencyRecord:
    """Reserve ``key`` or raise: ``_Replay`` (completed), ``IdempotencyInFlight``, ``IdempotencyKeyReused``."""
    now = timezone.now()
    expires = now + timedelta(hours=conf.idempotency_ttl_hours())
    for _ in range(2):
        try:
            record = IdempotencyRecord(scope=scope, key=key, request_hash=fingerprint, expires_at=expires)
            if transaction.get_connection().in_atomic_block:
                with (
                    transaction.atomic()
                ):  # a savepoint, so a conflict leaves the caller's transaction usable
                    rows_insert([record])
                    return record
            # autocommit: the INSERT is its own transaction (no BEGIN/COMMIT round trips), committed
            # before the work starts so a concurrent retry sees it in flight
            rows_insert([record])
            return record
        except IntegrityError:
            existing = IdempotencyRecord.objects.filter(scope=scope, key=key).first()
            if existing is None:
                continue
            if existing.expires_at <= now:
                IdempotencyRecord.objects.filter(pk=existing.pk, expires_at__lte=now).delete()
                continue
            if existing.request_hash != fingerprint:
                raise IdempotencyKeyReused() from None
            if existing.status != "completed":
                if existing.created_at <= now - timedelta(seconds=conf.idempotency_abandoned_seconds()):
                    # The process that reserved it died before answering (no request runs this
                    # long): the retry takes the key over. The work itself is idempotent (a payment
                    # by its key, a refund or cancel by the transition map), so nothing runs twice.
                    IdempotencyRecord.objects.filter(pk=existing.pk, status=existing.status).delete()
                    continue
                raise IdempotencyInFlight(headers={"Retry-After": "1"}) from None
            raise _Replay(existing) from None
    raise IdempotencyInFlight(headers={"Retry-After": "1"})


def idempotency_complete(*, record: IdempotencyRecord, status_code: int, body: Any) -> None:
    if status_code >= 500:
        record.delete()
        return
    record.status = "completed"
    record.response_status = status_code
    record.response_body = json.loads(json.dumps(body, cls=DjangoJSONEncoder))
    row_update(record, ["status", "response_status", "response_body"])


def idempotency_records_purge() -> int:
    deleted, _ = IdempotencyRecord.objects.filter(expires_at__lte=timezone.now()).delete()
    return deleted


class IdempotentAPIMixin:
    """Adds Idempotency-Key handling to a DRF view's POST (after auth, before the handler)."""

    idempotent_methods = ("POST",)

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)  # type: ignore[misc]
        self._idempotency_record: IdempotencyRecord | None = None
        key = request.headers.get(HEADER)
        if request.method not in self.idempotent_methods or key is None:
            return
        key = key.strip()
        if not key or len(key) > 255 or not key.isprintable():
            raise InvalidIdempotencyKey()
        self._idempotency_record = idempotency_begin(
            scope=idempotency_scope(request), key=key, fingerprint=request_fingerprint(request.data)
        )

    def idempotency_store(self, *, status_code: int, body: Any) -> None:
        """Store the answer now, in the caller's transaction (with the rows it describes), instead
        of in a transaction of its own after the response: one commit less, and no window in which
        the work is committed but its key still answers 409. Call it last inside the transaction;
        if that transaction does not commit, ``finalize_response`` still settles the record."""
        record = getattr(self, "_idempotency_record", None)
        if record is None:
            return
        idempotency_complete(record=record, status_code=status_code, body=body)
        transaction.on_commit(lambda: setattr(self, "_idempotency_record", None))

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, _Replay):
            record = exc.record
            return Response(
                record.response_body, status=record.response_status or 200, headers={REPLAYED_HEADER: "true"}
            )
        return super().handle_exception(exc)  # type: ignore[misc]

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> Any:
        record = getattr(self, "_idempotency_record", None)
        if record is not None and isinstance(response, Response):
            self._idempotency_record = None
            idempotency_complete(record=record, status_code=response.status_code, body=response.data)
        return super().finalize_response(request, response, *args, **kwargs)  # type: ignore[misc]
