from __future__ import annotations

import factory
from djmoney.money import Money

from apps.core.models import Membership, Organization, User


class OrganizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organization

    name = factory.Sequence(lambda n: f"Org {n}")
    slug = factory.Sequence(lambda n: f"org-{n}")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.test")
    password = factory.django.Password("correct-horse-9")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    organization = factory.SubFactory(OrganizationFactory)
    user = factory.SubFactory(UserFactory)
    role = "owner"


class ConversationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "conversations.Conversation"

    organization = factory.SubFactory(OrganizationFactory)
    platform = "webchat"
    external_conversation_id = factory.Sequence(lambda n: f"conv-{n}")
    participants = factory.LazyFunction(lambda: [{"id": "u1", "name": "Ana"}, {"id": "u2", "name": "João"}])


class PaymentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "payments.OrchestrationPayment"

    organization = factory.SubFactory(OrganizationFactory)
    amount = Money("50.00", "BRL")
    from_country = "BR"
    to_country = "BR"
    payee_ref = "joao"
    selected_rail = "pix"
