"""Compliance services: the only code that writes compliance data.

Contract 3: ``payment_compliance_decide``, ``customer_kyc_tier``, ``audit_record``;
review-queue services call ``apps.payments.services.payment_compliance_resolved``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import structlog
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, connections, models, router, transaction
from django.db.models import Count, Max, Q
from django.utils import timezone

from apps.compliance import conf
from apps.compliance.choices import (
    CaseKind,
    CaseStatus,
    Decision,
    KycTier,
    RuleAction,
    RuleMode,
)
from apps.compliance.fx import USD_PLACES, UsdConverter
from apps.compliance.history import DecisionReads, decision_reads
from apps.compliance.models import (
    AuditChainHead,
    AuditEntry,
    Case,
    CaseEvent,
    KycProfile,
    PaymentDecision,
    RiskRule,
    RiskRuleVersion,
    TierLimit,
)
from apps.compliance.rules import (
    EVALUATORS,
    PaymentFacts,
    RuleParamsError,
    history_lookback,
    rule_params_validate,
)
from apps.compliance.screening.index import sanctions_index
from apps.compliance.sql import audit_append_sql, insert_params, insert_sql, prepared_cursor
from apps.compliance.types import ComplianceDecision, RuleOutcome, ScreeningHit
from apps.core.db.statements import CompiledRead
from apps.core.exceptions import ApplicationError

logger = structlog.get_logger(__name__)


# --- KYC ----------------------------------------------------------------------------


# read on every payment (routing needs the tier before compliance decides): its SQL compiled once
_kyc_tier_read = CompiledRead(
    KycProfile,
    lambda organization_id, party_ref: KycProfile.objects.filter(
        organization_id=organization_id, party_ref=party_ref
    ).values_list("tier", flat=True)[:1],
)


def customer_kyc_tier(*, organization: Any, party_ref: str) -> str:
    """``"none" | "basic" | "full"`` for a party of ``organization`` (contract 3)."""
    if not party_ref:
        return KycTier.NONE
    organization_id = getattr(organization, "pk", organization)
    return str(_kyc_tier_read.first(organization_id, party_ref) or KycTier.NONE)


@transaction.atomic
def kyc_profile_upsert(*, organization: Any, party_ref: str, actor: Any = None, **fields: Any) -> KycProfile:
    """Create or update the KYC profile of ``party_ref``; PII fields are encrypted and re-indexed."""
    profile = (
        KycProfile.objects.select_for_update(of=("self",))
        .filter(organization=organization, party_ref=party_ref)
        .first()
    )
    before = _profile_snapshot(profile) if profile else None
    if profile is None:
        profile = KycProfile(organization=organization, party_ref=party_ref)
    if fields.get("tax_id"):
        fields["tax_id"] = tax_id_validate(fields["tax_id"], country=fields.get("country") or profile.country)
    for name, value in fields.items():
        setattr(profile, name, value)
    profile.refresh_indexes()
    profile.save()
    audit_record(
        action="kyc.profile_saved",
        actor=actor,
        target=profile,
        before=before,
        after=_profile_snapshot(profile),
        organization=organization,
    )
    return profile


def _profile_snapshot(profile: KycProfile) -> dict[str, Any]:
    # Audit entries keep no plaintext PII: masked values and blind indexes only.
    from apps.compliance.crypto import mask_value

    return {
        "party_ref": profile.party_ref,
        "tier": profile.tier,
        "party_type": profile.party_type,
        "risk_rating": profile.risk_rating,
        "country": profile.country,
        "legal_name": mask_value(profile.legal_name),
        "tax_id": mask_value(profile.tax_id),
        "is_pep": profile.is_pep,
    }


class InvalidTaxId(ApplicationError):
    code = "invalid_tax_id"
    message = "The tax id is not valid."


def tax_id_validate(value: str, *, country: str = "") -> str:
    """Validate Brazilian CPF / CNPJ check digits (other countries are stored as given)."""
    from stdnum.br import cnpj, cpf

    digits = "".join(c for c in value if c.isdigit())
    if (country or "BR").upper() == "BR" and len(digits) in (11, 14):
        module = cpf if len(digits) == 11 else cnpj
        if not module.is_valid(digits):
            raise InvalidTaxId(errors={"tax_id": ["Check digits do not match."]})
        return module.format(digits)
    return value.strip()


# --- limits ---------------------------------------------------------------------------


# Rules and limits change rarely and are read on every payment: each process keeps them
# per organisation and reloads when the config generation (bumped by every change) moves.
CONFIG_GENERATION_KEY = "compliance:config:generation"
_config: dict[str, Any] = {"generation": None, "checked": 0.0, "rules": {}, "limits": {}}


def _config_current() -> dict[str, Any]:
    from django.core.cache import cache

    now = time.monotonic()
    if now - _config["checked"] >= conf.sanctions_index_check_seconds():
        generation = cache.get(CONFIG_GENERATION_KEY) or 0
        _config["checked"] = now
        if generation != _config["generation"]:
            _config.update(generation=generation, rules={}, limits={})
    return _config


def compliance_config_invalidate(*, bump: bool = True) -> None:
    """Forget cached rules and limits here (and, with ``bump``, in every process within seconds)."""
    from django.core.cache import cache

    if bump:
        try:
            cache.incr(CONFIG_GENERATION_KEY)
        except ValueError:
            cache.set(CONFIG_GENERATION_KEY, int(time.time()), timeout=None)
    _config.update(generation=None, checked=0.0, rules={}, limits={})


def _applicable_limits(*, organization_id: Any, tier: str, rail: str, currency: str) -> list[TierLimit]:
    config = _config_current()
    rows = config["limits"].get(organization_id)
    if rows is None:
        rows = list(
            TierLimit.objects.filter(Q(organization_id=organization_id) | Q(organization__isnull=True))
        )
        config["limits"][organization_id] = rows
    # An organisation's row replaces the platform row for the same rail and currency.
    chosen: dict[tuple[str, str], TierLimit] = {}
    for row in sorted(rows, key=lambda r: r.organization_id is not None):
        if row.tier == tier and row.rail in (rail, "") and row.currency in (currency, ""):
            chosen[(row.rail, row.currency)] = row
    return list(chosen.values())


@transaction.atomic
def tier_limit_save(*, limit: TierLimit, actor: Any = None) -> TierLimit:
    before = None
    if limit.pk:
        old = TierLimit.objects.filter(pk=limit.pk).values("per_transaction", "daily", "monthly").first()
        before = {k: str(v) if v is not None else None for k, v in (old or {}).items()}
    limit.save()
    audit_record(
        action="compliance.limit_saved",
        actor=actor,
        target=limit,
        before=before,
        after={
            "tier": limit.tier,
            "rail": limit.rail,
            "currency": limit.currency,
            **{
                k: str(getattr(limit, k)) if getattr(limit, k) is not None else None
                for k in ("per_transaction", "daily", "monthly")
            },
        },
        organization=limit.organization,
    )
    transaction.on_commit(compliance_config_invalidate)
    compliance_config_invalidate(bump=False)
    return limit


def limits_check(
    *,
    payment: Any,
    tier: str,
    now: datetime,
    reads: DecisionReads | None = None,
    usd: UsdConverter | None = None,
) -> list[RuleOutcome]:
    """Per-transaction, daily (24 h) and monthly (30 days) limits of the payer's tier; limits without
    a currency are USD equivalents at payments' ECB rates."""
    currency = payment.amount.currency.code
    amount = payment.amount.amount
    rail = payment.selected_rail or ""
    limits = _applicable_limits(
        organization_id=payment.organization_id, tier=tier, rail=rail, currency=currency
    )
    if not limits:
        return []
    if reads is None:
        reads = decision_reads(payment=payment, now=now, outgoing=timedelta(0), incoming=timedelta(0))
    to_usd = usd or UsdConverter()
    out: list[RuleOutcome] = []
    for limit in limits:
        in_usd = not limit.currency
        this = to_usd(amount, currency) if in_usd else amount
        unit = "USD (equivalent)" if in_usd else currency
        day = month = Decimal(0)
        for row_currency, row_rail, row_day, row_month in reads.window_sums:
            if limit.rail and row_rail != limit.rail:
                continue
            if not in_usd and row_currency != currency:
                continue
            if in_usd:
                row_day, row_month = to_usd(row_day, row_currency), to_usd(row_month, row_currency)
            day += row_day
            month += row_month
        scope = f"{tier} tier" + (f", {limit.rail}" if limit.rail else "")
        checks = [
            ("per_transaction", limit.per_transaction, this, "per-transaction"),
            ("daily", limit.daily, day + this, "daily"),
            ("monthly", limit.monthly, month + this, "monthly"),
        ]
        for key, cap, total, label in checks:
            if cap is not None and total > cap:
                out.append(
                    RuleOutcome(
                        code=f"limit_{key}",
                        message=f"The {label} limit of {cap:,.2f} {unit} for the {scope} would be exceeded "
                        f"({total:,.2f}). Complete KYC verification to raise it.",
                        score=100,
                        action=RuleAction.BLOCK,
                        data={"limit": str(cap), "total": str(total), "unit": unit, "tier": tier},
                    )
                )
    return out


