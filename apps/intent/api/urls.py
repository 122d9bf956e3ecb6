from django.urls import path

from apps.intent.api import views

urlpatterns = [
    path("intent/analyze", views.AnalyzeView.as_view(), name="intent-analyze"),
    path(
        "conversations/<uuid:conversation_id>/intents",
        views.ConversationIntentListView.as_view(),
        name="conversation-intent-list",
    ),
]
