"""Rows seeded by data migrations (rail catalogue, default rules and limits, role groups) are
there for every test, also after a transactional test flushed the database."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group

from apps.compliance.models import RiskRule, TierLimit
from apps.core.roles import ROLE_GROUP_NAMES
from apps.payments.models import RailDefinition


def _seeded() -> bool:
    return (
        RailDefinition.objects.count() >= 6
        and RiskRule.objects.filter(organization__isnull=True).exists()
        and TierLimit.objects.filter(organization__isnull=True).exists()
        and Group.objects.filter(name__in=ROLE_GROUP_NAMES.values()).count() == len(ROLE_GROUP_NAMES)
    )


@pytest.mark.django_db(transaction=True)
def test_a_transactional_test_sees_the_seeded_rows() -> None:
    assert _seeded()


@pytest.mark.django_db
def test_the_seeded_rows_are_back_after_the_flush() -> None:
    assert _seeded()
