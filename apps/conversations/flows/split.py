"""Split bill: "let's split the $90 dinner 3 ways" → a share per participant, each tracked until settled.

The person who paid the bill is the payee. Each participant pays their own
share by tapping "Pay my share" — that tap is their explicit confirmation.
With "3 ways" but nobody named, the first taps claim the open shares.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from apps.conversations import conf
from apps.conversations.choices import FlowKind
from apps.conversations.flows.base import Flow, FlowContext, flow_transition
from apps.conversations.flows.entities import amount_of, intent_name, mentioned_participants
from apps.conversations.flows.messages import money_format, t
from apps.conversations.flows.payment import payment_failure_reply, payment_submit
from apps.conversations.platforms.base import Button, Reply
from apps.core.exceptions import ApplicationError

CENT = Decimal("0.01")


class SplitBillFlow(Flow):
    kind = FlowKind.SPLIT_BILL
    transitions = {
        "": frozenset({"collecting", "needs_people"}),
        "needs_people": frozenset({"collecting", "cancelled", "expired"}),
        "collecting": frozenset({"collecting", "settled", "cancelled", "expired"}),
        "settled": frozenset(),
        "cancelled": frozenset(),
        "expired": frozenset(),
    }
    active_states = frozenset({"needs_people"})
    timeouts = {"needs_people": conf.confirmation_ttl_seconds, "collecting": conf.flow_idle_ttl_seconds}

    def _total_text(self, data: dict[str, Any]) -> str:
        return money_format(data["total"], data["currency"])

    def start(self, ctx: FlowContext) -> None:
        data = ctx.run.data
        total, currency = amount_of(ctx.intent, role="total")
        if total is None:
            total, currency = amount_of(ctx.intent)
        share, _ = amount_of(ctx.intent, role="share")
        if total is None:
            flow_transition(flow=self, run=ctx.run, to_state="needs_people", event="started", actor=ctx.actor)
            ctx.say(Reply(text=t("ask_amount", ctx.language, to="")))
            return
        data.update(
            total=str(total),
            currency=currency or ctx.conversation.organization.default_currency,
            payee_id=ctx.sender_id,
            payee_name=ctx.sender_name or ctx.sender_id,
        )
        people = mentioned_participants(ctx.intent, ctx.conversation, exclude=ctx.sender_id)
        n = 0
        if people:
            n = len(people) + 1
        elif share:
            n = int((total / share).to_integral_value(rounding=ROUND_HALF_UP))
        if n < 2:
            flow_transition(flow=self, run=ctx.run, to_state="needs_people", event="started", actor=ctx.actor)
            ctx.say(Reply(text=t("split_need_people", ctx.language, total=self._total_text(data))))
            return
        self._propose(ctx, n=n, people=people, event="started")

    def _propose(self, ctx: FlowContext, *, n: int, people: list[dict[str, str]], event: str) -> None:
        data = ctx.run.data
        share = (Decimal(data["total"]) / n).quantize(CENT, rounding=ROUND_HALF_UP)
        slots = [{"id": p["id"], "name": p["name"]} for p in people] + [
            {"id": "", "name": ""} for _ in range(n - 1 - len(people))
        ]
        data["n"] = n
        data["share"] = str(share)
        data["shares"] = [{**s, "amount": str(share), "status": "pending", "payment_id": ""} for s in slots]
        flow_transition(
            flow=self, run=ctx.run, to_state="collecting", event=event, actor=ctx.actor, data={"n": n}
        )
        share_text = money_format(share, data["currency"])
        ctx.say(
            Reply(
                text=t(
                    "split_proposed",
                    ctx.language,
                    total=self._total_text(data),
                    n=n,
                    share=share_text,
                    payee=data["payee_name"],
                ),
                buttons=(
                    Button("settle", f"{t('btn_pay_share', ctx.language)} ({share_text})", str(ctx.run.pk)),
                ),
            ),
            remember_as="card_id",
        )

    def on_message(self, ctx: FlowContext) -> bool:
        if ctx.run.state != "needs_people" or ctx.sender_id != ctx.run.data.get("payee_id"):
            return False
        if intent_name(ctx.intent) in ("decline", "cancel_or_refund"):
            flow_transition(flow=self, run=ctx.run, to_state="cancelled", event="cancel", actor=ctx.actor)
            ctx.say(Reply(text=t("cancelled", ctx.language)))
            return True
        people = mentioned_participants(ctx.intent, ctx.conversation, exclude=ctx.sender_id)
        if not people or "total" not in ctx.run.data:
            return False
        self._propose(ctx, n=len(people) + 1, people=people, event="people_named")
        return True

    def on_action(self, ctx: FlowContext, action: str, value: str) -> None:
        data = ctx.run.data
        if action != "settle" or ctx.run.state != "collecting" or ctx.sender_id == data.get("payee_id"):
            return
        shares = data["shares"]
        share = next((s for s in shares if s["id"] == ctx.sender_id), None)
        if share is None:
            share = next((s for s in shares if not s["id"]), None)
            if share is None:
                return  # not part of this split
            share.update(id=ctx.sender_id, name=ctx.sender_name or ctx.sender_id)
        if share["status"] in ("paying", "paid"):
            return
        share["status"] = "paying"
        flow_transition(
            flow=self, run=ctx.run, to_state="collecting", event="share_confirmed", actor=ctx.actor
        )
        try:
            payment = payment_submit(
                ctx,
                amount=Decimal(share["amount"]),
                currency=data["currency"],
                payer_ref=ctx.sender_id,
                payee={"payee_ref": data["payee_id"], "payee_name": data["payee_name"]},
                idempotency_key=f"split:{ctx.run.pk}:{ctx.sender_id}",
                purpose="split bill",
            )
        except ApplicationError as exc:
            share["status"] = "failed"
            ctx.run.save(update_fields=["data", "updated_at"])
            payment_failure_reply(ctx, exc)
            return
        share["payment_id"] = str(payment.pk)
        ctx.run.save(update_fields=["data", "updated_at"])

    def on_payment(self, ctx: FlowContext, payment: Any, event: str) -> None:
        data = ctx.run.data
        share = next((s for s in data.get("shares", []) if s.get("payment_id") == str(payment.pk)), None)
        if share is None or ctx.run.state != "collecting":
            return
        if event == "payment_completed":
            share["status"] = "paid"
        elif event in ("payment_failed", "payment_blocked"):
            share["status"] = "failed"
        else:
            return
        paid = sum(1 for s in data["shares"] if s["status"] == "paid")
        if paid == len(data["shares"]):
            flow_transition(flow=self, run=ctx.run, to_state="settled", event="all_paid")
            ctx.say(Reply(text=t("split_settled", ctx.language, total=self._total_text(data))))
            return
        flow_transition(flow=self, run=ctx.run, to_state="collecting", event=f"share_{share['status']}")
        ctx.say(
            Reply(
                text=t(
                    "split_status",
                    ctx.language,
                    total=self._total_text(data),
                    paid=paid,
                    n=len(data["shares"]),
                )
            )
        )

    def on_timeout(self, ctx: FlowContext) -> None:
        if ctx.run.state in ("needs_people", "collecting"):
            flow_transition(flow=self, run=ctx.run, to_state="expired", event="timeout")
