from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from apps.intent.services import context_update, message_analyze, message_analyze_and_store
from tests.factories import OrganizationFactory

from .conftest import NOW
from .factories import conversation_make, message_make

URL = "/api/v1/intent/analyze"


@pytest.mark.django_db
class TestAnalyze:
    def test_requires_authentication(self, api_client: APIClient) -> None:
        resp = api_client.post(URL, {"text": "pay @ana $5"}, format="json")
        assert resp.status_code == 401
        assert resp.json()["code"] == "not_authenticated"

    def test_analyses_a_message(self, auth_client: APIClient) -> None:
        resp = auth_client.post(
            URL, {"text": "te mando 50 conto amanhã", "now": NOW.isoformat()}, format="json"
        )
        assert resp.status_code == 200
        body = resp.json()
        assert body["intent"] == "payment_promise" and body["language"] == "pt"
        assert body["amounts"][0] | {"start": 0} == {
            "value": "50.00",
            "currency": "BRL",
            "role": "amount",
            "start": 0,
            "end": 17,
            "text": "50 conto",
        }
        assert body["dates"][0]["value"] == "2026-03-11"

    def test_api_key_with_intent_scope(self, organization: Any) -> None:
        from apps.core.services import api_key_create

        _, raw = api_key_create(organization=organization, name="bot", scopes=["intent"])
        client = APIClient()
        client.credentials(HTTP_X_API_KEY=raw)
        assert client.post(URL, {"text": "sim"}, format="json").json()["intent"] == "confirm"
        _, read_only = api_key_create(organization=organization, name="ro", scopes=["read"])
        client.credentials(HTTP_X_API_KEY=read_only)
        assert client.post(URL, {"text": "sim"}, format="json").status_code == 403

    @pytest.mark.parametrize(
        ("payload", "code"),
        [
            ({"text": ""}, "empty_text"),
            ({"text": "a" * 100_001}, "text_too_long"),
            ({"text": "\x01\x02\x03\x04\x05\x06\x07\x08"}, "text_not_readable"),
            ({"text": "nul\x00byte"}, "validation_error"),
            ({}, "validation_error"),
            ({"text": "ok", "now": "yesterday-ish"}, "validation_error"),
        ],
    )
    def test_bad_input_is_a_400_with_a_code(self, auth_client: APIClient, payload: dict, code: str) -> None:
        resp = auth_client.post(URL, payload, format="json")
        assert resp.status_code == 400
        assert resp.json()["code"] == code

    def test_too_long_names_the_configured_limit(self, auth_client: APIClient, settings: Any) -> None:
        # given a lower limit than the default
        settings.INTENT_MAX_TEXT_BYTES = 2000
        # when a longer text comes in
        resp = auth_client.post(URL, {"text": "é" * 1001}, format="json")
        # then the error says which limit, in the message and machine-readably
        body = resp.json()
        assert resp.status_code == 400 and body["code"] == "text_too_long"
        assert "2,000 bytes" in body["message"] and body["max_bytes"] == 2000

    def test_binary_body_is_a_400(self, auth_client: APIClient) -> None:
        resp = auth_client.post(URL, data=b"\xff\xfe\x00garbage", content_type="application/json")
        assert resp.status_code == 400
        assert resp.json()["code"] == "parse_error"

    def test_unknown_language_is_a_clear_result(self, auth_client: APIClient) -> None:
        resp = auth_client.post(URL, {"text": "Je te paie demain", "language": "fr"}, format="json")
        assert resp.status_code == 200
        assert resp.json()["language"] in ("und", "en", "es", "pt")

    def test_uses_the_conversations_context(self, auth_client: APIClient, organization: Any) -> None:
        # given a conversation where $50 to @maria awaits confirmation
        ask = message_analyze("send $50 to @maria", now=NOW)
        conversation = conversation_make(organization=organization, context=context_update({}, ask, now=NOW))
        # when "yes" is analysed in that conversation
        resp = auth_client.post(
            URL,
            {"text": "yes", "conversation_id": str(conversation.pk), "now": NOW.isoformat()},
            format="json",
        )
        # then it refers to the pending payment
        assert resp.json()["refers_to"]["amount"] == "50.00"

    def test_other_organisations_conversation_is_404(self, auth_client: APIClient) -> None:
        foreign = conversation_make(organization=OrganizationFactory())
        resp = auth_client.post(URL, {"text": "yes", "conversation_id": str(foreign.pk)}, format="json")
        assert resp.status_code == 404
        assert resp.json()["code"] == "conversation_not_found"


