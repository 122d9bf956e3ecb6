from django.urls import path
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView

from apps.core.api import views

urlpatterns = [
    path("auth/token", TokenObtainPairView.as_view(), name="token-obtain"),
    path("auth/token/refresh", TokenRefreshView.as_view(), name="token-refresh"),
    path("me", views.MeView.as_view(), name="me"),
    path("api-keys", views.ApiKeyListCreateView.as_view(), name="api-key-list"),
    path("api-keys/<str:key_id>/revoke", views.ApiKeyRevokeView.as_view(), name="api-key-revoke"),
    path("api-keys/<str:key_id>/rotate", views.ApiKeyRotateView.as_view(), name="api-key-rotate"),
]
