"""`apps.core.db.statements`: hot reads and inserts with SQL compiled once, answering as the ORM would."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from djmoney.money import Money

from apps.compliance.models import KycProfile
from apps.compliance.services import customer_kyc_tier, kyc_profile_upsert
from apps.core.db.statements import CompiledRead, row_update, rows_insert
from apps.payments.models import OrchestrationPayment, UserPreferences
from apps.payments.services import Preferences, preferences_for
from tests.factories import ConversationFactory, OrganizationFactory, PaymentFactory, UserFactory

pytestmark = pytest.mark.django_db


class Counting:
    """A ``build`` that counts how often a queryset is built (i.e. the ORM compiles)."""

    def __init__(self, build: Any) -> None:
        self.build, self.calls = build, 0

    def __call__(self, *values: Any) -> Any:
        self.calls += 1
        return self.build(*values)


def tier_query(organization_id: Any, party_ref: Any) -> Any:
    return KycProfile.objects.filter(organization_id=organization_id, party_ref=party_ref).values_list(
        "tier", flat=True
    )[:1]


def test_answers_equal_the_orms_and_postgresql_reuses_the_statement(organization):
    other = OrganizationFactory()
    kyc_profile_upsert(organization=organization, party_ref="ana", tier="full")
    kyc_profile_upsert(organization=other, party_ref="ana", tier="basic")
    kyc_profile_upsert(organization=organization, party_ref="bia", tier="basic")
    build = Counting(tier_query)
    read = CompiledRead(KycProfile, build)
    cases = [(organization.pk, "ana"), (other.pk, "ana"), (organization.pk, "bia"), (organization.pk, "zé")]
    for _ in range(2):
        for org_id, ref in cases:
            with CaptureQueriesContext(connection) as queries:
                got = read.first(org_id, ref)
            assert [got] == (list(tier_query(org_id, ref)) or [None])
            assert len(queries.captured_queries) == 1  # read through Django's cursor: logged
    assert [read.first(o, r) for o, r in cases] == ["full", "basic", "basic", None]
    if connection.vendor == "postgresql":
        assert build.calls == 1  # compiled once, then the same SQL with new values
    else:
        # SQLite binds a UUID as hex text: the parameters are not the values, so the ORM runs
        assert build.calls == 3 * len(cases)  # every call


def test_a_json_column_comes_back_as_the_orm_converts_it():
    user = UserFactory()
    UserPreferences.objects.create(
        user=user, preferred_rails=["pix", "wise"], cost_weight=0.25, default_currency="BRL"
    )
    for _ in range(2):  # the compiling call and the cached one
        prefs = preferences_for(user)
        assert prefs == Preferences(preferred_rails=("pix", "wise"), cost_weight=0.25, default_currency="BRL")
    assert preferences_for(UserFactory()) == Preferences()  # no row: the defaults


def test_a_none_value_gets_the_orms_is_null_not_the_compiled_equality(organization):
    conversation = ConversationFactory(organization=organization)
    PaymentFactory(organization=organization, conversation=conversation, payee_ref="in-chat")
    PaymentFactory(organization=organization, conversation=None, payee_ref="by-api")

    def payees(organization_id: Any, conversation_id: Any) -> Any:
        return OrchestrationPayment.objects.filter(
            organization_id=organization_id, conversation_id=conversation_id
        ).values_list("payee_ref", flat=True)

    read = CompiledRead(OrchestrationPayment, payees)
    assert read.rows(organization.pk, conversation.pk) == ["in-chat"]
    assert read.rows(organization.pk, None) == ["by-api"]  # IS NULL, as the ORM compiles it
    assert read.rows(organization.pk, conversation.pk) == ["in-chat"]


def test_a_value_of_another_type_is_converted_by_the_orm(organization):
    kyc_profile_upsert(organization=organization, party_ref="17", tier="full")
    read = CompiledRead(KycProfile, tier_query)
    assert read.first(organization.pk, "17") == "full"
    # an int for the text column: the ORM turns it into "17"; bound as an int it would not match
    assert read.first(organization.pk, 17) == "full"
    assert customer_kyc_tier(organization=organization, party_ref="17") == "full"
    assert customer_kyc_tier(organization=organization.pk, party_ref="nobody") == "none"


def test_other_querysets_are_left_to_the_orm(organization):
    kyc_profile_upsert(organization=organization, party_ref="ana", tier="full")
    as_dicts = Counting(lambda org_id: KycProfile.objects.filter(organization_id=org_id).values("tier"))
    read = CompiledRead(KycProfile, as_dicts)
    assert read.rows(organization.pk) == [{"tier": "full"}] == read.rows(organization.pk)
    assert as_dicts.calls == 2
    empty = CompiledRead(
        KycProfile, lambda refs: KycProfile.objects.filter(party_ref__in=refs).values_list("tier")
    )
    assert empty.rows([]) == [] and empty.rows(["ana"]) == [("full",)]  # an IN list: never the cache
    listed = CompiledRead(
        KycProfile, lambda refs: KycProfile.objects.filter(party_ref__in=refs).values_list("tier")
    )
    assert listed.rows(["ana"]) == [("full",)] and listed.rows(["ana", "bia"]) == [("full",)]


# --- rows_insert -----------------------------------------------------------------------------
def _row(model: Any, pk: Any, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    row = model.objects.filter(pk=pk).values().get()
    return {k: v for k, v in row.items() if k not in skip}


def test_an_inserted_payment_is_the_row_save_writes(organization):
    from djmoney.money import Money

    def payment(ref: str) -> OrchestrationPayment:
        return OrchestrationPayment(
            organization=organization,
            amount=Decimal("1234.5678"),
            amount_currency="BRL",
            payee_ref=ref,
            payee_name="João Ñandú",
            payee_identifiers={"pix_key": "joao@example.com", "n": [1, 2.5]},
            metadata={"kyc_tier": "basic", "nested": {"a": None}},
            selected_rail="pix",
        )

    fast, orm = payment("fast"), payment("orm")
    with CaptureQueriesContext(connection) as queries:
        rows_insert([fast])
    orm.save(force_insert=True)
    assert len(queries.captured_queries) == 1
    assert not fast._state.adding and fast._state.db == "default"
    skip = ("id", "payee_ref", "created_at", "updated_at")
    assert _row(OrchestrationPayment, fast.pk, skip) == _row(OrchestrationPayment, orm.pk, skip)
    stored = OrchestrationPayment.objects.get(pk=fast.pk)
    assert stored.amount == Money("1234.5678", "BRL") and stored.payee_identifiers["n"] == [1, 2.5]
    assert stored.created_at == fast.created_at  # auto_now_add set on the instance, as save() does


def test_several_rows_take_one_statement_and_get_their_keys_in_order(organization):
    from apps.payments.models import PaymentEvent

    payment = PaymentFactory(organization=organization)
    events = [
        PaymentEvent(payment=payment, from_status=a, to_status=b, actor="system", reason=b)
        for a, b in (("", "created"), ("created", "screening"), ("screening", "approved"))
    ]
    with CaptureQueriesContext(connection) as queries:
        rows_insert(events)
    assert len(queries.captured_queries) == 1
    assert all(e.pk is not None and not e._state.adding for e in events)
    stored = dict(PaymentEvent.objects.filter(payment=payment).values_list("pk", "to_status"))
    assert stored == {e.pk: e.to_status for e in events}
    # the same statement shape again: a new batch, new keys
    more = [
        PaymentEvent(payment=payment, from_status="approved", to_status=s, actor="x", reason="r")
        for s in ("initiated", "succeeded", "refunded")
    ]
    rows_insert(more)
    assert len({e.pk for e in events + more}) == 6 == PaymentEvent.objects.filter(payment=payment).count()


def test_a_model_with_save_receivers_or_an_expression_goes_through_the_orm(organization):
    from django.db.models import Value
    from django.db.models.signals import post_save

    from apps.payments.models import PaymentAttempt

    payment = PaymentFactory(organization=organization)
    seen: list[Any] = []

    def receiver(sender: Any, instance: Any, created: bool, **_kw: Any) -> None:
        seen.append((instance.pk, created))

    post_save.connect(receiver, sender=PaymentAttempt)
    try:
        attempt = PaymentAttempt(payment=payment, number=1, rail="pix")
        rows_insert([attempt])
    finally:
        post_save.disconnect(receiver, sender=PaymentAttempt)
    assert seen == [(attempt.pk, True)]  # the receiver ran: save() did the insert
    # a value that is an expression is compiled by the ORM
    second = PaymentAttempt(payment=payment, number=Value(7), rail="wise")
    rows_insert([second])
    assert PaymentAttempt.objects.get(pk=second.pk).number == 7


def test_a_failing_insert_raises_and_marks_the_transaction_like_save(organization):
    from django.db import IntegrityError, transaction

    from apps.payments.models import PaymentAttempt

    payment = PaymentFactory(organization=organization)
    first = PaymentAttempt(payment=payment, number=1, rail="pix")
    rows_insert([first])
    again = PaymentAttempt(pk=first.pk, payment=payment, number=2, rail="pix")
    with transaction.atomic():
        with pytest.raises(IntegrityError):
            rows_insert([again])
        # as after a failing save(): the block is marked, and leaving it rolls it back
        assert transaction.get_connection().needs_rollback
    assert again._state.adding  # not marked saved
    assert PaymentAttempt.objects.filter(payment=payment).count() == 1


# --- row_update ------------------------------------------------------------------------------
def test_an_update_writes_what_save_with_update_fields_writes(organization):
    fast, orm = PaymentFactory(organization=organization), PaymentFactory(organization=organization)
    before = OrchestrationPayment.objects.get(pk=fast.pk).updated_at
    for payment in (fast, orm):
        payment.status = "approved"
        payment.metadata = {"compliance": {"decision": "approve", "reasons": ["ok", "ñ"]}}
        payment.payee_name = "should not be written"
    with CaptureQueriesContext(connection) as queries:
        row_update(fast, ["status", "metadata", "updated_at"])
    orm.save(update_fields=["status", "metadata", "updated_at"])
    assert len(queries.captured_queries) == 1
    skip = ("id", "created_at", "updated_at")
    assert _row(OrchestrationPayment, fast.pk, skip) == _row(OrchestrationPayment, orm.pk, skip)
    stored = OrchestrationPayment.objects.get(pk=fast.pk)
    assert stored.status == "approved" and stored.payee_name != "should not be written"
    assert stored.updated_at == fast.updated_at > before  # auto_now, set on the instance as save() does


def test_an_update_that_matches_no_row_raises_like_save(organization):
    from django.db import DatabaseError

    payment = PaymentFactory(organization=organization)
    OrchestrationPayment.objects.filter(pk=payment.pk).delete()
    payment.status = "approved"
    with pytest.raises(DatabaseError, match="did not affect any rows"):
        row_update(payment, ["status"])


def test_an_unknown_field_or_save_receivers_go_through_save(organization):
    from django.db.models.signals import post_save

    payment = PaymentFactory(organization=organization)
    with pytest.raises(ValueError, match="do not exist"):
        row_update(payment, ["status", "no_such_field"])  # save()'s own error
    seen: list[Any] = []

    def receiver(sender: Any, instance: Any, update_fields: Any = None, **_kw: Any) -> None:
        seen.append(set(update_fields))

    post_save.connect(receiver, sender=OrchestrationPayment)
    try:
        payment.status = "approved"
        row_update(payment, ["status"])
    finally:
        post_save.disconnect(receiver, sender=OrchestrationPayment)
    assert seen == [{"status"}]
    assert OrchestrationPayment.objects.get(pk=payment.pk).status == "approved"


def _prepared(table: str) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements WHERE statement LIKE %s", [f"%{table}%"])
        return [row[0] for row in cursor.fetchall()]


@pytest.mark.postgres
@pytest.mark.parametrize("prepared", [True, False])
def test_statements_are_prepared_once_per_connection_unless_turned_off(organization, settings, prepared):
    """With ``DB_PREPARED_STATEMENTS`` PostgreSQL plans each compiled insert, update and read once per
    connection (server-side parameters); query logging still records the statement with its values."""
    settings.DB_PREPARED_STATEMENTS = prepared
    user = UserFactory()
    read = CompiledRead(
        UserPreferences,
        lambda org: UserPreferences.objects.filter(user_id=org).values_list("cost_weight", flat=True)[:1],
    )
    with CaptureQueriesContext(connection) as queries:
        for i in range(3):
            payment = OrchestrationPayment(
                organization=organization, amount=Money(f"{i + 1}.00", "BRL"), selected_rail="pix"
            )
            rows_insert([payment])
            payment.failure_reason = f"try {i}"
            row_update(payment, ["failure_reason"])
            assert read.first(user.pk) is None
    statements = _prepared("payments_orchestrationpayment") + _prepared("payments_userpreferences")
    assert len(statements) == (3 if prepared else 0)  # insert, update, read: each planned once
    assert sorted(
        OrchestrationPayment.objects.filter(organization=organization).values_list(
            "failure_reason", flat=True
        )
    ) == [
        "try 0",
        "try 1",
        "try 2",
    ]
    logged = [q["sql"] for q in queries.captured_queries]
    assert len(logged) == 9 and all(logged)
    assert any("try 2" in sql for sql in logged)  # the values are in the logged text either way
