from django.apps import AppConfig


class IntentConfig(AppConfig):
    name = "apps.intent"
    label = "intent"

    def ready(self) -> None:
        from apps.intent import metrics  # noqa: F401 - registers the app's Prometheus metrics
