from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from apps.core.views import healthz, readyz

handler400 = "apps.core.views.error_400"
handler403 = "apps.core.views.error_403"
handler404 = "apps.core.views.error_404"
handler500 = "apps.core.views.error_500"

# Django tries patterns in order on every request: the busiest API first (their paths are
# disjoint, so the order decides nothing but how many patterns a request is matched against).
api_v1 = [
    path("", include("apps.payments.api.urls")),
    path("", include("apps.core.api.urls")),
    path("", include("apps.conversations.api.urls")),
    path("", include("apps.intent.api.urls")),
    path("", include("apps.compliance.api.urls")),
    path("", include("apps.accounting.api.urls")),
]

urlpatterns = [
    path("api/v1/", include((api_v1, "api"), namespace="v1")),
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("", include("django_prometheus.urls")),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="redoc"),
    path("", include("apps.conversations.urls")),
]
