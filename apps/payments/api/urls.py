from django.urls import path

from apps.payments.api import views

urlpatterns = [
    path("payments", views.PaymentListView.as_view(), name="payment-list"),
    path("payments/orchestrate", views.PaymentOrchestrateView.as_view(), name="payment-orchestrate"),
    path("payments/quote", views.PaymentQuoteView.as_view(), name="payment-quote"),
    path("payments/<uuid:payment_id>", views.PaymentDetailView.as_view(), name="payment-detail"),
    path(
        "payments/<uuid:payment_id>/alternatives",
        views.PaymentAlternativesView.as_view(),
        name="payment-alternatives",
    ),
    path("payments/<uuid:payment_id>/fallback", views.PaymentFallbackView.as_view(), name="payment-fallback"),
    path("payments/<uuid:payment_id>/cancel", views.PaymentCancelView.as_view(), name="payment-cancel"),
    path("payments/<uuid:payment_id>/refund", views.PaymentRefundView.as_view(), name="payment-refund"),
    path("rails", views.RailListView.as_view(), name="rail-list"),
    path("rails/<str:name>/capabilities", views.RailCapabilitiesView.as_view(), name="rail-capabilities"),
    path("rails/<str:name>/status", views.RailStatusView.as_view(), name="rail-status"),
    path("users/<str:user_id>/preferences", views.UserPreferencesView.as_view(), name="user-preferences"),
    path("webhooks/rails/<str:rail>", views.RailWebhookView.as_view(), name="rail-webhook"),
]
