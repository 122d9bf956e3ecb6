"""Payment services: the only code that changes payments.

Flow of ``payment_orchestrate``: route → create (created) → screening →
compliance decision → approved (attempt + outbox row) | on_hold | blocked.
After commit the outbox task initiates on the rail exactly once; webhooks (or
the polling backstop) settle it; failures fall back to the next eligible rail.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from importlib import import_module
from typing import Any

import structlog
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.core.cache import shared_key, shared_redis
from apps.core.db.statements import CompiledRead, rows_insert
from apps.core.events import conversation_group, event_publish, org_group
from apps.core.exceptions import ApplicationError, Conflict, NotFound, Unprocessable
from apps.payments import conf
from apps.payments.choices import REFUND_IN_FLIGHT, OutboxStatus, PaymentStatus, RefundStatus
from apps.payments.circuit import circuit_record
from apps.payments.constants import quantize_money
from apps.payments.fx.services import FxLock, fx_lock_for_request, fx_lock_get, fx_rate_lock
from apps.payments.models import (
    OrchestrationPayment,
    OutboxMessage,
    PaymentAttempt,
    PaymentEvent,
    PaymentRefund,
    RailWebhookEvent,
    UserPreferences,
)
from apps.payments.rails.base import RailError, RailTransientError, RailWebhook
from apps.payments.rails.registry import rail_adapter, rail_catalog
from apps.payments.routing import NoEligibleRail, route
from apps.payments.state import IN_FLIGHT, TERMINAL, can_transition
from apps.payments.types import PaymentRequest, Preferences, RoutingDecision

logger = structlog.get_logger(__name__)


class InvalidTransition(Conflict):
    code = "invalid_transition"
    message = "This payment cannot move to that status."


def actor_label(actor: Any) -> str:
    """``user:<id>``, ``apikey:<prefix>`` or ``system``/a given label, for event rows."""
    if actor is None:
        return "system"
    if isinstance(actor, str):
        return actor
    pk = getattr(actor, "pk", None)
    if isinstance(pk, str) and pk.startswith("apikey:"):
        return pk
    return f"user:{pk}"


def _transition_step(
    *,
    payment: OrchestrationPayment,
    to_status: str,
    actor: Any = None,
    reason: str = "",
    data: dict[str, Any] | None = None,
    fields: dict[str, Any] | None = None,
) -> tuple[PaymentEvent, list[str]]:
    """Check one status change against the transition map and apply it to ``payment`` in memory.

    The single place the map is enforced. Returns the (unsaved) event row and the fields the
    change touches; the caller writes both in its transaction and then calls ``_transition_log``.
    Raises ``InvalidTransition`` (409) before anything is changed.
    """
    from_status = payment.status
    if not can_transition(from_status, to_status):
        raise InvalidTransition(
            f"A payment that is {from_status} cannot become {to_status}.",
            extra={"from_status": from_status, "to_status": to_status},
        )
    update_fields = {"status", "updated_at"}
    payment.status = to_status
    for name, value in (fields or {}).items():
        setattr(payment, name, value)
        update_fields.add(name)
    if to_status == PaymentStatus.SUCCEEDED and payment.completed_at is None:
        payment.completed_at = timezone.now()
        update_fields.add("completed_at")
    event = PaymentEvent(
        payment=payment,
        from_status=from_status,
        to_status=to_status,
        actor=actor_label(actor),
        reason=reason[:500],
        data=data or {},
    )
    return event, sorted(update_fields)


def _transition_log(event: PaymentEvent, reason: str) -> None:
    logger.info(
        "payment_transition",
        payment_id=str(event.payment_id),
        from_status=event.from_status,
        to_status=event.to_status,
        reason=reason,
        terminal=event.to_status in TERMINAL,
    )


def payment_transition(
    *,
    payment: OrchestrationPayment,
    to_status: str,
    actor: Any = None,
    reason: str = "",
    data: dict[str, Any] | None = None,
    fields: dict[str, Any] | None = None,
    already_locked: bool = False,
) -> OrchestrationPayment:
    """Move ``payment`` to ``to_status`` if the transition map allows it.

    Locks the row, applies ``fields`` alongside the status (one UPDATE), writes a
    ``PaymentEvent`` and logs. Raises ``InvalidTransition`` (409) otherwise, having
    changed nothing. The caller's instance is updated with the saved values.
    ``already_locked``: the caller holds the row lock in its transaction and its instance
    is current (no re-read, no savepoint).
    """
    if already_locked:
        if not transaction.get_connection().in_atomic_block:
            raise transaction.TransactionManagementError("already_locked needs the caller's transaction")
        event, update_fields = _transition_step(
            payment=payment, to_status=to_status, actor=actor, reason=reason, data=data, fields=fields
        )
        payment.save(update_fields=update_fields)
        event.save(force_insert=True)
        _transition_log(event, reason)
        return payment
    refused: InvalidTransition | None = None
    # No savepoint: nothing in here is caught, and a refused change is raised after the block
    # (a caller's transaction stays usable, as it did with a savepoint).
    with transaction.atomic(savepoint=False):
        locked = OrchestrationPayment.objects.select_for_update(of=("self",)).get(pk=payment.pk)
        try:
            event, update_fields = _transition_step(
                payment=locked, to_status=to_status, actor=actor, reason=reason, data=data, fields=fields
            )
        except InvalidTransition as exc:
            refused = exc
        else:
            locked.save(update_fields=update_fields)
            event.save(force_insert=True)
    if refused is not None:
        raise refused
    _transition_log(event, reason)
    for f in OrchestrationPayment._meta.concrete_fields:
        setattr(payment, f.attname, getattr(locked, f.attname))
    return payment


def payment_record_created(
    *, payment: OrchestrationPayment, actor: Any = None, reason: str = "created"
) -> None:
    """Write the first event of a new payment (∅ → created)."""
    PaymentEvent.objects.create(
        payment=payment, from_status="", to_status=payment.status, actor=actor_label(actor), reason=reason
    )


# --- collaborators (contracts 3 and 4), resolved lazily so payments works before they land ---


def _optional(module: str, name: str) -> Any:
    try:
        return getattr(import_module(module), name, None)
    except ImportError:
        return None


def _audit(action: str, *, actor: Any, payment: OrchestrationPayment, before: dict, after: dict) -> None:
    """A person's or an integration's manual action on a payment goes to the hash-chained audit log."""
    record = _optional("apps.compliance.services", "audit_record")
    if record is not None:
        record(action=action, actor=actor, target=payment, before=before, after=after)


@dataclass(frozen=True)
class FallbackComplianceDecision:
    """Used only while apps.compliance has no ``payment_compliance_decide``."""

    decision: str = "approve"
    score: float = 0.0
    reasons: list[dict[str, Any]] = field(default_factory=list)
    case_id: Any = None
    decision_id: Any = None


def compliance_decide_or_fallback_approve(*, payment: OrchestrationPayment, actor: Any) -> Any:
    """The compliance decision (contract 3), or — only while compliance has not landed — approve with a warning."""
    decide = _optional("apps.compliance.services", "payment_compliance_decide")
    if decide is None:
        logger.warning("compliance_service_missing_fallback_approve", payment_id=str(payment.pk))
        return FallbackComplianceDecision(
            reasons=[
                {"code": "compliance_unavailable", "message": "compliance service not installed", "score": 0}
            ]
        )
    return decide(payment=payment, actor=actor)


def kyc_tier_for(*, organization: Any, party_ref: str) -> str:
    """The payer's KYC tier for routing, the one compliance applies limits for.

    An unknown payer (empty ``party_ref``) is ``none``, as in compliance; only
    while compliance is not installed does a named payer route as ``basic``.
    """
    if not party_ref:
        return "none"
    lookup = _optional("apps.compliance.services", "customer_kyc_tier")
    if lookup is None:
        return "basic"
    return str(lookup(organization=organization, party_ref=party_ref))


def payment_kyc_tier(payment: OrchestrationPayment) -> str:
    """The tier a payment was routed with (kept in ``metadata.kyc_tier``), for fallback and retry."""
    stored = (payment.metadata or {}).get("kyc_tier")
    if stored:
        return str(stored)
    return kyc_tier_for(organization=payment.organization_id, party_ref=payment.payer_ref)


def _notify_conversation(payment_id: Any, event: str) -> None:
    notify = _optional("apps.conversations.services", "conversation_payment_notify")
    if notify is None:
        return
    try:
        notify(payment_id=payment_id, event=event)
    except Exception:  # the payment already committed; a chat reply failing must not undo it
        logger.exception("conversation_payment_notify_failed", payment_id=str(payment_id), event_name=event)


def payment_event_emit(
    *, payment: OrchestrationPayment, event: str, extra: dict[str, Any] | None = None
) -> None:
    """Broadcast ``event`` to the org (and conversation) streams and tell the conversation, after commit."""
    groups = [org_group(payment.organization_id)]
    if payment.conversation_id:
        groups.append(conversation_group(payment.conversation_id))
    data = {
        "payment_id": str(payment.pk),
        "status": payment.status,
        "rail": payment.selected_rail,
        "amount": str(payment.amount.amount),
        "currency": payment.amount.currency.code,
        "conversation_id": str(payment.conversation_id) if payment.conversation_id else None,
        **(extra or {}),
    }
    event_publish(event_type=event, data=data, groups=groups)
    payment_id = payment.pk
    transaction.on_commit(lambda: _notify_conversation(payment_id, event))


# --- preferences ------------------------------------------------------------------


def preferences_for(user: Any) -> Preferences:
    # a class-level check: ``hasattr(user, "payment_preferences")`` ran the query once more
    if (
        user is None
        or not getattr(user, "is_authenticated", False)
        or getattr(type(user), "payment_preferences", None) is None
    ):
        return Preferences()
    row = _preferences_read.first(user.pk)
    if row is None:
        return Preferences()
    preferred_rails, cost_weight, default_currency = row
    return Preferences(
        preferred_rails=tuple(preferred_rails or ()),
        cost_weight=cost_weight,
        default_currency=default_currency,
    )


# read on every payment a person makes: its SQL compiled once (``apps.core.db.statements``)
_preferences_read = CompiledRead(
    UserPreferences,
    lambda user_id: UserPreferences.objects.filter(user_id=user_id).values_list(
        "preferred_rails", "cost_weight", "default_currency"
    )[:1],
)


@transaction.atomic
def user_preferences_update(
    *, user: Any, preferred_rails: list[str], cost_weight: float, default_currency: str
) -> UserPreferences:
    known = set(rail_catalog().rails)
    unknown = [r for r in preferred_rails if r not in known]
    if unknown:
        raise Unprocessable(
            "Unknown rails.",
            code="unknown_rail",
            errors={"preferred_rails": [f"Unknown: {', '.join(unknown)}"]},
        )
    prefs, _ = UserPreferences.objects.select_for_update(of=("self",)).get_or_create(user=user)
    prefs.preferred_rails = list(preferred_rails)
    prefs.cost_weight = cost_weight
    prefs.default_currency = default_currency.upper()
    prefs.save(update_fields=["preferred_rails", "cost_weight", "default_currency", "updated_at"])
    return prefs


# --- quote & orchestrate -------------------------------------------------------------


def _request_fx_lock(*, organization: Any, request: PaymentRequest) -> FxLock | None:
    return fx_lock_for_request(
        organization=organization,
        base=request.currency,
        quote=request.payee_currency or request.currency,
        lock_id=request.fx_lock_id,
    )


def payment_quote(
    *, organization: Any, request: PaymentRequest, preferences: Preferences | None = None
) -> RoutingDecision:
    """All options for ``request``, ranked, with the explanation. Creates no row.

    A cross-currency quote locks its rate (or reuses ``request.fx_lock_id``) and returns the
    lock's id, which orchestrate accepts to pay at that rate while the lock holds.
    """
    tier = request.kyc_tier or kyc_tier_for(organization=organization, party_ref=request.payer_ref)
    lock = _request_fx_lock(organization=organization, request=request)
    decision = route(request, preferences=preferences, kyc_tier=tier, fx_lock=lock)
    if lock is None:
        return decision
    return dataclasses.replace(decision, fx_lock_id=lock.id, fx_lock_expires_at=lock.expires_at.isoformat())


def _request_from_payment(payment: OrchestrationPayment) -> PaymentRequest:
    return PaymentRequest(
        amount=payment.amount.amount,
        currency=payment.amount.currency.code,
        payer_country=payment.from_country or "XX",
        payee_country=payment.to_country or "XX",
        payee_currency=payment.payee_currency or None,
        urgency=payment.urgency or "normal",
        payee_identifiers=dict(payment.payee_identifiers or {}),
        payer_ref=payment.payer_ref,
        payee_ref=payment.payee_ref,
        payee_name=payment.payee_name,
        purpose=payment.purpose,
        language=str((payment.metadata or {}).get("language", "en")),
        kyc_tier=(payment.metadata or {}).get("kyc_tier"),
    )


def _routing_fields(decision: RoutingDecision) -> dict[str, Any]:
    return {
        "selected_rail": decision.selected.rail,
        "alternative_rails": [o.to_dict() for o in decision.alternatives],
        "cost_breakdown": {
            **decision.selected.quote.to_dict(),
            "score": decision.selected.score,
            "excluded": decision.excluded,
            "explanation_data": decision.explanation_data,
        },
        "explanation": decision.explanation,
    }


def _payment_fx_lock(payment: OrchestrationPayment) -> tuple[FxLock | None, bool]:
    """The rate a payment converts at: the lock stored at orchestration (read back) while it
    holds, else a new lock at today's rate (``True``: relocked). Same currency: none."""
    base = payment.amount.currency.code
    quote = payment.payee_currency or base
    if quote == base:
        return None, False
    stored = (payment.metadata or {}).get("fx_lock") or {}
    lock = fx_lock_get(str(stored.get("id") or ""))
    if lock is not None:
        return lock, False
    return fx_rate_lock(base=base, quote=quote, organization=payment.organization_id), True


