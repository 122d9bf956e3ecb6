"""Query-string filters of the conversations REST API (django-filter)."""

from __future__ import annotations

import django_filters

from apps.conversations.choices import ConversationStatus, Direction, Platform
from apps.conversations.models import Conversation, ConversationMessage


class ConversationFilter(django_filters.FilterSet):
    """``?platform=slack&platform=telegram``, ``?status=pending``, ``?created_after=<ISO 8601>``…
    ``status`` filters the ``status`` annotation of ``selectors.conversation_list``."""

    platform = django_filters.MultipleChoiceFilter(choices=Platform.choices)
    status = django_filters.MultipleChoiceFilter(choices=ConversationStatus.choices)
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")
    last_message_after = django_filters.IsoDateTimeFilter(field_name="last_message_at", lookup_expr="gte")
    last_message_before = django_filters.IsoDateTimeFilter(field_name="last_message_at", lookup_expr="lt")
    external_id = django_filters.CharFilter(field_name="external_conversation_id")

    class Meta:
        model = Conversation
        fields = ["platform", "status", "external_id"]


class ConversationMessageFilter(django_filters.FilterSet):
    direction = django_filters.ChoiceFilter(choices=Direction.choices)
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = ConversationMessage
        fields = ["direction"]
