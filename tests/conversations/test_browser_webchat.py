"""The web chat in a real headless Chromium (Debian's chromium, driven by Playwright)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from apps.core.events import conversation_group
from tests.conversations.conftest_b import (
    ServicesDouble,
    chromium_launch,
    live_asgi_server_run,
    services_double_install,
)
from tests.factories import OrganizationFactory

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

TIMEOUT_MS = 15_000


@pytest.fixture
def live(settings: Any) -> Iterator[Any]:
    server, url = live_asgi_server_run(settings)
    server.url = url
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def live_url(live: Any) -> str:
    return str(live.url)


@pytest.fixture
def page(live_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop in this thread; the test's own ORM calls are
    # still plain synchronous code (the documented Django + Playwright setting).
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

    with sync_playwright() as p:
        browser = chromium_launch(p)
        context = browser.new_context()
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        try:
            yield page
        finally:
            context.close()
            browser.close()


@pytest.fixture
def services_double(monkeypatch: pytest.MonkeyPatch) -> ServicesDouble:
    return services_double_install(monkeypatch)


def test_widget_renders_cards_buttons_qr_and_survives_refresh(
    page: Any, live: Any, live_url: str, services_double: ServicesDouble
) -> None:
    # given the shop's web chat page, its flows played by the test double
    OrganizationFactory(slug="shop", name="Shop")
    page.goto(f"{live_url}/chat/shop/")
    page.wait_for_selector("#chat-status[data-state=open]")
    # when the visitor types a payment request
    page.fill("#chat-input", "pay ana R$ 30 via pix")
    page.press("#chat-input", "Enter")
    # then their message is stored (echo replaces the pending bubble)
    page.wait_for_selector(".msg.inbound:not(.pending)")
    assert services_double.received[0]["text"] == "pay ana R$ 30 via pix"
    conversation_id = services_double_conversation(services_double)
    # and a confirmation card arrives when the flow replies
    live.publish(
        event_type="reply",
        data={
            "message_id": "card-1",
            "conversation_id": conversation_id,
            "text": "Pay R$ 30.00 to Ana via PIX?",
            "components": [
                {"type": "text", "text": "Pay R$ 30.00 to Ana via PIX?"},
                {
                    "type": "buttons",
                    "buttons": [
                        {
                            "label": "Confirm",
                            "action": "confirm",
                            "token": "confirm:run1:",
                            "style": "primary",
                        },
                        {"label": "Cancel", "action": "cancel", "token": "cancel:run1:", "style": "danger"},
                    ],
                },
            ],
            "replaces": None,
        },
        groups=[conversation_group(conversation_id)],
    )
    page.click("button[data-action=confirm]")
    # then the click reached conversation_action with the button's token and the QR is shown
    page.wait_for_selector(".qr img.qr-image")
    assert services_double.actions[0]["token"] == "confirm:run1:"
    assert page.inner_text(".qr-payload").startswith("000201")
    page.wait_for_function(
        "() => { const i = document.querySelector('.qr img'); return i.complete && i.naturalWidth > 0; }"
    )
    # when the sandbox settles, the receipt replaces the card in place
    live.publish(
        event_type="reply",
        data={
            "message_id": "receipt-1",
            "conversation_id": conversation_id,
            "text": "Payment received ✓ R$ 30.00 to Ana.",
            "components": [
                {"type": "text", "text": "Payment received ✓ R$ 30.00 to Ana."},
                {
                    "type": "receipt",
                    "payment_id": "p1",
                    "amount": "30.00",
                    "currency": "BRL",
                    "status": "succeeded",
                    "rail": "pix",
                    "payee": "Ana",
                    "reference": "E2E-1",
                },
            ],
            "replaces": "card-1",
        },
        groups=[conversation_group(conversation_id)],
    )
    page.wait_for_selector(".receipt[data-status=succeeded]")
    assert "Payment received" in page.inner_text("#chat-log")
    assert page.query_selector('[data-id="card-1"]') is None
    # when the visitor refreshes, the same session's history comes back
    page.reload()
    page.wait_for_selector("#chat-status[data-state=open]")
    page.wait_for_selector(".msg.inbound")
    assert re.search(r"pay ana R\$ 30 via pix", page.inner_text("#chat-log"))


def services_double_conversation(double: ServicesDouble) -> str:
    from apps.conversations.models import Conversation

    external = double.received[0]["external_conversation_id"]
    return str(Conversation.objects.get(external_conversation_id=external, platform="webchat").pk)


def test_pay_ana_by_pix_end_to_end(rails: Any, page: Any, live_url: str) -> None:
    """The issue's scenario on every real piece: the intent engine, the flows, payments with
    compliance and the PIX sandbox's signed settlement webhook, the widget in Chromium."""
    from tests.conversations.conftest import ana_paid_before

    # given the shop's public chat, and Ana's PIX key known from an earlier payment to her
    shop = OrganizationFactory(
        slug="e2e", name="E2E Shop", country="BR", default_currency="BRL", default_language="en"
    )
    ana_paid_before(shop)
    page.goto(f"{live_url}/chat/e2e/")
    page.wait_for_selector("#chat-status[data-state=open]")
    # when the visitor types "pay ana R$ 30 via pix"
    page.fill("#chat-input", "pay ana R$ 30 via pix")
    page.press("#chat-input", "Enter")
    # then a confirmation card asks them to confirm
    confirm = page.wait_for_selector("button[data-action=confirm]", timeout=30_000)
    assert "Send R$ 30.00 to Ana via PIX?" in page.inner_text("#chat-log")
    # when they confirm, the PIX QR code is shown
    confirm.click()
    try:
        page.wait_for_selector(".qr img.qr-image", timeout=30_000)
    except Exception:
        print("chat log when the QR code did not come:", page.inner_html("#chat-log")[-3000:])
        raise
    assert page.inner_text(".qr-payload").startswith("000201")
    # and once the sandbox settles, the chat says the payment was received
    page.wait_for_function(
        "() => /payment received/i.test(document.getElementById('chat-log').innerText)", timeout=60_000
    )
    # and a refresh shows the same conversation
    page.reload()
    page.wait_for_function(
        "() => /payment received/i.test(document.getElementById('chat-log').innerText)", timeout=15_000
    )