def _metadata_with_lock(metadata: dict[str, Any], lock: FxLock) -> dict[str, Any]:
    previous = (metadata.get("fx_lock") or {}).get("id")
    return {**metadata, "fx_lock": {**lock.to_dict(), "replaces": previous}}


def _reroute(
    payment: OrchestrationPayment, *, exclude: set[str] | frozenset[str] = frozenset()
) -> tuple[RoutingDecision, dict[str, Any]]:
    """Route a payment again (fallback, retry) at its locked rate; the fields to save with it."""
    lock, relocked = _payment_fx_lock(payment)
    decision = route(
        _request_from_payment(payment), kyc_tier=payment_kyc_tier(payment), exclude=exclude, fx_lock=lock
    )
    fields = _routing_fields(decision)
    if lock is not None and relocked:
        fields["metadata"] = _metadata_with_lock(payment.metadata or {}, lock)
    return decision, fields


def _attempt_schedule(
    *, payment: OrchestrationPayment, rail: str, delay: float = 0.0, first: bool = False
) -> PaymentAttempt:
    """A new attempt on ``rail`` and its outbox row, in the caller's transaction; kicked after commit."""
    number = (
        1
        if first
        else (
            PaymentAttempt.objects.filter(payment=payment)
            .order_by("-number")
            .values_list("number", flat=True)
            .first()
            or 0
        )
        + 1
    )
    attempt = PaymentAttempt(payment=payment, number=number, rail=rail)
    rows_insert([attempt])
    message = OutboxMessage(
        kind="initiate",
        payment=payment,
        attempt=attempt,
        available_at=timezone.now() + timedelta(seconds=delay),
    )
    rows_insert([message])
    _outbox_kick(message.pk, delay=delay)
    return attempt


