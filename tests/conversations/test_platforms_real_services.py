"""Each platform from its first webhook to a completed payment on the real pieces: the intent engine,
payments with compliance and the PIX sandbox (its signed settlement webhook), the platform's own
payload shapes in and its API out (faked at the HTTP boundary)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import respx
from django.test import Client

from apps.conversations.models import FlowRun
from tests.conversations import test_webhooks_slack as slack
from tests.conversations import test_webhooks_telegram as telegram
from tests.conversations import test_webhooks_whatsapp as whatsapp
from tests.conversations.conftest import ana_paid_before
from tests.conversations.factories import (
    slack_account,
    telegram_account,
    whatsapp_account,
)

pytestmark = pytest.mark.django_db


@dataclass
class PlatformCase:
    connect: Callable[[Any], Any]
    say: Callable[[Client, str], Any]
    click: Callable[[Client, str], Any]
    ask: str
    confirm_label: str
    received: str


def _wa_say(client: Client, text: str) -> Any:
    return whatsapp.post(client, whatsapp.envelope(messages=[whatsapp.text_message(text, "wamid.IN1")]))


def _wa_click(client: Client, token: str) -> Any:
    click = {
        "context": {"from": "15550783881", "id": "wamid.OUT1"},
        "from": whatsapp.WA_ID,
        "id": "wamid.IN2",
        "timestamp": "1749416390",
        "type": "interactive",
        "interactive": {"type": "button_reply", "button_reply": {"id": token, "title": "Confirmar"}},
    }
    return whatsapp.post(client, whatsapp.envelope(messages=[click]))


def _slack_say(client: Client, text: str) -> Any:
    return slack.post_json(client, slack.event_callback(slack.message_event(text, user="U0ALICE")))


def _slack_click(client: Client, token: str) -> Any:
    return slack.post_action(client, slack.block_actions(token, user="U0ALICE"))


def _tg_say(client: Client, text: str) -> Any:
    return telegram.post(client, telegram.message_update(30000, text))


def _tg_click(client: Client, token: str) -> Any:
    return telegram.post(client, telegram.callback_update(30001, token, message_id=101))


# (the intent engine tells Spanish from Portuguese poorly when "R$" is in the text, so no Spanish here)
CASES = {
    "whatsapp": PlatformCase(
        whatsapp_account,
        _wa_say,
        _wa_click,
        "pague R$ 30 para a Ana via pix",
        "Confirmar",
        "Pagamento recebido",
    ),
    "slack": PlatformCase(
        slack_account, _slack_say, _slack_click, "pay ana R$ 30 via pix", "Confirm", "Payment received"
    ),
    "telegram": PlatformCase(
        telegram_account,
        _tg_say,
        _tg_click,
        "pague R$ 30 para a Ana via pix",
        "Confirmar",
        "Pagamento recebido",
    ),
}


@pytest.fixture
def apis(platform_settings: Any) -> Any:
    """WhatsApp's Graph API and Telegram's Bot API at the HTTP boundary (Slack: ``slack_fake``)."""
    with respx.mock(assert_all_called=False) as router:
        counter = {"n": 0}

        def answer(request: httpx.Request) -> httpx.Response:
            counter["n"] += 1
            if request.url.host == "api.telegram.test":
                return httpx.Response(200, json={"ok": True, "result": {"message_id": 100 + counter["n"]}})
            if request.url.path.endswith("/media"):
                return httpx.Response(200, json={"id": "4490709327384033"})
            return httpx.Response(200, json={"messages": [{"id": f"wamid.OUT{counter['n']}"}]})

        router.route(host="graph.whatsapp.test").mock(side_effect=answer)
        router.route(host="api.telegram.test").mock(side_effect=answer)
        yield router


def sent(apis: Any, slack_fake: Any, platform: str) -> list[dict[str, Any]]:
    """What reached the platform's API, as (kind, text, buttons) dicts in order."""
    out: list[dict[str, Any]] = []
    if platform == "slack":
        for method, body in slack_fake.calls:
            actions = [b for b in body.get("blocks") or [] if b["type"] == "actions"]
            buttons = [(e["text"]["text"], e["value"]) for a in actions for e in a["elements"]]
            images = [b for b in body.get("blocks") or [] if b["type"] == "image"]
            out.append({"kind": "qr" if images else method, "text": body["text"], "buttons": buttons})
        return out
    for call in apis.calls:
        request = call.request
        if platform == "telegram" and request.url.host == "api.telegram.test":
            method = request.url.path.rsplit("/", 1)[-1]
            if method == "sendPhoto":
                out.append({"kind": "qr", "text": "", "buttons": []})
                continue
            body = json.loads(request.content)
            keyboard = (body.get("reply_markup") or {}).get("inline_keyboard") or []
            buttons = [(b["text"], b.get("callback_data", "")) for row in keyboard for b in row]
            out.append({"kind": method, "text": body.get("text", ""), "buttons": buttons})
        elif platform == "whatsapp" and request.url.host == "graph.whatsapp.test":
            if request.url.path.endswith("/media"):
                continue
            body = json.loads(request.content)
            if body["type"] == "image":
                out.append({"kind": "qr", "text": "", "buttons": []})
            elif body["type"] == "interactive":
                buttons = [
                    (b["reply"]["title"], b["reply"]["id"]) for b in body["interactive"]["action"]["buttons"]
                ]
                out.append(
                    {"kind": "interactive", "text": body["interactive"]["body"]["text"], "buttons": buttons}
                )
            else:
                out.append({"kind": "text", "text": body["text"]["body"], "buttons": []})
    return out


