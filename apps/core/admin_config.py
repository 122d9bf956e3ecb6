from django.contrib.admin.apps import AdminConfig


class AgentPayAdminConfig(AdminConfig):
    """Django admin with the OTP-guarded AgentPay console as the default site."""

    default_site = "apps.core.admin_site.AgentPayAdminSite"