# --- outbox hand-off: a row due now is picked up by a drain task, sent once per burst ------------
# A Celery publish per payment cost about a tenth of ``POST /payments/orchestrate``'s CPU (kombu
# builds a message and its headers per publish). The outbox table is the queue; with a Redis cache
# a row due now only sets a flag (SET NX), and a drain task is sent when the flag was not already
# set — once per burst, not per payment. The drain claims due rows it can lock, processes each
# (``outbox_message_process``: row lock, idempotent), sends one more drain first when its batch was
# full so other workers share a backlog, and when the table looked empty releases the flag and
# looks again (a row committed meanwhile saw the flag set and sent nothing). A delayed row (a
# retry's backoff), a local-memory cache (no shared flag) or Redis failing fall back to one task
# per row; a lost task loses nothing: the beat task ``payments.outbox_drain`` (every 10 s) takes
# every due row.
OUTBOX_DRAIN_FLAG_KEY = "payments:outbox:drain"
# a drain task queued or running; if it is lost, the flag expires and the next payment sends another
OUTBOX_DRAIN_FLAG_TTL = 30
OUTBOX_DRAIN_BATCH = 50


def _outbox_kick(message_id: int, *, delay: float = 0.0) -> None:
    def _send() -> None:
        if delay <= 0 and _outbox_drain_kick():
            return
        from apps.payments.tasks import outbox_process

        try:
            # nobody reads an initiation's task result (the outbox row is the record): skip the
            # result backend's subscription and the stored result
            outbox_process.apply_async(args=(message_id,), countdown=delay, ignore_result=True)
        except Exception:  # broker down: the outbox drain beat task picks the row up
            logger.exception("outbox_kick_failed", message_id=message_id)

    transaction.on_commit(_send)


def _outbox_drain_kick() -> bool:
    """Make sure a drain task is queued or running (after the due row's commit). False when there
    is no shared flag (local-memory cache, Redis failing): the caller sends the row's own task."""
    from redis.exceptions import RedisError

    client = shared_redis()
    if client is None:
        return False
    flag = shared_key(OUTBOX_DRAIN_FLAG_KEY)
    try:
        if not client.set(flag, "1", nx=True, ex=OUTBOX_DRAIN_FLAG_TTL):
            return True  # a drain is queued or running: it will see the row
    except RedisError:
        logger.exception("outbox_drain_flag_failed")
        return False
    if not _outbox_drain_send():
        with contextlib.suppress(RedisError):
            client.delete(flag)  # no drain is coming: let the next row try again
        return False
    return True


def _outbox_drain_send() -> bool:
    from apps.payments.tasks import outbox_drain_kicked

    try:
        outbox_drain_kicked.apply_async(ignore_result=True)
    except Exception:  # broker down: the beat drain takes the rows
        logger.exception("outbox_drain_send_failed")
        return False
    return True


def _outbox_due_unlocked(*, limit: int) -> list[int]:
    """Ids of due pending rows no other worker is processing (their row locks skipped), oldest first."""
    with transaction.atomic():
        return list(
            OutboxMessage.objects.select_for_update(skip_locked=True)
            .filter(status=OutboxStatus.PENDING, available_at__lte=timezone.now())
            .order_by("available_at")
            .values_list("pk", flat=True)[:limit]
        )


def outbox_drain_kicked(*, batch: int = OUTBOX_DRAIN_BATCH) -> int:
    """The drain a kick sent: process up to ``batch`` due rows; returns how many were processed."""
    client = shared_redis()
    ids = _outbox_due_unlocked(limit=batch)
    if client is not None and len(ids) >= batch:
        _outbox_drain_send()  # more may be due: another worker takes them (the flag stays set)
    done, failed = 0, True
    try:
        for message_id in ids:
            if outbox_message_process(message_id=message_id) != "skipped":
                done += 1
        failed = False
    finally:
        if client is not None and len(ids) < batch:
            # after an unexpected error, no second look: a row that keeps failing would send drain
            # after drain; it waits for the next kick or the beat drain, as a failed task's row did
            _outbox_drain_release(client, look_again=not failed)
    return done


def _outbox_drain_release(client: Any, *, look_again: bool = True) -> None:
    """Release the flag, then look again: a row committed after this drain's query saw the flag
    set and sent nothing."""
    from redis.exceptions import RedisError

    flag = shared_key(OUTBOX_DRAIN_FLAG_KEY)
    try:
        client.delete(flag)
        if not look_again:
            return
        again = _outbox_due_unlocked(limit=1) and client.set(flag, "1", nx=True, ex=OUTBOX_DRAIN_FLAG_TTL)
        if again and not _outbox_drain_send():
            client.delete(flag)
    except RedisError:  # the flag expires; the beat drain takes the rows meanwhile
        logger.exception("outbox_drain_release_failed")


def _compliance_outcome(
    *, payment: OrchestrationPayment, actor: Any
) -> tuple[str, str, dict[str, Any], dict[str, Any]]:
    """Ask compliance about a screening payment: (to_status, reason, event data, fields to save)."""
    decision = compliance_decide_or_fallback_approve(payment=payment, actor=actor)
    verdict = str(getattr(decision, "decision", "approve"))
    data = {
        "decision": verdict,
        "score": float(getattr(decision, "score", 0) or 0),
        "reasons": list(getattr(decision, "reasons", []) or []),
        "case_id": str(decision.case_id) if getattr(decision, "case_id", None) else None,
        "decision_id": str(decision.decision_id) if getattr(decision, "decision_id", None) else None,
    }
    fields: dict[str, Any] = {"metadata": {**(payment.metadata or {}), "compliance": data}}
    if verdict == "approve":
        return PaymentStatus.APPROVED, "approved", data, fields
    if verdict == "review":
        return PaymentStatus.ON_HOLD, "held for review", data, fields
    return PaymentStatus.BLOCKED, "blocked", data, {**fields, "failure_reason": "blocked_by_compliance"}


@dataclass
class Orchestrated:
    """What ``payment_orchestrate_full`` did. ``created``: this call made the payment, and
    ``events`` / ``attempts`` are every row of those it wrote (in order), so an answer can be
    built without reading them back. Otherwise ``payment`` is the one the key already named."""

    payment: OrchestrationPayment
    created: bool
    events: list[PaymentEvent] = field(default_factory=list)
    attempts: list[PaymentAttempt] = field(default_factory=list)


