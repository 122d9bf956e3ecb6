"""The flow engine: which flow handles a message, a click, a timeout or a payment event.

Callers hold the conversation row lock (``select_for_update``), which is what
makes "one active flow per conversation" hold under concurrent messages.
"""

from __future__ import annotations

from typing import Any

import structlog
from django.utils import timezone

from apps.conversations.choices import FlowKind, Platform
from apps.conversations.flows.base import Flow, FlowBusy, FlowContext
from apps.conversations.flows.direct import DirectPaymentFlow
from apps.conversations.flows.entities import intent_name
from apps.conversations.flows.inquiry import InquiryFlow
from apps.conversations.flows.invoice import InvoiceFlow
from apps.conversations.flows.messages import t
from apps.conversations.flows.negotiation import NegotiationFlow
from apps.conversations.flows.recurring import RecurringFlow
from apps.conversations.flows.split import SplitBillFlow
from apps.conversations.models import Conversation, ConversationMessage, FlowRun
from apps.conversations.platforms.base import Reply, action_decode

logger = structlog.get_logger(__name__)

FLOWS: dict[str, Flow] = {
    f.kind: f
    for f in (
        DirectPaymentFlow(),
        InvoiceFlow(),
        SplitBillFlow(),
        RecurringFlow(),
        InquiryFlow(),
        NegotiationFlow(),
    )
}

INTENT_FLOWS = {
    "send_payment": FlowKind.DIRECT_PAYMENT,
    "payment_promise": FlowKind.DIRECT_PAYMENT,
    "payment_request": FlowKind.INVOICE,
    "invoice_request": FlowKind.INVOICE,
    "split_bill": FlowKind.SPLIT_BILL,
    "recurring_setup": FlowKind.RECURRING,
    "payment_inquiry": FlowKind.INQUIRY,
    "balance_or_history": FlowKind.INQUIRY,
    "price_negotiation": FlowKind.NEGOTIATION,
}
MIN_CONFIDENCE = 0.5
# channels where a message is always addressed to AgentPay (so "I didn't get that" is useful)
DIRECT_CHANNELS = {Platform.WHATSAPP, Platform.WEBCHAT, Platform.AGENT}


def _context(
    run: FlowRun,
    conversation: Conversation,
    language: str,
    *,
    sender_id: str = "",
    sender_name: str = "",
    **kw: Any,
) -> FlowContext:
    return FlowContext(
        run=run,
        conversation=conversation,
        language=language,
        sender_id=sender_id,
        sender_name=sender_name,
        **kw,
    )


def conversation_language(conversation: Conversation, fallback: str = "") -> str:
    lang = conversation.language or fallback or conversation.organization.default_language or "en"
    return lang if lang in ("en", "pt", "es") else "en"


def flow_start_if_free(
    *,
    conversation: Conversation,
    kind: str,
    initiator_id: str,
    language: str,
    data: dict[str, Any] | None = None,
    message: ConversationMessage | None = None,
    intent: Any = None,
    sender_name: str = "",
    notice: Reply | None = None,
) -> FlowRun | None:
    """Start a ``kind`` run unless another run holds the conversation; returns it (or None when busy)."""
    if FlowRun.objects.filter(conversation=conversation, is_active=True).exists():
        return None
    run = FlowRun.objects.create(
        conversation=conversation,
        kind=kind,
        state="",
        is_active=False,
        initiator_id=initiator_id,
        data=dict(data or {}),
        started_by_message=message,
    )
    ctx = _context(
        run,
        conversation,
        language,
        sender_id=initiator_id,
        sender_name=sender_name,
        message=message,
        intent=intent,
    )
    if notice is not None:
        ctx.say(notice)
    FLOWS[kind].start(ctx)
    return run


def _busy_reply(conversation: Conversation, language: str, kind: str) -> None:
    from apps.conversations.services import reply_send

    label = dict(FlowKind.choices).get(kind, kind).lower()
    reply_send(conversation=conversation, reply=Reply(text=t("busy", language, kind=label)))