# --- rules ------------------------------------------------------------------------------


def rules_for(organization_id: Any) -> list[RiskRule]:
    """Active rules: platform rules, replaced by the organisation's own rule with the same code
    (an organisation switches a platform rule off by overriding it with mode "off")."""
    config = _config_current()
    cached = config["rules"].get(organization_id)
    if cached is not None:
        return cached
    rows = RiskRule.objects.filter(Q(organization_id=organization_id) | Q(organization__isnull=True))
    chosen: dict[str, RiskRule] = {}
    for rule in sorted(rows, key=lambda r: r.organization_id is not None):
        chosen[rule.code] = rule
    active = [r for r in chosen.values() if r.mode != RuleMode.OFF]
    config["rules"][organization_id] = active
    return active


@transaction.atomic
def risk_rule_save(*, rule: RiskRule, actor: Any = None) -> RiskRule:
    """Save a rule as a new version (the old version stays in ``RiskRuleVersion``); its params are
    checked against the kind's declaration (``rules.PARAMS``) and stored normalised."""
    if rule.kind not in EVALUATORS:
        raise ApplicationError(f"Unknown rule kind {rule.kind!r}.", code="unknown_rule_kind")
    try:
        rule.params = rule_params_validate(rule.kind, rule.params or {})
    except RuleParamsError as exc:
        raise ApplicationError(
            f"Invalid parameters for a {rule.kind} rule: {exc}",
            code="invalid_rule_params",
            errors={f"params.{k}": [v] for k, v in exc.errors.items()},
        ) from exc
    if rule.pk:
        current = RiskRule.objects.select_for_update(of=("self",)).get(pk=rule.pk)
        rule.version = current.version + 1
    else:
        rule.version = 1
    rule.save()
    snapshot = {
        "code": rule.code,
        "name": rule.name,
        "kind": rule.kind,
        "params": rule.params,
        "score": rule.score,
        "action": rule.action,
        "mode": rule.mode,
    }
    RiskRuleVersion.objects.create(
        rule=rule, version=rule.version, snapshot=snapshot, changed_by=_user(actor)
    )
    transaction.on_commit(compliance_config_invalidate)
    compliance_config_invalidate(bump=False)
    audit_record(
        action="compliance.rule_saved",
        actor=actor,
        target=rule,
        after={**snapshot, "version": rule.version},
        organization=rule.organization,
    )
    return rule


def payment_facts(
    *,
    payment: Any,
    now: datetime,
    reads: DecisionReads | None = None,
    rules: list[RiskRule] | None = None,
    usd: UsdConverter | None = None,
) -> PaymentFacts:
    """The facts ``rules`` look at: the payment in USD and the payer's history (``reads``, read as
    far back as the rules' windows reach, ``rules.history_lookback``) converted to USD."""
    to_usd = usd or UsdConverter()
    if reads is None:
        outgoing, incoming = history_lookback(
            rules if rules is not None else rules_for(payment.organization_id)
        )
        reads = decision_reads(payment=payment, now=now, outgoing=outgoing, incoming=incoming)
    profiles = reads.profiles
    payer_profile = profiles.get(payment.payer_ref) if payment.payer_ref else None
    payee_profile = profiles.get(payment.payee_ref) if payment.payee_ref else None
    currency = payment.amount.currency.code
    facts = PaymentFacts(
        now=now,
        amount=payment.amount.amount,
        currency=currency,
        amount_usd=to_usd(payment.amount.amount, currency),
        payer_ref=payment.payer_ref,
        payee_ref=payment.payee_ref,
        # The payment's own countries first; a party's KYC country when the payment names none.
        from_country=payment.from_country or (payer_profile.country if payer_profile else "") or "",
        to_country=payment.to_country or (payee_profile.country if payee_profile else "") or "",
        rail=payment.selected_rail or "",
    )
    if not payment.payer_ref:
        return facts
    # One rate per currency: a history row costs a dict lookup, a multiplication and a quantize.
    rate = to_usd.rate
    places = USD_PLACES
    facts.recent = [
        (at, (amount * rate(cur)).quantize(places), payee) for at, amount, cur, payee in reads.recent
    ]
    facts.inbound = [(at, (amount * rate(cur)).quantize(places)) for at, amount, cur in reads.inbound]
    facts.last_payment_at = reads.last_payment_at
    facts.pair_count = sum(n for _, n, _ in reads.pair)
    if facts.pair_count:
        total = sum((to_usd(amount, cur) for cur, _, amount in reads.pair), Decimal(0))
        facts.pair_avg_usd = (total / facts.pair_count).quantize(Decimal("0.0001"))
    elif reads.relationship is not None:
        # No payments between them here yet: the accounting relationship may know their history.
        count, avg, avg_currency = reads.relationship
        facts.pair_count = count
        facts.pair_avg_usd = to_usd(avg, avg_currency) if avg is not None else None
    return facts


def rules_evaluate(*, rules: list[RiskRule], facts: PaymentFacts) -> list[RuleOutcome]:
    out = []
    for rule in rules:
        evaluator = EVALUATORS.get(rule.kind)
        if evaluator is None:
            continue
        fired = evaluator(rule.params or {}, facts)
        if fired is None:
            continue
        message, data = fired
        out.append(
            RuleOutcome(
                code=rule.code,
                message=message,
                score=float(rule.score),
                action=rule.action,
                rule_version=rule.version,
                shadow=rule.mode == RuleMode.SHADOW,
                data=data,
            )
        )
    return out


# --- sanctions -----------------------------------------------------------------------------


def screen_name(
    name: str, *, date_of_birth: str | None = None, nationality: str | None = None
) -> list[ScreeningHit]:
    """Screen one name against the active sanctions lists."""
    if not name or not name.strip():
        return []
    return sanctions_index().screen(
        name,
        weak=conf.sanctions_weak_score(),
        strong=conf.sanctions_strong_score(),
        date_of_birth=date_of_birth,
        nationality=nationality,
    )


CRYPTO_IDENTIFIER_KEYS = ("eth_address", "btc_address", "usdc_address", "wallet", "crypto_address")