def _payment_by_key(*, organization: Any, key: str) -> OrchestrationPayment | None:
    if not key:
        return None
    return OrchestrationPayment.objects.filter(organization=organization, idempotency_key=key).first()


def payment_orchestrate(
    *,
    organization: Any,
    actor: Any,
    request: PaymentRequest,
    conversation: Any = None,
    conversation_message: Any = None,
    idempotency_key: str | None = None,
    preferences: Preferences | None = None,
) -> OrchestrationPayment:
    """Route, record, screen and (when approved) schedule initiation of a payment.

    The same ``idempotency_key`` for the organisation returns the existing payment.
    """
    return payment_orchestrate_full(
        organization=organization,
        actor=actor,
        request=request,
        conversation=conversation,
        conversation_message=conversation_message,
        idempotency_key=idempotency_key,
        preferences=preferences,
    ).payment


def payment_orchestrate_full(
    *,
    organization: Any,
    actor: Any,
    request: PaymentRequest,
    conversation: Any = None,
    conversation_message: Any = None,
    idempotency_key: str | None = None,
    preferences: Preferences | None = None,
    before_commit: Callable[[Orchestrated], None] | None = None,
) -> Orchestrated:
    """``payment_orchestrate``, telling what it wrote; ``before_commit`` runs last inside the
    payment's transaction (the API stores its idempotent answer there, atomically with the payment).

    Statements on the way (PostgreSQL): the reads for routing, then in one transaction
    compliance's read and its decision row, the payment INSERT (with the verdict: created →
    screening → verdict is checked against the map and logged, and nobody could see the row
    before the decision anyway), one INSERT for the three events, the attempt and its outbox
    row. The key's uniqueness is enforced by the INSERT: a conflicting one rolls this
    transaction (or, nested, its savepoint) back and answers the payment that won.
    """
    from apps.core.authentication import ApiKeyPrincipal
    from apps.payments.metrics import payment_orchestration_latency

    started = time.perf_counter()
    key = (idempotency_key or "")[:255]
    # Reads and routing come before the transaction: a refusal (no eligible rail, a bad FX
    # lock) has nothing to roll back, and a caller that catches it keeps a usable transaction.
    try:
        prefs = preferences if preferences is not None else preferences_for(actor)
        tier = request.kyc_tier or kyc_tier_for(organization=organization, party_ref=request.payer_ref)
        lock = _request_fx_lock(organization=organization, request=request)
        decision = route(request, preferences=prefs, kyc_tier=tier, fx_lock=lock)
    except ApplicationError:
        existing = _payment_by_key(organization=organization, key=key)
        if existing is not None:  # a retry of a payment made while it could still be routed
            return Orchestrated(payment=existing, created=False)
        raise
    metadata: dict[str, Any] = {"language": request.language, "kyc_tier": tier}
    if lock is not None:
        metadata["fx_lock"] = lock.to_dict()
    is_key = isinstance(actor, ApiKeyPrincipal)
    payment = OrchestrationPayment(
        organization=organization,
        conversation=conversation,
        conversation_message=conversation_message,
        created_by=None if is_key or actor is None else actor,
        created_by_api_key=actor.api_key if is_key else None,
        amount=request.amount,
        amount_currency=request.currency,
        payee_currency=request.payee_currency or request.currency,
        from_country=request.payer_country,
        to_country=request.payee_country,
        payer_ref=request.payer_ref,
        payee_ref=request.payee_ref,
        payee_name=request.payee_name,
        payee_identifiers=dict(request.payee_identifiers),
        purpose=request.purpose[:255],
        urgency=request.urgency,
        metadata=metadata,
        idempotency_key=key,
        **_routing_fields(decision),
    )
    events = [
        PaymentEvent(
            payment=payment,
            from_status="",
            to_status=payment.status,
            actor=actor_label(actor),
            reason="created",
        )
    ]
    events.append(
        _transition_step(payment=payment, to_status=PaymentStatus.SCREENING, actor=actor, reason="routed")[0]
    )
    try:
        with transaction.atomic():
            _transition_log(events[1], events[1].reason)
            # Compliance decides on the screening payment before its row is written: its reads
            # leave this payment out anyway (its id is already known), and the rows it writes
            # refer to the payment through deferred foreign keys, checked at commit. So the
            # payment is inserted once, with the verdict, instead of inserted then updated.
            to_status, reason, data, fields = _compliance_outcome(payment=payment, actor=actor)
            event, _ = _transition_step(
                payment=payment,
                to_status=to_status,
                actor="compliance",
                reason=reason,
                data=data,
                fields=fields,
            )
            events.append(event)
            rows_insert([payment])  # save(force_insert=True), its INSERT compiled once
            rows_insert(events)
            _transition_log(event, reason)
            attempts: list[PaymentAttempt] = []
            if to_status == PaymentStatus.APPROVED:
                attempts.append(_attempt_schedule(payment=payment, rail=payment.selected_rail, first=True))
            elif to_status == PaymentStatus.ON_HOLD:
                payment_event_emit(payment=payment, event="payment_on_hold")
            else:
                payment_event_emit(
                    payment=payment, event="payment_blocked", extra={"reason": "blocked_by_compliance"}
                )
            result = Orchestrated(payment=payment, created=True, events=events, attempts=attempts)
            if before_commit is not None:
                before_commit(result)
    except IntegrityError:
        # a concurrent request with the same key won the insert; its payment is the answer
        existing = _payment_by_key(organization=organization, key=key)
        if existing is None:
            raise
        return Orchestrated(payment=existing, created=False)
    payment_orchestration_latency.observe(time.perf_counter() - started)
    return result


def _locked(payment_id: Any) -> OrchestrationPayment:
    try:
        return OrchestrationPayment.objects.select_for_update(of=("self",)).get(pk=payment_id)
    except OrchestrationPayment.DoesNotExist as exc:
        raise NotFound("Payment not found.", code="payment_not_found") from exc


@transaction.atomic
def payment_compliance_resolved(
    *, payment_id: Any, approved: bool, actor: Any, reason: str
) -> OrchestrationPayment:
    """A reviewer decided an on-hold payment: approve → initiate; reject → blocked."""
    payment = _locked(payment_id)
    if payment.status != PaymentStatus.ON_HOLD:
        raise InvalidTransition(
            f"Only on-hold payments can be resolved (this one is {payment.status}).",
            extra={"from_status": payment.status},
        )
    if approved:
        payment_transition(
            already_locked=True,
            payment=payment,
            to_status=PaymentStatus.APPROVED,
            actor=actor,
            reason=reason or "approved",
        )
        _attempt_schedule(payment=payment, rail=payment.selected_rail)
    else:
        payment_transition(
            already_locked=True,
            payment=payment,
            to_status=PaymentStatus.BLOCKED,
            actor=actor,
            reason=reason or "rejected",
            fields={"failure_reason": "blocked_by_compliance"},
        )
        payment_event_emit(
            payment=payment, event="payment_blocked", extra={"reason": "blocked_by_compliance"}
        )
    return payment


class PaymentNotCancellable(Conflict):
    code = "payment_not_cancellable"
    message = "This payment can no longer be cancelled."


