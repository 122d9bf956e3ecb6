"""FX rates behind a provider interface; every rate is per 1 EUR and carries its timestamp."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal


class FxUnavailable(Exception):
    """No rate for the currency pair."""


@dataclass(frozen=True)
class RateTable:
    """Units of each currency per 1 EUR at ``as_of`` (the ECB reference shape)."""

    as_of: datetime
    rates: dict[str, Decimal]
    source: str
    # currencies whose rate comes from elsewhere (a supplementary file), with their own timestamp
    extra_as_of: dict[str, datetime] = field(default_factory=dict)

    def as_of_for(self, *currencies: str) -> datetime:
        """The age of a cross rate: the older timestamp of the currencies it is made of."""
        stamps = [self.extra_as_of.get(c.upper(), self.as_of) for c in currencies]
        return min(stamps, default=self.as_of)

    def per_eur(self, currency: str) -> Decimal:
        currency = currency.upper()
        if currency == "EUR":
            return Decimal(1)
        # USDC is a USD stablecoin redeemable 1:1; pricing it at USD keeps cross rates honest.
        if currency == "USDC":
            currency = "USD"
        try:
            return self.rates[currency]
        except KeyError as exc:
            raise FxUnavailable(f"No {self.source} rate for {currency}.") from exc


class FxProvider(ABC):
    """Where rates come from (ECB file, a refreshed snapshot, later a live provider)."""

    name: str = "base"

    @abstractmethod
    def table(self) -> RateTable: ...
