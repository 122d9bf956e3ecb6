"""Currency minor units (ISO 4217) and the KYC tier order."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

# ISO 4217 exponent; USDC is shown with 2 decimals to payers although it has 6 on chain.
MINOR_UNITS: dict[str, int] = {
    "JPY": 0,
    "CLP": 0,
    "KRW": 0,
    "ISK": 0,
    "HUF": 2,
    "USDC": 2,
}
DEFAULT_MINOR_UNITS = 2

KYC_ORDER = {"none": 0, "basic": 1, "full": 2}


def minor_units(currency: str) -> int:
    return MINOR_UNITS.get(currency.upper(), DEFAULT_MINOR_UNITS)


def quantize_money(value: Decimal, currency: str) -> Decimal:
    """Round to the currency's minor unit (banker's rounding, as ledgers do)."""
    exp = Decimal(1).scaleb(-minor_units(currency))
    return value.quantize(exp, rounding=ROUND_HALF_EVEN)