@transaction.atomic
def payment_cancel(*, payment: OrchestrationPayment, actor: Any, reason: str) -> OrchestrationPayment:
    locked = _locked(payment.pk)
    if locked.status in TERMINAL:
        raise PaymentNotCancellable(extra={"status": locked.status})
    if locked.status in IN_FLIGHT:
        attempt = locked.rail_attempts.order_by("-number").first()
        if (
            attempt is None
            or not attempt.external_id
            or not rail_adapter(attempt.rail).cancel(external_id=attempt.external_id)
        ):
            raise PaymentNotCancellable("The rail already settled or cannot cancel this payment.")
        attempt.status = "cancelled"
        attempt.finished_at = timezone.now()
        attempt.save(update_fields=["status", "finished_at"])
    OutboxMessage.objects.filter(payment=locked, status="pending").update(
        status="done", last_error="cancelled"
    )
    before = {"status": locked.status}
    payment_transition(
        already_locked=True,
        payment=locked,
        to_status=PaymentStatus.CANCELLED,
        actor=actor,
        reason=reason or "cancelled",
    )
    _audit(
        "payments.payment_cancelled",
        actor=actor,
        payment=locked,
        before=before,
        after={"status": locked.status, "reason": reason},
    )
    payment_event_emit(payment=locked, event="payment_failed", extra={"reason": "cancelled"})
    payment.refresh_from_db()
    return payment


class FallbackNotPossible(Conflict):
    code = "fallback_not_possible"
    message = "This payment cannot fall back to another rail."


_FALLBACK_FROM = {
    PaymentStatus.APPROVED,
    PaymentStatus.INITIATED,
    PaymentStatus.PROCESSING,
    PaymentStatus.FAILED,
}


@transaction.atomic
def payment_fallback(
    *, payment: OrchestrationPayment, actor: Any, reason: str, manual: bool = True
) -> OrchestrationPayment:
    """Move the payment to the next eligible rail it has not tried yet (bounded attempts).

    With no rail left (or the bound reached) an automatic fallback fails the
    payment; a manual one answers 409 and leaves it as it is.
    """
    locked = _locked(payment.pk)
    if locked.status not in _FALLBACK_FROM:
        raise FallbackNotPossible(extra={"status": locked.status})
    attempts = list(locked.rail_attempts.order_by("number"))
    current = attempts[-1] if attempts else None
    if current is not None and current.status in ("pending", "initiated"):
        if current.status == "initiated" and current.external_id:
            try:
                rail_adapter(current.rail).cancel(external_id=current.external_id)
            except RailError:
                logger.warning("fallback_cancel_failed", payment_id=str(locked.pk), rail=current.rail)
        current.status = "abandoned"
        current.error = reason[:500]
        current.finished_at = timezone.now()
        current.save(update_fields=["status", "error", "finished_at"])
    OutboxMessage.objects.filter(payment=locked, status="pending").update(
        status="done", last_error="superseded"
    )
    tried = {a.rail for a in attempts} | {locked.selected_rail}
    decision: RoutingDecision | None = None
    routing: dict[str, Any] = {}
    give_up = ""
    if len(attempts) >= conf.max_rail_attempts() and not manual:
        give_up = "max_rail_attempts"
    else:
        try:
            decision, routing = _reroute(locked, exclude=tried)
        except NoEligibleRail:
            give_up = "no_rail_left"
    if decision is None:
        if manual:
            raise FallbackNotPossible("No other eligible rail for this payment.", extra={"reason": give_up})
        if locked.status != PaymentStatus.FAILED:
            payment_transition(
                already_locked=True,
                payment=locked,
                to_status=PaymentStatus.FAILED,
                actor=actor,
                reason=f"{reason}; {give_up}",
                fields={"failure_reason": reason[:255]},
            )
        payment_event_emit(payment=locked, event="payment_failed", extra={"reason": reason})
        payment.refresh_from_db()
        return payment
    previous = locked.selected_rail
    payment_transition(
        already_locked=True,
        payment=locked,
        to_status=PaymentStatus.APPROVED,
        actor=actor,
        reason=f"fallback from {previous}: {reason}",
        data={"from_rail": previous, "to_rail": decision.selected.rail, "reason": reason},
        fields=routing,
    )
    _attempt_schedule(payment=locked, rail=decision.selected.rail)
    if manual:
        _audit(
            "payments.payment_fallback",
            actor=actor,
            payment=locked,
            before={"rail": previous},
            after={"rail": decision.selected.rail, "reason": reason},
        )
    payment_event_emit(
        payment=locked, event="payment_fallback", extra={"from_rail": previous, "reason": reason}
    )
    payment.refresh_from_db()
    return payment


@transaction.atomic
def payment_retry(
    *, payment: OrchestrationPayment, actor: Any, reason: str = "manual retry"
) -> OrchestrationPayment:
    """Staff retry of a failed payment on the best rail available now (tried rails included)."""
    locked = _locked(payment.pk)
    if locked.status != PaymentStatus.FAILED:
        raise FallbackNotPossible("Only failed payments can be retried.", extra={"status": locked.status})
    decision, routing = _reroute(locked)
    before = {"status": locked.status, "rail": locked.selected_rail, "failure_reason": locked.failure_reason}
    payment_transition(
        already_locked=True,
        payment=locked,
        to_status=PaymentStatus.APPROVED,
        actor=actor,
        reason=reason,
        fields={**routing, "failure_reason": ""},
    )
    _attempt_schedule(payment=locked, rail=decision.selected.rail)
    _audit(
        "payments.payment_retried",
        actor=actor,
        payment=locked,
        before=before,
        after={"status": locked.status, "rail": decision.selected.rail},
    )
    payment.refresh_from_db()
    return payment


class OutboxNotRetryable(Conflict):
    code = "outbox_not_retryable"
    message = "This outbox message cannot be retried."


@transaction.atomic
def outbox_message_retry(*, message_id: int, actor: Any) -> str:
    """Staff retry of a ``dead`` outbox row (the bounded tries ran out).

    A dead initiation already failed its attempt and the payment fell back or failed;
    if it failed, the payment is retried on the best rail now (``payment_retry``, a new
    attempt and outbox row). Any other dead row is put back in the queue as it is, so
    the provider sees the same idempotency key again.
    """
    message = OutboxMessage.objects.select_for_update(of=("self",)).filter(pk=message_id).first()
    if message is None:
        raise NotFound("Outbox message not found.", code="outbox_message_not_found")
    if message.status != OutboxStatus.DEAD:
        raise OutboxNotRetryable("Only dead messages can be retried.", extra={"status": message.status})
    before = {
        "message": message.pk,
        "status": message.status,
        "tries": message.tries,
        "error": message.last_error,
    }
    if message.kind == "initiate":
        payment = _locked(message.payment_id)
        if payment.status != PaymentStatus.FAILED:
            raise OutboxNotRetryable(
                f"The payment has moved on ({payment.status}); there is nothing to retry.",
                extra={"payment_status": payment.status},
            )
        message.status, message.last_error = OutboxStatus.DONE, f"retried: {message.last_error}"[:500]
        message.save(update_fields=["status", "last_error"])
        payment_retry(payment=payment, actor=actor, reason=f"retry of dead outbox message {message.pk}")
        return "payment_retried"
    message.status, message.tries, message.available_at = OutboxStatus.PENDING, 0, timezone.now()
    message.done_at = None
    message.save(update_fields=["status", "tries", "available_at", "done_at"])
    _outbox_kick(message.pk)
    _audit(
        "payments.outbox_message_retried",
        actor=actor,
        payment=message.payment,
        before=before,
        after={"message": message.pk, "status": message.status},
    )
    return "requeued"


