"""What a compliance decision reads about a payment's parties: profiles and payer history.

``decision_reads`` returns the same ``DecisionReads`` two ways:

- on PostgreSQL, **one statement**: every part is a one-row aggregate (``array_agg`` per column, so
  psycopg hands back typed lists of ``Decimal`` and aware ``datetime``), cross-joined into one row;
  the SQL is built once per process from the models' meta. Per-window sums are ``SUM … FILTER``
  over an index range scan, the last activity an index-ordered ``MAX``, the windowed history two
  index range scans capped at ``HISTORY_MAX_ROWS`` each.
- elsewhere (SQLite), with the ORM in three or four statements (``decision_reads_portable``).

Both must agree row for row (``tests/compliance/test_history.py`` checks it on generated
histories): the ORM version is the reference, the statement is the fast path. The decision used
to build five querysets per payment; building them cost more CPU than the rest of the decision.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import connections, models, router
from django.db.models import Count, Max, Q, Sum

from apps.compliance.sql import prepared_cursor

# Payments that never moved money do not count towards limits or history.
DEAD_STATUSES = ("failed", "blocked", "cancelled")
# Money received counts for rapid in-out only once it is on its way.
INBOUND_STATUSES = ("succeeded", "processing", "initiated")
# The newest rows of history read for windowed rules: past this many, counts and sums are lower
# bounds (a payer with a thousand payments in a rule's window has long tripped its velocity rule).
HISTORY_MAX_ROWS = 1000

# What the decision reads of a KYC profile.
PROFILE_FIELDS = (
    "organization_id",
    "party_ref",
    "tier",
    "risk_rating",
    "is_pep",
    "legal_name",
    "date_of_birth",
    "nationality",
    "country",
)

ZERO = Decimal(0)


@dataclass
class DecisionReads:
    """Everything a decision reads before it decides; amounts in the payment's own currencies."""

    profiles: dict[str, Any] = field(default_factory=dict)  # party_ref -> KycProfile (read-only)
    # the payer's live payments of the last 30 days per (currency, rail): (currency, rail, 24 h, 30 days)
    window_sums: list[tuple[str, str, Decimal, Decimal]] = field(default_factory=list)
    last_payment_at: datetime | None = None
    # payer -> payee, all time, per currency: (currency, count, sum)
    pair: list[tuple[str, int, Decimal]] = field(default_factory=list)
    # sent within the outgoing look-back, newest first: (created_at, amount, currency, payee_ref)
    recent: list[tuple[datetime, Decimal, str, str]] = field(default_factory=list)
    # received within the incoming look-back, newest first: (created_at, amount, currency)
    inbound: list[tuple[datetime, Decimal, str]] = field(default_factory=list)
    # the accounting relationship (count, average amount, its currency), read when ``pair`` is empty
    relationship: tuple[int, Decimal | None, str] | None = None


def _payment_model() -> Any:
    from apps.payments.models import OrchestrationPayment

    return OrchestrationPayment


def decision_reads(
    *, payment: Any, now: datetime, outgoing: timedelta, incoming: timedelta, portable: bool = False
) -> DecisionReads:
    """The profiles of both parties and the payer's history the limits and rules need."""
    alias = router.db_for_read(_payment_model())
    # A payment without a payer has no history: the portable path reads just the payee's profile.
    if connections[alias].vendor == "postgresql" and payment.payer_ref and not portable:
        return _reads_postgresql(payment=payment, now=now, outgoing=outgoing, incoming=incoming, alias=alias)
    return decision_reads_portable(payment=payment, now=now, outgoing=outgoing, incoming=incoming)


# --- the portable reads (the reference) ---------------------------------------------------------


def _payments() -> models.QuerySet:
    """A plain queryset of payments: these reads name columns only, and skipping djmoney's manager
    wrapper (which rewrites every filter for Money arguments) is measurable on the decision's path."""
    return models.QuerySet(_payment_model())