def payment_screen(*, payment: Any, profiles: dict[str, KycProfile]) -> list[ScreeningHit]:
    """Screen the payee name, both parties' KYC names and any crypto address of the payment."""
    index = sanctions_index()
    if not len(index):
        return []
    hits: list[ScreeningHit] = []
    names: list[tuple[str, str, KycProfile | None]] = []
    payee_profile = profiles.get(payment.payee_ref)
    payer_profile = profiles.get(payment.payer_ref)
    if payment.payee_name:
        names.append(("payee", payment.payee_name, payee_profile))
    for role, prof in (("payee", payee_profile), ("payer", payer_profile)):
        if prof is not None and prof.legal_name and prof.legal_name != payment.payee_name:
            names.append((role, prof.legal_name, prof))
    for role, name, prof in names:
        dob = prof.date_of_birth.isoformat() if prof and prof.date_of_birth else None
        nationality = prof.nationality if prof else None
        for hit in screen_name(name, date_of_birth=dob, nationality=nationality):
            hits.append(_with_role(hit, role))
    identifiers = payment.payee_identifiers or {}
    for key in CRYPTO_IDENTIFIER_KEYS:
        value = identifiers.get(key)
        if value:
            addr_hit = index.screen_address(str(value))
            if addr_hit is not None:
                hits.append(_with_role(addr_hit, "payee"))
    return hits


def _with_role(hit: ScreeningHit, role: str) -> ScreeningHit:
    return ScreeningHit(**{**hit.to_dict(), "details": {**hit.details, "party": role}})


# --- the decision ------------------------------------------------------------------------------


def payment_compliance_decide(*, payment: Any, actor: Any = None) -> ComplianceDecision:
    """Decide whether ``payment`` may go (contract 3): approve, review or block.

    Runs the payer's KYC tier limits, sanctions screening of the parties and the
    AML / fraud rules; stores a ``PaymentDecision`` with every reason and the
    rule versions used; opens a review ``Case`` for "review". Never changes the
    payment's status: payments does that through ``payment_transition``.

    ``payment`` need not be stored yet (orchestration decides before inserting it, in the same
    transaction): the reads leave it out by id, and the rows written here refer to it through
    foreign keys checked at commit.
    """
    started = time.perf_counter()
    now = timezone.now()
    rules = rules_for(payment.organization_id)
    outgoing, incoming = history_lookback(rules)
    # Reads first (one statement on PostgreSQL), outside any transaction of ours; only the writes
    # below are atomic.
    reads = decision_reads(payment=payment, now=now, outgoing=outgoing, incoming=incoming)
    profiles = reads.profiles
    payer_profile = profiles.get(payment.payer_ref)
    tier = payer_profile.tier if payer_profile else KycTier.NONE
    usd = UsdConverter()  # one rate table for the whole decision
    outcomes: list[RuleOutcome] = []
    outcomes += limits_check(payment=payment, tier=tier, now=now, reads=reads, usd=usd)
    outcomes += _profile_outcomes(profiles, payment)
    hits = payment_screen(payment=payment, profiles=profiles)
    outcomes += [_hit_outcome(h) for h in hits]
    facts = payment_facts(payment=payment, now=now, reads=reads, rules=rules, usd=usd)
    outcomes += rules_evaluate(rules=rules, facts=facts)

    enforced = [o for o in outcomes if not o.shadow]
    shadow = [o for o in outcomes if o.shadow]
    score = float(sum(o.score for o in enforced))
    decision = Decision.APPROVE
    if any(o.action == RuleAction.BLOCK for o in enforced) or score >= conf.block_score():
        decision = Decision.BLOCK
    elif any(o.action == RuleAction.REVIEW for o in enforced) or score >= conf.review_score():
        decision = Decision.REVIEW
    reasons = [o.reason() for o in enforced]
    row = PaymentDecision(
        organization_id=payment.organization_id,
        payment=payment,
        decision=decision,
        score=score,
        reasons=reasons,
        shadow_reasons=[o.reason() for o in shadow],
        rule_versions={r.code: r.version for r in rules},
        sanctions_hits=[h.to_dict() for h in hits],
        payer_tier=tier,
        fx=usd.describe(),
    )
    row.duration_ms = round((time.perf_counter() - started) * 1000, 3)
    case = _decision_store(row=row, payment=payment, amount_usd=facts.amount_usd, actor=actor)
    if shadow:
        logger.info(
            "compliance_shadow_rules",
            payment_id=str(payment.pk),
            rules=[o.code for o in shadow],
            enforced_decision=decision,
        )
    logger.info(
        "compliance_decision",
        payment_id=str(payment.pk),
        decision=decision,
        score=score,
        reasons=[r["code"] for r in reasons],
        duration_ms=row.duration_ms,
    )
    return ComplianceDecision(
        decision=str(decision),
        score=score,
        reasons=reasons,
        case_id=case.pk if case else None,
        decision_id=row.pk,
    )


def _decision_audit_after(row: PaymentDecision) -> dict[str, Any]:
    return {"decision_id": str(row.pk), "score": row.score, "reasons": [r["code"] for r in row.reasons]}


def _decision_store(*, row: PaymentDecision, payment: Any, amount_usd: Decimal, actor: Any) -> Case | None:
    """Store the decision; for "review" its case too, and the audit entry unless approved.

    On PostgreSQL: an approval is one prepared INSERT; a review or block is one statement of
    chained CTEs that writes the decision, the case and its event, locks the audit chain head,
    appends the entry (hashed by PostgreSQL once the head is locked) and moves the head. A
    statement is atomic, so no savepoint is needed, and the rows are exactly those the ORM path
    writes. Elsewhere the ORM writes them in a savepoint. Either way a case's conversation excerpt
    and counterparty history are gathered later (``case_context_gather``).
    """
    alias = router.db_for_write(PaymentDecision)
    connection = connections[alias]
    if connection.vendor != "postgresql":
        return _decision_store_orm(row=row, payment=payment, amount_usd=amount_usd, actor=actor)
    if row.decision == Decision.APPROVE:
        sql, fields = insert_sql(PaymentDecision, alias)
        with prepared_cursor(connection) as cursor:
            cursor.execute(sql, insert_params(row, fields, connection))
        row._state.adding, row._state.db = False, alias
        return None
    # Outside a transaction this opens one; inside orchestration's, it adds no savepoint.
    with transaction.atomic(using=alias, savepoint=False):
        return _decision_store_postgresql(
            row=row, payment=payment, amount_usd=amount_usd, actor=actor, alias=alias
        )


def _decision_store_orm(
    *, row: PaymentDecision, payment: Any, amount_usd: Decimal, actor: Any
) -> Case | None:
    # An approval is one INSERT (atomic by itself); review and block write several rows together.
    writes = transaction.atomic() if row.decision != Decision.APPROVE else contextlib.nullcontext()
    with writes:
        row.save(force_insert=True)
        case = None
        if row.decision == Decision.REVIEW:
            case = case_open(payment=payment, decision=row, amount_usd=amount_usd)
        if row.decision != Decision.APPROVE:
            audit_record(
                action=f"compliance.payment_{row.decision}",
                actor=actor,
                target=payment,
                after=_decision_audit_after(row),
                organization=payment.organization_id,
            )
    return case


