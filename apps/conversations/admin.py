"""The conversations console: chats with their messages and intents, flows with their transition
log, the outbox of replies (the local outbox when no platform is configured), raw webhook events
and the connected platform accounts. Actions call services; secrets are write-only."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from apps.conversations import services
from apps.conversations.choices import OutboundStatus, WebhookStatus
from apps.conversations.models import (
    Conversation,
    ConversationMessage,
    FlowRun,
    FlowTransition,
    OutboundMessage,
    PlatformAccount,
    WebhookEvent,
)

SECRET_NAMES = {
    "whatsapp": ("app_secret", "verify_token", "access_token"),
    "slack": ("signing_secret", "bot_token"),
    "telegram": ("bot_token", "webhook_secret"),
}


class _ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class _ReadOnlyAdmin(admin.ModelAdmin):
    """Records of what happened: viewable, never edited by hand."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class MessageInline(_ReadOnlyInline):
    model = ConversationMessage
    fields = ("created_at", "direction", "sender_name", "message_text", "detected_intent", "confidence_score")
    readonly_fields = fields
    ordering = ("-created_at",)
    max_num = 0


class OutboundInline(_ReadOnlyInline):
    model = OutboundMessage
    fk_name = "conversation"
    fields = ("created_at", "channel", "status", "text")
    readonly_fields = fields
    ordering = ("-created_at",)


class FlowRunInline(_ReadOnlyInline):
    model = FlowRun
    fields = ("created_at", "kind", "state", "is_active", "expires_at")
    readonly_fields = fields
    ordering = ("-created_at",)


@admin.register(Conversation)
class ConversationAdmin(_ReadOnlyAdmin):
    list_display = ("title_or_id", "organization", "platform", "language", "last_message_at", "created_at")
    list_filter = ("platform", "language", "organization")
    search_fields = ("external_conversation_id", "title")
    date_hierarchy = "created_at"
    list_select_related = ("organization",)
    readonly_fields = (
        "id",
        "organization",
        "platform",
        "external_conversation_id",
        "title",
        "participants",
        "context",
        "language",
        "created_at",
        "last_message_at",
    )
    inlines = (MessageInline, FlowRunInline, OutboundInline)

    @admin.display(description="conversation", ordering="title")
    def title_or_id(self, obj: Conversation) -> str:
        return obj.title or obj.external_conversation_id


@admin.register(ConversationMessage)
class ConversationMessageAdmin(_ReadOnlyAdmin):
    list_display = (
        "created_at",
        "conversation",
        "direction",
        "sender_name",
        "short_text",
        "detected_intent",
        "confidence_score",
        "intent_tier",
        "processing_time_ms",
    )
    list_filter = ("direction", "detected_intent", "intent_tier", "language", "conversation__platform")
    search_fields = ("message_text", "sender_name", "sender_id", "platform_message_id")
    date_hierarchy = "created_at"
    list_select_related = ("conversation",)
    readonly_fields = [f.name for f in ConversationMessage._meta.fields]

    @admin.display(description="text")
    def short_text(self, obj: ConversationMessage) -> str:
        return obj.message_text[:80]


class FlowTransitionInline(_ReadOnlyInline):
    model = FlowTransition
    fields = ("created_at", "from_state", "to_state", "event", "actor", "data")
    readonly_fields = fields
    ordering = ("created_at",)
    show_change_link = False


@admin.register(FlowRun)
class FlowRunAdmin(_ReadOnlyAdmin):
    list_display = ("created_at", "conversation", "kind", "state", "is_active", "expires_at")
    list_filter = ("kind", "state", "is_active")
    search_fields = ("conversation__title", "conversation__external_conversation_id", "initiator_id")
    date_hierarchy = "created_at"
    list_select_related = ("conversation",)
    readonly_fields = [f.name for f in FlowRun._meta.fields]
    inlines = (FlowTransitionInline,)


@admin.register(OutboundMessage)
class OutboundMessageAdmin(_ReadOnlyAdmin):
    """Every reply AgentPay sent or queued: the local outbox when no platform is configured."""

    list_display = (
        "created_at",
        "conversation",
        "channel",
        "recipient",
        "short_text",
        "status_badge",
        "attempts",
    )
    list_filter = ("channel", "status")
    search_fields = ("text", "recipient", "provider_message_id")
    date_hierarchy = "created_at"
    list_select_related = ("conversation",)
    readonly_fields = [f.name for f in OutboundMessage._meta.fields]
    actions = ("retry_delivery",)

    @admin.display(description="text")
    def short_text(self, obj: OutboundMessage) -> str:
        return obj.text[:80]

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj: OutboundMessage) -> str:
        colour = {"failed": "#b00020", "queued": "#8a6d00"}.get(obj.status, "#1b5e20")
        return format_html('<strong style="color:{}">{}</strong>', colour, obj.get_status_display())

    @admin.action(description="Retry delivery of the selected failed or queued replies")
    def retry_delivery(self, request: HttpRequest, queryset: QuerySet[OutboundMessage]) -> None:
        done = failed = 0
        for outbound in queryset.filter(status__in=[OutboundStatus.FAILED, OutboundStatus.QUEUED]):
            try:
                services.outbound_message_retry(outbound_id=outbound.pk)
                done += 1
            except services.SendError as exc:
                failed += 1
                self.message_user(request, f"{outbound.pk}: {exc}", messages.WARNING)
        self.message_user(request, f"{done} sent, {failed} failed.", messages.INFO)


