"""Recurring setup: "pay rent 800 EUR every month" → confirmation → a schedule.

Each occurrence opens a direct-payment confirmation in the conversation: a
schedule never pays by itself. After a completed payment that repeats last
month's (same payee, amount and currency, 25–35 days earlier) AgentPay offers
to make it recurring.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from dateutil.rrule import rrulestr
from django.utils import timezone

from apps.conversations import conf
from apps.conversations.choices import FlowKind
from apps.conversations.flows.base import Flow, FlowContext, confirm_buttons, flow_transition
from apps.conversations.flows.entities import amount_of, payee_of
from apps.conversations.flows.messages import money_format, t
from apps.conversations.platforms.base import Button, Reply

MONTHLY = "FREQ=MONTHLY"


def next_occurrence(rrule: str, *, after: datetime, start: datetime) -> datetime | None:
    rule = rrulestr(rrule if rrule.startswith(("RRULE:", "DTSTART")) else f"RRULE:{rrule}", dtstart=start)
    return rule.after(after)


def schedule_text(rrule: str, language: str) -> str:
    if "FREQ=WEEKLY" in rrule:
        return t("weekly", language)
    if "FREQ=MONTHLY" in rrule:
        return t("monthly", language)
    return rrule


class RecurringFlow(Flow):
    kind = FlowKind.RECURRING
    transitions = {
        "": frozenset({"awaiting_confirmation", "suggested", "cancelled"}),
        "suggested": frozenset({"scheduled", "declined", "expired"}),
        "awaiting_confirmation": frozenset({"awaiting_confirmation", "scheduled", "cancelled", "expired"}),
        "scheduled": frozenset({"scheduled", "cancelled"}),
        "declined": frozenset(),
        "cancelled": frozenset(),
        "expired": frozenset(),
    }
    active_states = frozenset({"awaiting_confirmation"})
    timeouts = {
        "awaiting_confirmation": conf.confirmation_ttl_seconds,
        "suggested": conf.flow_idle_ttl_seconds,
        "scheduled": conf.flow_idle_ttl_seconds,  # replaced by the next occurrence
    }

    def _terms(self, data: dict[str, Any], language: str) -> dict[str, str]:
        return {
            "amount": money_format(data.get("amount"), data.get("currency", "")),
            "payee": data.get("payee_name") or "?",
            "schedule": schedule_text(data.get("rrule", MONTHLY), language),
        }

    def start(self, ctx: FlowContext) -> None:
        data = ctx.run.data
        if data.pop("mode", "") == "suggest":
            flow_transition(flow=self, run=ctx.run, to_state="suggested", event="repeated_payment")
            run_id = str(ctx.run.pk)
            ctx.say(
                Reply(
                    text=t("recurring_suggest", ctx.language, **self._terms(data, ctx.language)),
                    buttons=(
                        Button("recurring_yes", t("btn_yes", ctx.language), run_id, style="primary"),
                        Button("recurring_no", t("btn_no", ctx.language), run_id),
                    ),
                ),
                remember_as="card_id",
            )
            return
        data.setdefault("payer_id", ctx.sender_id)
        amount, currency = amount_of(ctx.intent)
        if amount is not None:
            data["amount"] = str(amount)
            data["currency"] = currency or ctx.conversation.organization.default_currency
        data.update({k: v for k, v in payee_of(ctx.intent, ctx.conversation).items() if v})
        data["rrule"] = getattr(ctx.intent, "recurrence", None) or data.get("rrule") or MONTHLY
        if not data.get("amount") or not (data.get("payee_name") or data.get("payee_identifiers")):
            flow_transition(flow=self, run=ctx.run, to_state="cancelled", event="incomplete", actor=ctx.actor)
            text = (
                t("ask_amount", ctx.language, to="")
                if not data.get("amount")
                else t(
                    "ask_payee", ctx.language, amount=money_format(data["amount"], data.get("currency", ""))
                )
            )
            ctx.say(Reply(text=text))
            return
        flow_transition(
            flow=self, run=ctx.run, to_state="awaiting_confirmation", event="started", actor=ctx.actor
        )
        ctx.say(
            Reply(
                text=t("recurring_confirm", ctx.language, **self._terms(data, ctx.language)),
                buttons=confirm_buttons(ctx),
            ),
            remember_as="card_id",
        )

    def on_message(self, ctx: FlowContext) -> bool:
        return bool(self.typed_answer(ctx))

    def _schedule(self, ctx: FlowContext, *, event: str) -> None:
        data = ctx.run.data
        now = timezone.now()
        start = datetime.fromisoformat(data["start_at"]) if data.get("start_at") else now
        data.setdefault("start_at", start.isoformat())
        nxt = next_occurrence(data.get("rrule", MONTHLY), after=now, start=start)
        flow_transition(
            flow=self, run=ctx.run, to_state="scheduled", event=event, actor=ctx.actor, expires_at=nxt
        )
        ctx.say(
            Reply(
                text=t(
                    "recurring_scheduled",
                    ctx.language,
                    next=nxt.date().isoformat() if nxt else "-",
                    **self._terms(data, ctx.language),
                )
            ),
            replaces=data.get("card_id"),
        )

    def on_action(self, ctx: FlowContext, action: str, value: str) -> None:
        data = ctx.run.data
        if ctx.sender_id != data.get("payer_id"):
            return
        state = ctx.run.state
        if action in ("confirm", "recurring_yes") and state in ("awaiting_confirmation", "suggested"):
            if data.get("amount"):
                self._schedule(ctx, event=action)
        elif action in ("cancel", "recurring_no"):
            to_state = {"suggested": "declined"}.get(state, "cancelled")
            if to_state in self.transitions.get(state, frozenset()):
                flow_transition(flow=self, run=ctx.run, to_state=to_state, event=action, actor=ctx.actor)
                ctx.say(Reply(text=t("cancelled", ctx.language)), replaces=data.get("card_id"))

    def on_timeout(self, ctx: FlowContext) -> None:
        state = ctx.run.state
        if state in ("awaiting_confirmation", "suggested"):
            flow_transition(flow=self, run=ctx.run, to_state="expired", event="timeout")
            return
        if state != "scheduled":
            return
        # an occurrence: open a confirmation for this month's payment
        from apps.conversations.flows.engine import flow_start_if_free

        data = ctx.run.data
        started = flow_start_if_free(
            conversation=ctx.conversation,
            kind=FlowKind.DIRECT_PAYMENT,
            initiator_id=data.get("payer_id", ""),
            language=ctx.language,
            data={
                k: data[k]
                for k in (
                    "amount",
                    "currency",
                    "payee_name",
                    "payee_ref",
                    "payee_identifiers",
                    "payee_country",
                )
                if k in data
            }
            | {"payer_id": data.get("payer_id", ""), "recurring_run_id": str(ctx.run.pk)},
            notice=Reply(text=t("recurring_due", ctx.language, payee=data.get("payee_name") or "?")),
        )
        if started:
            start = datetime.fromisoformat(data["start_at"])
            nxt = next_occurrence(data.get("rrule", MONTHLY), after=timezone.now(), start=start)
        else:
            nxt = timezone.now() + timedelta(hours=1)  # conversation busy: try again in an hour
        flow_transition(flow=self, run=ctx.run, to_state="scheduled", event="occurrence", expires_at=nxt)


def recurring_suggest_if_repeated(ctx: FlowContext, *, payment: Any) -> None:
    """After a completed payment: if it repeats last month's, offer to make it recurring."""
    from apps.conversations.flows.engine import flow_start_if_free
    from apps.conversations.models import FlowRun
    from apps.payments.models import OrchestrationPayment

    if not (payment.payee_ref or payment.payee_name):
        return
    now = payment.completed_at or timezone.now()
    earlier = (
        OrchestrationPayment.objects.filter(
            organization_id=payment.organization_id,
            status="succeeded",
            amount_currency=str(payment.amount.currency),
            amount=Decimal(payment.amount.amount),
            completed_at__gte=now - timedelta(days=35),
            completed_at__lte=now - timedelta(days=25),
        )
        .filter(payee_ref=payment.payee_ref, payee_name=payment.payee_name)
        .exclude(pk=payment.pk)
        .exists()
    )
    if not earlier:
        return
    already = FlowRun.objects.filter(
        conversation=ctx.conversation, kind=FlowKind.RECURRING, state__in=("suggested", "scheduled")
    ).filter(data__payee_name=payment.payee_name)
    if already.exists():
        return
    data = {
        "payer_id": payment.payer_ref,
        "amount": f"{payment.amount.amount}",
        "currency": str(payment.amount.currency),
        "payee_name": payment.payee_name,
        "payee_ref": payment.payee_ref,
        "payee_identifiers": payment.payee_identifiers or {},
        "payee_country": payment.to_country,
        "rrule": MONTHLY,
        "start_at": now.isoformat(),
        "mode": "suggest",
    }
    flow_start_if_free(
        conversation=ctx.conversation,
        kind=FlowKind.RECURRING,
        initiator_id=payment.payer_ref,
        language=ctx.language,
        data=data,
    )