# --- outbox: exactly-once initiation --------------------------------------------------


def _backoff_seconds(tries: int) -> float:
    """Exponential backoff with full jitter (AWS architecture blog), capped."""
    ceiling = min(conf.retry_max_seconds(), conf.retry_base_seconds() * (2 ** max(tries - 1, 0)))
    return random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not security


def _failpoint(name: str, payment_id: Any) -> None:
    """Crash the process here when a test armed this failpoint for this payment."""
    if not conf.failpoints_enabled():
        return
    key = f"payments:failpoint:{name}"
    if cache.get(key) == str(payment_id):
        cache.delete(key)
        logger.warning("failpoint_crash", failpoint=name, payment_id=str(payment_id))
        os._exit(17)


def _error_text(exc: Exception) -> str:
    return (str(exc) or exc.__class__.__name__)[:500]


def _outbox_try_failed(message: OutboxMessage, exc: Exception) -> bool:
    """Record a failed try of ``message``. ``True``: it will be tried again after a backoff.

    Transient rail errors and unexpected errors are retried up to
    ``PAYMENTS_MAX_TRANSIENT_RETRIES`` times, then the row is ``dead`` (bounded
    attempts, retryable from the admin); any other rail error is a final answer (``done``).
    """
    retryable = isinstance(exc, RailTransientError) or not isinstance(exc, RailError)
    now = timezone.now()
    message.last_error = _error_text(exc)
    if retryable and message.tries <= conf.max_transient_retries():
        delay = _backoff_seconds(message.tries)
        message.available_at = now + timedelta(seconds=delay)
        message.save(update_fields=["tries", "available_at", "last_error"])
        _outbox_kick(message.pk, delay=delay)
        return True
    message.status = OutboxStatus.DEAD if retryable else OutboxStatus.DONE
    message.done_at = now
    message.save(update_fields=["tries", "status", "done_at", "last_error"])
    if message.status == OutboxStatus.DEAD:
        logger.error(
            "outbox_message_dead",
            message_id=message.pk,
            kind=message.kind,
            payment_id=str(message.payment_id),
            tries=message.tries,
            error=message.last_error,
        )
    return False


@transaction.atomic
def outbox_message_process(*, message_id: int) -> str:
    """Claim one outbox row (skip_locked) and initiate its attempt (or send its refund);
    idempotent and crash-safe.

    The row lock is held through the provider call and the status change, so
    two workers never initiate the same attempt; if this process dies before
    commit the row stays pending and the provider, keyed by the attempt id,
    returns the same payment on the replay.
    """
    message = (
        OutboxMessage.objects.select_for_update(skip_locked=True)
        .filter(pk=message_id, status="pending", available_at__lte=timezone.now())
        .first()
    )
    if message is None:
        return "skipped"
    if message.kind == "refund":
        return _outbox_refund(message)
    payment = _locked(message.payment_id)
    attempt = message.attempt
    if attempt is None or payment.status != PaymentStatus.APPROVED or attempt.status != "pending":
        message.status, message.done_at, message.last_error = "done", timezone.now(), "nothing to do"
        message.save(update_fields=["status", "done_at", "last_error"])
        return "stale"
    message.tries += 1
    repriced = _fx_lock_before_initiation(payment)
    started = time.perf_counter()
    try:
        with transaction.atomic():  # a savepoint: a failed call leaves nothing of its own behind
            result = rail_adapter(attempt.rail).initiate(payment=payment, attempt=attempt)
    except Exception as exc:
        if isinstance(exc, RailError):
            circuit_record(attempt.rail, ok=False)
        else:
            logger.exception("outbox_initiate_error", message_id=message.pk, payment_id=str(payment.pk))
        if _outbox_try_failed(message, exc):
            return "retry_scheduled"
        error = _error_text(exc)
        attempt.status, attempt.error, attempt.finished_at = "failed", error, timezone.now()
        attempt.save(update_fields=["status", "error", "finished_at"])
        reason = f"{attempt.rail}: {error}"
        if message.status == OutboxStatus.DEAD:
            reason += f" (gave up after {message.tries} tries)"
        payment_fallback(payment=payment, actor="system", reason=reason, manual=False)
        return "dead" if message.status == OutboxStatus.DEAD else "fallback"
    _failpoint("after_initiate", payment.pk)
    now = timezone.now()
    attempt.status, attempt.external_id, attempt.initiated_at = "initiated", result.external_id, now
    attempt.latency_ms = int((time.perf_counter() - started) * 1000)
    attempt.save(update_fields=["status", "external_id", "initiated_at", "latency_ms"])
    fx_lock = (payment.metadata or {}).get("fx_lock") or {}
    payment_transition(
        already_locked=True,
        payment=payment,
        to_status=PaymentStatus.INITIATED,
        actor="system",
        reason=f"initiated on {attempt.rail}",
        data={
            "attempt": str(attempt.pk),
            "external_id": result.external_id,
            **({"fx_lock_id": fx_lock["id"], "fx_relocked": repriced} if fx_lock else {}),
        },
        fields={
            "external_payment_id": result.external_id,
            "attempts": attempt.number,
            "metadata": {**(payment.metadata or {}), **result.metadata},
            **({"cost_breakdown": payment.cost_breakdown} if repriced else {}),
        },
    )
    message.status, message.done_at = "done", now
    message.save(update_fields=["tries", "status", "done_at"])
    payment_event_emit(payment=payment, event="payment_initiated")
    return "initiated"


def _fx_lock_before_initiation(payment: OrchestrationPayment) -> bool:
    """Read the payment's FX lock back before the rail is called; the adapter converts at it.

    If it expired meanwhile (a review took longer than the lock), the rate is locked again
    at today's rate and the chosen rail priced again (on this instance, saved with the
    initiation). Returns whether it was repriced.
    """
    lock, relocked = _payment_fx_lock(payment)
    if lock is None or not relocked:
        return False
    from apps.payments.fx.services import fx_table

    quote = rail_adapter(payment.selected_rail).quote(
        _request_from_payment(payment),
        table=fx_table(),
        annual_rate=Decimal(str(conf.annual_rate_time_value())),
        now=timezone.now(),
        fx_lock=lock,
    )
    payment.cost_breakdown = {**(payment.cost_breakdown or {}), **quote.to_dict()}
    payment.metadata = _metadata_with_lock(payment.metadata or {}, lock)
    logger.info("fx_lock_renewed", payment_id=str(payment.pk), fx_lock_id=lock.id)
    return True


def outbox_drain(*, limit: int = 100) -> int:
    """Process due pending outbox rows (the backstop for lost kicks and dead workers)."""
    ids = _outbox_due_unlocked(limit=limit)
    done = 0
    for message_id in ids:
        if outbox_message_process(message_id=message_id) not in ("skipped",):
            done += 1
    return done


# --- outcomes: webhooks and polling ------------------------------------------------------


class WebhookNotReady(Exception):
    """The webhook arrived before our initiation committed; retry shortly."""


