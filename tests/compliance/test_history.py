"""The decision's fast paths on PostgreSQL against the ORM reference: the one-statement reads of
profiles and payer history, and the review / block writes (one statement after locking the
audit chain head with the case snapshot reads)."""

from __future__ import annotations

import random
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from djmoney.money import Money

from apps.compliance.history import HISTORY_MAX_ROWS, decision_reads
from apps.compliance.models import AuditChainHead, AuditEntry, Case, CaseEvent, PaymentDecision
from apps.compliance.services import (
    _audit_entry_build,
    _conversation_excerpt,
    audit_hash,
    audit_hash_parts,
    audit_record,
    audit_verify,
    case_context_gather_pending,
    payment_compliance_decide,
)
from tests.compliance.factories import KycProfileFactory

pytestmark = pytest.mark.django_db

PARTIES = ["ana", "bob", "caio", "dora", "edu"]
STATUSES = ["succeeded", "processing", "initiated", "failed", "blocked", "cancelled", "on_hold", "approved"]
CURRENCIES = ["BRL", "USD", "EUR", "ARS"]
RAILS = ["pix", "wise", "", "sepa"]


def _generated_history(organization: Any, payment_factory: Any, rng: random.Random, n: int) -> Any:
    """``n`` payments among a few parties: every status, currency and rail, spread over 100 days
    (some a few seconds ahead of now, some exactly on a window's edge), self-payments included."""
    from apps.payments.models import OrchestrationPayment

    now = timezone.now()
    rows = []
    for _ in range(n):
        payer, payee = rng.choice(PARTIES), rng.choice([*PARTIES, ""])
        rows.append(
            payment_factory(
                payer_ref=payer,
                payee_ref=payee,
                amount=Money(Decimal(rng.randrange(1, 2_000_000)) / 100, rng.choice(CURRENCIES)),
                selected_rail=rng.choice(RAILS),
                status=rng.choice(STATUSES),
            )
        )
    edges = [timedelta(days=1), timedelta(days=30), timedelta(hours=24), timedelta(hours=72), timedelta(0)]
    for p in rows:
        if rng.random() < 0.1:
            at = now - rng.choice(edges)
        elif rng.random() < 0.05:
            at = now + timedelta(seconds=rng.randrange(1, 30))
        else:
            at = now - timedelta(minutes=rng.randrange(0, 100 * 24 * 60))
        OrchestrationPayment.objects.filter(pk=p.pk).update(created_at=at)
    return now


def _profiles(reads: Any) -> dict[str, tuple[Any, ...]]:
    fields = ("pk", "party_ref", "tier", "risk_rating", "is_pep", "legal_name", "date_of_birth")
    more = ("nationality", "country", "organization_id")
    return {ref: tuple(getattr(p, f) for f in fields + more) for ref, p in reads.profiles.items()}


@pytest.mark.postgres
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_one_statement_reads_equal_the_orm_reads_on_generated_histories(organization, payment_factory, seed):
    from apps.accounting.models import PaymentRelationship

    # given a generated history, KYC profiles (encrypted names) and an accounting relationship
    rng = random.Random(seed)
    now = _generated_history(organization, payment_factory, rng, 160)
    KycProfileFactory(organization=organization, party_ref="ana", tier="full", legal_name="Ana Souza")
    KycProfileFactory(
        organization=organization, party_ref="bob", risk_rating="high", is_pep=True, country="AR"
    )
    PaymentRelationship.objects.create(
        organization=organization,
        user_id="dora",
        counterparty_id="zed",
        total_payments_count=7,
        avg_payment_amount=Money("321.5", "EUR"),
    )
    windows = [timedelta(0), timedelta(minutes=60), timedelta(hours=24), timedelta(hours=72)]
    checked = 0
    for payer in [*PARTIES, "nobody", ""]:
        for payee in [*PARTIES, "zed", ""]:
            payment = payment_factory(payer_ref=payer, payee_ref=payee)
            outgoing, incoming = rng.choice(windows), rng.choice(windows)
            # when
            fast = decision_reads(payment=payment, now=now, outgoing=outgoing, incoming=incoming)
            reference = decision_reads(
                payment=payment, now=now, outgoing=outgoing, incoming=incoming, portable=True
            )
            # then
            assert _profiles(fast) == _profiles(reference)
            assert fast.window_sums == reference.window_sums
            assert fast.last_payment_at == reference.last_payment_at
            assert fast.pair == reference.pair
            assert fast.recent == reference.recent
            assert fast.inbound == reference.inbound
            assert fast.relationship == reference.relationship
            checked += bool(reference.recent or reference.inbound or reference.window_sums)
    assert checked > 20  # the generated histories gave the reads something to find


