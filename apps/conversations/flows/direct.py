"""Direct payment: "pay João R$ 50 via PIX" → confirmation (expires) → payment → settlement notices."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from apps.conversations import conf
from apps.conversations.choices import FlowKind
from apps.conversations.flows.base import Flow, FlowContext, confirm_buttons, flow_transition
from apps.conversations.flows.entities import (
    IDENTIFIER_LABELS,
    amount_of,
    identifiers_for_rail,
    intent_name,
    known_identifiers,
    missing_identifier,
    other_participant,
    payee_of,
)
from apps.conversations.flows.messages import money_format, t
from apps.conversations.flows.payment import payment_failure_reply, payment_submit
from apps.conversations.platforms.base import Reply
from apps.core.exceptions import ApplicationError

# states after submission that follow the payment's own lifecycle
PAYMENT_TAIL = {
    "submitted": frozenset({"on_hold", "initiated", "completed", "failed", "blocked"}),
    "on_hold": frozenset({"initiated", "completed", "failed", "blocked"}),
    "initiated": frozenset({"initiated", "completed", "failed"}),
    "failed": frozenset({"initiated"}),  # a manual retry on another rail
    "completed": frozenset(),
    "blocked": frozenset(),
    "cancelled": frozenset(),
    "expired": frozenset(),
}
# what may edit a pending payment ("make it $45", "to Maria instead"); other intents are new requests
EDIT_INTENTS = {"send_payment", "payment_promise", "none"}
EVENT_STATES = {
    "payment_initiated": "initiated",
    "payment_fallback": "initiated",
    "payment_completed": "completed",
    "payment_failed": "failed",
    "payment_on_hold": "on_hold",
    "payment_blocked": "blocked",
}


def follow_payment(flow: Flow, ctx: FlowContext, event: str) -> None:
    """Mirror a payment event in the run's state when the declared map allows it."""
    to_state = EVENT_STATES.get(event)
    if to_state and to_state in flow.transitions.get(ctx.run.state, frozenset()):
        flow_transition(flow=flow, run=ctx.run, to_state=to_state, event=event, actor="payments")


