"""Fixtures of the webhook / router / flow / reply tests (Part A).

Test doubles for the other apps' contracts live here and only here:
``intent_double`` scripts what ``apps.intent.services.message_analyze``
understands of each text (contract 1) and ``payments_double`` records
``payment_orchestrate`` calls and creates real ``OrchestrationPayment`` rows,
whose sandbox settlement a test drives with ``payments_double.settle`` (the
real ``payment_transition`` + ``conversation_payment_notify``, as payments
does after commit — contract 2).
"""

from __future__ import annotations

import importlib
import json
import sys
import threading
import types
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


# --- webhook account lookups ---------------------------------------------------------
@pytest.fixture(autouse=True)
def _account_cache_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cache the webhook account lookups with any cache backend, so the SQLite run (LocMemCache,
    one process) exercises the cached path too; the cache itself is emptied per test (tests/conftest)."""
    from apps.conversations import selectors

    monkeypatch.setattr(selectors, "ACCOUNT_CACHE_ENABLED", True)


# --- intent (contract 1) -------------------------------------------------------
@dataclass(frozen=True)
class Amount:
    value: Decimal
    currency: str | None
    role: str = "amount"
    start: int = 0
    end: int = 0
    text: str = ""


@dataclass(frozen=True)
class Party:
    kind: str
    value: str
    valid: bool | None = None
    start: int = 0
    end: int = 0
    text: str = ""
    subkind: str | None = None


@dataclass(frozen=True)
class Intent:
    intent: str
    confidence: float = 0.95
    tier: str = "rules"
    language: str = "en"
    amounts: list[Amount] = field(default_factory=list)
    dates: list[Any] = field(default_factory=list)
    parties: list[Party] = field(default_factory=list)
    recurrence: str | None = None
    purpose: str | None = None
    urgency: str | None = None
    rail_hint: str | None = None
    processing_time_ms: float = 1.5

    @property
    def amount(self) -> Amount | None:
        return next(
            (a for a in self.amounts if a.role in ("amount", "total")),
            self.amounts[0] if self.amounts else None,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "intent": self.intent,
            "confidence": self.confidence,
            "amounts": [
                {"value": str(a.value), "currency": a.currency, "role": a.role} for a in self.amounts
            ],
            "parties": [{"kind": p.kind, "value": p.value} for p in self.parties],
            "rail_hint": self.rail_hint,
        }


def money(value: str, currency: str | None, role: str = "amount") -> Amount:
    return Amount(Decimal(value), currency, role)


class IntentDouble:
    """``message_analyze`` answering from a script: text → Intent (else "none")."""

    def __init__(self) -> None:
        self.script: dict[str, Intent] = {}
        self.calls: list[dict[str, Any]] = []

    def understand(self, text: str, intent: Intent) -> None:
        self.script[text] = intent

    def message_analyze(self, text: str, **kwargs: Any) -> Intent:
        self.calls.append({"text": text, **kwargs})
        return self.script.get(text, Intent("none", confidence=0.3))

    def context_update(self, context: dict, result: Intent, *, now: Any) -> dict:
        return {**context, "last_intent": result.intent, "expires_at": now.isoformat()}


def module_double(monkeypatch: pytest.MonkeyPatch, name: str, **attributes: Any) -> types.ModuleType:
    """Set ``attributes`` on module ``name``, creating the module if it does not exist yet."""
    try:
        module = importlib.import_module(name)
    except ImportError:
        module = types.ModuleType(name)
        monkeypatch.setitem(sys.modules, name, module)
        parent, _, child = name.rpartition(".")
        monkeypatch.setattr(importlib.import_module(parent), child, module, raising=False)
    for attribute, value in attributes.items():
        monkeypatch.setattr(module, attribute, value, raising=False)
    return module


@pytest.fixture
def intent_double(monkeypatch: pytest.MonkeyPatch) -> IntentDouble:
    double = IntentDouble()
    module_double(
        monkeypatch,
        "apps.intent.services",
        message_analyze=double.message_analyze,
        context_update=double.context_update,
    )
    return double


# --- payments (contract 2) -----------------------------------------------------
@dataclass
class RequestDouble:
    """Stands in for ``apps.payments.types.PaymentRequest`` only while payments has not landed."""

    amount: Decimal
    currency: str
    payer_country: str
    payee_country: str
    payee_currency: str | None = None
    urgency: str = "normal"
    payee_identifiers: dict[str, str] = field(default_factory=dict)
    preferred_rail: str | None = None
    payer_ref: str = ""
    payee_ref: str = ""
    payee_name: str = ""
    purpose: str = ""
    language: str = "en"
    kyc_tier: str | None = None


@dataclass
class QuoteDouble:
    total_cost: Decimal


@dataclass
class OptionDouble:
    rail: str
    display_name: str
    quote: QuoteDouble
    score: float
    eta_text: str


class DecisionDouble:
    def __init__(self, options: list[OptionDouble]) -> None:
        self.ranked = tuple(options)


EMV = (
    "00020126580014br.gov.bcb.pix0136123e4567-e12b-12d1-a456-4266554400005204000053039865802BR"
    "5913Fulano de Tal6008BRASILIA62070503***63041D3D"
)


class PaymentsDouble:
    def __init__(self) -> None:
        self.orchestrated: list[dict[str, Any]] = []
        self.quotes: list[Any] = []
        self.refuse: Exception | None = None

    def payment_quote(self, *, organization: Any, request: Any, preferences: Any = None) -> DecisionDouble:
        self.quotes.append(request)
        return DecisionDouble(
            [
                OptionDouble("pix", "PIX", QuoteDouble(Decimal("0.00")), 0.92, "seconds"),
                OptionDouble("stripe", "Card", QuoteDouble(Decimal("12.40")), 0.61, "1-2 days"),
            ]
        )

    def payment_orchestrate(
        self,
        *,
        organization: Any,
        actor: Any,
        request: Any,
        conversation: Any = None,
        conversation_message: Any = None,
        idempotency_key: str | None = None,
    ) -> Any:
        from apps.payments.models import OrchestrationPayment
        from apps.payments.services import payment_transition

        if self.refuse is not None:
            raise self.refuse
        for call in self.orchestrated:
            if idempotency_key and call["idempotency_key"] == idempotency_key:
                return call["payment"]
        payment = OrchestrationPayment.objects.create(
            organization=organization,
            conversation=conversation,
            conversation_message=conversation_message,
            amount=request.amount,
            amount_currency=request.currency,
            from_country=request.payer_country,
            to_country=request.payee_country,
            payer_ref=request.payer_ref,
            payee_ref=request.payee_ref,
            payee_name=request.payee_name,
            payee_identifiers=request.payee_identifiers,
            purpose=request.purpose,
            selected_rail=request.preferred_rail or "pix",
        )
        payment_transition(payment=payment, to_status="screening", actor="double")
        payment_transition(payment=payment, to_status="approved", actor="double")
        self.orchestrated.append(
            {
                "request": request,
                "actor": actor,
                "idempotency_key": idempotency_key,
                "payment": payment,
                "conversation": conversation,
            }
        )
        return payment

    def settle(self, payment: Any, *, succeed: bool = True) -> None:
        """What the PIX sandbox does: initiate (with the BR Code), then settle — each followed by the notify hook."""
        from apps.conversations.services import conversation_payment_notify
        from apps.payments.services import payment_transition

        metadata = (
            {**(payment.metadata or {}), "pix": {"emv": EMV}} if payment.selected_rail == "pix" else None
        )
        payment_transition(
            payment=payment,
            to_status="initiated",
            actor="double",
            fields={"metadata": metadata} if metadata else None,
        )
        conversation_payment_notify(payment_id=payment.pk, event="payment_initiated")
        if succeed:
            payment_transition(payment=payment, to_status="succeeded", actor="double")
            conversation_payment_notify(payment_id=payment.pk, event="payment_completed")
        else:
            payment_transition(
                payment=payment, to_status="failed", actor="double", fields={"failure_reason": "rejected"}
            )
            conversation_payment_notify(payment_id=payment.pk, event="payment_failed")


@pytest.fixture
def payments_double(monkeypatch: pytest.MonkeyPatch) -> PaymentsDouble:
    double = PaymentsDouble()
    module_double(
        monkeypatch,
        "apps.payments.services",
        payment_orchestrate=double.payment_orchestrate,
        payment_quote=double.payment_quote,
    )
    try:
        importlib.import_module("apps.payments.types")
    except ImportError:
        module_double(monkeypatch, "apps.payments.types", PaymentRequest=RequestDouble)
    return double


# --- platform fakes --------------------------------------------------------------
class SlackFake:
    """A local Slack Web API: records calls, answers like chat.postMessage / chat.update."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.fail_with: tuple[int, dict[str, Any]] | None = None
        self.answers: dict[str, dict[str, Any]] = {}  # by method, instead of chat.postMessage's answer
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(length).decode()
                try:
                    body = json.loads(raw)
                except ValueError:
                    from urllib.parse import parse_qs

                    body = {k: v[0] for k, v in parse_qs(raw).items()}
                method = self.path.rsplit("/", 1)[-1]
                fake.calls.append((method, {**body, "_auth": self.headers.get("Authorization", "")}))
                status, answer = fake.fail_with or (
                    200,
                    fake.answers.get(method)
                    or {
                        "ok": True,
                        "ts": f"1700000000.{len(fake.calls):06d}",
                        "channel": body.get("channel"),
                    },
                )
                payload = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/api/"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def slack_fake() -> Iterator[SlackFake]:
    fake = SlackFake()
    yield fake
    fake.close()


