# ruff: noqa: C408 - the catalogue reads best as dict(...) literals
"""The six rails (seven options: SEPA SCT and SCT Inst) with public-ish list prices.

KYC: domestic rails and card checkout need no verified payer (compliance's tier
limits still apply), cross-border Wise needs basic, USDC off-ramps need full.

Sources (2025 public pricing pages, rounded): PIX via a PSP ~0.4 % capped;
PayTo/NPP ~A$0.35 per payment; Stripe 2.9 % + US$0.30 (US), 1.5 % + €0.25 (EEA),
3.99 % + R$0.39 (BR), 1.7 % + A$0.30 (AU), +1.5 % international cards, 1 %
conversion; Wise fixed + ~0.4–0.65 % at mid-market; SEPA SCT / SCT Inst ~€0.20
(the Instant Payments Regulation forbids pricing Inst above SCT); USDC gas +
off-ramp ~0.5 % plus ~0.6 % spread.
"""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

SEPA = [
    "AT",
    "BE",
    "BG",
    "CY",
    "CZ",
    "DE",
    "DK",
    "EE",
    "ES",
    "FI",
    "FR",
    "GR",
    "HR",
    "HU",
    "IE",
    "IT",
    "LT",
    "LU",
    "LV",
    "MT",
    "NL",
    "PL",
    "PT",
    "RO",
    "SE",
    "SI",
    "SK",
    "IS",
    "LI",
    "NO",
    "CH",
    "GB",
    "MC",
    "SM",
]
STRIPE_CURRENCIES = [
    "USD",
    "EUR",
    "GBP",
    "BRL",
    "AUD",
    "CAD",
    "MXN",
    "CHF",
    "SEK",
    "NOK",
    "DKK",
    "PLN",
    "JPY",
    "SGD",
    "HKD",
    "NZD",
    "CZK",
    "HUF",
]
WISE_CURRENCIES = [
    "USD",
    "EUR",
    "GBP",
    "BRL",
    "AUD",
    "CAD",
    "MXN",
    "CHF",
    "SEK",
    "NOK",
    "DKK",
    "PLN",
    "JPY",
    "SGD",
    "HKD",
    "NZD",
    "CZK",
    "HUF",
    "INR",
    "ZAR",
    "CNY",
]

