from django.urls import path

from apps.conversations.api import views

urlpatterns = [
    path("webhooks/whatsapp", views.whatsapp_webhook, name="webhook-whatsapp"),
    path("webhooks/slack", views.slack_webhook, name="webhook-slack"),
    path("webhooks/telegram", views.telegram_webhook, name="webhook-telegram"),
    path("conversations/replies/<uuid:outbound_id>/qr.png", views.reply_qr_png, name="reply-qr"),
    path("conversations", views.ConversationListView.as_view(), name="conversations"),
    path(
        "conversations/<uuid:conversation_id>",
        views.ConversationDetailView.as_view(),
        name="conversation-detail",
    ),
    path(
        "conversations/<uuid:conversation_id>/messages",
        views.ConversationMessagesView.as_view(),
        name="conversation-messages",
    ),
]