@pytest.fixture
def platform_settings(settings: Any, slack_fake: SlackFake) -> Any:
    """Provider base URLs pointing at the fakes; no env credentials (accounts carry them)."""
    settings.WHATSAPP_API_BASE = "https://graph.whatsapp.test/v21.0"
    settings.TELEGRAM_API_BASE = "https://api.telegram.test"
    settings.SLACK_API_BASE = slack_fake.base_url
    for name in (
        "WHATSAPP_APP_SECRET",
        "WHATSAPP_VERIFY_TOKEN",
        "WHATSAPP_ACCESS_TOKEN",
        "WHATSAPP_PHONE_NUMBER_ID",
        "SLACK_SIGNING_SECRET",
        "SLACK_BOT_TOKEN",
        "TELEGRAM_BOT_TOKEN",
        "TELEGRAM_WEBHOOK_SECRET",
    ):
        setattr(settings, name, "")
    settings.CONVERSATIONS_DEFAULT_ORG = ""
    return settings


# --- the real payments, on their sandbox ------------------------------------------------
@pytest.fixture
def sandbox(settings: Any) -> Iterator[None]:
    """Instant sandbox settlement and fresh payments caches (as the payments tests do)."""
    from apps.payments.fx import services as fx
    from apps.payments.models import RailDefinition
    from apps.payments.rails import registry
    from apps.payments.rails.seed import rail_catalog_seed

    settings.PAYMENTS_SANDBOX_LATENCY_SECONDS = "0"
    if RailDefinition.objects.count() < 7:
        rail_catalog_seed()
    registry._catalog = None
    fx.fx_table_reset()
    yield
    registry._catalog = None
    fx.fx_table_reset()