def message_dispatch(
    *, conversation: Conversation, message: ConversationMessage, intent: Any
) -> FlowRun | None:
    """Route an analysed message: the active run first, else start the flow its intent asks for."""
    from apps.conversations.services import reply_send

    language = conversation_language(conversation, message.language)
    active = (
        FlowRun.objects.select_for_update(of=("self",))
        .filter(conversation=conversation, is_active=True)
        .first()
    )
    common = {
        "sender_id": message.sender_id,
        "sender_name": message.sender_name,
        "message": message,
        "intent": intent,
    }
    if active is not None:
        try:
            if FLOWS[active.kind].on_message(_context(active, conversation, language, **common)):
                return active
        except FlowBusy as exc:
            _busy_reply(conversation, language, str(exc.extra.get("kind", "")))
            return active
    confident = intent is not None and float(getattr(intent, "confidence", 0.0) or 0.0) >= MIN_CONFIDENCE
    name = intent_name(intent if confident else None, message.message_text)
    kind = INTENT_FLOWS.get(name)
    if kind is not None:
        if active is not None:
            _busy_reply(conversation, language, active.kind)
            return active
        return flow_start_if_free(
            conversation=conversation,
            kind=kind,
            initiator_id=message.sender_id,
            sender_name=message.sender_name,
            language=language,
            message=message,
            intent=intent,
        )
    if name in ("confirm", "decline") and active is None:
        reply_send(conversation=conversation, reply=Reply(text=t("nothing_pending", language)))
    elif name == "none" and active is None and conversation.platform in DIRECT_CHANNELS:
        reply_send(conversation=conversation, reply=Reply(text=t("help", language)))
    return None


def action_dispatch(
    *, conversation: Conversation, sender_id: str, sender_name: str, action: str, payload: dict[str, Any]
) -> FlowRun | None:
    """A click: ``payload`` is ``{"token": ...}`` or ``{"run_id", "value"}``; without a run, the active one."""
    decoded = action_decode(str(payload.get("token", ""))) if payload.get("token") else None
    if decoded:
        action, fields = decoded
        payload = {**payload, **fields}
    run_id = payload.get("run_id")
    runs = FlowRun.objects.select_for_update(of=("self",)).filter(conversation=conversation)
    run = runs.filter(pk=run_id).first() if run_id else runs.filter(is_active=True).first()
    language = conversation_language(conversation)
    if run is None:
        if action == "confirm":
            from apps.conversations.services import reply_send

            reply_send(conversation=conversation, reply=Reply(text=t("nothing_pending", language)))
        return None
    ctx = _context(run, conversation, language, sender_id=sender_id, sender_name=sender_name)
    try:
        FLOWS[run.kind].on_action(ctx, action, str(payload.get("value", "")))
    except FlowBusy as exc:
        _busy_reply(conversation, language, str(exc.extra.get("kind", "")))
    return run


def timeout_dispatch(*, conversation: Conversation, run_id: Any, version: int | None = None) -> bool:
    """Fire a run's timeout if it is still in the state that armed it and its time has come."""
    run = FlowRun.objects.select_for_update(of=("self",)).filter(pk=run_id, conversation=conversation).first()
    if run is None or run.expires_at is None or run.expires_at > timezone.now():
        return False
    if version is not None and version != run.version:
        return False
    FLOWS[run.kind].on_timeout(_context(run, conversation, conversation_language(conversation)))
    return True


def payment_dispatch(*, conversation: Conversation, payment: Any, event: str) -> list[FlowRun]:
    runs = list(
        FlowRun.objects.select_for_update(of=("self",)).filter(conversation=conversation, payments=payment)
    )
    for run in runs:
        FLOWS[run.kind].on_payment(
            _context(run, conversation, conversation_language(conversation)), payment, event
        )
    return runs
