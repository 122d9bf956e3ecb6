from __future__ import annotations

from datetime import timedelta

from prometheus_client import Gauge

conversation_active_count = Gauge(
    "conversation_active_count", "Conversations with a message in the last 24 hours"
)


def active_conversations_count() -> float:
    """Read at scrape time; when the database cannot answer the gauge is NaN (the scrape still works)."""
    from django.utils import timezone

    from apps.conversations.models import Conversation

    try:
        since = timezone.now() - timedelta(hours=24)
        return float(Conversation.objects.filter(last_message_at__gte=since).count())
    except Exception:  # a scrape must never fail because of one gauge
        return float("nan")


conversation_active_count.set_function(active_conversations_count)
