"""``/api/v1/agents/...`` (included from ``apps/conversations/urls.py``)."""

from django.urls import path

from apps.conversations.agents import views

urlpatterns = [
    path("analyze", views.AnalyzeMessageView.as_view(), name="agents-analyze"),
    path("quote", views.QuotePaymentView.as_view(), name="agents-quote"),
    path("payments", views.PaymentListCreateView.as_view(), name="agents-payments"),
    path("payments/<str:payment_id>", views.PaymentDetailView.as_view(), name="agents-payment-detail"),
]