@admin.register(WebhookEvent)
class WebhookEventAdmin(_ReadOnlyAdmin):
    list_display = ("received_at", "platform", "event_type", "event_id", "organization", "status", "attempts")
    list_filter = ("platform", "status", "event_type")
    search_fields = ("event_id",)
    date_hierarchy = "received_at"
    list_select_related = ("organization",)
    readonly_fields = [f.name for f in WebhookEvent._meta.fields]
    actions = ("reprocess",)

    @admin.action(description="Process the selected failed or pending events again")
    def reprocess(self, request: HttpRequest, queryset: QuerySet[WebhookEvent]) -> None:
        count = 0
        for event in queryset.filter(status__in=[WebhookStatus.RECEIVED, WebhookStatus.FAILED]):
            services.webhook_event_process(webhook_event_id=event.pk)
            count += 1
        self.message_user(request, f"{count} event(s) processed.", messages.INFO)


class PlatformAccountForm(forms.ModelForm):
    """Secrets are typed in, encrypted by the service and never shown again."""

    secret_1 = forms.CharField(required=False, widget=forms.PasswordInput, label="Secret 1")
    secret_2 = forms.CharField(required=False, widget=forms.PasswordInput, label="Secret 2")
    secret_3 = forms.CharField(required=False, widget=forms.PasswordInput, label="Secret 3")

    class Meta:
        model = PlatformAccount
        fields = ("organization", "platform", "external_id", "name", "language", "is_active")
        help_texts = {
            "platform": "Secrets in order — WhatsApp: app secret, verify token, access token; "
            "Slack: signing secret, bot token; Telegram: bot token, webhook secret. "
            "Leave a secret empty to keep the stored one.",
        }

    def secrets(self) -> dict[str, str]:
        names = SECRET_NAMES.get(self.cleaned_data["platform"], ())
        values = (self.cleaned_data.get(f"secret_{i}") or "" for i in (1, 2, 3))
        return {name: value for name, value in zip(names, values, strict=False) if value}


@admin.register(PlatformAccount)
class PlatformAccountAdmin(admin.ModelAdmin):
    form = PlatformAccountForm
    list_display = (
        "name",
        "organization",
        "platform",
        "external_id",
        "is_active",
        "has_secrets",
        "updated_at",
    )
    list_filter = ("platform", "is_active")
    search_fields = ("name", "external_id")
    list_select_related = ("organization",)
    actions = ["register_webhooks"]

    @admin.action(description="Register the webhook with the platform (at AGENTPAY_PUBLIC_URL)")
    def register_webhooks(self, request: HttpRequest, queryset: Any) -> None:
        from apps.conversations.platforms.registration import RegistrationError, webhook_register

        for account in queryset:
            try:
                result = webhook_register(account=account)
            except RegistrationError as exc:
                self.message_user(request, f"{account}: {exc.message}", level=messages.ERROR)
                continue
            if result.registered:
                self.message_user(request, f"{account}: registered {result.url}", level=messages.SUCCESS)
            else:
                self.message_user(request, f"{account}: {result.instructions}", level=messages.WARNING)

    @admin.display(boolean=True, description="secrets set")
    def has_secrets(self, obj: PlatformAccount) -> bool:
        return bool(obj.secrets_encrypted)

    def save_model(self, request: HttpRequest, obj: PlatformAccount, form: Any, change: bool) -> None:
        secrets = form.secrets()
        if not change:
            created = services.platform_account_create(
                organization=obj.organization,
                platform=obj.platform,
                external_id=obj.external_id,
                secrets=secrets,
                name=obj.name,
                language=obj.language,
                actor=request.user,
            )
            obj.pk = created.pk
            obj._state.adding = False
            return
        # only the form's fields: the encrypted secrets are written by the service alone
        obj.save(update_fields=["external_id", "name", "language", "is_active", "updated_at"])
        if secrets:
            services.platform_account_secrets_set(account=obj, secrets=secrets, actor=request.user)