def _decision_store_postgresql(
    *, row: PaymentDecision, payment: Any, amount_usd: Decimal, actor: Any, alias: str
) -> Case | None:
    connection = connections[alias]
    statements: list[tuple[Any, Any]] = [(PaymentDecision, row)]
    case = None
    if row.decision == Decision.REVIEW:
        case, event = _case_build(payment=payment, decision=row, amount_usd=amount_usd)
        statements += [(Case, case), (CaseEvent, event)]
    audit = {
        "action": f"compliance.payment_{row.decision}",
        "actor": actor,
        "target": payment,
        "after": _decision_audit_after(row),
        "organization": payment.organization_id,
    }
    entry = _audit_entry_build(sequence=None, prev_hash=None, **audit)  # PostgreSQL links it
    ctes, values = [], []
    for n, (model, obj) in enumerate(statements):
        sql, fields = insert_sql(model, alias)
        ctes.append(f"w{n} AS ({sql})")
        values += insert_params(obj, fields, connection)
    append, advance, fields = audit_append_sql(alias)
    values += [*audit_hash_parts(entry), *insert_params(entry, fields, connection)]
    with prepared_cursor(connection) as cursor:
        cursor.execute(f"WITH {', '.join(ctes)}, {append} {advance}", values)
        appended = cursor.fetchone()
    for _, obj in statements:
        obj._state.adding, obj._state.db = False, alias
    if appended is None:
        # The chain has no head row yet (a new database): the ORM creates it from the last entry.
        audit_record(**audit)
    else:
        entry.sequence, entry.prev_hash, entry.hash = appended
        entry._state.adding, entry._state.db = False, alias
    return case


def _profile_outcomes(profiles: dict[str, KycProfile], payment: Any) -> list[RuleOutcome]:
    out = []
    for role, ref in (("payer", payment.payer_ref), ("payee", payment.payee_ref)):
        prof = profiles.get(ref) if ref else None
        if prof is None:
            continue
        if prof.risk_rating == "high":
            out.append(
                RuleOutcome(code=f"{role}_high_risk", message=f"The {role} is rated high risk.", score=30)
            )
        if prof.is_pep:
            out.append(
                RuleOutcome(
                    code=f"{role}_pep",
                    message=f"The {role} is a politically exposed person.",
                    score=25,
                    action=RuleAction.REVIEW,
                )
            )
    return out


def _hit_outcome(hit: ScreeningHit) -> RuleOutcome:
    party = hit.details.get("party", "party")
    strong = hit.strength == "strong"
    what = "crypto address" if hit.field == "crypto_address" else "name"
    return RuleOutcome(
        code="sanctions_match" if strong else "sanctions_possible_match",
        message=f"The {party} {what} matches {hit.source.upper()} entry {hit.external_id} "
        f"“{hit.name}” (score {hit.score:.2f}).",
        score=100.0 if strong else 50.0,
        action=RuleAction.BLOCK if strong else RuleAction.REVIEW,
        data={"entity_id": hit.entity_id, "score": hit.score, "matched_name": hit.matched_name},
    )


# --- cases (opening) -----------------------------------------------------------------------------


def _user(actor: Any) -> Any:
    from apps.core.models import User

    return actor if isinstance(actor, User) else None


def case_open(*, payment: Any, decision: PaymentDecision, amount_usd: Decimal) -> Case:
    """Open a review case for a payment; what a reviewer needs beside the decision (the
    conversation excerpt, the counterparty's history) is gathered later (``case_context_gather``)."""
    case, event = _case_build(payment=payment, decision=decision, amount_usd=amount_usd)
    case.save(force_insert=True)
    event.save(force_insert=True)
    return case


def _case_build(*, payment: Any, decision: PaymentDecision, amount_usd: Decimal) -> tuple[Case, CaseEvent]:
    """The (unsaved) review case of a payment and its "opened" event."""
    now = timezone.now()
    case = Case(
        organization_id=payment.organization_id,
        kind=CaseKind.PAYMENT,
        payment=payment,
        decision=decision,
        status=CaseStatus.OPEN,
        risk_score=decision.score,
        amount_usd=amount_usd,
        reasons=decision.reasons,
        sanctions_hits=decision.sanctions_hits,
        requires_four_eyes=amount_usd >= conf.four_eyes_amount_usd(),
        created_by_id=payment.created_by_id,
        sla_due_at=now + timedelta(hours=conf.case_sla_hours()),
    )
    event = CaseEvent(case=case, action="opened", to_status=case.status, note="Flagged by compliance.")
    return case, event


def case_context_gather(*, case: Case) -> Case:
    """Fill a payment case's conversation excerpt (the ten messages up to the payment's, identifiers
    masked) and its counterparty's history (the organisation's other payments to the payee created
    up to the case's opening, and its other open cases), once; returns the case as stored.

    Not part of the decision: reading it there cost every review a statement (about a
    millisecond), and queueing a task per case after commit cost as much again. The beat sweep
    (``case_context_gather_pending``, every 15 s) gathers new cases, and a reviewer who opens a case
    before that gets it gathered on the spot."""
    if case.context_at is not None or case.payment_id is None:
        return case
    payment = case.payment
    assert payment is not None
    excerpt = _conversation_excerpt(payment)
    history = _counterparty_history(
        organization_id=case.organization_id,
        payee_ref=payment.payee_ref,
        exclude_pk=payment.pk,
        until=case.created_at,
        exclude_case=case.pk,
    )
    now = timezone.now()
    # Only the first gatherer writes (the task and a reviewer's page may race).
    if Case.objects.filter(pk=case.pk, context_at__isnull=True).update(
        conversation_excerpt=excerpt, counterparty_history=history, context_at=now
    ):
        case.conversation_excerpt, case.counterparty_history, case.context_at = excerpt, history, now
        return case
    case.refresh_from_db(fields=["conversation_excerpt", "counterparty_history", "context_at"])
    return case


def case_context_gather_pending(*, limit: int = 500) -> int:
    """Gather the context of payment cases that have none yet, oldest first; how many were."""
    pending = (
        Case.objects.filter(kind=CaseKind.PAYMENT, context_at__isnull=True, payment__isnull=False)
        .select_related("payment")
        .order_by("created_at")[:limit]
    )
    done = 0
    for case in pending:
        case_context_gather(case=case)
        done += 1
    return done


def _conversation_excerpt(payment: Any, size: int = 10) -> list[dict[str, Any]]:
    if not payment.conversation_id:
        return []
    from apps.conversations.models import ConversationMessage

    qs = ConversationMessage.objects.filter(conversation_id=payment.conversation_id)
    if payment.conversation_message_id:
        anchor = (
            ConversationMessage.objects.filter(pk=payment.conversation_message_id)
            .values_list("created_at", flat=True)
            .first()
        )
        if anchor is not None:
            qs = qs.filter(created_at__lte=anchor)
    rows = qs.order_by("-created_at").values_list("created_at", "direction", "sender_name", "message_text")[
        :size
    ]
    return _excerpt_format(list(reversed(rows)))


def _excerpt_format(rows: list[tuple[Any, str, str, str]]) -> list[dict[str, Any]]:
    """``(created_at, direction, sender, text)`` oldest first -> the case's excerpt, identifiers masked."""
    from agentpay.logging import mask_text

    return [
        {"at": at.isoformat(), "direction": direction, "sender": sender, "text": mask_text(text)}
        for at, direction, sender, text in rows
    ]


def _counterparty_history(
    *,
    organization_id: Any,
    payee_ref: str,
    exclude_pk: Any = None,
    until: datetime | None = None,
    exclude_case: Any = None,
) -> dict[str, Any]:
    """What the organisation's payments (created up to ``until``) say about a payee: counts, first
    and last, recent ones, open cases (but ``exclude_case``)."""
    from apps.payments.models import OrchestrationPayment

    if not payee_ref:
        return {}
    qs = OrchestrationPayment.objects.filter(organization_id=organization_id, payee_ref=payee_ref)
    if exclude_pk is not None:
        qs = qs.exclude(pk=exclude_pk)
    if until is not None:
        qs = qs.filter(created_at__lte=until)
    open_cases = Case.objects.filter(
        organization_id=organization_id, payment__payee_ref=payee_ref, status__in=_open_statuses()
    )
    if exclude_case is not None:
        open_cases = open_cases.exclude(pk=exclude_case)
    groups = list(
        qs.values("status")
        .annotate(n=Count("id"), first=models.Min("created_at"), last=Max("created_at"))
        .order_by()
    )
    recent = list(
        qs.order_by("-created_at").values_list(
            "created_at", "amount", "amount_currency", "status", "payer_ref"
        )[:10]
    )
    return _counterparty_history_format(
        by_status={g["status"]: g["n"] for g in groups},
        first=min((g["first"] for g in groups), default=None),
        last=max((g["last"] for g in groups), default=None),
        recent=recent,
        open_cases=open_cases.count(),
    )