@pytest.fixture
def visitor_says(django_capture_on_commit_callbacks: Any) -> Any:
    """``say(organization, session_id, text)``: a web chat visitor's message, processed after commit
    (the intent engine and the flows run as the Celery task would)."""

    def say(organization: Any, session_id: str, text: str) -> Any:
        from apps.conversations import services

        with django_capture_on_commit_callbacks(execute=True):
            return services.message_receive(
                organization=organization,
                platform="webchat",
                external_conversation_id=session_id,
                sender_id=session_id,
                text=text,
            )

    return say


def ana_paid_before(organization: Any) -> Any:
    """An earlier payment to Ana, so the flows know her PIX key (the relationship memory)."""
    from datetime import timedelta

    from django.utils import timezone

    from tests.factories import PaymentFactory

    return PaymentFactory(
        organization=organization,
        payee_name="Ana",
        payee_ref="ana",
        payee_identifiers={"pix_key": "ana@example.com"},
        status="succeeded",
        completed_at=timezone.now() - timedelta(days=3),
    )


@pytest.fixture
def staff(settings: Any) -> Any:
    """A logged-in superuser's client on the admin (the OTP requirement relaxed)."""
    from django.test import Client

    from tests.factories import UserFactory

    settings.ADMIN_REQUIRE_OTP = False
    client = Client()
    user: Any = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(user)
    return client