@pytest.mark.postgres
def test_one_statement_reads_keep_the_newest_rows_up_to_the_cap(organization, payment_factory, monkeypatch):
    from apps.compliance import history

    # given more history in the window than the cap
    monkeypatch.setattr(history, "HISTORY_MAX_ROWS", 5)
    history._SQL.clear()
    try:
        for i in range(8):
            p = payment_factory(payer_ref="ana", payee_ref="bob", status="succeeded")
            type(p).objects.filter(pk=p.pk).update(created_at=timezone.now() - timedelta(minutes=i))
        payment = payment_factory(payer_ref="ana")
        # when
        reads = decision_reads(
            payment=payment, now=timezone.now(), outgoing=timedelta(hours=1), incoming=timedelta(0)
        )
    finally:
        history._SQL.clear()
    # then: the five newest, newest first
    assert len(reads.recent) == 5
    assert [r[0] for r in reads.recent] == sorted((r[0] for r in reads.recent), reverse=True)
    assert HISTORY_MAX_ROWS == 1000


@pytest.mark.postgres
def test_approval_is_two_statements(organization, payment_factory, django_assert_num_queries):
    # given warm rule, limit and rate caches
    KycProfileFactory(organization=organization, party_ref="ana", tier="basic")
    payment_compliance_decide(payment=payment_factory(payer_ref="ana"))
    payment = payment_factory(payer_ref="ana", amount=Money("250.00", "EUR"))
    # when / then: the reads, then the decision's INSERT
    with django_assert_num_queries(2):
        result = payment_compliance_decide(payment=payment)
    assert result.decision == "approve"
    row = PaymentDecision.objects.get(pk=result.decision_id)
    assert (row.payment_id, row.payer_tier, row.decision) == (payment.pk, "basic", "approve")
    assert row.fx["rates"]["EUR"] and row.created_at is not None


@pytest.mark.postgres
def test_review_stores_decision_case_event_and_audit_entry_in_one_statement(organization, payment_factory):
    from apps.conversations.models import Conversation, ConversationMessage

    # given an audit chain, a conversation and the payee's earlier payments and open case
    audit_record(action="test.genesis", after={"n": 1})
    conversation = Conversation.objects.create(
        organization=organization, platform="telegram", external_conversation_id="c-9"
    )
    messages = [
        ConversationMessage.objects.create(
            conversation=conversation, sender_name="Ana", message_text=f"msg {i} cpf 529.982.247-25"
        )
        for i in range(12)
    ]
    ConversationMessage.objects.create(conversation=conversation, sender_name="Ana", message_text="after")
    for status in ("succeeded", "succeeded", "failed"):
        payment_factory(payer_ref="caio", payee_ref="bob", status=status)
    KycProfileFactory(organization=organization, party_ref="ana", tier="full")
    KycProfileFactory(organization=organization, party_ref="dora", tier="full")
    earlier = payment_compliance_decide(
        payment=payment_factory(payer_ref="dora", payee_ref="bob", amount=Money("15000.00", "USD"))
    )
    assert earlier.decision == "review"
    payment = payment_factory(
        payer_ref="ana",
        payee_ref="bob",
        amount=Money("12000.00", "USD"),
        conversation=conversation,
        conversation_message=messages[-1],
    )
    payment_compliance_decide(payment=payment_factory(payer_ref="ana"))  # warm caches
    # when
    with CaptureQueriesContext(connection) as queries:
        result = payment_compliance_decide(payment=payment)
    # then: the reads and one write that also appends to the audit chain
    assert len(queries) == 2, [str(q["sql"])[:80] for q in queries]
    assert result.decision == "review"
    case = Case.objects.get(pk=result.case_id)
    assert case.decision_id == result.decision_id and case.payment_id == payment.pk
    assert case.requires_four_eyes and case.amount_usd == Decimal("12000.0000")
    assert [e.action for e in CaseEvent.objects.filter(case=case)] == ["opened"]
    # and its context is gathered later, as of the case's opening
    assert case.context_at is None and case.conversation_excerpt == []
    payment_factory(payer_ref="edu", payee_ref="bob")  # a later payment to the payee
    assert case_context_gather_pending() == 2  # this case and the earlier one
    case.refresh_from_db()
    assert case.context_at is not None
    assert case.conversation_excerpt == _conversation_excerpt(payment)
    assert [m["text"] for m in case.conversation_excerpt][-1].startswith("msg 11")
    assert "529.982.247-25" not in str(case.conversation_excerpt)
    assert case.counterparty_history["open_cases"] == 1  # the earlier case, not this one
    assert case.counterparty_history["by_status"] == {"succeeded": 2, "failed": 1, "screening": 1}
    entry = AuditEntry.objects.get(action="compliance.payment_review", target_id=str(payment.pk))
    assert entry.after == {"decision_id": str(result.decision_id), "score": result.score, "reasons": [
        r["code"] for r in result.reasons
    ]}  # fmt: skip
    assert audit_verify()[0] is True
    # linked to the entry before it, hashed by PostgreSQL as audit_hash does
    before = AuditEntry.objects.get(sequence=entry.sequence - 1)
    assert entry.prev_hash == before.hash and entry.hash == audit_hash(entry)
    assert AuditChainHead.objects.get().last_hash == entry.hash


