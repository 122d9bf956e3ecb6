"""Demo payments for ``seed_demo`` (idempotent): one per common corridor, with their timelines."""

from __future__ import annotations

from decimal import Decimal

from apps.core.models import Organization
from apps.payments.choices import PaymentStatus
from apps.payments.models import OrchestrationPayment
from apps.payments.services import payment_record_created, payment_transition

DEMO_PAYMENTS = [
    ("demo-1", Decimal("50.00"), "BRL", "BR", "BR", "pix", "Ana", PaymentStatus.SUCCEEDED),
    ("demo-2", Decimal("30.00"), "USD", "US", "US", "stripe", "Bob", PaymentStatus.SUCCEEDED),
    ("demo-3", Decimal("800.00"), "EUR", "ES", "ES", "sepa_instant", "Lucía", PaymentStatus.PROCESSING),
    ("demo-4", Decimal("1200.00"), "USD", "US", "BR", "wise", "Marco", PaymentStatus.ON_HOLD),
]

_PATHS = {
    PaymentStatus.SUCCEEDED: [
        PaymentStatus.SCREENING,
        PaymentStatus.APPROVED,
        PaymentStatus.INITIATED,
        PaymentStatus.PROCESSING,
        PaymentStatus.SUCCEEDED,
    ],
    PaymentStatus.PROCESSING: [
        PaymentStatus.SCREENING,
        PaymentStatus.APPROVED,
        PaymentStatus.INITIATED,
        PaymentStatus.PROCESSING,
    ],
    PaymentStatus.ON_HOLD: [PaymentStatus.SCREENING, PaymentStatus.ON_HOLD],
}


def demo_payments_load(*, organization: Organization) -> str:
    created = 0
    for ref, amount, currency, from_c, to_c, rail, payee, final in DEMO_PAYMENTS:
        if OrchestrationPayment.objects.filter(organization=organization, metadata__demo_ref=ref).exists():
            continue
        payment = OrchestrationPayment.objects.create(
            organization=organization,
            amount=amount,
            amount_currency=currency,
            payee_currency=currency if from_c == to_c else "BRL",
            from_country=from_c,
            to_country=to_c,
            payee_ref=payee.lower(),
            payee_name=payee,
            selected_rail=rail,
            metadata={"demo_ref": ref},
        )
        payment_record_created(payment=payment, actor="seed_demo")
        for status in _PATHS[final]:
            payment_transition(payment=payment, to_status=status, actor="seed_demo", reason="demo data")
        created += 1
    return f"{created} payments"