@pytest.mark.parametrize("platform", sorted(CASES))
def test_a_pix_payment_from_the_first_webhook_to_payment_received(
    platform, organization, sandbox, apis, slack_fake, django_capture_on_commit_callbacks
):
    case = CASES[platform]
    case.connect(organization)
    # given the organisation paid Ana before, so her PIX key is known
    ana_paid_before(organization)
    client = Client()
    # when the payer asks, in the platform's own webhook payload
    with django_capture_on_commit_callbacks(execute=True):
        assert case.say(client, case.ask).status_code == 200
    # then a confirmation card with the platform's buttons, and nothing paid yet
    [card] = sent(apis, slack_fake, platform)
    assert "R$ 30.00" in card["text"] and "Ana" in card["text"]
    assert card["buttons"][0][0] == case.confirm_label
    run = FlowRun.objects.get()
    assert run.state == "awaiting_confirmation" and not run.payments.exists()

    # when the payer taps Confirm (the platform's click payload)
    with django_capture_on_commit_callbacks(execute=True):
        assert case.click(client, card["buttons"][0][1]).status_code == 200

    # then the real payment was screened, initiated on PIX and settled by the sandbox
    run.refresh_from_db()
    payment = run.payments.get()
    assert (payment.status, payment.selected_rail, str(payment.amount.amount)) == (
        "succeeded",
        "pix",
        "30.0000",
    )
    assert payment.payee_identifiers == {"pix_key": "ana@example.com"}
    assert run.state == "completed"
    # and the payer got the QR code and "payment received" on the platform, in their language
    after = sent(apis, slack_fake, platform)[1:]
    assert any(m["kind"] == "qr" for m in after)
    assert any(case.received in m["text"] for m in after)


def test_platform_clients_share_one_http_client_per_process(monkeypatch):
    """A client per reply built an SSL context and opened a new TLS connection every time."""
    from apps.conversations.platforms import base
    from apps.conversations.platforms.telegram.client import TelegramClient
    from apps.conversations.platforms.whatsapp.client import WhatsAppClient

    tg_a = TelegramClient(bot_token="1:a", base_url="https://api.telegram.test")
    tg_b = TelegramClient(bot_token="2:b", base_url="https://api.telegram.test")
    wa = WhatsAppClient(access_token="t", phone_number_id="1", base_url="https://graph.whatsapp.test/v21.0")
    assert tg_a._http is tg_b._http is wa._http
    tg_a.close()
    assert not tg_b._http.is_closed  # closing one platform client leaves the shared pool open
    monkeypatch.setattr(base.os, "getpid", lambda: -1)  # as in a forked Celery worker
    assert TelegramClient(bot_token="1:a", base_url="https://api.telegram.test")._http is not tg_a._http


def test_each_account_keeps_its_own_token_on_the_shared_client():
    from apps.conversations.platforms.telegram.client import TelegramClient
    from apps.conversations.platforms.whatsapp.client import WhatsAppClient

    with respx.mock() as router:
        tg = router.post(url__regex=r"https://api\.telegram\.test/bot(1:a|2:b)/sendMessage").mock(
            return_value=httpx.Response(200, json={"ok": True, "result": {"message_id": 7}})
        )
        wa = router.post("https://graph.whatsapp.test/v21.0/1/messages").mock(
            return_value=httpx.Response(200, json={"messages": [{"id": "wamid.X"}]})
        )
        for token in ("1:a", "2:b"):
            TelegramClient(bot_token=token, base_url="https://api.telegram.test").call(
                "sendMessage", {"chat_id": 1, "text": "oi"}
            )
        for token in ("t1", "t2"):
            client = WhatsAppClient(
                access_token=token, phone_number_id="1", base_url="https://graph.whatsapp.test/v21.0"
            )
            client.message_send(
                {"messaging_product": "whatsapp", "to": "5511", "type": "text", "text": {"body": "oi"}}
            )
    assert [c.request.url.path for c in tg.calls] == ["/bot1:a/sendMessage", "/bot2:b/sendMessage"]
    assert [c.request.headers["Authorization"] for c in wa.calls] == ["Bearer t1", "Bearer t2"]
