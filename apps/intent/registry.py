"""The intents the engine knows. Add one here (plus corpus lines) to grow the registry."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class IntentSpec:
    name: str
    description: str
    monetary: bool  # carries an amount the payments layer may act on
    needs_confirmation: bool  # a "yes" later should confirm it


INTENTS: dict[str, IntentSpec] = {
    s.name: s
    for s in (
        IntentSpec("send_payment", "Pay someone now", True, True),
        IntentSpec("payment_promise", "Commit to pay later", True, False),
        IntentSpec("payment_request", "Ask someone to pay", True, True),
        IntentSpec("invoice_request", "Ask for an invoice / bill", True, True),
        IntentSpec("split_bill", "Split an amount between people", True, True),
        IntentSpec("recurring_setup", "Set up a recurring payment", True, True),
        IntentSpec("payment_inquiry", "Ask whether a payment happened", False, False),
        IntentSpec("price_negotiation", "Offer, counter-offer or accept a price", True, True),
        IntentSpec("confirm", "Confirm the pending action", False, False),
        IntentSpec("decline", "Decline the pending action", False, False),
        IntentSpec("cancel_or_refund", "Cancel a payment or ask for a refund", False, False),
        IntentSpec("balance_or_history", "Ask for balance or transaction history", False, False),
        IntentSpec("none", "Not a payment intent", False, False),
    )
}

INTENT_NAMES: tuple[str, ...] = tuple(INTENTS)
LANGUAGES: tuple[str, ...] = ("en", "pt", "es")
TIERS: tuple[str, ...] = ("cache", "rules", "model", "llm")
