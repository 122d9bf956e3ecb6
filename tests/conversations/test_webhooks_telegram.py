"""Telegram Bot API webhooks: the secret token, update_id dedupe, messages and callback queries,
and a conversation (in Portuguese) from first message to completed payment."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import respx
from django.test import Client

from apps.conversations.models import ConversationMessage, FlowRun, WebhookEvent
from tests.conversations.conftest import Intent, Party, money
from tests.conversations.factories import TG_SECRET, telegram_account

URL = "/api/v1/webhooks/telegram"
API = "https://api.telegram.test/bot7000000001:AAH-test"
CHAT = {
    "id": 1111111,
    "type": "private",
    "first_name": "Test Firstname",
    "last_name": "Test Lastname",
    "username": "Testusername",
}
USER = {
    "id": 1111111,
    "is_bot": False,
    "first_name": "Test Firstname",
    "last_name": "Test Lastname",
    "username": "Testusername",
    "language_code": "pt-br",
}


def message_update(update_id: int, text: str, message_id: int = 1365) -> dict:
    return {
        "update_id": update_id,
        "message": {"message_id": message_id, "from": USER, "chat": CHAT, "date": 1441645532, "text": text},
    }


def callback_update(update_id: int, data: str, message_id: int = 1) -> dict:
    return {
        "update_id": update_id,
        "callback_query": {
            "id": "4382bfdwdsb323b2d9",
            "from": USER,
            "message": {
                "message_id": message_id,
                "from": {"id": 7000000001, "is_bot": True, "first_name": "AgentPay"},
                "chat": CHAT,
                "date": 1441645540,
                "text": "...",
            },
            "chat_instance": "-1234567890",
            "data": data,
        },
    }


def post(client: Client, update: dict, secret: str = TG_SECRET) -> Any:
    return client.post(
        URL,
        data=json.dumps(update),
        content_type="application/json",
        HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN=secret,
    )


def understand_pay_ana(intent_double: Any) -> None:
    """What the intent engine makes of "pague R$ 30 para a Ana via pix" (with her PIX key)."""
    intent_double.understand(
        "pague R$ 30 para a Ana via pix",
        Intent(
            "send_payment",
            language="pt",
            amounts=[money("30", "BRL")],
            parties=[Party("name", "Ana"), Party("pix_key", "ana@example.com", valid=True, subkind="email")],
            rail_hint="pix",
        ),
    )


@pytest.fixture
def account(organization, platform_settings):
    return telegram_account(organization)


@pytest.fixture
def bot_api() -> Any:
    with respx.mock(assert_all_called=False) as router:
        counter = {"n": 0}

        def answer(request: httpx.Request) -> httpx.Response:
            counter["n"] += 1
            return httpx.Response(
                200, json={"ok": True, "result": {"message_id": 100 + counter["n"], "chat": CHAT, "date": 1}}
            )

        router.route(host="api.telegram.test").mock(side_effect=answer)
        yield router


def calls(router: Any, method: str) -> list[httpx.Request]:
    return [c.request for c in router.calls if c.request.url.path.endswith(f"/{method}")]


def test_wrong_secret_token_is_refused_and_nothing_stored(account):
    resp = post(Client(), message_update(10000, "/start"), secret="wrong")
    assert resp.status_code == 403 and resp.json()["code"] == "invalid_secret_token"
    assert WebhookEvent.objects.count() == 0


def test_not_an_update_is_a_400(account):
    resp = Client().post(
        URL,
        data=json.dumps({"hello": 1}),
        content_type="application/json",
        HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN=TG_SECRET,
    )
    assert resp.status_code == 400 and resp.json()["code"] == "invalid_update"


def test_message_is_stored_and_update_id_deduplicated(
    account, bot_api, intent_double, django_capture_on_commit_callbacks
):
    client = Client()
    with django_capture_on_commit_callbacks(execute=True):
        first = post(client, message_update(10000, "olá"))
        again = post(client, message_update(10000, "olá"))
    assert first.json()["stored"] == 1 and again.status_code == 200 and again.json()["stored"] == 0
    event = WebhookEvent.objects.get()
    assert event.event_id == "7000000001:10000" and event.event_type == "message"
    [message] = ConversationMessage.objects.filter(direction="inbound")
    assert (
        message.sender_name == "Test Firstname Test Lastname"
        and message.conversation.external_conversation_id == "1111111"
    )


def test_edited_messages_are_stored_and_skipped(account, intent_double, django_capture_on_commit_callbacks):
    update = {
        "update_id": 10001,
        "edited_message": {
            "message_id": 1365,
            "from": USER,
            "chat": CHAT,
            "date": 1,
            "edit_date": 2,
            "text": "x",
        },
    }
    with django_capture_on_commit_callbacks(execute=True):
        post(Client(), update)
    assert WebhookEvent.objects.get().status == "skipped"
    assert intent_double.calls == []


def test_conversation_from_first_message_to_completed_payment(
    account, bot_api, intent_double, payments_double, django_capture_on_commit_callbacks
):
    # given
    understand_pay_ana(intent_double)
    client = Client()
    # when
    with django_capture_on_commit_callbacks(execute=True):
        post(client, message_update(20000, "pague R$ 30 para a Ana via pix"))
    # then an HTML message with an inline keyboard, in Portuguese
    [card] = calls(bot_api, "sendMessage")
    body = json.loads(card.content)
    assert body["chat_id"] == "1111111" and body["parse_mode"] == "HTML"
    assert "Enviar R$ 30.00 para Ana via PIX?" in body["text"]
    keyboard = body["reply_markup"]["inline_keyboard"][0]
    assert [b["text"] for b in keyboard] == ["Confirmar", "Cancelar"]
    assert all(len(b["callback_data"].encode()) <= 64 for b in keyboard)

    # when the user taps Confirmar
    with django_capture_on_commit_callbacks(execute=True):
        post(client, callback_update(20001, keyboard[0]["callback_data"], message_id=101))
    # then the spinner is answered, the card edited in place and the payment orchestrated with the PIX key
    assert json.loads(calls(bot_api, "answerCallbackQuery")[0].content) == {
        "callback_query_id": "4382bfdwdsb323b2d9"
    }
    edit = json.loads(calls(bot_api, "editMessageText")[0].content)
    assert edit["message_id"] == 101 and "Confirmado" in edit["text"]
    [call] = payments_double.orchestrated
    assert call["request"].payee_identifiers == {"pix_key": "ana@example.com"}
    assert call["request"].payee_country == "BR" and call["request"].language == "pt"

    # a second tap (Telegram retries, double taps) does not pay twice
    with django_capture_on_commit_callbacks(execute=True):
        post(client, callback_update(20002, keyboard[0]["callback_data"], message_id=101))
    assert len(payments_double.orchestrated) == 1

    # when the PIX sandbox initiates and settles
    with django_capture_on_commit_callbacks(execute=True):
        payments_double.settle(call["payment"])
    # then a photo of the QR code (a PNG upload) with the code as caption, then "Pagamento recebido"
    [photo] = calls(bot_api, "sendPhoto")
    assert b"\x89PNG" in photo.content and b"000201" in photo.content
    texts = [json.loads(r.content)["text"] for r in calls(bot_api, "sendMessage")]
    assert any("Pagamento recebido" in t for t in texts)
    assert FlowRun.objects.get().state == "completed"


def test_an_unanswered_card_expires_in_place_and_a_late_tap_pays_nothing(
    account, bot_api, intent_double, payments_double, django_capture_on_commit_callbacks, settings
):
    from datetime import timedelta

    import time_machine
    from django.utils import timezone

    from apps.conversations import services

    settings.CONVERSATIONS_CONFIRMATION_TTL = 300
    understand_pay_ana(intent_double)
    client = Client()
    with django_capture_on_commit_callbacks(execute=True):
        post(client, message_update(40000, "pague R$ 30 para a Ana via pix"))
    [card] = calls(bot_api, "sendMessage")
    confirm = json.loads(card.content)["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    # when nobody answers for six minutes and the sweep runs
    with (
        time_machine.travel(timezone.now() + timedelta(minutes=6)),
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert services.flow_timeouts_sweep() == 1
    # then the card itself (message 101) says it expired and nothing was paid
    [edit] = calls(bot_api, "editMessageText")
    edited = json.loads(edit.content)
    assert edited["message_id"] == 101 and "expirou" in edited["text"] and "Nada foi pago" in edited["text"]
    assert "reply_markup" not in edited  # no buttons left to tap
    # when the payer taps the old Confirmar anyway
    with django_capture_on_commit_callbacks(execute=True):
        post(client, callback_update(40001, confirm, message_id=101))
    # then nothing is paid and they are told so
    assert payments_double.orchestrated == []
    last = json.loads(calls(bot_api, "sendMessage")[-1].content)
    assert last["text"] == "Não há nada aguardando sua confirmação."
    assert FlowRun.objects.get().state == "expired"
