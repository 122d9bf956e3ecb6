"""The console: Django admin behind a verified django-otp device.

``ADMIN_REQUIRE_OTP`` (on everywhere but local development) decides, at request
time, whether staff must have verified a TOTP device in this session.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django_otp.admin import OTPAdminAuthenticationForm, OTPAdminSite


class OptionalOTPAdminAuthenticationForm(OTPAdminAuthenticationForm):
    """Local development (``ADMIN_REQUIRE_OTP=false``): the password alone opens the console;
    a TOTP token, when typed, also verifies the session, which deciding compliance cases needs."""

    def clean_otp(self, user: Any) -> None:
        if self.cleaned_data.get("otp_token") or self.cleaned_data.get("otp_challenge"):
            super().clean_otp(user)


class AgentPayAdminSite(OTPAdminSite):
    site_header = "AgentPay console"
    site_title = "AgentPay"
    index_title = "Compliance, payments and conversations"

    def has_permission(self, request: Any) -> bool:
        base = bool(request.user.is_active and request.user.is_staff)
        if not settings.ADMIN_REQUIRE_OTP:
            return base
        return base and request.user.is_verified()

    def login(self, request: Any, extra_context: dict[str, Any] | None = None) -> Any:
        self.login_form = (
            OTPAdminAuthenticationForm if settings.ADMIN_REQUIRE_OTP else OptionalOTPAdminAuthenticationForm
        )
        return super().login(request, extra_context)
