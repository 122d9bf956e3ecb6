from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from rest_framework_api_key.admin import APIKeyModelAdmin
from rest_framework_api_key.models import APIKey

from apps.core import services
from apps.core.models import Membership, Organization, OrganizationAPIKey, User

if admin.site.is_registered(APIKey):
    admin.site.unregister(APIKey)


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    raw_id_fields = ("user",)


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    fieldsets = (*(DjangoUserAdmin.fieldsets or ()), ("AgentPay", {"fields": ("preferred_language",)}))


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "country", "default_currency", "is_active", "created_at")
    search_fields = ("name", "slug")
    list_filter = ("is_active", "country")
    inlines = [MembershipInline]


@admin.register(OrganizationAPIKey)
class OrganizationAPIKeyAdmin(APIKeyModelAdmin):
    list_display = (*APIKeyModelAdmin.list_display, "organization", "last_used_at")  # type: ignore[assignment]
    list_filter = (*APIKeyModelAdmin.list_filter, "organization")  # type: ignore[assignment]
    list_select_related = ("organization",)
    raw_id_fields = ("organization", "created_by", "rotated_from")
    actions = ["revoke_selected", "rotate_selected"]

    @admin.action(description="Revoke selected keys", permissions=["change"])
    def revoke_selected(self, request: Any, queryset: Any) -> None:
        for key in queryset.filter(revoked=False):
            services.api_key_revoke(api_key=key, actor=request.user)
        self.message_user(request, "Keys revoked.", messages.SUCCESS)

    @admin.action(description="Rotate selected keys (shows the new keys once)", permissions=["change"])
    def rotate_selected(self, request: Any, queryset: Any) -> None:
        for key in queryset.filter(revoked=False):
            new, raw = services.api_key_rotate(api_key=key, actor=request.user)
            self.message_user(
                request, f"New key for {new.name}: {raw} — store it now, it is not shown again."
            )
