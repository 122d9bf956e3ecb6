"""Security- and money-relevant actions taken outside compliance land in the hash-chained audit
log: API keys, roles, platform secrets and manual payment actions."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from apps.compliance.models import AuditEntry
from apps.core.services import api_key_create, api_key_rotate, membership_add
from apps.payments import services as payments
from apps.payments.choices import PaymentStatus
from tests.conversations.factories import telegram_account
from tests.factories import UserFactory
from tests.payments.conftest import make_request

pytestmark = pytest.mark.django_db


def _actions(**filters: object) -> list[str]:
    return list(AuditEntry.objects.filter(**filters).order_by("sequence").values_list("action", flat=True))


def test_api_key_lifecycle_and_roles_are_audited(organization, user):
    # when a key is created and rotated, and a person's role changes
    key, _ = api_key_create(organization=organization, name="agent", scopes=["read"], actor=user)
    new, _ = api_key_rotate(api_key=key, actor=user)
    person = UserFactory()
    membership_add(organization=organization, user=person, role="finance")
    membership_add(organization=organization, user=person, role="owner")
    membership_add(organization=organization, user=person, role="owner")  # no change, no entry
    # then each is an entry naming who, what and the before/after, and the chain verifies
    assert _actions(target_id=str(key.pk)[:100]) == ["core.api_key_created", "core.api_key_revoked"]
    created = AuditEntry.objects.get(target_id=str(new.pk)[:100], action="core.api_key_created")
    assert created.after["rotated_from"] == key.pk and created.actor_label.startswith(f"user:{user.pk}")
    roles = AuditEntry.objects.filter(action="core.membership_role_set", after__user=str(person.pk))
    assert [(e.before, e.after["role"]) for e in roles.order_by("sequence")] == [
        (None, "finance"),
        ({"role": "finance"}, "owner"),
    ]
    assert all(e.organization_id == organization.pk for e in roles)
    call_command("verify_audit_log")


def test_platform_secrets_changes_are_audited_without_values(organization):
    account = telegram_account(organization)
    entry = AuditEntry.objects.get(action="conversations.platform_account_created", target_id=str(account.pk))
    assert entry.after["secrets"] == ["bot_token", "webhook_secret"]
    assert "tg-webhook-secret" not in str(entry.after)


def test_manual_payment_actions_are_audited(rails, organization, user):
    payment = payments.payment_orchestrate(organization=organization, actor=user, request=make_request())
    first_rail = payment.selected_rail
    payments.payment_fallback(payment=payment, actor=user, reason="ops asked")
    payments.payment_cancel(payment=payment, actor=user, reason="customer changed their mind")
    assert payment.status == PaymentStatus.CANCELLED
    fallback, cancel = AuditEntry.objects.filter(target_id=str(payment.pk)).order_by("sequence")
    assert fallback.action == "payments.payment_fallback" and fallback.before == {"rail": first_rail}
    assert cancel.action == "payments.payment_cancelled" and cancel.after["status"] == "cancelled"
    assert cancel.actor_label.startswith(f"user:{user.pk}")