@pytest.mark.postgres
def test_postgresql_hashes_an_appended_entry_as_audit_hash_does(organization):
    from apps.compliance.sql import audit_append_sql, insert_params, prepared_cursor

    # given a chain, and an entry with non-ASCII text, quotes, nested JSON, an IP and a request id
    previous = audit_record(action="test.genesis")
    entry = _audit_entry_build(
        sequence=None,
        prev_hash=None,
        action="compliance.payment_review",
        actor='João "Zé" Ñúñez',
        target=organization,
        before={"b": [1, 2.5, None], "a": {"z": "ü", "é": True}},
        after={"decision_id": "x", "score": 80.0},
    )
    entry.ip_address, entry.request_id = "2001:db8::1", "req-ü-1"
    # when PostgreSQL appends it
    append, advance, fields = audit_append_sql("default")
    with prepared_cursor(connection) as cursor:
        cursor.execute(
            f"WITH {append} {advance}",
            [*audit_hash_parts(entry), *insert_params(entry, fields, connection)],
        )
        sequence, prev_hash, digest = cursor.fetchone()
    # then it is linked after the previous entry and its hash is the one Python computes
    stored = AuditEntry.objects.get(sequence=sequence)
    assert (sequence, prev_hash) == (previous.sequence + 1, previous.hash)
    assert digest == stored.hash == audit_hash(stored)
    assert stored.actor_label == 'João "Zé" Ñúñez' and stored.ip_address == "2001:db8::1"
    assert AuditChainHead.objects.get().sequence == sequence
    assert audit_verify()[0] is True