def _attempt_for(rail: str, hook: RailWebhook) -> PaymentAttempt | None:
    qs = PaymentAttempt.objects.select_related("payment")
    if hook.attempt_id:
        try:
            found = qs.filter(pk=hook.attempt_id, rail=rail).first()
        except Exception:  # not a UUID
            found = None
        if found is not None:
            return found
    return qs.filter(rail=rail, external_id=hook.external_id).first()


@transaction.atomic
def payment_outcome_apply(
    *, attempt: PaymentAttempt, status: str, failure_reason: str = "", source: str
) -> str:
    """Apply a rail's final (or processing) status to the attempt and its payment."""
    payment = _locked(attempt.payment_id)
    attempt = PaymentAttempt.objects.select_for_update(of=("self",)).get(pk=attempt.pk)
    if attempt.status in ("succeeded", "failed", "abandoned", "cancelled"):
        return "already_final"
    if attempt.status == "pending":
        raise WebhookNotReady(str(attempt.pk))
    now = timezone.now()
    if status == "processing":
        if payment.status == PaymentStatus.INITIATED:
            payment_transition(
                already_locked=True,
                payment=payment,
                to_status=PaymentStatus.PROCESSING,
                actor=source,
                reason="rail processing",
            )
        return "processing"
    latency = int((now - (attempt.initiated_at or attempt.created_at)).total_seconds() * 1000)
    attempt.status = "succeeded" if status == "succeeded" else "failed"
    attempt.error = failure_reason[:500]
    attempt.finished_at = now
    attempt.latency_ms = latency
    attempt.save(update_fields=["status", "error", "finished_at", "latency_ms"])
    circuit_record(attempt.rail, ok=status == "succeeded")
    if payment.selected_rail != attempt.rail or payment.status not in IN_FLIGHT:
        return "stale_attempt"
    if status == "succeeded":
        payment_transition(
            already_locked=True,
            payment=payment,
            to_status=PaymentStatus.SUCCEEDED,
            actor=source,
            reason="settled",
        )
        payment_event_emit(payment=payment, event="payment_completed")
        return "succeeded"
    payment_fallback(
        payment=payment, actor=source, reason=f"{attempt.rail}: {failure_reason or 'failed'}", manual=False
    )
    return "failed"


@transaction.atomic
def rail_webhook_receive(*, rail: str, headers: dict[str, str], body: bytes) -> tuple[RailWebhookEvent, bool]:
    """Verify, store raw (one row per provider event id) and queue processing. Returns (row, created)."""
    import json

    adapter = rail_adapter(rail)
    adapter.webhook_verify(headers=headers, body=body)
    hook = adapter.webhook_parse(body=body)
    kept = {k: v for k, v in headers.items() if k.lower().startswith(("x-", "stripe-", "content-type"))}
    row, created = RailWebhookEvent.objects.get_or_create(
        rail=rail,
        event_id=hook.event_id[:255],
        defaults={"event_type": hook.event_type[:100], "payload": json.loads(body), "headers": kept},
    )
    if created:
        row_id = row.pk

        def _send() -> None:
            from apps.payments.tasks import webhook_process

            webhook_process.delay(row_id)

        transaction.on_commit(_send)
    return row, created


def rail_webhook_process(*, event_row_id: int) -> str:
    """Apply a stored webhook. Raises ``WebhookNotReady`` when it raced ahead of our commit."""
    import json

    row = RailWebhookEvent.objects.get(pk=event_row_id)
    if row.status == "processed":
        return "already_processed"
    hook = rail_adapter(row.rail).webhook_parse(body=json.dumps(row.payload).encode())
    attempt = _attempt_for(row.rail, hook)
    if attempt is None:
        RailWebhookEvent.objects.filter(pk=row.pk).update(
            status="ignored", error="unknown payment", processed_at=timezone.now()
        )
        return "ignored"
    result = payment_outcome_apply(
        attempt=attempt, status=hook.status, failure_reason=hook.failure_reason, source=f"webhook:{row.rail}"
    )
    RailWebhookEvent.objects.filter(pk=row.pk).update(status="processed", processed_at=timezone.now())
    return result


def payments_poll_stale(*, limit: int = 200) -> dict[str, int]:
    """Backstop for missing webhooks: ask the rail about attempts initiated too long ago;
    fall back once an initiation exceeds the timeout."""
    counts = {"polled": 0, "settled": 0, "timed_out": 0}
    now = timezone.now()
    due = now - timedelta(seconds=conf.poll_after_seconds())
    timeout = now - timedelta(seconds=conf.initiation_timeout_seconds())
    attempts = list(
        PaymentAttempt.objects.filter(status="initiated", initiated_at__lte=due)
        .select_related("payment")
        .order_by("initiated_at")[:limit]
    )
    for attempt in attempts:
        counts["polled"] += 1
        try:
            result = rail_adapter(attempt.rail).status(external_id=attempt.external_id)
        except RailError:
            circuit_record(attempt.rail, ok=False)
            result = None
        if result is not None and result.status in ("succeeded", "failed"):
            payment_outcome_apply(
                attempt=attempt, status=result.status, failure_reason=result.failure_reason, source="poll"
            )
            counts["settled"] += 1
        elif attempt.initiated_at and attempt.initiated_at <= timeout:
            payment = attempt.payment
            if payment.status in IN_FLIGHT and payment.selected_rail == attempt.rail:
                payment_fallback(
                    payment=payment, actor="poll", reason=f"{attempt.rail}: timed out", manual=False
                )
                counts["timed_out"] += 1
    return counts


# --- refunds --------------------------------------------------------------------------------


class PaymentNotRefundable(Conflict):
    code = "payment_not_refundable"
    message = "Only a settled payment can be refunded."


class RefundInProgress(Conflict):
    code = "refund_in_progress"
    message = "This payment already has a refund in progress; ask again once the rail has answered."


class RefundAmountInvalid(Unprocessable):
    code = "refund_amount_invalid"
    message = "The refund amount must be positive, in the currency's minor units, and at most what is left to refund."


class RefundNotSupported(Unprocessable):
    code = "refund_not_supported"
    message = "The rail this payment settled on does not support refunds."