def decision_reads_portable(
    *, payment: Any, now: datetime, outgoing: timedelta, incoming: timedelta
) -> DecisionReads:
    from apps.compliance.models import KycProfile

    reads = DecisionReads()
    refs = [r for r in (payment.payer_ref, payment.payee_ref) if r]
    if refs:
        reads.profiles = {
            p.party_ref: p
            for p in KycProfile.objects.filter(
                organization_id=payment.organization_id, party_ref__in=refs
            ).only(*PROFILE_FIELDS)
        }
    if not payment.payer_ref:
        return reads
    mine = (
        _payments()
        .filter(organization_id=payment.organization_id, payer_ref=payment.payer_ref)
        .exclude(pk=payment.pk)
        .exclude(status__in=DEAD_STATUSES)
    )
    pair = Q(payee_ref=payment.payee_ref) if payment.payee_ref else Q(pk__in=[])
    usage = list(
        mine.values("amount_currency", "selected_rail")
        .annotate(
            month=Sum("amount", filter=Q(created_at__gte=now - timedelta(days=30))),
            day=Sum("amount", filter=Q(created_at__gte=now - timedelta(days=1))),
            last=Max("created_at", filter=Q(created_at__lt=now)),
            pair_n=Count("id", filter=pair),
            pair_sum=Sum("amount", filter=pair),
        )
        .order_by()
    )
    reads.window_sums = sorted(
        (r["amount_currency"], r["selected_rail"], r["day"] or ZERO, r["month"])
        for r in usage
        if r["month"] is not None
    )
    lasts = [r["last"] for r in usage if r["last"] is not None]
    reads.last_payment_at = max(lasts) if lasts else None
    by_currency: dict[str, tuple[int, Decimal]] = {}
    for r in usage:
        if r["pair_n"]:
            n, total = by_currency.get(r["amount_currency"], (0, ZERO))
            by_currency[r["amount_currency"]] = (n + r["pair_n"], total + r["pair_sum"])
    reads.pair = sorted((cur, n, total) for cur, (n, total) in by_currency.items())
    reads.recent, reads.inbound = _windowed_history(
        payment=payment, now=now, outgoing=outgoing, incoming=incoming
    )
    if not reads.pair and payment.payee_ref:
        reads.relationship = _relationship(payment)
    return reads


def _windowed_history(
    *, payment: Any, now: datetime, outgoing: timedelta, incoming: timedelta
) -> tuple[list[tuple[datetime, Decimal, str, str]], list[tuple[datetime, Decimal, str]]]:
    """The payer's payments sent within ``outgoing`` and received within ``incoming``, newest first,
    in one query (at most ``HISTORY_MAX_ROWS`` of each)."""
    if not (outgoing or incoming):
        return [], []
    sent = Q(payer_ref=payment.payer_ref, created_at__gte=now - outgoing) & ~Q(status__in=DEAD_STATUSES)
    received = Q(payee_ref=payment.payer_ref, created_at__gte=now - incoming, status__in=INBOUND_STATUSES)
    wanted = sent | received if outgoing and incoming else (sent if outgoing else received)
    rows = (
        _payments()
        .filter(wanted, organization_id=payment.organization_id, created_at__lte=now)
        .exclude(pk=payment.pk)
        .order_by("-created_at")
        .values_list("created_at", "amount", "amount_currency", "payer_ref", "payee_ref", "status")
    )[: 2 * HISTORY_MAX_ROWS]
    recent: list[tuple[datetime, Decimal, str, str]] = []
    inbound: list[tuple[datetime, Decimal, str]] = []
    out_since, in_since = now - outgoing, now - incoming
    me = payment.payer_ref
    for at, amount, currency, payer, payee, status in rows:
        # A payment to oneself is both; each side keeps its own window and cap.
        is_sent = outgoing and payer == me and at >= out_since and status not in DEAD_STATUSES
        if is_sent and len(recent) < HISTORY_MAX_ROWS:
            recent.append((at, amount, currency, payee))
        is_received = incoming and payee == me and at >= in_since and status in INBOUND_STATUSES
        if is_received and len(inbound) < HISTORY_MAX_ROWS:
            inbound.append((at, amount, currency))
    return recent, inbound


def _relationship(payment: Any) -> tuple[int, Decimal | None, str] | None:
    """``(count, average, currency)`` of the payer → payee relationship in the accounting graph."""
    from apps.accounting.models import PaymentRelationship

    row = (
        PaymentRelationship.objects.filter(
            organization_id=payment.organization_id,
            user_id=payment.payer_ref,
            counterparty_id=payment.payee_ref,
        )
        .values_list("total_payments_count", "avg_payment_amount", "avg_payment_amount_currency")
        .first()
    )
    if row is None or not row[0]:
        return None
    count, avg, currency = row
    return int(count), (avg if avg is not None and currency else None), str(currency or "")


