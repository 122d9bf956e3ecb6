"""Price negotiation: offer → counter-offers → accept → invoice.

The person who opens with a price is taken as the seller (payee); an offer is
accepted by the other side (button or "yes"/"deal"), which opens an invoice
for the agreed amount.
"""

from __future__ import annotations

from typing import Any

from apps.conversations import conf
from apps.conversations.choices import FlowKind
from apps.conversations.flows.base import Flow, FlowContext, confirm_buttons, flow_transition
from apps.conversations.flows.entities import amount_of
from apps.conversations.flows.invoice import invoice_data
from apps.conversations.flows.messages import money_format, t
from apps.conversations.platforms.base import Reply


class NegotiationFlow(Flow):
    kind = FlowKind.NEGOTIATION
    transitions = {
        "": frozenset({"offered"}),
        "offered": frozenset({"countered", "accepted", "cancelled", "expired"}),
        "countered": frozenset({"countered", "accepted", "cancelled", "expired"}),
        "accepted": frozenset(),
        "cancelled": frozenset(),
        "expired": frozenset(),
    }
    active_states = frozenset({"offered", "countered"})
    timeouts = {"offered": conf.flow_idle_ttl_seconds, "countered": conf.flow_idle_ttl_seconds}

    def _offer(self, ctx: FlowContext, amount: Any, currency: str | None, *, to_state: str) -> None:
        data = ctx.run.data
        data.setdefault("currency", currency or ctx.conversation.organization.default_currency)
        data.setdefault("offers", []).append(
            {"by": ctx.sender_id, "name": ctx.sender_name or ctx.sender_id, "amount": str(amount)}
        )
        flow_transition(
            flow=self, run=ctx.run, to_state=to_state, event="offer", actor=ctx.actor, data={"amount": amount}
        )
        purpose = f" — {data['purpose']}" if data.get("purpose") else ""
        ctx.say(
            Reply(
                text=t(
                    "offer",
                    ctx.language,
                    who=ctx.sender_name or ctx.sender_id,
                    amount=money_format(amount, data["currency"]),
                    purpose=purpose,
                ),
                buttons=confirm_buttons(ctx, action="accept", label_key="btn_accept"),
            ),
            remember_as="card_id",
        )

    def start(self, ctx: FlowContext) -> None:
        amount, currency = amount_of(ctx.intent)
        data = ctx.run.data
        data.update(seller_id=ctx.sender_id, seller_name=ctx.sender_name or ctx.sender_id)
        data["purpose"] = getattr(ctx.intent, "purpose", None) or ""
        if amount is None:
            ctx.say(Reply(text=t("ask_amount", ctx.language, to="")))
            flow_transition(flow=self, run=ctx.run, to_state="offered", event="started", actor=ctx.actor)
            return
        self._offer(ctx, amount, currency, to_state="offered")

    def on_message(self, ctx: FlowContext) -> bool:
        if self.typed_answer(ctx, confirm_action="accept"):
            return True
        amount, currency = amount_of(ctx.intent)
        if amount is None:
            return False
        self._offer(ctx, amount, currency, to_state="countered")
        return True

    def on_action(self, ctx: FlowContext, action: str, value: str) -> None:
        data = ctx.run.data
        offers = data.get("offers") or []
        if ctx.run.state not in self.active_states:
            return
        if action == "cancel":
            flow_transition(flow=self, run=ctx.run, to_state="cancelled", event="cancel", actor=ctx.actor)
            ctx.say(Reply(text=t("cancelled", ctx.language)), replaces=data.get("card_id"))
            return
        if action != "accept" or not offers or offers[-1]["by"] == ctx.sender_id:
            return  # nobody accepts their own offer
        agreed = offers[-1]["amount"]
        buyer = ctx.sender_id if ctx.sender_id != data["seller_id"] else offers[-1]["by"]
        flow_transition(
            flow=self,
            run=ctx.run,
            to_state="accepted",
            event="accept",
            actor=ctx.actor,
            data={"amount": agreed},
        )
        ctx.say(
            Reply(text=t("deal", ctx.language, amount=money_format(agreed, data["currency"]))),
            replaces=data.get("card_id"),
        )
        from apps.conversations.flows.engine import flow_start_if_free

        flow_start_if_free(
            conversation=ctx.conversation,
            kind=FlowKind.INVOICE,
            initiator_id=data["seller_id"],
            language=ctx.language,
            data=invoice_data(
                amount=agreed,
                currency=data["currency"],
                payer_id=buyer,
                payee_ref=data["seller_id"],
                payee_name=data["seller_name"],
                purpose=data.get("purpose", ""),
            )
            | {"negotiation_run_id": str(ctx.run.pk)},
        )

    def on_timeout(self, ctx: FlowContext) -> None:
        if ctx.run.state in self.active_states:
            flow_transition(flow=self, run=ctx.run, to_state="expired", event="timeout")
