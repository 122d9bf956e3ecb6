"""Demo conversations for ``seed_demo`` (idempotent)."""

from __future__ import annotations

from django.utils import timezone

from apps.conversations.models import Conversation, ConversationMessage
from apps.core.models import Organization

DEMO_CONVERSATIONS = [
    (
        "whatsapp",
        "5511987654321",
        "Ana ↔ Padaria",
        [("ana", "Ana"), ("padaria", "Padaria Demo")],
        [
            ("ana", "Oi! Te mando R$ 50 amanhã pelo pão de ontem"),
            ("padaria", "Combinado, obrigado!"),
        ],
    ),
    (
        "slack",
        "C0DEMO42",
        "#finance",
        [("U01ALICE", "Alice"), ("U02BOB", "Bob")],
        [
            ("U01ALICE", "let's split the $90 dinner 3 ways"),
            ("U02BOB", "sounds good, I'll pay you back on Friday"),
        ],
    ),
    (
        "telegram",
        "-100200300",
        "Alquiler",
        [("501", "Lucía"), ("502", "Marco")],
        [
            ("501", "el alquiler son 800 euros cada día 1"),
        ],
    ),
]


def demo_conversations_load(*, organization: Organization) -> str:
    created = 0
    for platform, external_id, title, participants, messages in DEMO_CONVERSATIONS:
        conversation, was_created = Conversation.objects.get_or_create(
            organization=organization,
            platform=platform,
            external_conversation_id=external_id,
            defaults={"title": title, "participants": [{"id": i, "name": n} for i, n in participants]},
        )
        if not was_created:
            continue
        created += 1
        names = dict(participants)
        for sender, text in messages:
            ConversationMessage.objects.create(
                conversation=conversation, sender_id=sender, sender_name=names[sender], message_text=text
            )
        conversation.last_message_at = timezone.now()
        conversation.save(update_fields=["last_message_at"])
    return f"{created} conversations"