# --- PostgreSQL: one statement ---------------------------------------------------------------------

_SQL: dict[str, str] = {}


def _postgresql_sql(alias: str) -> str:
    """The statement, built once per database alias from the models' meta (identifiers quoted;
    every value is a parameter)."""
    sql = _SQL.get(alias)
    if sql is not None:
        return sql
    from apps.accounting.models import PaymentRelationship
    from apps.compliance.models import KycProfile

    qn = connections[alias].ops.quote_name
    pay_model = _payment_model()

    def cols(model: Any) -> dict[str, str]:
        return {f.attname: qn(f.column) for f in model._meta.concrete_fields}

    pay, kyc, rel = cols(pay_model), cols(KycProfile), cols(PaymentRelationship)
    pay_t, kyc_t, rel_t = (qn(m._meta.db_table) for m in (pay_model, KycProfile, PaymentRelationship))
    dead = ", ".join(f"'{s}'" for s in DEAD_STATUSES)
    live = ", ".join(f"'{s}'" for s in INBOUND_STATUSES)
    at, amt, cur = pay["created_at"], pay["amount"], pay["amount_currency"]
    # the payer's other, live payments
    mine = (
        f"{pay['organization_id']} = %(org)s AND {pay['payer_ref']} = %(payer)s AND {pay['id']} <> %(pk)s "
        f"AND {pay['status']} NOT IN ({dead})"
    )
    sql = f"""
SELECT k.*, u.*, l.*, p.*, o.*, i.*, r.* FROM
(SELECT array_agg({kyc["id"]}) AS k_id, array_agg({kyc["party_ref"]}) AS k_ref, array_agg({kyc["tier"]}) AS k_tier,
        array_agg({kyc["risk_rating"]}) AS k_risk, array_agg({kyc["is_pep"]}) AS k_pep,
        array_agg({kyc["legal_name"]}) AS k_name, array_agg({kyc["date_of_birth"]}) AS k_dob,
        array_agg({kyc["nationality"]}) AS k_nat, array_agg({kyc["country"]}) AS k_country
   FROM {kyc_t} WHERE {kyc["organization_id"]} = %(org)s AND {kyc["party_ref"]} IN (%(payer)s, %(payee)s)
) k CROSS JOIN
(SELECT array_agg(g.c ORDER BY g.c, g.r) AS u_cur, array_agg(g.r ORDER BY g.c, g.r) AS u_rail,
        array_agg(g.d ORDER BY g.c, g.r) AS u_day, array_agg(g.m ORDER BY g.c, g.r) AS u_month
   FROM (SELECT {cur} AS c, {pay["selected_rail"]} AS r,
                SUM({amt}) FILTER (WHERE {at} >= %(day)s) AS d, SUM({amt}) AS m
           FROM {pay_t} WHERE {mine} AND {at} >= %(month)s GROUP BY 1, 2) g
) u CROSS JOIN
(SELECT MAX({at}) AS last_at FROM {pay_t} WHERE {mine} AND {at} < %(now)s) l CROSS JOIN
(SELECT array_agg(g.c ORDER BY g.c) AS p_cur, array_agg(g.n ORDER BY g.c) AS p_n,
        array_agg(g.s ORDER BY g.c) AS p_sum
   FROM (SELECT {cur} AS c, COUNT(*) AS n, SUM({amt}) AS s FROM {pay_t}
          WHERE {mine} AND {pay["payee_ref"]} = %(payee)s AND %(payee)s <> '' GROUP BY 1) g
) p CROSS JOIN
(SELECT array_agg(w.a ORDER BY w.a DESC) AS o_at, array_agg(w.v ORDER BY w.a DESC) AS o_amt,
        array_agg(w.c ORDER BY w.a DESC) AS o_cur, array_agg(w.e ORDER BY w.a DESC) AS o_payee
   FROM (SELECT {at} AS a, {amt} AS v, {cur} AS c, {pay["payee_ref"]} AS e FROM {pay_t}
          WHERE {mine} AND %(out)s AND {at} >= %(out_since)s AND {at} <= %(now)s
          ORDER BY {at} DESC LIMIT {HISTORY_MAX_ROWS}) w
) o CROSS JOIN
(SELECT array_agg(w.a ORDER BY w.a DESC) AS i_at, array_agg(w.v ORDER BY w.a DESC) AS i_amt,
        array_agg(w.c ORDER BY w.a DESC) AS i_cur
   FROM (SELECT {at} AS a, {amt} AS v, {cur} AS c FROM {pay_t}
          WHERE {pay["organization_id"]} = %(org)s AND {pay["payee_ref"]} = %(payer)s
            AND {pay["id"]} <> %(pk)s AND {pay["status"]} IN ({live}) AND %(in)s
            AND {at} >= %(in_since)s AND {at} <= %(now)s
          ORDER BY {at} DESC LIMIT {HISTORY_MAX_ROWS}) w
) i LEFT JOIN
(SELECT {rel["total_payments_count"]} AS r_n, {rel["avg_payment_amount"]} AS r_avg,
        {rel["avg_payment_amount_currency"]} AS r_cur
   FROM {rel_t} WHERE {rel["organization_id"]} = %(org)s AND {rel["user_id"]} = %(payer)s
    AND {rel["counterparty_id"]} = %(payee)s LIMIT 1
) r ON TRUE
"""  # noqa: S608 - identifiers come from the models' meta and are quoted; values are parameters
    _SQL[alias] = sql
    return sql