def test_hash_parts_rebuild_the_canonical_json(organization):
    import hashlib

    entry = _audit_entry_build(sequence=7, prev_hash="f" * 64, action="x", actor="system", after={"s": "7"})
    a, b, c = audit_hash_parts(entry)
    assert hashlib.sha256(f"{a}{'f' * 64}{b}7{c}".encode()).hexdigest() == entry.hash == audit_hash(entry)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_reviews_keep_one_unbroken_chain(organization, payment_factory):
    import threading

    from django.db import transaction

    # given a chain and payments that go to review
    audit_record(action="test.genesis")
    KycProfileFactory(organization=organization, party_ref="ana", tier="full")
    payments = [
        payment_factory(payer_ref="ana", payee_ref=f"p{i}", amount=Money("12000", "USD")) for i in range(24)
    ]
    errors: list[BaseException] = []

    def worker(batch: list[Any]) -> None:
        try:
            for p in batch:
                with transaction.atomic():  # as payment_orchestrate runs the decision
                    assert payment_compliance_decide(payment=p).decision == "review"
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    # when four connections decide at once
    threads = [threading.Thread(target=worker, args=(payments[n::4],)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # then every decision has its case and its entry, in one gapless chain
    assert errors == []
    assert Case.objects.count() == 24
    assert list(AuditEntry.objects.order_by("sequence").values_list("sequence", flat=True)) == list(
        range(1, 26)
    )
    assert AuditChainHead.objects.get().sequence == 25
    assert audit_verify()[0] is True


@pytest.mark.postgres
def test_block_writes_decision_and_audit_entry_and_keeps_the_chain(organization, payment_factory):
    # given an existing chain
    audit_record(action="test.genesis")
    # when
    result = payment_compliance_decide(payment=payment_factory(amount=Money("4000.00", "USD")))
    # then
    assert result.decision == "block" and result.case_id is None
    assert PaymentDecision.objects.filter(pk=result.decision_id, decision="block").exists()
    entry = AuditEntry.objects.get(action="compliance.payment_block")
    assert entry.sequence == 2 and entry.target_id == str(PaymentDecision.objects.get().payment_id)
    ok, broken, detail = audit_verify()
    assert ok, (broken, detail)


@pytest.mark.postgres
def test_decisions_without_prepared_statements(organization, payment_factory, settings):
    # given
    settings.COMPLIANCE_PREPARED_STATEMENTS = False
    audit_record(action="test.genesis")
    KycProfileFactory(organization=organization, party_ref="ana", tier="full")
    # when
    approved = payment_compliance_decide(payment=payment_factory(payer_ref="ana"))
    reviewed = payment_compliance_decide(
        payment=payment_factory(payer_ref="ana", amount=Money("12000", "USD"))
    )
    # then
    assert approved.decision == "approve"
    assert reviewed.decision == "review" and Case.objects.filter(pk=reviewed.case_id).exists()
    assert PaymentDecision.objects.count() == 2
    assert audit_verify()[0] is True


def test_review_before_the_chain_has_a_head_uses_the_orm_path(organization, payment_factory):
    # given no audit entry yet
    assert not AuditEntry.objects.exists()
    KycProfileFactory(organization=organization, party_ref="ana", tier="full")
    # when
    result = payment_compliance_decide(payment=payment_factory(payer_ref="ana", amount=Money("12000", "USD")))
    # then
    assert result.decision == "review"
    assert Case.objects.filter(pk=result.case_id).exists()
    assert AuditEntry.objects.get().action == "compliance.payment_review"
    assert audit_verify()[0] is True


def test_rules_and_limits_changed_in_the_console_apply_to_the_next_decision(
    organization, payment_factory, admin_client_verified
):
    from apps.compliance.models import TierLimit

    # given rules and limits cached by an earlier decision
    assert payment_compliance_decide(payment=payment_factory()).decision == "approve"
    # when a rule is added and the "none" tier's limit lowered in the admin
    response = admin_client_verified.post(
        "/admin/compliance/riskrule/add/",
        {
            "code": "any-amount",
            "name": "Every amount",
            "kind": "amount_threshold",
            "params": '{"amount_usd": "1"}',
            "score": "10",
            "action": "score",
            "mode": "enforce",
            "versions-TOTAL_FORMS": "0",
            "versions-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302
    limit = TierLimit.objects.get(tier="none", organization__isnull=True, rail="", currency="")
    response = admin_client_verified.post(
        f"/admin/compliance/tierlimit/{limit.pk}/change/",
        {
            "tier": "none",
            "rail": "",
            "currency": "",
            "per_transaction": "5",
            "daily": "5000",
            "monthly": "10000",
        },
    )
    assert response.status_code == 302, response.content[:500]
    # then the next decision in this process uses both
    result = payment_compliance_decide(payment=payment_factory())
    codes = {r["code"] for r in result.reasons}
    assert {"any-amount", "limit_per_transaction"} <= codes
    assert result.decision == "block"


def _prepared_statements() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        return [row[0] for row in cursor.fetchall()]


@pytest.mark.postgres
def test_postgresql_prepares_the_decision_statements_once_per_connection(organization, payment_factory):
    # given
    KycProfileFactory(organization=organization, party_ref="ana", tier="basic")
    # when two decisions run on this connection
    for _ in range(2):
        assert payment_compliance_decide(payment=payment_factory(payer_ref="ana")).decision == "approve"
    # then the reads and the INSERT were prepared once each
    ours = [s for s in _prepared_statements() if "compliance_" in s]
    assert len(ours) == 2
    assert any("array_agg" in s for s in ours)
    assert any(s.startswith('INSERT INTO "compliance_paymentdecision"') for s in ours)


@pytest.mark.postgres
def test_nothing_is_prepared_when_prepared_statements_are_off(organization, payment_factory, settings):
    settings.COMPLIANCE_PREPARED_STATEMENTS = False
    connection.ensure_connection()
    connection.connection._prepared.clear()  # a fresh connection's state
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")
    assert payment_compliance_decide(payment=payment_factory(payer_ref="ana")).decision == "approve"
    assert not [s for s in _prepared_statements() if "compliance_" in s]
