"""conversation_active_count on /metrics: conversations with a message in the last 24 hours."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from apps.conversations.models import Conversation

pytestmark = pytest.mark.django_db


def _gauge() -> float:
    body = Client().get("/metrics").content.decode()
    match = re.search(r"^conversation_active_count (\S+)$", body, re.M)
    assert match, "conversation_active_count is not exported"
    return float(match.group(1))


def test_active_conversations_are_counted_at_scrape_time(organization):
    now = timezone.now()
    for i, last in enumerate(
        (now - timedelta(minutes=5), now - timedelta(hours=2), now - timedelta(days=3), None)
    ):
        Conversation.objects.create(
            organization=organization,
            platform="webchat",
            external_conversation_id=f"c{i}",
            last_message_at=last,
        )
    assert _gauge() == 2.0
