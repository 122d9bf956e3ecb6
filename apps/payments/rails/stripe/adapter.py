from __future__ import annotations

from typing import Any

from apps.payments import conf
from apps.payments.rails.base import RailWebhook
from apps.payments.rails.sandbox import SandboxRailAdapter
from apps.payments.rails.stripe.client import StripeSandboxClient
from apps.payments.rails.stripe.webhooks import stripe_webhook_parse, stripe_webhook_verify


class StripeAdapter(SandboxRailAdapter):
    """Stripe: cards and wallets through a hosted checkout link; payouts in ~2 business days."""

    provider = "stripe"
    client_class = StripeSandboxClient

    def initiate_metadata(self, *, payment: Any, attempt: Any, state: dict[str, Any]) -> dict[str, Any]:
        return {
            "checkout_url": f"https://checkout.stripe.test/c/pay/{state['id']}",
            "stripe": {"id": state["id"]},
        }

    def webhook_verify(self, *, headers: dict[str, str], body: bytes) -> None:
        lowered = {k.lower(): v for k, v in headers.items()}
        stripe_webhook_verify(
            body=body, header=lowered.get("stripe-signature"), secret=conf.webhook_secret(self.caps.name)
        )

    def webhook_parse(self, *, body: bytes) -> RailWebhook:
        return stripe_webhook_parse(body)