@pytest.mark.django_db
class TestConversationIntents:
    def test_lists_analysed_messages_newest_first_with_cursor(
        self, auth_client: APIClient, organization: Any
    ) -> None:
        conversation = conversation_make(organization=organization)
        for text in ("pay @ana $5", "sim", "the movie cost $20 lol"):
            message_analyze_and_store(message=message_make(conversation=conversation, message_text=text))
        message_make(conversation=conversation, message_text="not analysed yet")
        url = f"/api/v1/conversations/{conversation.pk}/intents?page_size=2"
        first = auth_client.get(url).json()
        assert [m["message_text"] for m in first["results"]] == ["the movie cost $20 lol", "sim"]
        assert first["results"][1]["detected_intent"] == "confirm"
        second = auth_client.get(first["next"]).json()
        assert [m["message_text"] for m in second["results"]] == ["pay @ana $5"]
        assert second["results"][0]["extracted_entities"]["amounts"][0]["value"] == "5.00"

    def test_is_scoped_to_the_callers_organisation(self, auth_client: APIClient) -> None:
        foreign = conversation_make(organization=OrganizationFactory())
        message_make(conversation=foreign)
        resp = auth_client.get(f"/api/v1/conversations/{foreign.pk}/intents")
        assert resp.status_code == 404

    def test_requires_authentication(self, api_client: APIClient, organization: Any) -> None:
        conversation = conversation_make(organization=organization)
        assert api_client.get(f"/api/v1/conversations/{conversation.pk}/intents").status_code == 401

    def test_api_keys_need_the_conversations_scope_to_read_chat_texts(self, organization: Any) -> None:
        from apps.core.services import api_key_create

        # given a conversation with an analysed message
        conversation = conversation_make(organization=organization)
        message_analyze_and_store(message=message_make(conversation=conversation, message_text="sim"))
        url = f"/api/v1/conversations/{conversation.pk}/intents"
        client = APIClient()
        # when a read-only key asks, it is refused
        _, read_only = api_key_create(organization=organization, name="ro", scopes=["read"])
        client.credentials(HTTP_X_API_KEY=read_only)
        assert client.get(url).status_code == 403
        # and a key with the conversations scope gets the texts
        _, chat = api_key_create(organization=organization, name="chat", scopes=["conversations"])
        client.credentials(HTTP_X_API_KEY=chat)
        assert [m["message_text"] for m in client.get(url).json()["results"]] == ["sim"]


@pytest.mark.django_db
class TestStore:
    def test_writes_the_analysis_onto_the_message(self, organization: Any) -> None:
        # given an organisation in BRL and a message with a bare amount
        organization.default_currency = "BRL"
        organization.save()
        message = message_make(
            conversation=conversation_make(organization=organization), message_text="te mando 50 amanhã"
        )
        # when analysed and stored
        result = message_analyze_and_store(message=message)
        # then the row carries intent, entities, confidence, tier, language and time
        message.refresh_from_db()
        assert message.detected_intent == result.intent == "payment_promise"
        assert message.extracted_entities["amounts"][0]["currency"] == "BRL"
        assert message.confidence_score == pytest.approx(result.confidence)
        assert message.intent_tier == result.tier and message.language == "pt"
        assert message.processing_time_ms is not None and message.processing_time_ms >= 0

    def test_empty_message_is_stored_as_none(self) -> None:
        message = message_make(message_text="")
        result = message_analyze_and_store(message=message)
        message.refresh_from_db()
        assert (message.detected_intent, message.extracted_entities["error"]) == ("none", "empty_text")
        assert result.error == "empty_text"
