"""Payment inquiry ("did John pay me for the consulting?") and payment history: one-shot answers."""

from __future__ import annotations

import re

from django.db.models import Q

from apps.conversations.choices import FlowKind
from apps.conversations.flows.base import Flow, FlowContext, flow_transition
from apps.conversations.flows.entities import mentioned_participants
from apps.conversations.flows.messages import money_format, t
from apps.conversations.platforms.base import Reply

_STOP = {"that", "this", "with", "para", "pelo", "pela", "from", "sobre"}
PENDING = ("created", "screening", "on_hold", "approved", "initiated", "processing")


class InquiryFlow(Flow):
    kind = FlowKind.INQUIRY
    transitions = {"": frozenset({"answered"}), "answered": frozenset()}

    def start(self, ctx: FlowContext) -> None:
        from apps.payments.models import OrchestrationPayment

        org_payments = OrchestrationPayment.objects.filter(organization_id=ctx.conversation.organization_id)
        lang = ctx.language
        if getattr(ctx.intent, "intent", "") == "balance_or_history":
            recent = org_payments.filter(Q(payer_ref=ctx.sender_id) | Q(payee_ref=ctx.sender_id)).order_by(
                "-created_at"
            )[:5]
            lines = [
                f"• {p.created_at.date().isoformat()} {money_format(p.amount.amount, str(p.amount.currency))} "
                f"{p.payee_name or p.payee_ref} ({p.status})"
                for p in recent
            ]
            text = t("history", lang, lines="\n".join(lines)) if lines else t("history_empty", lang)
        else:
            people = mentioned_participants(ctx.intent, ctx.conversation, exclude=ctx.sender_id)
            purpose = getattr(ctx.intent, "purpose", None) or ""
            qs = org_payments
            payer_name = people[0]["name"] if people else "?"
            if people:
                qs = qs.filter(Q(payer_ref=people[0]["id"]) | Q(payer_ref__iexact=people[0]["name"]))
            qs = qs.filter(Q(payee_ref=ctx.sender_id) | Q(payee_ref="") | Q(payee_ref__startswith="org:"))
            words = [w for w in re.findall(r"[^\W\d_]{4,}", purpose.lower()) if w not in _STOP]
            if words:
                match = Q()
                for word in words:
                    match |= Q(purpose__icontains=word)
                qs = qs.filter(match)
            payment = (
                qs.exclude(status__in=("failed", "blocked", "cancelled")).order_by("-created_at").first()
            )
            purpose_text = f" — {purpose}" if purpose else ""
            if payment is None:
                text = t("inquiry_none", lang, payer=payer_name, purpose=purpose_text)
            elif payment.status in PENDING:
                amount = money_format(payment.amount.amount, str(payment.amount.currency))
                text = t("inquiry_pending", lang, amount=amount, payer=payer_name, status=payment.status)
            else:
                when = (payment.completed_at or payment.created_at).date().isoformat()
                amount = money_format(payment.amount.amount, str(payment.amount.currency))
                text = t(
                    "inquiry_found",
                    lang,
                    payer=payer_name,
                    amount=amount,
                    date=when,
                    status=payment.status,
                    purpose=purpose_text,
                )
            if payment is not None:
                ctx.run.data["payment_id"] = str(payment.pk)
        flow_transition(flow=self, run=ctx.run, to_state="answered", event="asked", actor=ctx.actor)
        ctx.say(Reply(text=text))
