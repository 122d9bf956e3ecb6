from __future__ import annotations

import factory
from djmoney.money import Money

from tests.factories import OrganizationFactory, PaymentFactory


class CompliancePaymentFactory(PaymentFactory):
    """A payment waiting for its compliance decision (status ``screening``)."""

    payer_ref = factory.Sequence(lambda n: f"payer-{n}")
    payee_ref = factory.Sequence(lambda n: f"payee-{n}")  # type: ignore[assignment]
    payee_name = "Maria Silva"
    amount = Money("100.00", "BRL")
    status = "screening"


class KycProfileFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "compliance.KycProfile"

    organization = factory.SubFactory(OrganizationFactory)
    party_ref = factory.Sequence(lambda n: f"party-{n}")
    tier = "basic"
    legal_name = "Maria Silva"
    country = "BR"

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        obj = model_class(*args, **kwargs)
        obj.refresh_indexes()
        obj.save()
        return obj
