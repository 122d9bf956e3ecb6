"""The web chat conversation from the issue, on the real intent engine, payments (PIX sandbox
with its signed settlement webhook) and compliance: "pay ana R$ 30 via pix" → confirmation card →
"yes" → QR code → sandbox settlement → "payment received"."""

from __future__ import annotations

from apps.conversations.models import Conversation, FlowRun, OutboundMessage
from apps.conversations.platforms.base import Reply


def test_webchat_pix_payment_from_first_message_to_payment_received(
    organization, sandbox, platform_settings, monkeypatch, visitor_says
):
    published: list[tuple[list[str], dict]] = []
    monkeypatch.setattr("apps.core.events._send", lambda groups, message: published.append((groups, message)))
    organization.default_language = "en"
    organization.save(update_fields=["default_language"])

    def say(text: str) -> None:
        visitor_says(organization, "visitor-9", text)

    def last_reply() -> Reply:
        outbound = OutboundMessage.objects.filter(conversation__external_conversation_id="visitor-9")
        return Reply.from_dict(outbound.latest("created_at").reply)

    # when the visitor asks, PIX needs Ana's key first
    say("pay ana R$ 30 via pix")
    assert last_reply().text == "What is Ana's PIX key?"
    assert [m["event"] for _, m in published] == ["message_received", "intent_detected", "reply"]
    # when they give it, the confirmation card comes
    say("ana@example.com")
    assert last_reply().text.startswith("Send R$ 30.00 to Ana via PIX?")
    assert [m["event"] for _, m in published][-2:] == ["reply", "confirmation_requested"]
    conversation = Conversation.objects.get(external_conversation_id="visitor-9")

    # when they confirm by typing
    say("yes")

    # then the real payment ran: screened, initiated on PIX, settled by the sandbox's signed webhook
    run = FlowRun.objects.get(conversation=conversation)
    payment = run.payments.get()
    assert payment.status == "succeeded" and payment.selected_rail == "pix"
    assert (
        payment.payer_ref == "visitor-9"
        and payment.payee_name == "Ana"
        and str(payment.amount.amount) == "30.0000"
    )
    assert run.state == "completed"
    replies = [m["data"] for _, m in published if m["event"] == "reply"]
    qr = next(c for r in replies for c in r["components"] if c["type"] == "qr")
    assert qr["data"] == payment.metadata["pix"]["emv"] and qr["image"].startswith("data:image/png;base64,")
    assert replies[-1]["text"] == "Payment received ✓ R$ 30.00 to Ana."
    receipt = next(c for c in replies[-1]["components"] if c["type"] == "receipt")
    assert receipt["status"] == "succeeded" and receipt["payment_id"] == str(payment.pk)
    assert [m["event"] for _, m in published if m["event"].startswith("payment_")] == [
        "payment_initiated",
        "payment_completed",
    ]