RAILS: list[dict[str, Any]] = [
    dict(
        name="pix",
        provider="pix",
        display_name="PIX",
        min_kyc_tier="none",
        description="Brazil's instant payment system",
        currencies=["BRL"],
        payee_currencies=["BRL"],
        payer_countries=["BR"],
        payee_countries=["BR"],
        min_amount=D("0.01"),
        max_amount=D("1000000"),
        limit_currency="BRL",
        settlement_seconds=10,
        required_identifiers=["pix_key"],
        supports_qr=True,
        supports_recurring=True,
        sandbox_latency_seconds=1.0,
        fees=[
            dict(
                currency="BRL",
                fixed_fee=D("0"),
                fixed_fee_currency="BRL",
                percent_fee=D("0.40"),
                max_fee=D("15.00"),
                notes="PSP pricing for Pix payouts",
            )
        ],
    ),
    dict(
        name="payto",
        provider="payto",
        display_name="PayTo",
        min_kyc_tier="none",
        description="Australia's real-time account-to-account payments (NPP)",
        currencies=["AUD"],
        payee_currencies=["AUD"],
        payer_countries=["AU"],
        payee_countries=["AU"],
        min_amount=D("0.01"),
        max_amount=D("1000000"),
        limit_currency="AUD",
        settlement_seconds=60,
        required_identifiers=["payid", "bsb_account"],
        supports_recurring=True,
        sandbox_latency_seconds=1.0,
        fees=[dict(currency="AUD", fixed_fee=D("0.35"), fixed_fee_currency="AUD", percent_fee=D("0"))],
    ),
    dict(
        name="stripe",
        provider="stripe",
        display_name="Stripe",
        min_kyc_tier="none",
        description="cards and wallets through a checkout link",
        currencies=STRIPE_CURRENCIES,
        payee_currencies=STRIPE_CURRENCIES,
        cross_currency=True,
        min_amount=D("0.50"),
        max_amount=D("999999.99"),
        limit_currency="USD",
        settlement_seconds=2 * 86400,
        required_identifiers=[],
        fx_margin_percent=D("1.00"),
        supports_recurring=True,
        sandbox_latency_seconds=3.0,
        fees=[
            dict(
                currency="",
                fixed_fee=D("0.30"),
                fixed_fee_currency="USD",
                percent_fee=D("2.90"),
                cross_border_percent=D("1.50"),
            ),
            dict(
                currency="USD",
                fixed_fee=D("0.30"),
                fixed_fee_currency="USD",
                percent_fee=D("2.90"),
                cross_border_percent=D("1.50"),
            ),
            dict(
                currency="EUR",
                fixed_fee=D("0.25"),
                fixed_fee_currency="EUR",
                percent_fee=D("1.50"),
                cross_border_percent=D("1.75"),
            ),
            dict(
                currency="GBP",
                fixed_fee=D("0.20"),
                fixed_fee_currency="GBP",
                percent_fee=D("1.50"),
                cross_border_percent=D("1.75"),
            ),
            dict(
                currency="BRL",
                fixed_fee=D("0.39"),
                fixed_fee_currency="BRL",
                percent_fee=D("3.99"),
                cross_border_percent=D("2.00"),
            ),
            dict(
                currency="AUD",
                fixed_fee=D("0.30"),
                fixed_fee_currency="AUD",
                percent_fee=D("1.70"),
                cross_border_percent=D("1.80"),
            ),
        ],
    ),
    dict(
        name="wise",
        provider="wise",
        display_name="Wise",
        min_kyc_tier="basic",
        description="international transfers at the mid-market rate",
        currencies=WISE_CURRENCIES,
        payee_currencies=WISE_CURRENCIES,
        cross_currency=True,
        min_amount=D("1"),
        max_amount=D("1000000"),
        limit_currency="USD",
        settlement_seconds=4 * 3600,
        required_identifiers=["iban", "email", "wise_recipient", "pix_key", "bsb_account"],
        sandbox_latency_seconds=3.0,
        fees=[
            dict(currency="", fixed_fee=D("0.90"), fixed_fee_currency="USD", percent_fee=D("0.55")),
            dict(currency="USD", fixed_fee=D("1.20"), fixed_fee_currency="USD", percent_fee=D("0.65")),
            dict(currency="EUR", fixed_fee=D("0.50"), fixed_fee_currency="EUR", percent_fee=D("0.45")),
            dict(currency="GBP", fixed_fee=D("0.45"), fixed_fee_currency="GBP", percent_fee=D("0.40")),
        ],
    ),
    dict(
        name="sepa",
        provider="sepa",
        display_name="SEPA Credit Transfer",
        min_kyc_tier="none",
        description="euro bank transfer, next business day",
        currencies=["EUR"],
        payee_currencies=["EUR"],
        payer_countries=SEPA,
        payee_countries=SEPA,
        min_amount=D("0.01"),
        max_amount=D("999999999"),
        limit_currency="EUR",
        settlement_seconds=86400,
        operates_24x7=False,
        # orders after 16:00 Brussels, at weekends or on TARGET closing days go out the next business day
        cutoff={"tz": "Europe/Brussels", "days": [0, 1, 2, 3, 4], "end": "16:00", "calendar": "target"},
        required_identifiers=["iban"],
        sandbox_latency_seconds=4.0,
        fees=[dict(currency="EUR", fixed_fee=D("0.20"), fixed_fee_currency="EUR", percent_fee=D("0"))],
    ),
    dict(
        name="sepa_instant",
        provider="sepa",
        display_name="SEPA Instant",
        min_kyc_tier="none",
        description="euro bank transfer in seconds, 24x7",
        currencies=["EUR"],
        payee_currencies=["EUR"],
        payer_countries=SEPA,
        payee_countries=SEPA,
        min_amount=D("0.01"),
        max_amount=D("100000"),
        limit_currency="EUR",
        settlement_seconds=10,
        required_identifiers=["iban"],
        sandbox_latency_seconds=1.0,
        fees=[dict(currency="EUR", fixed_fee=D("0.20"), fixed_fee_currency="EUR", percent_fee=D("0"))],
    ),
    dict(
        name="usdc",
        provider="usdc",
        display_name="USDC",
        description="USD stablecoin transfer with local off-ramp",
        currencies=["USD", "USDC"],
        # ARS and COP off-ramps need a rate the ECB does not publish: add them here (in the
        # admin) only with PAYMENTS_FX_SUPPLEMENTARY_FILE keeping their rates fresh
        payee_currencies=["USD", "USDC", "BRL", "MXN", "EUR"],
        cross_currency=True,
        min_amount=D("1"),
        max_amount=D("1000000"),
        limit_currency="USD",
        settlement_seconds=300,
        required_identifiers=["eth_address"],
        min_kyc_tier="full",
        fx_margin_percent=D("0.60"),
        supports_refund=False,
        sandbox_latency_seconds=2.0,
        fees=[dict(currency="", fixed_fee=D("1.00"), fixed_fee_currency="USD", percent_fee=D("0.50"))],
    ),
]


def rail_catalog_seed(*, rail_model: Any = None, fee_model: Any = None, status_model: Any = None) -> int:
    """Create or update the seeded rails (idempotent); historical models from migrations."""
    if rail_model is None:
        from apps.payments.models import PaymentRailStatus, RailDefinition, RailFeeSchedule

        rail_model, fee_model, status_model = RailDefinition, RailFeeSchedule, PaymentRailStatus
    for spec in RAILS:
        spec = dict(spec)
        fees: list[dict[str, Any]] = spec.pop("fees")
        rail, _ = rail_model.objects.update_or_create(name=spec["name"], defaults=spec)
        for fee in fees:
            fee = dict(fee)
            fee_model.objects.update_or_create(rail=rail, currency=fee.pop("currency"), defaults=fee)
        status_model.objects.get_or_create(rail_name=rail.name)
    return len(RAILS)
