"""The sandbox backend shared by every rail's sandbox client.

It behaves like a provider's sandbox: the "provider side" keeps its own ledger
(in the shared cache, outside our database transactions, as a real provider
would), honours idempotency keys, settles asynchronously through Celery after
a configurable latency with a configurable failure rate, and reports the
outcome with a signed webhook POSTed to our own endpoint
(``/api/v1/webhooks/rails/<rail>``).
"""

from __future__ import annotations

import json
import random
import time
import uuid
from decimal import Decimal
from typing import Any

import structlog
from django.core.cache import cache
from django.db import transaction

from apps.payments import conf
from apps.payments.rails.base import (
    InitiateResult,
    RailAdapter,
    RailError,
    RailUnavailable,
    RailWebhook,
    RefundResult,
    StatusResult,
    hmac_signature_header,
    hmac_signature_verify,
)

logger = structlog.get_logger(__name__)

_TTL = 7 * 86400


class SandboxClient:
    """Speaks to the sandbox "provider": create, get, cancel, and build its webhook payloads."""

    rail: str = ""
    id_prefix: str = "sbx_"
    signature_header: str = "X-Sandbox-Signature"

    def __init__(self, rail: str) -> None:
        self.rail = rail

    # -- provider-side ledger --------------------------------------------------
    def _key(self, *parts: str) -> str:
        return ":".join(("sandbox", self.rail, *parts))

    def create_payment(
        self,
        *,
        idempotency_key: str,
        amount: Decimal,
        currency: str,
        reference: str,
        latency_seconds: float,
        failure_rate: float,
        extra: dict[str, Any] | None = None,
    ) -> tuple[dict[str, Any], bool]:
        """Create (or, for a known idempotency key, return) the provider payment."""
        external_id = f"{self.id_prefix}{uuid.uuid4().hex[:24]}"
        if not cache.add(self._key("idem", idempotency_key), external_id, timeout=_TTL):
            existing = cache.get(self._key("idem", idempotency_key))
            state = cache.get(self._key("pay", str(existing)))
            if state is not None:
                return state, False
        # the outcome is drawn once, at creation, so status polls and webhooks agree
        outcome = "failed" if random.random() < failure_rate else "succeeded"  # noqa: S311 - simulation
        state = {
            "id": external_id,
            "rail": self.rail,
            "idempotency_key": idempotency_key,
            "reference": reference,
            "amount": str(amount),
            "currency": currency,
            "status": "processing",
            "outcome": outcome,
            "failure_reason": "insufficient_funds" if outcome == "failed" else "",
            "created_at": time.time(),
            "settle_at": time.time() + latency_seconds,
            "delivered": False,
            "extra": extra or {},
        }
        cache.set(self._key("pay", external_id), state, timeout=_TTL)
        cache.add(self._key("created"), 0, timeout=_TTL)
        cache.incr(self._key("created"))
        return state, True

    def get_payment(self, external_id: str) -> dict[str, Any] | None:
        state = cache.get(self._key("pay", external_id))
        if state is not None and state["status"] == "processing" and time.time() >= state["settle_at"]:
            state["status"] = state["outcome"]
            cache.set(self._key("pay", external_id), state, timeout=_TTL)
        return state

    def save_payment(self, state: dict[str, Any]) -> None:
        cache.set(self._key("pay", state["id"]), state, timeout=_TTL)

    def created_count(self) -> int:
        return int(cache.get(self._key("created")) or 0)

    def create_refund(
        self,
        *,
        idempotency_key: str,
        external_id: str,
        amount: Decimal,
        currency: str,
        latency_seconds: float,
    ) -> dict[str, Any]:
        """Refund a settled payment (or, for a known idempotency key, return that refund).

        Like most providers' refunds it is accepted as ``pending`` and completes later
        (after ``latency_seconds``); the status is then read with ``get_refund``.
        """
        refund_id = f"re_{uuid.uuid4().hex[:24]}"
        if not cache.add(self._key("refund-idem", idempotency_key), refund_id, timeout=_TTL):
            existing = cache.get(
                self._key("refund", str(cache.get(self._key("refund-idem", idempotency_key))))
            )
            if existing is not None:
                return existing
        payment = self.get_payment(external_id)
        if payment is None or payment["status"] not in ("succeeded", "partially_refunded"):
            cache.delete(self._key("refund-idem", idempotency_key))
            raise RailError("Only settled payments can be refunded.")
        # As providers do: refunds (settled or pending) never add up to more than the payment.
        committed = Decimal(payment.get("amount_refunded", "0")) + Decimal(
            payment.get("amount_refunding", "0")
        )
        if amount <= 0 or committed + amount > Decimal(payment["amount"]):
            cache.delete(self._key("refund-idem", idempotency_key))
            raise RailError(
                f"Refund amount exceeds what is left to refund ({Decimal(payment['amount']) - committed})."
            )
        payment["amount_refunding"] = str(Decimal(payment.get("amount_refunding", "0")) + amount)
        self.save_payment(payment)
        state = {
            "id": refund_id,
            "payment_id": external_id,
            "amount": str(amount),
            "currency": currency,
            "status": "pending",
            "settle_at": time.time() + latency_seconds,
        }
        cache.set(self._key("refund", refund_id), state, timeout=_TTL)
        return state

    def get_refund(self, refund_id: str) -> dict[str, Any] | None:
        state = cache.get(self._key("refund", refund_id))
        if state is not None and state["status"] == "pending" and time.time() >= state["settle_at"]:
            state["status"] = "succeeded"
            cache.set(self._key("refund", refund_id), state, timeout=_TTL)
            payment = self.get_payment(state["payment_id"])
            if payment is not None:
                amount = Decimal(state["amount"])
                refunded = Decimal(payment.get("amount_refunded", "0")) + amount
                payment["amount_refunded"] = str(refunded)
                payment["amount_refunding"] = str(Decimal(payment.get("amount_refunding", "0")) - amount)
                payment["status"] = (
                    "refunded" if refunded >= Decimal(payment["amount"]) else "partially_refunded"
                )
                self.save_payment(payment)
        return state

    def cancel_payment(self, external_id: str) -> bool:
        state = self.get_payment(external_id)
        if state is None or state["status"] != "processing":
            return False
        state["status"] = "cancelled"
        self.save_payment(state)
        return True

    # -- webhooks ----------------------------------------------------------------
    def webhook_body(self, state: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def webhook_build(self, state: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
        body = json.dumps(self.webhook_body(state), separators=(",", ":")).encode()
        headers = {
            self.signature_header: hmac_signature_header(secret=conf.webhook_secret(self.rail), body=body)
        }
        return body, headers


class SandboxRailAdapter(RailAdapter):
    """A rail adapter backed by its provider's sandbox client."""

    client_class: type[SandboxClient] = SandboxClient

    @property
    def client(self) -> SandboxClient:
        return self.client_class(self.caps.name)

    def initiate_extra(self, *, payment: Any, attempt: Any) -> dict[str, Any]:
        """Provider-specific fields of the create call (e.g. a PIX key)."""
        return {}

    def initiate_metadata(self, *, payment: Any, attempt: Any, state: dict[str, Any]) -> dict[str, Any]:
        """What the payment should remember (``payment.metadata``), e.g. a QR payload or a link."""
        return {}

    def initiate(self, *, payment: Any, attempt: Any) -> InitiateResult:
        if not self.caps.sandbox_available:
            raise RailUnavailable(f"{self.caps.display_name} sandbox is unavailable.")
        latency = conf.sandbox_latency_override()
        state, _created = self.client.create_payment(
            idempotency_key=str(attempt.id),
            amount=payment.amount.amount,
            currency=payment.amount.currency.code,
            reference=str(attempt.id),
            latency_seconds=self.caps.sandbox_latency_seconds if latency is None else latency,
            failure_rate=self.caps.sandbox_failure_rate,
            extra={**fx_terms(payment), **self.initiate_extra(payment=payment, attempt=attempt)},
        )
        sandbox_settlement_schedule(rail=self.caps.name, external_id=state["id"], state=state)
        return InitiateResult(
            external_id=state["id"],
            status="initiated",
            metadata=self.initiate_metadata(payment=payment, attempt=attempt, state=state),
        )

    def status(self, *, external_id: str) -> StatusResult:
        if not self.caps.sandbox_available:
            raise RailUnavailable(f"{self.caps.display_name} sandbox is unavailable.")
        state = self.client.get_payment(external_id)
        if state is None:
            return StatusResult(external_id=external_id, status="failed", failure_reason="unknown_payment")
        return StatusResult(
            external_id=external_id, status=state["status"], failure_reason=state.get("failure_reason", "")
        )

    def cancel(self, *, external_id: str) -> bool:
        return self.client.cancel_payment(external_id)

    def refund(
        self, *, external_id: str, amount: Decimal, currency: str, idempotency_key: str
    ) -> RefundResult:
        if not self.caps.supports_refund:
            raise RailError(f"{self.caps.display_name} does not refund payments.")
        if not self.caps.sandbox_available:
            raise RailUnavailable(f"{self.caps.display_name} sandbox is unavailable.")
        latency = conf.sandbox_latency_override()
        state = self.client.create_refund(
            idempotency_key=idempotency_key,
            external_id=external_id,
            amount=amount,
            currency=currency,
            latency_seconds=self.caps.sandbox_latency_seconds if latency is None else latency,
        )
        return RefundResult(external_id=state["id"], status=state["status"])

    def refund_status(self, *, external_refund_id: str) -> RefundResult:
        if not self.caps.sandbox_available:
            raise RailUnavailable(f"{self.caps.display_name} sandbox is unavailable.")
        state = self.client.get_refund(external_refund_id)
        if state is None:
            return RefundResult(
                external_id=external_refund_id, status="failed", failure_reason="unknown_refund"
            )
        return RefundResult(external_id=external_refund_id, status=state["status"])

    def health(self) -> bool:
        return self.caps.sandbox_available

    def webhook_verify(self, *, headers: dict[str, str], body: bytes) -> None:
        lowered = {k.lower(): v for k, v in headers.items()}
        hmac_signature_verify(
            secret=conf.webhook_secret(self.caps.name),
            body=body,
            header=lowered.get(self.client_class.signature_header.lower()),
        )

    def webhook_parse(self, *, body: bytes) -> RailWebhook:
        raise NotImplementedError


def fx_terms(payment: Any) -> dict[str, Any]:
    """A cross-currency payment's conversion as the provider is asked for it: the locked rate
    (read back by the service before initiation) and the amount the payee must receive."""
    lock = (payment.metadata or {}).get("fx_lock")
    if not lock:
        return {}
    return {
        "fx_lock_id": lock["id"],
        "fx_rate": lock["rate"],
        "payee_currency": lock["quote"],
        "payee_amount": (payment.cost_breakdown or {}).get("payee_amount"),
    }


def sandbox_settlement_schedule(*, rail: str, external_id: str, state: dict[str, Any]) -> None:
    """Queue the settlement after our transaction commits (a replayed create re-queues it)."""
    if state.get("delivered"):
        return
    delay = max(0.0, state["settle_at"] - time.time())

    def _send() -> None:
        from apps.payments.tasks import sandbox_settle

        sandbox_settle.apply_async(args=(rail, external_id), countdown=delay)

    transaction.on_commit(_send)


def sandbox_settle(*, rail: str, external_id: str, force: bool = False) -> str:
    """Settle a sandbox payment and deliver its webhook. Returns what happened."""
    from apps.payments.rails.registry import rail_adapter

    adapter = rail_adapter(rail)
    assert isinstance(adapter, SandboxRailAdapter)
    client = adapter.client
    state = cache.get(client._key("pay", external_id))
    if state is None:
        return "unknown"
    if state["delivered"] or state["status"] == "cancelled":
        return "already_delivered"
    if not force and time.time() < state["settle_at"]:
        return "not_due"
    state["status"] = state["outcome"]
    client.save_payment(state)
    body, headers = client.webhook_build(state)
    status_code = sandbox_webhook_deliver(rail=rail, body=body, headers=headers)
    if status_code >= 300:
        raise RuntimeError(f"webhook delivery for {rail}:{external_id} answered {status_code}")
    state["delivered"] = True
    client.save_payment(state)
    return state["status"]


def sandbox_webhook_deliver(*, rail: str, body: bytes, headers: dict[str, str]) -> int:
    """POST the webhook to our endpoint: in-process through the Django stack, or over HTTP."""
    path = f"/api/v1/webhooks/rails/{rail}"
    if conf.sandbox_webhook_delivery() == "http":
        import httpx

        response = httpx.post(
            conf.public_url() + path,
            content=body,
            headers={**headers, "Content-Type": "application/json"},
            timeout=10.0,
        )
        return int(response.status_code)
    from django.test import Client

    extra = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()}
    resp = Client().post(path, data=body, content_type="application/json", **extra)  # type: ignore[arg-type]
    return int(resp.status_code)


def webhook_rail_status(value: str, *, succeeded: set[str], failed: set[str]) -> str:
    if value in succeeded:
        return "succeeded"
    if value in failed:
        return "failed"
    return "processing"
