"""Invoice → payment options with costs (``payment_quote``) → the payer picks one → confirmation → payment.

"Send me an invoice for R$ 500" (invoice_request): the sender pays the
organisation. "Pay me R$ 200 for the consulting" (payment_request): the sender
is paid by the person named, or by whoever picks an option.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from apps.conversations import conf
from apps.conversations.choices import FlowKind
from apps.conversations.flows.base import FlowContext, flow_transition
from apps.conversations.flows.direct import PAYMENT_TAIL, DirectPaymentFlow
from apps.conversations.flows.entities import amount_of, mentioned_participants
from apps.conversations.flows.messages import money_format, t
from apps.conversations.platforms.base import Option, Reply
from apps.core.exceptions import ApplicationError


class InvoiceFlow(DirectPaymentFlow):
    kind = FlowKind.INVOICE
    transitions = {
        "": frozenset({"awaiting_choice", "cancelled"}),
        "awaiting_choice": frozenset({"awaiting_confirmation", "cancelled", "expired"}),
        "awaiting_confirmation": frozenset(
            {"awaiting_choice", "submitted", "cancelled", "failed", "blocked", "on_hold"}
        ),
        **PAYMENT_TAIL,
    }
    active_states = frozenset({"awaiting_confirmation"})
    timeouts = {
        "awaiting_choice": conf.flow_idle_ttl_seconds,
        "awaiting_confirmation": conf.confirmation_ttl_seconds,
    }

    def start(self, ctx: FlowContext) -> None:
        data = ctx.run.data
        org = ctx.conversation.organization
        if ctx.intent is not None:
            amount, currency = amount_of(ctx.intent)
            if amount is not None:
                data["amount"] = str(amount)
                data["currency"] = currency or org.default_currency
            data["purpose"] = getattr(ctx.intent, "purpose", None) or ""
            if getattr(ctx.intent, "intent", "") == "invoice_request":
                data.update(payer_id=ctx.sender_id, payee_name=org.name, payee_ref=f"org:{org.slug}")
            else:
                named = mentioned_participants(ctx.intent, ctx.conversation, exclude=ctx.sender_id)
                data.update(
                    payer_id=named[0]["id"] if named else "",
                    payee_name=ctx.sender_name or ctx.sender_id,
                    payee_ref=ctx.sender_id,
                )
        if not data.get("amount"):
            flow_transition(flow=self, run=ctx.run, to_state="cancelled", event="incomplete", actor=ctx.actor)
            ctx.say(Reply(text=t("ask_amount", ctx.language, to="")))
            return
        data["number"] = f"INV-{ctx.run.pk.hex[:8].upper()}"
        try:
            from apps.conversations.flows.payment import payment_quote_options

            options = payment_quote_options(
                ctx, amount=Decimal(data["amount"]), currency=data["currency"], payee=data
            )
        except (ApplicationError, ImportError, AttributeError):
            options = []
        data["options"] = options
        flow_transition(flow=self, run=ctx.run, to_state="awaiting_choice", event="invoiced", actor=ctx.actor)
        self.options_send(ctx)

    def options_send(self, ctx: FlowContext) -> None:
        data = ctx.run.data
        run_id = str(ctx.run.pk)
        purpose = f" — {data['purpose']}" if data.get("purpose") else ""
        options = data.get("options") or [{"rail": "", "fee": "", "eta": ""}]
        ctx.say(
            Reply(
                text=t(
                    "invoice_options",
                    ctx.language,
                    number=data["number"],
                    amount=self._amount_text(data),
                    payee=data.get("payee_name") or "?",
                    purpose=purpose,
                ),
                options=tuple(
                    Option(
                        value=o["rail"],
                        title=(o["rail"] or t("btn_confirm", ctx.language)).upper(),
                        description=t(
                            "option_line",
                            ctx.language,
                            fee=money_format(o["fee"], data["currency"]) if o["fee"] else "-",
                            eta=o["eta"] or "-",
                        ),
                        run_id=run_id,
                    )
                    for o in options[:10]
                ),
                options_title=t("options_title", ctx.language),
                metadata={"invoice": data["number"]},
            ),
            remember_as="card_id",
        )

    def on_message(self, ctx: FlowContext) -> bool:
        return bool(self.typed_answer(ctx))

    def on_action(self, ctx: FlowContext, action: str, value: str) -> None:
        data = ctx.run.data
        if action == "choose" and ctx.run.state in ("awaiting_choice", "awaiting_confirmation"):
            if ctx.sender_id == data.get("payee_ref") or (
                data.get("payer_id") and ctx.sender_id != data["payer_id"]
            ):
                return
            data["payer_id"] = ctx.sender_id
            data["rail"] = value
            if ctx.run.state == "awaiting_confirmation":
                flow_transition(
                    flow=self, run=ctx.run, to_state="awaiting_choice", event="rechoose", actor=ctx.actor
                )
            flow_transition(
                flow=self,
                run=ctx.run,
                to_state="awaiting_confirmation",
                event="choose",
                actor=ctx.actor,
                data={"rail": value},
            )
            data.pop("card_id", None)
            self.confirmation_send(ctx)
            return
        super().on_action(ctx, action, value)

    def on_timeout(self, ctx: FlowContext) -> None:
        if ctx.run.state == "awaiting_confirmation":
            flow_transition(flow=self, run=ctx.run, to_state="awaiting_choice", event="timeout")
            self.expired_notice(ctx)
        elif ctx.run.state == "awaiting_choice":
            flow_transition(flow=self, run=ctx.run, to_state="expired", event="timeout")


def invoice_data(
    *, amount: str, currency: str, payer_id: str, payee_ref: str, payee_name: str, purpose: str
) -> dict[str, Any]:
    return {
        "amount": amount,
        "currency": currency,
        "payer_id": payer_id,
        "payee_ref": payee_ref,
        "payee_name": payee_name,
        "purpose": purpose,
    }