def _counterparty_history_format(
    *, by_status: dict[str, int], first: Any, last: Any, recent: list[tuple[Any, ...]], open_cases: int
) -> dict[str, Any]:
    return {
        "payments": sum(by_status.values()),
        "first_at": first.isoformat() if first else None,
        "last_at": last.isoformat() if last else None,
        "by_status": by_status,
        "recent": [
            {"at": at.isoformat(), "amount": str(amt), "currency": cur, "status": st, "payer": payer}
            for at, amt, cur, st, payer in recent
        ],
        "open_cases": open_cases,
    }


# --- audit ------------------------------------------------------------------------------------------

GENESIS_HASH = "0" * 64


def _canonical(value: Any) -> Any:
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder)) if value is not None else None


def _audit_canonical_json(entry: AuditEntry, *, sequence: Any, prev_hash: str) -> str:
    """The canonical JSON (sorted keys, compact, UTF-8) of an entry's content and its link."""
    created = entry.created_at.astimezone(UTC).isoformat(timespec="microseconds")
    payload = {
        "sequence": sequence,
        "created_at": created,
        "organization_id": str(entry.organization_id) if entry.organization_id else None,
        "actor_id": str(entry.actor_id) if entry.actor_id else None,
        "actor_label": entry.actor_label,
        "action": entry.action,
        "target_type": entry.target_type,
        "target_id": entry.target_id,
        "before": entry.before,
        "after": entry.after,
        "request_id": entry.request_id,
        "ip_address": entry.ip_address,
        "prev_hash": prev_hash,
    }
    return json.dumps(
        payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, cls=DjangoJSONEncoder
    )


def audit_hash(entry: AuditEntry) -> str:
    """SHA-256 over the entry's canonical JSON (sorted keys) including ``prev_hash``."""
    raw = _audit_canonical_json(entry, sequence=entry.sequence, prev_hash=entry.prev_hash)
    return hashlib.sha256(raw.encode()).hexdigest()


def audit_hash_parts(entry: AuditEntry) -> tuple[str, str, str]:
    """The canonical JSON of ``entry`` split around its ``prev_hash`` and ``sequence`` (in that key
    order): ``audit_hash`` of the entry linked to ``prev`` at ``seq`` is the SHA-256 of
    ``a + prev + b + str(seq) + c``, which lets PostgreSQL hash it once it holds the chain head."""
    marker = uuid.uuid4().hex
    raw = _audit_canonical_json(entry, sequence=f"{marker}s", prev_hash=f"{marker}p")
    a, rest = raw.split(f"{marker}p")  # inside the quotes of a JSON string
    b, c = rest.split(f'"{marker}s"')  # a JSON number: no quotes
    return a, b, c


def _actor_label(actor: Any) -> str:
    if actor is None:
        return "system"
    if isinstance(actor, str):
        return actor
    pk = getattr(actor, "pk", None)
    if isinstance(pk, str) and pk.startswith("apikey:"):
        return pk
    username = getattr(actor, "get_username", lambda: "")()
    return f"user:{pk}" + (f" ({username})" if username else "")


def _request_meta(request: Any) -> tuple[str, str | None]:
    import structlog.contextvars

    from apps.core.middleware import upstream_request_id

    # the id the request's log lines carry; a client's X-Request-ID only when proxies are trusted
    request_id = str(structlog.contextvars.get_contextvars().get("request_id", "") or "")
    ip = None
    if request is not None:
        request_id = request_id or upstream_request_id(request) or ""
        ip = _client_ip(request)
    return request_id[:100], ip


def _client_ip(request: Any) -> str | None:
    """The client address as the API's throttles see it: behind ``NUM_PROXIES`` trusted proxies, the
    X-Forwarded-For entry they appended; otherwise the socket's peer."""
    from django.conf import settings

    proxies = int(getattr(settings, "REST_FRAMEWORK", {}).get("NUM_PROXIES") or 0)
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if proxies > 0 and forwarded:
        hops = [h.strip() for h in forwarded.split(",") if h.strip()]
        if hops:
            candidate = hops[-min(proxies, len(hops))]
            try:
                import ipaddress

                return str(ipaddress.ip_address(candidate))
            except ValueError:
                pass
    return request.META.get("REMOTE_ADDR") or None


def _chain_head() -> AuditChainHead:
    head = AuditChainHead.objects.select_for_update(of=("self",)).filter(pk=1).first()
    if head is not None:
        return head
    last = AuditEntry.objects.order_by("-sequence").values_list("sequence", "hash").first()
    try:
        with transaction.atomic():
            AuditChainHead.objects.create(
                pk=1, sequence=last[0] if last else 0, last_hash=last[1] if last else GENESIS_HASH
            )
    except IntegrityError:
        pass  # another writer created it first; lock theirs
    return AuditChainHead.objects.select_for_update(of=("self",)).get(pk=1)


@transaction.atomic
def audit_record(
    *,
    action: str,
    actor: Any = None,
    target: Any = None,
    before: dict | None = None,
    after: dict | None = None,
    request: Any = None,
    organization: Any = None,
) -> AuditEntry:
    """Append one entry to the hash-chained audit log (contract 3).

    Appends are serialised by locking the chain-head row, so concurrent writers
    each link to the previous entry and sequences have no gaps.
    """
    head = _chain_head()
    entry = _audit_entry_build(
        sequence=head.sequence + 1,
        prev_hash=head.last_hash,
        action=action,
        actor=actor,
        target=target,
        before=before,
        after=after,
        request=request,
        organization=organization,
    )
    entry.save(force_insert=True)
    head.sequence = entry.sequence
    head.last_hash = entry.hash
    head.save(update_fields=["sequence", "last_hash"])
    return entry


def _audit_entry_build(
    *,
    sequence: int | None,
    prev_hash: str | None,
    action: str,
    actor: Any = None,
    target: Any = None,
    before: dict | None = None,
    after: dict | None = None,
    request: Any = None,
    organization: Any = None,
) -> AuditEntry:
    """The (unsaved) entry that follows ``prev_hash`` at ``sequence``, its hash computed (not linked
    nor hashed when both are ``None``: ``audit_append_sql`` does both in PostgreSQL)."""
    request_id, ip = _request_meta(request)
    target_type, target_id = "", ""
    if isinstance(target, models.Model):
        target_type, target_id = target._meta.label_lower, str(target.pk)
    elif target is not None:
        target_type, target_id = "", str(target)
    org_id = getattr(organization, "pk", organization)
    if org_id is None and isinstance(target, models.Model):
        from apps.core.models import Organization

        org_id = target.pk if isinstance(target, Organization) else getattr(target, "organization_id", None)
    entry = AuditEntry(
        sequence=sequence or 0,
        created_at=timezone.now(),
        organization_id=org_id,
        actor_id=getattr(_user(actor), "pk", None),
        actor_label=_actor_label(actor)[:255],
        action=action[:100],
        target_type=target_type[:100],
        target_id=target_id[:100],
        before=_canonical(before),
        after=_canonical(after),
        request_id=request_id,
        ip_address=ip,
        prev_hash=prev_hash or "",
    )
    if sequence is not None:
        entry.hash = audit_hash(entry)
    return entry


