from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture(autouse=True)
def _fresh_compliance_caches() -> Iterator[None]:
    """Each test sees the lists in its own database, not an index built by an earlier test."""
    from apps.compliance.screening.index import sanctions_index_invalidate
    from apps.compliance.services import compliance_config_invalidate

    sanctions_index_invalidate(bump=False)
    compliance_config_invalidate(bump=False)
    yield
    sanctions_index_invalidate(bump=False)
    compliance_config_invalidate(bump=False)


@pytest.fixture
def payment_factory(organization: Any) -> Any:
    from tests.compliance.factories import CompliancePaymentFactory

    def make(**kwargs: Any) -> Any:
        kwargs.setdefault("organization", organization)
        return CompliancePaymentFactory(**kwargs)

    return make


def verified(user: Any) -> Any:
    """What django-otp's middleware does after a successful OTP login: a confirmed device on the user."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    user.otp_device = device
    user.is_verified = lambda: user.otp_device is not None
    return user


@pytest.fixture
def reviewer_factory(organization: Any) -> Any:
    from apps.core.services import membership_add
    from tests.factories import UserFactory

    def make(*, verify: bool = True, role: str = "compliance_reviewer") -> Any:
        from apps.core.models import User

        created: Any = UserFactory(is_staff=True)
        membership_add(organization=organization, user=created, role=role)
        user = User.objects.get(pk=created.pk)  # fresh permission cache
        return verified(user) if verify else user

    return make


@pytest.fixture
def resolved_calls(monkeypatch: Any) -> list[dict[str, Any]]:
    """A recording double of payments' ``payment_compliance_resolved`` (contract 2)."""
    from apps.payments import services as payment_services

    calls: list[dict[str, Any]] = []

    def double(**kwargs: Any) -> None:
        calls.append(kwargs)

    monkeypatch.setattr(payment_services, "payment_compliance_resolved", double, raising=False)
    return calls


def otp_client(user: Any) -> Any:
    """A Django test client logged in with a verified OTP device (as after the OTP admin login)."""
    from django.test import Client
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    client = Client()
    client.force_login(user)
    device = TOTPDevice.objects.filter(user=user).first() or TOTPDevice.objects.create(
        user=user, name="phone", confirmed=True
    )
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return client


@pytest.fixture
def admin_client_verified(db: Any) -> Any:
    from tests.factories import UserFactory

    return otp_client(UserFactory(is_staff=True, is_superuser=True))
