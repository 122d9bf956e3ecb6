from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "apps.payments"
    label = "payments"

    def ready(self) -> None:
        from apps.core.demo import demo_loader_register
        from apps.payments import metrics  # noqa: F401 - registers the app's Prometheus metrics
        from apps.payments.demo import demo_payments_load

        demo_loader_register("payments", demo_payments_load)