def audit_verify(*, batch: int = 2000) -> tuple[bool, int | None, str]:
    """Walk the chain: ``(True, None, "...")`` or ``(False, sequence, reason)`` for the first broken entry."""
    prev_hash = GENESIS_HASH
    expected_seq = None
    count = 0
    for entry in AuditEntry.objects.order_by("sequence").iterator(chunk_size=batch):
        if expected_seq is None:
            expected_seq = entry.sequence
            if entry.sequence != 1:
                return False, entry.sequence, f"entries before #{entry.sequence} are missing"
        if entry.sequence != expected_seq:
            return False, expected_seq, f"entry #{expected_seq} is missing"
        if entry.prev_hash != prev_hash:
            return False, entry.sequence, "prev_hash does not match the previous entry"
        if audit_hash(entry) != entry.hash:
            return False, entry.sequence, "content does not match its hash"
        prev_hash = entry.hash
        expected_seq += 1
        count += 1
    head = AuditChainHead.objects.filter(pk=1).first()
    # The head row is checked even when no entry is left, so emptying the whole table is caught too.
    if head is not None and (head.sequence != count or head.last_hash != prev_hash):
        return (
            False,
            count + 1 if head.sequence > count else max(count, 1),
            "the chain head does not match the last entry"
            + (f" (the head records {head.sequence} entries)" if head.sequence > count else ""),
        )
    return True, None, f"{count} entries verified"


# --- sanctions lists -------------------------------------------------------------------------------

LIST_FILES = {"ofac-csv": ("sdn.csv", "alt.csv", "add.csv")}


def sanctions_fetch(*, fmt: str, origin: str, timeout: float = 60.0) -> list[bytes]:
    """Read a list from a path or URL; for ``ofac-csv`` the three files sdn/alt/add (alt, add optional),
    named as the given one is (OFAC publishes ``SDN.CSV``, mirrors often ``sdn.csv``)."""
    from pathlib import Path

    import httpx

    names = LIST_FILES.get(fmt)
    if origin.startswith(("http://", "https://")):
        if not names:
            response = httpx.get(origin, timeout=timeout, follow_redirects=True)
            response.raise_for_status()
            return [response.content]
        base, _, last = origin.rpartition("/") if not origin.endswith("/") else (origin[:-1], "/", "")
        upper = last.isupper()
        out = []
        for i, name in enumerate(names):
            response = httpx.get(
                f"{base}/{name.upper() if upper else name}", timeout=timeout, follow_redirects=True
            )
            if response.status_code == 404 and i > 0:
                out.append(b"")
                continue
            response.raise_for_status()
            out.append(response.content)
        return out
    path = Path(origin)
    if not names:
        return [path.read_bytes()]
    folder = path if path.is_dir() else path.parent
    present = {p.name.casefold(): p for p in folder.iterdir()} if folder.is_dir() else {}
    out = []
    for i, name in enumerate(names):
        found = present.get(name)
        if found is None and i == 0:
            raise FileNotFoundError(f"No {name} in {folder}")
        out.append(found.read_bytes() if found is not None else b"")
    return out


class SanctionsImportError(ApplicationError):
    code = "sanctions_import_failed"
    message = "The sanctions list could not be imported."


def sanctions_parse(*, fmt: str, files: list[bytes]) -> Any:
    from apps.compliance.screening import importers

    try:
        if fmt == "ofac-csv":
            return importers.parse_ofac_csv(*files)
        parser = {
            "ofac-xml": importers.parse_ofac_xml,
            "eu-xml": importers.parse_eu_xml,
            "un-xml": importers.parse_un_xml,
        }.get(fmt)
        if parser is None:
            raise SanctionsImportError(f"Unknown format {fmt!r}.", code="unknown_sanctions_format")
        return parser(files[0])
    except importers.SanctionsFormatError as exc:
        raise SanctionsImportError(f"Not a valid {fmt} file: {exc}") from exc


def sanctions_import(
    *, fmt: str, origin: str, actor: Any = None, files: list[bytes] | None = None
) -> tuple[Any, bool]:
    """Import a list; returns ``(SanctionsList, changed)``. An unchanged file (same hash) is a no-op.

    A new version replaces the previous one of the same source, every process
    reloads its index, and existing counterparties are re-screened after commit.
    """
    from apps.compliance.models import SanctionsEntity, SanctionsList
    from apps.compliance.screening.index import sanctions_index_invalidate

    files = files if files is not None else sanctions_fetch(fmt=fmt, origin=origin)
    content_hash = hashlib.sha256(b"\x00".join(files)).hexdigest()
    parsed = sanctions_parse(fmt=fmt, files=files)
    if not parsed.entities:
        raise SanctionsImportError(
            "The file holds no entries; the current list is kept.", code="sanctions_empty"
        )
    with transaction.atomic():
        current = (
            SanctionsList.objects.select_for_update(of=("self",))
            .filter(source=parsed.source, is_active=True)
            .order_by("-imported_at")
            .first()
        )
        if current is not None and current.content_hash == content_hash:
            return current, False
        new = SanctionsList.objects.create(
            source=parsed.source,
            format=fmt,
            origin=origin[:500],
            published_at=parsed.published_at[:64],
            content_hash=content_hash,
            entity_count=len(parsed.entities),
        )
        SanctionsEntity.objects.bulk_create(
            [SanctionsEntity(sanctions_list=new, **e.as_fields()) for e in parsed.entities], batch_size=1000
        )
        old = SanctionsList.objects.filter(source=parsed.source, is_active=True).exclude(pk=new.pk)
        # Entities of superseded versions are dropped (decisions keep their own copy of each hit).
        SanctionsEntity.objects.filter(sanctions_list__in=old).delete()
        old.update(is_active=False)
        audit_record(
            action="compliance.sanctions_imported",
            actor=actor,
            target=new,
            after={"source": new.source, "format": fmt, "entities": new.entity_count, "hash": content_hash},
        )

        def after_commit() -> None:
            from apps.compliance.tasks import counterparties_rescreen_task

            sanctions_index_invalidate(bump=True)
            counterparties_rescreen_task.delay()

        transaction.on_commit(after_commit)
    logger.info("sanctions_imported", source=new.source, entities=new.entity_count, format=fmt)
    return new, True


def _lists_version() -> str:
    from apps.compliance.models import SanctionsList

    active = SanctionsList.objects.filter(is_active=True).order_by("source").values_list("source", "pk")
    return ",".join(f"{source}:{pk}" for source, pk in active)[:200]


def _hit_keys(hits: list[dict[str, Any]]) -> set[tuple[str, str]]:
    return {(str(h.get("source")), str(h.get("external_id"))) for h in hits}


def _rescreen_case_open(
    *,
    organization_id: Any,
    party_ref: str,
    profile: KycProfile | None,
    hits: list[ScreeningHit],
    outcome: str,
) -> bool:
    """Open a re-screening case unless one is open for the party, or a reviewer already decided one
    about these same list entries (a confirmed false positive is not raised again every week)."""
    cases = Case.objects.filter(organization_id=organization_id, kind=CaseKind.RESCREEN, party_ref=party_ref)
    if cases.filter(status__in=_open_statuses()).exists():
        return False
    last = (
        cases.exclude(status__in=_open_statuses())
        .order_by("-decided_at")
        .values_list("sanctions_hits", flat=True)
    )
    found = [h.to_dict() for h in hits]
    if any(_hit_keys(found) <= _hit_keys(previous) for previous in last[:5]):
        return False
    case = Case.objects.create(
        organization_id=organization_id,
        kind=CaseKind.RESCREEN,
        profile=profile,
        party_ref=party_ref,
        risk_score=100.0 if outcome == "strong" else 50.0,
        reasons=[_hit_outcome(_with_role(h, "counterparty")).reason() for h in hits],
        sanctions_hits=found,
        counterparty_history=_counterparty_history(organization_id=organization_id, payee_ref=party_ref),
        context_at=timezone.now(),
        sla_due_at=timezone.now() + timedelta(hours=conf.case_sla_hours()),
    )
    CaseEvent.objects.create(case=case, action="opened", to_status=case.status, note="Re-screening hit.")
    return True