def _reads_postgresql(
    *, payment: Any, now: datetime, outgoing: timedelta, incoming: timedelta, alias: str
) -> DecisionReads:
    from apps.compliance.crypto import decrypt
    from apps.compliance.models import KycProfile

    payer = payment.payer_ref
    payee = payment.payee_ref or ""
    params = {
        "org": payment.organization_id,
        "payer": payer,
        "payee": payee,
        "pk": payment.pk,
        "now": now,
        "day": now - timedelta(days=1),
        "month": now - timedelta(days=30),
        "out": bool(outgoing),
        "out_since": now - outgoing,
        "in": bool(incoming),
        "in_since": now - incoming,
    }
    with prepared_cursor(connections[alias]) as cursor:
        cursor.execute(_postgresql_sql(alias), params)
        row = cursor.fetchone()
    (
        k_id,
        k_ref,
        k_tier,
        k_risk,
        k_pep,
        k_name,
        k_dob,
        k_nat,
        k_country,
        u_cur,
        u_rail,
        u_day,
        u_month,
        last_at,
        p_cur,
        p_n,
        p_sum,
        o_at,
        o_amt,
        o_cur,
        o_payee,
        i_at,
        i_amt,
        i_cur,
        r_n,
        r_avg,
        r_cur,
    ) = row
    reads = DecisionReads()
    for pk, ref, tier, risk, pep, name, dob, nat, country in zip(
        k_id or (), k_ref or (), k_tier or (), k_risk or (), k_pep or (), k_name or (), k_dob or (), k_nat or (),
        k_country or (), strict=True,
    ):  # fmt: skip
        if not ref:
            continue
        profile = KycProfile(
            id=pk,
            organization_id=payment.organization_id,
            party_ref=ref,
            tier=tier,
            risk_rating=risk,
            is_pep=pep,
            legal_name=decrypt(name) if name else name,
            date_of_birth=dob,
            nationality=nat,
            country=country,
        )
        profile._state.adding = False
        profile._state.db = alias
        reads.profiles[ref] = profile
    reads.window_sums = [
        (c, r, d if d is not None else ZERO, m)
        for c, r, d, m in zip(u_cur or (), u_rail or (), u_day or (), u_month or (), strict=True)
    ]
    reads.last_payment_at = last_at
    reads.pair = [(c, int(n), s) for c, n, s in zip(p_cur or (), p_n or (), p_sum or (), strict=True)]
    reads.recent = list(zip(o_at or (), o_amt or (), o_cur or (), o_payee or (), strict=True))
    reads.inbound = list(zip(i_at or (), i_amt or (), i_cur or (), strict=True))
    if not reads.pair and payee and r_n:
        reads.relationship = (int(r_n), r_avg if r_avg is not None and r_cur else None, str(r_cur or ""))
    return reads
