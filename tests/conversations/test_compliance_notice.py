"""A reviewer's "request information" reaches the payer's conversation, in its language."""

from __future__ import annotations

import pytest
from djmoney.money import Money

from apps.conversations.models import Conversation, OutboundMessage
from apps.conversations.services import conversation_payment_notify
from apps.payments.models import OrchestrationPayment

pytestmark = pytest.mark.django_db


def test_reviewer_question_is_sent_once_per_question(organization, platform_settings):
    # given a Portuguese Telegram conversation with no bot configured (replies go to the local outbox)
    conversation = Conversation.objects.create(
        organization=organization, platform="telegram", external_conversation_id="777", language="pt"
    )
    payment = OrchestrationPayment.objects.create(
        organization=organization,
        conversation=conversation,
        amount=Money("1500.00", "BRL"),
        payee_ref="joao",
        payer_ref="ana",
        status="on_hold",
    )
    # when compliance asks a question, twice (a retried notice), then another one
    for question in ("Para que é esta fatura?", "Para que é esta fatura?", "Quem é o João?"):
        conversation_payment_notify(payment_id=payment.pk, event="compliance_info_requested", detail=question)
    # then each distinct question is one message, in Portuguese, with the amount
    texts = list(OutboundMessage.objects.order_by("created_at").values_list("text", flat=True))
    assert len(texts) == 2
    assert "compliance pergunta: Para que é esta fatura?" in texts[0] and "R$" in texts[0]
    assert "Quem é o João?" in texts[1]
    assert set(OutboundMessage.objects.values_list("channel", flat=True)) == {"local"}