def _outcome(hits: list[ScreeningHit]) -> str:
    if not hits:
        return "clear"
    return "strong" if any(h.strength == "strong" for h in hits) else "weak"


def counterparties_rescreen(*, organization: Any = None) -> dict[str, int]:
    """Screen existing counterparties again after a list changed: every KYC profile's legal name, and
    every payee name used in payments of the last ``COMPLIANCE_RESCREEN_PAYEE_DAYS`` (as the decision
    screens both). A hit opens a re-screening case (once per party while one is open)."""
    from apps.compliance.models import ScreeningResult
    from apps.payments.models import OrchestrationPayment

    version = _lists_version()
    counts = {"screened": 0, "weak": 0, "strong": 0, "cases": 0}
    profiles = KycProfile.objects.exclude(legal_name="")
    if organization is not None:
        profiles = profiles.filter(organization=organization)
    seen: set[tuple[Any, str, str]] = set()
    for profile in profiles.iterator(chunk_size=500):
        seen.add((profile.organization_id, profile.party_ref, profile.legal_name))
        hits = screen_name(
            profile.legal_name,
            date_of_birth=profile.date_of_birth.isoformat() if profile.date_of_birth else None,
            nationality=profile.nationality or None,
        )
        outcome = _outcome(hits)
        counts["screened"] += 1
        with transaction.atomic():
            ScreeningResult.objects.create(
                organization_id=profile.organization_id,
                profile=profile,
                party_ref=profile.party_ref,
                outcome=outcome,
                hits=[h.to_dict() for h in hits],
                lists_version=version,
            )
            profile.screening_status = outcome
            profile.last_screened_at = timezone.now()
            profile.save(update_fields=["screening_status", "last_screened_at", "updated_at"])
            if outcome != "clear":
                counts[outcome] += 1
                counts["cases"] += _rescreen_case_open(
                    organization_id=profile.organization_id,
                    party_ref=profile.party_ref,
                    profile=profile,
                    hits=hits,
                    outcome=outcome,
                )
    payees = (
        OrchestrationPayment.objects.filter(
            created_at__gte=timezone.now() - timedelta(days=conf.rescreen_payee_days())
        )
        .exclude(payee_ref="")
        .exclude(payee_name="")
    )
    if organization is not None:
        payees = payees.filter(organization=organization)
    for org_id, ref, name in payees.values_list("organization_id", "payee_ref", "payee_name").iterator(
        chunk_size=2000
    ):
        if (org_id, ref, name) in seen:
            continue
        seen.add((org_id, ref, name))
        hits = screen_name(name)
        counts["screened"] += 1
        outcome = _outcome(hits)
        if outcome == "clear":
            continue
        counts[outcome] += 1
        with transaction.atomic():
            ScreeningResult.objects.create(
                organization_id=org_id,
                party_ref=ref,
                outcome=outcome,
                hits=[h.to_dict() for h in hits],
                lists_version=version,
            )
            counts["cases"] += _rescreen_case_open(
                organization_id=org_id, party_ref=ref, profile=None, hits=hits, outcome=outcome
            )
    logger.info("counterparties_rescreened", **counts)
    return counts


def _open_statuses() -> list[str]:
    from apps.compliance.choices import OPEN_CASE_STATUSES

    return [str(s) for s in OPEN_CASE_STATUSES]


# --- the review queue -----------------------------------------------------------------------------


class CaseNotOpen(ApplicationError):
    code = "case_not_open"
    status_code = 409
    message = "This case is already decided."


class OtpRequired(ApplicationError):
    code = "otp_required"
    status_code = 403
    message = "Compliance decisions need a session verified with a one-time password."


class CasePermissionDenied(ApplicationError):
    code = "case_permission_denied"
    status_code = 403
    message = "You are not allowed to do this on compliance cases."


class FourEyesViolation(ApplicationError):
    code = "four_eyes_violation"
    status_code = 403
    message = "This case needs a second, different reviewer."


def _require_reviewer(actor: Any, perm: str, case: Case) -> None:
    """The permission, a session verified with OTP, and a role granting it in the case's organisation."""
    from apps.compliance.selectors import role_grants
    from apps.core.models import Membership

    if actor is None or not getattr(actor, "is_authenticated", False):
        raise CasePermissionDenied()
    if not actor.has_perm(f"compliance.{perm}"):
        raise CasePermissionDenied(f"You need the compliance.{perm} permission.")
    is_verified = getattr(actor, "is_verified", None)
    if not callable(is_verified) or not is_verified():
        raise OtpRequired()
    if actor.is_superuser:
        return
    # Roles are global groups: the membership says in which organisation the permission applies.
    role = (
        Membership.objects.filter(organization_id=case.organization_id, user_id=actor.pk)
        .values_list("role", flat=True)
        .first()
    )
    if role is None or not role_grants(str(role), f"compliance.{perm}"):
        raise CasePermissionDenied(f"You do not hold compliance.{perm} in this case's organisation.")


def _lock_case(case: Case) -> Case:
    locked = Case.objects.select_for_update(of=("self",)).get(pk=case.pk)
    if locked.status in (CaseStatus.APPROVED, CaseStatus.REJECTED):
        raise CaseNotOpen()
    return locked


def _case_event(case: Case, *, action: str, actor: Any, from_status: str, note: str = "") -> None:
    CaseEvent.objects.create(
        case=case,
        action=action,
        actor=_user(actor),
        from_status=from_status,
        to_status=case.status,
        note=note,
    )


def _case_snapshot(case: Case) -> dict[str, Any]:
    return {
        "status": case.status,
        "assigned_to": str(case.assigned_to_id) if case.assigned_to_id else None,
        "first_approver": str(case.first_approver_id) if case.first_approver_id else None,
        "escalated": case.escalated,
    }


def _case_broadcast(case: Case, *, action: str) -> None:
    from apps.core.events import conversation_group, event_publish, org_group

    groups = [org_group(case.organization_id)]
    conversation_id = None
    if case.payment_id is not None:
        conversation_id = (
            _payment_model()
            .objects.filter(pk=case.payment_id)
            .values_list("conversation_id", flat=True)
            .first()
        )
        if conversation_id:
            groups.append(conversation_group(conversation_id))
    event_publish(
        event_type="case_decided",
        data={
            "case_id": str(case.pk),
            "payment_id": str(case.payment_id) if case.payment_id else None,
            "action": action,
            "status": case.status,
            "conversation_id": str(conversation_id) if conversation_id else None,
        },
        groups=groups,
    )


def _case_change(
    locked: Case,
    *,
    action: str,
    actor: Any,
    changes: dict[str, Any],
    note: str = "",
    request: Any = None,
    audit_extra: dict[str, Any] | None = None,
) -> Case:
    """Apply ``changes`` to a locked case, then write its CaseEvent and audit entry."""
    before = _case_snapshot(locked)
    previous = locked.status
    for name, value in changes.items():
        setattr(locked, name, value)
    locked.save(update_fields=[*changes, "updated_at"])
    _case_event(locked, action=action, actor=actor, from_status=previous, note=note)
    audit_record(
        action=f"case.{action}",
        actor=actor,
        target=locked,
        before=before,
        after={**_case_snapshot(locked), **(audit_extra or {})},
        request=request,
    )
    return locked


