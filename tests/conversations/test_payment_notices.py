"""Compliance notices reach the chat on every platform: ``payment_blocked`` (emitted by payments
after commit, as ``payment_event_emit`` does) and a reviewer's ``compliance_info_requested``
question, each rendered by the platform's renderer in the conversation's language."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import respx
from djmoney.money import Money

from apps.conversations import services
from apps.conversations.models import Conversation, FlowRun, OutboundMessage
from apps.conversations.platforms.base import Reply
from apps.payments.models import OrchestrationPayment
from tests.conversations.factories import (
    WA_PHONE_NUMBER_ID,
    slack_account,
    telegram_account,
    whatsapp_account,
)

pytestmark = pytest.mark.django_db

GRAPH = "https://graph.whatsapp.test/v21.0"
TELEGRAM = "https://api.telegram.test"


@pytest.fixture
def platform_apis(platform_settings: Any) -> Any:
    """WhatsApp's Graph API and Telegram's Bot API faked with respx (Slack has its own fake)."""
    with respx.mock(assert_all_called=False) as router:
        router.post(f"{GRAPH}/{WA_PHONE_NUMBER_ID}/messages").mock(
            return_value=httpx.Response(200, json={"messages": [{"id": "wamid.OUT1"}]})
        )
        router.route(host="api.telegram.test").mock(
            return_value=httpx.Response(200, json={"ok": True, "result": {"message_id": 101}})
        )
        yield router


@pytest.fixture
def published(monkeypatch: pytest.MonkeyPatch) -> list[tuple[list[str], dict[str, Any]]]:
    sent: list[tuple[list[str], dict[str, Any]]] = []
    monkeypatch.setattr("apps.core.events._send", lambda groups, message: sent.append((groups, message)))
    return sent


def whatsapp_sent(router: Any, slack: Any) -> list[str]:
    bodies = [
        json.loads(c.request.content) for c in router.calls if c.request.url.host == "graph.whatsapp.test"
    ]
    return [b["text"]["body"] for b in bodies if b["type"] == "text"]


def slack_sent(router: Any, slack: Any) -> list[str]:
    posts = [body for method, body in slack.calls if method == "chat.postMessage"]
    # the section block is what Slack shows; ``text`` is the notification
    assert all(p["blocks"][0]["text"]["text"] == p["text"] for p in posts)
    return [p["text"] for p in posts]


def telegram_sent(router: Any, slack: Any) -> list[str]:
    calls = [c.request for c in router.calls if c.request.url.path.endswith("/sendMessage")]
    bodies = [json.loads(r.content) for r in calls]
    assert all(b["parse_mode"] == "HTML" for b in bodies)
    return [b["text"] for b in bodies]


PLATFORMS: dict[str, tuple[Callable[..., Any], str, Callable[..., list[str]]]] = {
    "whatsapp": (whatsapp_account, "16505551234", whatsapp_sent),
    "slack": (slack_account, "C0FIN", slack_sent),
    "telegram": (telegram_account, "1111111", telegram_sent),
}


def blocked_payment(
    organization: Any, platform: str, external_id: str, language: str
) -> OrchestrationPayment:
    conversation = Conversation.objects.create(
        organization=organization, platform=platform, external_conversation_id=external_id, language=language
    )
    return OrchestrationPayment.objects.create(  # type: ignore[misc]  # django-money's Money is accepted
        organization=organization,
        conversation=conversation,
        amount=Money("1500.00", "BRL"),
        payee_name="João",
        payer_ref="ana",
        status="blocked",
        failure_reason="blocked_by_compliance",
    )


def emit_like_payments(payment: OrchestrationPayment, event: str, **extra: Any) -> None:
    from apps.payments.services import payment_event_emit

    payment_event_emit(payment=payment, event=event, extra=extra or None)


BLOCKED_TEXTS = {
    "en": "The payment of R$ 1,500.00 to João was blocked by our compliance checks. Nothing was paid.",
    "pt": "O pagamento de R$ 1,500.00 para João foi bloqueado pela nossa verificação de compliance. Nada foi pago.",
    "es": "El pago de R$ 1,500.00 a João fue bloqueado por nuestros controles de cumplimiento. No se pagó nada.",
}


@pytest.mark.parametrize(("platform", "language"), [("whatsapp", "pt"), ("slack", "en"), ("telegram", "es")])
def test_payment_blocked_is_sent_through_each_platforms_api(
    organization, platform, language, platform_apis, slack_fake, django_capture_on_commit_callbacks
):
    # given a connected platform and a conversation whose payment compliance blocked
    make_account, external_id, sent_texts = PLATFORMS[platform]
    make_account(organization)
    payment = blocked_payment(organization, platform, external_id, language)
    # when payments announces it after commit (twice: a retried notice)
    with django_capture_on_commit_callbacks(execute=True):
        emit_like_payments(payment, "payment_blocked", reason="blocked_by_compliance")
    with django_capture_on_commit_callbacks(execute=True):
        emit_like_payments(payment, "payment_blocked", reason="blocked_by_compliance")
    # then the payer was told once, in their language, through the platform's API
    assert sent_texts(platform_apis, slack_fake) == [BLOCKED_TEXTS[language]]
    assert list(OutboundMessage.objects.values_list("channel", "status")) == [(platform, "sent")]


def test_payment_blocked_reaches_the_web_chat_and_the_live_feed(
    organization, published, django_capture_on_commit_callbacks
):
    payment = blocked_payment(organization, "webchat", "visitor-blocked", "en")
    with django_capture_on_commit_callbacks(execute=True):
        emit_like_payments(payment, "payment_blocked", reason="blocked_by_compliance")
    events = [(m["event"], groups) for groups, m in published]
    org, conversation = f"org.{organization.pk}", f"conversation.{payment.conversation_id}"
    assert events == [("payment_blocked", [org, conversation]), ("reply", [conversation, org])]
    reply = published[1][1]["data"]
    assert reply["components"] == [{"type": "text", "text": BLOCKED_TEXTS["en"]}]


def test_a_block_announced_as_a_failure_is_told_as_a_block_and_only_once(
    organization, published, django_capture_on_commit_callbacks
):
    payment = blocked_payment(organization, "webchat", "visitor-legacy", "en")
    with django_capture_on_commit_callbacks(execute=True):
        emit_like_payments(payment, "payment_failed", reason="blocked_by_compliance")
        emit_like_payments(payment, "payment_blocked", reason="blocked_by_compliance")
    assert list(OutboundMessage.objects.values_list("text", flat=True)) == [BLOCKED_TEXTS["en"]]


QUESTION = "Is <@U0BOSS> & the <invoice> for the logo?"


@pytest.mark.parametrize(
    ("platform", "language", "expected"),
    [
        (
            "whatsapp",
            "pt",
            "Antes de liberar o pagamento de R$ 1,500.00, nossa equipe de compliance pergunta: "
            f"{QUESTION} É só responder aqui.",
        ),
        (
            # Slack's control characters are escaped: the question cannot mention or link anyone
            "slack",
            "en",
            "Before the payment of R$ 1,500.00 can go, our compliance team asks: "
            "Is &lt;@U0BOSS&gt; &amp; the &lt;invoice&gt; for the logo? Just reply here.",
        ),
        (
            "telegram",
            "es",
            "Antes de enviar el pago de R$ 1,500.00, nuestro equipo de cumplimiento pregunta: "
            "Is &lt;@U0BOSS&gt; &amp; the &lt;invoice&gt; for the logo? Responde aquí mismo.",
        ),
    ],
)
def test_a_reviewers_question_reaches_the_payer_on_each_platform(
    organization, platform, language, expected, platform_apis, slack_fake, django_capture_on_commit_callbacks
):
    make_account, external_id, sent_texts = PLATFORMS[platform]
    make_account(organization)
    payment = blocked_payment(organization, platform, external_id, language)
    OrchestrationPayment.objects.filter(pk=payment.pk).update(status="on_hold", failure_reason="")
    # when compliance asks (as case_request_info does, after its commit)
    with django_capture_on_commit_callbacks(execute=True):
        services.conversation_payment_notify(
            payment_id=payment.pk, event="compliance_info_requested", detail=QUESTION
        )
    assert sent_texts(platform_apis, slack_fake) == [expected]


def test_a_compliance_block_of_a_chat_payment_ends_its_flow_as_blocked(
    organization, sandbox, platform_settings, monkeypatch, published, visitor_says
):
    """The real intent engine and payments; compliance's decision is a block."""
    from dataclasses import dataclass, field

    @dataclass
    class Block:
        decision: str = "block"
        score: float = 100.0
        reasons: list[dict[str, Any]] = field(
            default_factory=lambda: [{"code": "sanctions_match", "message": "listed", "score": 100}]
        )
        case_id: Any = None
        decision_id: Any = "dec-block"

    monkeypatch.setattr("apps.compliance.services.payment_compliance_decide", lambda **kwargs: Block())
    organization.default_language = "en"
    organization.save(update_fields=["default_language"])

    for text in ("pay ana R$ 30 via pix", "ana@example.com", "yes"):
        visitor_says(organization, "visitor-b", text)
    run = FlowRun.objects.get(conversation__external_conversation_id="visitor-b")
    payment = run.payments.get()
    assert payment.status == "blocked"
    assert run.state == "blocked" and not run.is_active
    last = Reply.from_dict(OutboundMessage.objects.filter(flow_run=run).latest("created_at").reply)
    assert (
        last.text == "The payment of R$ 30.00 to Ana was blocked by our compliance checks. Nothing was paid."
    )
    assert [m["event"] for _, m in published if m["event"].startswith("payment_")] == ["payment_blocked"]