@transaction.atomic
def payment_refund(
    *, payment: OrchestrationPayment, actor: Any, reason: str, amount: Decimal | None = None
) -> PaymentRefund:
    """Ask the rail that settled ``payment`` to refund ``amount`` of it (all that is left to refund
    when ``None``): a person's or system's action.

    The refund is written with an outbox row and sent after commit, with its id as the
    provider's idempotency key; providers settle refunds asynchronously, so the payment
    stays ``succeeded`` until the rail confirms (polled). A refund that completes the payment's
    amount makes it ``refunded`` (``payment_refunded`` is broadcast); a partial one keeps it
    ``succeeded`` (``payment_partially_refunded``). One refund is in flight at a time. Raises
    409 ``payment_not_refundable`` (not settled), 409 ``refund_in_progress``, 422
    ``refund_not_supported`` (e.g. USDC), 422 ``refund_amount_invalid``.
    """
    locked = _locked(payment.pk)
    if locked.status != PaymentStatus.SUCCEEDED:
        raise PaymentNotRefundable(extra={"status": locked.status})
    if locked.refunds.filter(status__in=REFUND_IN_FLIGHT).exists():
        raise RefundInProgress()
    attempt = (
        locked.rail_attempts.filter(status="succeeded", rail=locked.selected_rail).order_by("-number").first()
    )
    if attempt is None:
        raise PaymentNotRefundable("No settled rail attempt to refund.", extra={"status": locked.status})
    caps = rail_catalog().rails.get(attempt.rail)
    if caps is None or not caps.supports_refund:
        raise RefundNotSupported(extra={"rail": attempt.rail})
    currency = locked.amount.currency.code
    refundable = locked.amount.amount - refunded_total(locked)
    if amount is None:
        amount = refundable
    if amount <= 0 or amount > refundable or amount != quantize_money(amount, currency):
        raise RefundAmountInvalid(
            extra={
                "amount": str(amount),
                "refundable": str(quantize_money(refundable, currency)),
                "currency": currency,
            }
        )
    refund = PaymentRefund.objects.create(
        payment=locked,
        attempt=attempt,
        rail=attempt.rail,
        amount=amount,
        amount_currency=currency,
        reason=reason[:500],
        requested_by=actor_label(actor),
    )
    message = OutboxMessage.objects.create(
        kind="refund", payment=locked, refund=refund, available_at=timezone.now()
    )
    _outbox_kick(message.pk)
    _audit(
        "payments.payment_refund_requested",
        actor=actor,
        payment=locked,
        before={"status": locked.status},
        after={"refund": str(refund.pk), "amount": str(refund.amount.amount), "reason": reason},
    )
    logger.info(
        "payment_refund_requested", payment_id=str(locked.pk), refund_id=str(refund.pk), rail=refund.rail
    )
    return refund


def _outbox_refund(message: OutboxMessage) -> str:
    """Send one refund to its rail (the caller holds the outbox row's lock)."""
    refund_id = message.refund_id
    refund = (
        None
        if refund_id is None
        else PaymentRefund.objects.select_for_update(of=("self",))
        .select_related("attempt")
        .filter(pk=refund_id)
        .first()
    )
    if refund is None or refund.status != RefundStatus.REQUESTED:
        message.status, message.done_at, message.last_error = (
            OutboxStatus.DONE,
            timezone.now(),
            "nothing to do",
        )
        message.save(update_fields=["status", "done_at", "last_error"])
        return "stale"
    message.tries += 1
    try:
        with transaction.atomic():
            result = rail_adapter(refund.rail).refund(
                external_id=refund.attempt.external_id,
                amount=refund.amount.amount,
                currency=refund.amount.currency.code,
                idempotency_key=str(refund.pk),
            )
    except Exception as exc:
        if not isinstance(exc, RailError):
            logger.exception("outbox_refund_error", message_id=message.pk, refund_id=str(refund.pk))
        if _outbox_try_failed(message, exc):
            return "retry_scheduled"
        if message.status == OutboxStatus.DEAD:
            return "dead"  # the refund stays requested: retry it from the admin
        _refund_finish(refund, status=RefundStatus.FAILED, failure_reason=_error_text(exc), source="system")
        return "refund_failed"
    message.status, message.done_at = OutboxStatus.DONE, timezone.now()
    message.save(update_fields=["tries", "status", "done_at"])
    refund.external_id = result.external_id
    if result.status in (RefundStatus.SUCCEEDED, RefundStatus.FAILED):
        refund.save(update_fields=["external_id", "updated_at"])
        _refund_finish(refund, status=result.status, failure_reason=result.failure_reason, source=refund.rail)
        return f"refund_{result.status}"
    refund.status = RefundStatus.PENDING
    refund.save(update_fields=["external_id", "status", "updated_at"])
    _refund_poll_kick(refund.pk)
    return "refund_pending"


def _refund_poll_kick(refund_id: Any) -> None:
    def _send() -> None:
        from apps.payments.tasks import refund_poll

        try:
            refund_poll.apply_async(args=(str(refund_id),), countdown=conf.refund_poll_seconds())
        except Exception:  # broker down: the poll_stale beat task checks pending refunds too
            logger.exception("refund_poll_kick_failed", refund_id=str(refund_id))

    transaction.on_commit(_send)


def refunded_total(payment: OrchestrationPayment) -> Decimal:
    """What the rails have confirmed refunding of ``payment``, in its currency."""
    amounts = payment.refunds.filter(status=RefundStatus.SUCCEEDED).values_list("amount", flat=True)
    return sum(amounts, Decimal(0))


def _refund_finish(refund: PaymentRefund, *, status: str, failure_reason: str, source: str) -> None:
    """A final answer about a refund: the payment becomes refunded once all of it is (a partial
    refund is told as such), or the failure is told."""
    refund.status, refund.failure_reason, refund.completed_at = status, failure_reason[:500], timezone.now()
    refund.save(update_fields=["status", "failure_reason", "completed_at", "updated_at"])
    payment = _locked(refund.payment_id)
    data = {"refund_id": str(refund.pk), "external_refund_id": refund.external_id}
    if status == RefundStatus.SUCCEEDED:
        refunded = refunded_total(payment)
        if refunded < payment.amount.amount:
            extra = {
                **data,
                "refund_amount": str(refund.amount.amount),
                "refunded": str(refunded),
                "refundable": str(payment.amount.amount - refunded),
            }
            logger.info("payment_partially_refunded", payment_id=str(payment.pk), **extra)
            payment_event_emit(payment=payment, event="payment_partially_refunded", extra=extra)
            return
        payment_transition(
            already_locked=True,
            payment=payment,
            to_status=PaymentStatus.REFUNDED,
            actor=source,
            reason=f"refunded on {refund.rail}: {refund.reason}"[:500],
            data={**data, "requested_by": refund.requested_by},
        )
        payment_event_emit(payment=payment, event="payment_refunded", extra=data)
    else:
        logger.warning("payment_refund_failed", payment_id=str(payment.pk), reason=failure_reason, **data)
        payment_event_emit(
            payment=payment, event="payment_refund_failed", extra={**data, "reason": failure_reason}
        )


@transaction.atomic
def payment_refund_poll(*, refund_id: Any) -> str:
    """Ask the rail about a pending refund and apply a final answer. Returns the refund's status."""
    refund = PaymentRefund.objects.select_for_update(of=("self",)).filter(pk=refund_id).first()
    if refund is None:
        return "unknown"
    if refund.status != RefundStatus.PENDING:
        return str(refund.status)
    try:
        result = rail_adapter(refund.rail).refund_status(external_refund_id=refund.external_id)
    except RailError as exc:
        logger.warning("refund_poll_failed", refund_id=str(refund.pk), error=str(exc))
        return RefundStatus.PENDING
    if result.status not in (RefundStatus.SUCCEEDED, RefundStatus.FAILED):
        return RefundStatus.PENDING
    _refund_finish(refund, status=result.status, failure_reason=result.failure_reason, source="poll")
    return result.status


def payment_refunds_poll(*, limit: int = 200) -> dict[str, int]:
    """Backstop: poll every pending refund (the per-refund poll task may have been lost)."""
    counts = {"polled": 0, "settled": 0}
    ids = list(
        PaymentRefund.objects.filter(status=RefundStatus.PENDING)
        .order_by("updated_at")
        .values_list("pk", flat=True)[:limit]
    )
    for refund_id in ids:
        counts["polled"] += 1
        if payment_refund_poll(refund_id=refund_id) != RefundStatus.PENDING:
            counts["settled"] += 1
    return counts
