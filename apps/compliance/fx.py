"""USD equivalents for limits and rule thresholds, from the ECB rates payments uses.

A decision builds one ``UsdConverter``: it takes payments' current rate table
once (``apps.payments.fx.services.fx_table``, itself reused in-process for a
minute) and keeps the rate of each currency it meets, so converting hundreds of
history rows costs a dict lookup and a multiplication each.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import structlog

from apps.compliance import conf

logger = structlog.get_logger(__name__)

USD_PLACES = Decimal("0.0001")
ONE = Decimal(1)


class UsdConverter:
    """Converts amounts to USD with one rate table; remembers which rates it applied."""

    def __init__(self, table: Any | None = None, fallback: dict[str, Decimal] | None = None) -> None:
        from apps.payments.fx.services import fx_table

        self.table = table if table is not None else fx_table()
        self.fallback = fallback if fallback is not None else conf.fx_fallback_to_usd()
        self._rates: dict[str, Decimal] = {"USD": ONE, "USDC": ONE}
        self._origin: dict[str, str] = {}

    def rate(self, currency: str) -> Decimal:
        """USD per one unit of ``currency``: ECB cross rate, else the fallback table, else 1."""
        code = (currency or "USD").upper()
        rate = self._rates.get(code)
        if rate is not None:
            return rate
        from apps.payments.fx.base import FxUnavailable
        from apps.payments.fx.services import fx_rate

        try:
            rate, origin = fx_rate(code, "USD", table=self.table), str(self.table.source)
        except FxUnavailable:
            if code in self.fallback:
                rate, origin = self.fallback[code], "fallback"
            else:
                # Unknown currency: count it 1:1 rather than letting it slip under every threshold.
                rate, origin = ONE, "unrated"
                logger.warning("compliance_fx_unrated_currency", currency=code)
        self._rates[code] = rate
        self._origin[code] = origin
        return rate

    def __call__(self, amount: Decimal | int | str, currency: str) -> Decimal:
        return (Decimal(amount) * self.rate(currency)).quantize(USD_PLACES)

    def describe(self) -> dict[str, Any]:
        """What was used, for the decision row: table source and date, and each non-USD rate applied."""
        return {
            "source": str(self.table.source),
            "as_of": self.table.as_of.isoformat(),
            "rates": {code: str(self._rates[code]) for code in sorted(self._origin)},
            **(
                {"other": {c: o for c, o in sorted(self._origin.items()) if o != self.table.source}}
                if any(o != self.table.source for o in self._origin.values())
                else {}
            ),
        }