@transaction.atomic
def case_assign(*, case: Case, actor: Any, note: str = "", request: Any = None) -> Case:
    """Assign the case to ``actor`` ("assign to me"); an open or escalated case moves to in review."""
    _require_reviewer(actor, "assign_case", case)
    locked = _lock_case(case)
    reopen = (CaseStatus.OPEN, CaseStatus.ESCALATED)
    status = CaseStatus.IN_REVIEW if locked.status in reopen else locked.status
    return _case_change(
        locked,
        action="assigned",
        actor=actor,
        changes={"assigned_to": actor, "status": status},
        note=note,
        request=request,
    )


def _payments_resolve(*, case: Case, approved: bool, actor: Any, reason: str) -> None:
    if case.payment_id is None:
        return
    from apps.payments import services as payment_services

    resolve = getattr(payment_services, "payment_compliance_resolved", None)
    if resolve is None:
        raise ApplicationError(
            "Payments cannot resume or cancel payments yet.", code="payments_unavailable", status_code=503
        )
    resolve(payment_id=case.payment_id, approved=approved, actor=actor, reason=reason)


def _payment_model() -> Any:
    from apps.payments.models import OrchestrationPayment

    return OrchestrationPayment


def _creator_ids(case: Case) -> set[Any]:
    ids = {case.created_by_id}
    if case.payment_id is not None:
        ids.add(
            _payment_model()
            .objects.filter(pk=case.payment_id)
            .values_list("created_by_id", flat=True)
            .first()
        )
    return {i for i in ids if i is not None}


def _case_decide(locked: Case, *, approved: bool, actor: Any, reason: str, request: Any) -> Case:
    status = CaseStatus.APPROVED if approved else CaseStatus.REJECTED
    _case_change(
        locked,
        action=str(status),
        actor=actor,
        changes={
            "status": status,
            "decided_by": actor,
            "decided_at": timezone.now(),
            "decision_reason": reason,
        },
        note=reason,
        request=request,
    )
    default = "Approved by compliance review." if approved else "Rejected by compliance review."
    _payments_resolve(case=locked, approved=approved, actor=actor, reason=reason or default)
    _case_broadcast(locked, action=str(status))
    return locked


@transaction.atomic
def case_approve(*, case: Case, actor: Any, reason: str = "", request: Any = None) -> Case:
    """Approve a case: the payment resumes. Above the four-eyes amount a second, different reviewer
    must approve too; whoever created the payment or the case can never approve it."""
    _require_reviewer(actor, "decide_case", case)
    locked = _lock_case(case)
    if actor.pk in _creator_ids(locked):
        raise FourEyesViolation("You created this payment or case, so you cannot approve it.")
    if locked.requires_four_eyes and locked.first_approver_id is None:
        return _case_change(
            locked,
            action="first_approval",
            actor=actor,
            changes={
                "first_approver": actor,
                "first_approved_at": timezone.now(),
                "status": CaseStatus.AWAITING_SECOND,
            },
            note=reason,
            request=request,
        )
    if locked.requires_four_eyes and locked.first_approver_id == actor.pk:
        raise FourEyesViolation("The second approval must come from a different reviewer.")
    return _case_decide(locked, approved=True, actor=actor, reason=reason, request=request)


@transaction.atomic
def case_reject(*, case: Case, actor: Any, reason: str, request: Any = None) -> Case:
    """Reject a case: the payment is blocked. One reviewer suffices (refusing is always safe)."""
    _require_reviewer(actor, "decide_case", case)
    if not reason.strip():
        raise ApplicationError(
            "Say why the case is rejected.", code="reason_required", errors={"reason": ["Required."]}
        )
    return _case_decide(_lock_case(case), approved=False, actor=actor, reason=reason, request=request)


@transaction.atomic
def case_escalate(*, case: Case, actor: Any, note: str = "", request: Any = None) -> Case:
    """Hand the case to senior compliance: unassigned, flagged, SLA restarted."""
    _require_reviewer(actor, "assign_case", case)
    changes = {
        "status": CaseStatus.ESCALATED,
        "escalated": True,
        "assigned_to": None,
        "sla_due_at": timezone.now() + timedelta(hours=conf.case_sla_hours()),
    }
    return _case_change(
        _lock_case(case), action="escalated", actor=actor, changes=changes, note=note, request=request
    )


@transaction.atomic
def case_request_info(*, case: Case, actor: Any, question: str, request: Any = None) -> Case:
    """Ask the payer for more information; the conversation is told after commit."""
    _require_reviewer(actor, "assign_case", case)
    if not question.strip():
        raise ApplicationError(
            "Write the question to ask.", code="question_required", errors={"question": ["Required."]}
        )
    locked = _case_change(
        _lock_case(case),
        action="info_requested",
        actor=actor,
        changes={"status": CaseStatus.INFO_REQUESTED},
        note=question,
        request=request,
        audit_extra={"question": question},
    )
    _case_broadcast(locked, action="info_requested")
    if locked.payment_id is not None:
        payment_id = locked.payment_id
        transaction.on_commit(
            lambda: _conversation_notify(
                payment_id=payment_id, event="compliance_info_requested", detail=question
            )
        )
    return locked


def _conversation_notify(*, payment_id: Any, event: str, detail: str = "") -> None:
    try:
        from apps.conversations import services as conversation_services
    except ImportError:
        return
    notify = getattr(conversation_services, "conversation_payment_notify", None)
    if notify is None:
        return
    try:
        notify(payment_id=payment_id, event=event, **({"detail": detail} if detail else {}))
    except Exception:  # the case action is committed; a chat delivery problem must not undo it
        logger.exception("case_conversation_notify_failed", payment_id=str(payment_id), event=event)


# --- PII key rotation ---------------------------------------------------------------------------------


def pii_rotate_keys(*, reindex: bool = False, batch: int = 500) -> int:
    """Re-encrypt every encrypted field with the newest key (and optionally recompute blind indexes
    after ``PII_HASH_KEY`` changed). Returns the number of rows rewritten."""
    from apps.compliance.crypto import EncryptedTextField
    from apps.compliance.models import KycDocument

    count = 0
    for model in (KycProfile, KycDocument):
        fields = [f.name for f in model._meta.get_fields() if isinstance(f, EncryptedTextField)]
        pks = list(model.objects.values_list("pk", flat=True))
        for i in range(0, len(pks), batch):
            with transaction.atomic():
                for obj in model.objects.select_for_update(of=("self",)).filter(pk__in=pks[i : i + batch]):
                    update = list(fields)
                    if reindex and isinstance(obj, KycProfile):
                        obj.refresh_indexes()
                        update += ["legal_name_index", "tax_id_index", "iban_index", "phone_index"]
                    obj.save(update_fields=update)
                    count += 1
    audit_record(action="compliance.pii_keys_rotated", after={"rows": count, "reindex": reindex})
    return count


def kyc_profile_search(
    *, organization: Any, tax_id: str = "", iban: str = "", phone: str = "", name: str = ""
) -> Any:
    """Exact-match search on encrypted PII through the blind indexes."""
    from apps.compliance.crypto import blind_index

    qs = KycProfile.objects.filter(organization=organization)
    for field, value in (
        ("tax_id_index", tax_id),
        ("iban_index", iban),
        ("phone_index", phone),
        ("legal_name_index", name),
    ):
        if value:
            qs = qs.filter(**{field: blind_index(value)})
    return qs
