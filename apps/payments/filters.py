import django_filters

from apps.payments.choices import PaymentStatus
from apps.payments.models import OrchestrationPayment


class PaymentFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=PaymentStatus.choices)
    rail = django_filters.CharFilter(field_name="selected_rail")
    currency = django_filters.CharFilter(field_name="amount_currency")
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")
    amount_min = django_filters.NumberFilter(field_name="amount", lookup_expr="gte")
    amount_max = django_filters.NumberFilter(field_name="amount", lookup_expr="lte")
    conversation = django_filters.UUIDFilter(field_name="conversation_id")

    class Meta:
        model = OrchestrationPayment
        fields = ["status", "rail", "currency", "conversation"]