class DirectPaymentFlow(Flow):
    kind = FlowKind.DIRECT_PAYMENT
    transitions = {
        "": frozenset({"collecting", "awaiting_confirmation"}),
        "collecting": frozenset({"collecting", "awaiting_confirmation", "cancelled", "expired"}),
        "awaiting_confirmation": frozenset(
            {"awaiting_confirmation", "submitted", "cancelled", "expired", "failed", "blocked", "on_hold"}
        ),
        **PAYMENT_TAIL,
    }
    active_states = frozenset({"collecting", "awaiting_confirmation"})
    timeouts = {
        "collecting": conf.confirmation_ttl_seconds,
        "awaiting_confirmation": conf.confirmation_ttl_seconds,
    }

    # --- helpers ---------------------------------------------------------
    def _amount_text(self, run_data: dict[str, Any]) -> str:
        return money_format(run_data.get("amount"), run_data.get("currency", ""))

    def _absorb(self, ctx: FlowContext) -> None:
        """Merge what the latest message says (amount, payee, rail, purpose) into the run."""
        data = ctx.run.data
        amount, currency = amount_of(ctx.intent)
        if amount is not None:
            data["amount"] = str(amount)
            data["currency"] = (
                currency or data.get("currency") or ctx.conversation.organization.default_currency
            )
        text = ctx.message.message_text if ctx.message else ""
        payee = payee_of(
            ctx.intent,
            ctx.conversation,
            text if ctx.intent is not None and ctx.intent.intent == "send_payment" else "",
        )
        if not payee["payee_name"] and not payee["payee_identifiers"] and not data.get("payee_name"):
            other = other_participant(ctx.intent, ctx.conversation, ctx.sender_id)
            if other:
                payee.update(payee_name=other["name"], payee_ref=other["id"])
        if payee["payee_name"] or payee["payee_identifiers"]:
            named_by_identifier = payee["payee_name"] in payee["payee_identifiers"].values()
            for key in ("payee_name", "payee_ref", "payee_country"):
                # "ana@example.com" in reply to "what is Ana's PIX key?" keeps the name Ana
                if payee[key] and not (key != "payee_country" and named_by_identifier and data.get(key)):
                    data[key] = payee[key]
            data["payee_identifiers"] = {**data.get("payee_identifiers", {}), **payee["payee_identifiers"]}
        for key, attr in (("rail", "rail_hint"), ("purpose", "purpose"), ("urgency", "urgency")):
            value = getattr(ctx.intent, attr, None)
            if value:
                data[key] = value
        if data.get("payee_name") and not data.get("payee_identifiers"):
            data["payee_identifiers"] = known_identifiers(
                ctx.conversation, payee_ref=data.get("payee_ref", ""), payee_name=data["payee_name"]
            )
        data["payee_identifiers"] = identifiers_for_rail(
            data.get("rail", ""), data.get("payee_identifiers") or {}
        )
        if data["payee_identifiers"].get("pix_key") and not data.get("payee_country"):
            data["payee_country"] = "BR"

    def _ask_or_confirm(self, ctx: FlowContext, *, event: str) -> None:
        data = ctx.run.data
        if not data.get("amount"):
            to = f" {data['payee_name']}" if data.get("payee_name") else ""
            to = {"en": " to", "pt": " para", "es": " a"}.get(ctx.language, " to") + to if to else ""
            flow_transition(flow=self, run=ctx.run, to_state="collecting", event=event, actor=ctx.actor)
            ctx.say(Reply(text=t("ask_amount", ctx.language, to=to)))
            return
        if not data.get("payee_name") and not data.get("payee_identifiers"):
            flow_transition(flow=self, run=ctx.run, to_state="collecting", event=event, actor=ctx.actor)
            ctx.say(Reply(text=t("ask_payee", ctx.language, amount=self._amount_text(data))))
            return
        missing = missing_identifier(data.get("rail", ""), data.get("payee_identifiers") or {})
        if missing:
            flow_transition(flow=self, run=ctx.run, to_state="collecting", event=event, actor=ctx.actor)
            label = IDENTIFIER_LABELS.get(missing, {}).get(ctx.language) or missing
            ctx.say(
                Reply(
                    text=t("ask_identifier", ctx.language, payee=data.get("payee_name") or "?", label=label)
                )
            )
            return
        flow_transition(
            flow=self,
            run=ctx.run,
            to_state="awaiting_confirmation",
            event=event,
            actor=ctx.actor,
            data={"amount": data["amount"], "currency": data.get("currency", "")},
        )
        self.confirmation_send(ctx)

    def confirmation_send(self, ctx: FlowContext) -> None:
        """The confirmation card; an edit updates the earlier card in place where the platform can."""
        data = ctx.run.data
        via = f" via {data['rail'].upper()}" if data.get("rail") else ""
        minutes = max(1, conf.confirmation_ttl_seconds() // 60)
        reply = Reply(
            text=t(
                "confirm_payment",
                ctx.language,
                amount=self._amount_text(data),
                payee=data.get("payee_name") or "?",
                via=via,
                minutes=minutes,
            ),
            buttons=confirm_buttons(ctx),
            metadata={"card": "confirmation", "version": ctx.run.version},
        )
        ctx.say(reply, replaces=data.get("card_id"), remember_as="card_id")

    # --- events ------------------------------------------------------------
    def start(self, ctx: FlowContext) -> None:
        ctx.run.data.setdefault("payer_id", ctx.sender_id)
        ctx.run.data.setdefault("currency", ctx.conversation.organization.default_currency)
        self._absorb(ctx)
        self._ask_or_confirm(ctx, event="started")

    def on_message(self, ctx: FlowContext) -> bool:
        if self.typed_answer(ctx):
            return True
        name = intent_name(ctx.intent, ctx.message.message_text if ctx.message else "")
        if ctx.sender_id != ctx.run.data.get("payer_id") or name not in EDIT_INTENTS:
            return False
        terms = ("amount", "payee_name", "rail", "payee_identifiers")
        before = [ctx.run.data.get(k) for k in terms]
        self._absorb(ctx)
        after = [ctx.run.data.get(k) for k in terms]
        if before == after:
            return False
        # an edit ("make it $45") restarts the confirmation with the new terms
        self._ask_or_confirm(ctx, event="edited")
        return True

    def on_action(self, ctx: FlowContext, action: str, value: str) -> None:
        state = ctx.run.state
        data = ctx.run.data
        if action == "cancel" and state in self.active_states:
            if ctx.sender_id != data.get("payer_id"):
                return
            flow_transition(flow=self, run=ctx.run, to_state="cancelled", event="cancel", actor=ctx.actor)
            ctx.say(Reply(text=t("cancelled", ctx.language)), replaces=data.get("card_id"))
            return
        if action != "confirm":
            return
        if state != "awaiting_confirmation":
            ctx.say(Reply(text=t("nothing_pending", ctx.language)))
            return
        if ctx.sender_id != data.get("payer_id"):
            who = data.get("payer_name") or data.get("payer_id")
            ctx.say(Reply(text=t("not_yours", ctx.language, who=who)))
            return
        flow_transition(flow=self, run=ctx.run, to_state="submitted", event="confirm", actor=ctx.actor)
        payee = data.get("payee_name") or "?"
        ctx.say(
            Reply(text=t("confirmed", ctx.language, amount=self._amount_text(data), payee=payee)),
            replaces=data.get("card_id"),
        )
        try:
            payment = payment_submit(
                ctx,
                amount=Decimal(data["amount"]),
                currency=data["currency"],
                payer_ref=data["payer_id"],
                payee=data,
                idempotency_key=f"flow:{ctx.run.pk}",
                rail=data.get("rail", ""),
                purpose=data.get("purpose", ""),
                urgency=data.get("urgency") or "normal",
            )
        except ApplicationError as exc:
            flow_transition(
                flow=self, run=ctx.run, to_state="failed", event="orchestrate_error", actor="payments"
            )
            payment_failure_reply(ctx, exc)
            return
        # payments tells the conversation what happens next (on hold, initiated, completed...)
        data["payment_id"] = str(payment.pk)
        ctx.run.save(update_fields=["data", "updated_at"])

    def on_timeout(self, ctx: FlowContext) -> None:
        if ctx.run.state not in self.active_states:
            return
        flow_transition(flow=self, run=ctx.run, to_state="expired", event="timeout")
        self.expired_notice(ctx)

    def expired_notice(self, ctx: FlowContext) -> None:
        data = ctx.run.data
        payee = data.get("payee_name") or "?"
        text = t("expired", ctx.language, amount=self._amount_text(data), payee=payee)
        ctx.say(Reply(text=text), replaces=data.get("card_id"))

    def on_payment(self, ctx: FlowContext, payment: Any, event: str) -> None:
        follow_payment(self, ctx, event)
        if event == "payment_completed":
            from apps.conversations.flows.recurring import recurring_suggest_if_repeated

            recurring_suggest_if_repeated(ctx, payment=payment)
