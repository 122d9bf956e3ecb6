from django.apps import AppConfig


class ConversationsConfig(AppConfig):
    name = "apps.conversations"
    label = "conversations"

    def ready(self) -> None:
        from apps.conversations import metrics  # noqa: F401 - registers the app's Prometheus metrics
        from apps.conversations.demo import demo_conversations_load
        from apps.conversations.signals import signals_connect
        from apps.core.demo import demo_loader_register

        demo_loader_register("conversations", demo_conversations_load)
        signals_connect()  # cached webhook account lookups are dropped on every account change
