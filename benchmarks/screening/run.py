"""Sanctions screening and compliance decision benchmark.

1. One name against a generated 20,000-entity list (in-memory index): p50/p95/p99
   latency (target p95 <= 5 ms), recall on generated variants of listed names
   (typos, transliterations, reordered names, extra middle names, honorifics,
   company suffixes) and the false-positive rate on common names that are not listed.
2. The full ``payment_compliance_decide`` (KYC, limits, screening, all AML rules,
   decision row) on PostgreSQL with the same 20,000 entities loaded and payment
   history (2,000 payments of 20 payers over 90 days, plus money they received):
   p50/p95 inside a transaction, as ``payment_orchestrate`` runs it (target <= 5 ms
   p95 added to orchestration); also on its own (autocommit: the INSERT pays a commit)
   and for payers whose whole history falls inside the rules' windows.

Env: BENCH_DATABASE_URL, BENCH_REDIS_URL, BENCH_QUERIES (default 3000), BENCH_DECISIONS (default 400),
BENCH_SKIP_DB=1 to run part 1 only.
"""

from __future__ import annotations

import contextlib
import os
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

RNG = random.Random(20261125)

FIRST = [
    "Mohammed",
    "Ahmed",
    "Ali",
    "Omar",
    "Hassan",
    "Hussein",
    "Ibrahim",
    "Yusuf",
    "Khalid",
    "Tariq",
    "Abdullah",
    "Mustafa",
    "Karim",
    "Bilal",
    "Samir",
    "Dmitri",
    "Sergei",
    "Vladimir",
    "Alexei",
    "Nikolai",
    "Igor",
    "Oleg",
    "Yuri",
    "Mikhail",
    "Andrei",
    "Viktor",
    "Pavel",
    "Boris",
    "Anatoly",
    "Gennady",
    "Juan",
    "Carlos",
    "Luis",
    "Jorge",
    "Miguel",
    "Alejandro",
    "Rafael",
    "Fernando",
    "Ricardo",
    "Javier",
    "Diego",
    "Sergio",
    "Ramon",
    "Hector",
    "Ernesto",
    "Kim",
    "Pak",
    "Ri",
    "Choe",
    "Jang",
    "Wang",
    "Li",
    "Zhang",
    "Chen",
    "Liu",
    "Huang",
    "Zhao",
    "Wu",
    "Zhou",
    "Xu",
    "Sun",
    "Hu",
    "Zhu",
    "Gao",
    "Lin",
    "Fatima",
    "Aisha",
    "Maryam",
    "Zainab",
    "Leila",
    "Olga",
    "Tatiana",
    "Natalia",
    "Irina",
    "Svetlana",
    "Yelena",
    "Rosa",
    "Carmen",
    "Lucia",
]
LAST = [
    "Al-Rashidi",
    "Al-Zubaidi",
    "Khalil",
    "Haddad",
    "Nasser",
    "Mansour",
    "Hakimi",
    "Karimi",
    "Rahimi",
    "Tehrani",
    "Qureshi",
    "Siddiqui",
    "Baghdadi",
    "Tikriti",
    "Masri",
    "Shami",
    "Halabi",
    "Jaber",
    "Saleh",
    "Awad",
    "Darwish",
    "Barakat",
    "Ivanov",
    "Petrov",
    "Sidorov",
    "Smirnov",
    "Kuznetsov",
    "Popov",
    "Volkov",
    "Sokolov",
    "Lebedev",
    "Kozlov",
    "Novikov",
    "Morozov",
    "Orlov",
    "Fedorov",
    "Medvedev",
    "Zaitsev",
    "Pavlov",
    "Semenov",
    "Golubev",
    "Vinogradov",
    "Bogdanov",
    "Vorobyov",
    "Hernandez",
    "Ochoa",
    "Guzman",
    "Zambada",
    "Carrillo",
    "Fuentes",
    "Arellano",
    "Felix",
    "Caro",
    "Quintero",
    "Beltran",
    "Leyva",
    "Cardenas",
    "Guillen",
    "Mendoza",
    "Salazar",
    "Torres",
    "Ramirez",
    "Castillo",
    "Morales",
    "Ortega",
    "Delgado",
    "Chol",
    "Jong",
    "Song",
    "Myong",
    "Hyok",
    "Chun",
    "Nam",
    "Sok",
    "Yong",
    "Hwan",
    "Jin",
    "Guo",
    "He",
    "Ma",
    "Luo",
    "Liang",
    "Song",
    "Zheng",
]
COMPANY_A = [
    "Golden",
    "Crescent",
    "Vostok",
    "Severny",
    "Koryo",
    "Eastern",
    "Pacific",
    "Atlas",
    "Horizon",
    "Phoenix",
    "Orion",
    "Caspian",
    "Baltic",
    "Sahara",
    "Meridian",
    "Falcon",
    "Zenith",
    "Apex",
    "Polar",
    "Titan",
    "Sapphire",
    "Emerald",
    "Silk",
    "Road",
    "Red",
    "Sea",
    "Black",
    "Sea",
    "Ural",
    "Amur",
    "Volga",
]
COMPANY_B = [
    "Trading",
    "Shipping",
    "Maritime",
    "Exchange",
    "Petroleum",
    "Metals",
    "Mining",
    "Logistics",
    "Investment",
    "Holding",
    "Industrial",
    "Energy",
    "Chemicals",
    "Aviation",
    "Technologies",
    "Import",
    "Export",
    "Finance",
    "Development",
    "Construction",
]
SUFFIX = ["LLC", "Ltd", "OOO", "JSC", "FZE", "S.A.", "GmbH", "Co", "Corporation", "Limited", "PJSC"]

# Common names of customers, from pools disjoint from the list's pools.
COMMON_FIRST = [
    "Maria",
    "Ana",
    "Joao",
    "Jose",
    "Antonio",
    "Francisca",
    "Paulo",
    "Pedro",
    "Lucas",
    "Gabriel",
    "Rafaela",
    "Juliana",
    "Camila",
    "Beatriz",
    "Larissa",
    "John",
    "Mary",
    "Robert",
    "Patricia",
    "Michael",
    "Jennifer",
    "William",
    "Linda",
    "David",
    "Elizabeth",
    "Richard",
    "Susan",
    "Thomas",
    "Jessica",
    "Emma",
    "Olivia",
    "Noah",
    "Liam",
    "Sophie",
    "Charlotte",
    "Oliver",
    "Harry",
    "George",
    "Amelia",
    "Isla",
    "Jack",
    "Freya",
    "Thiago",
    "Matheus",
    "Bruno",
]
COMMON_LAST = [
    "Silva",
    "Santos",
    "Oliveira",
    "Souza",
    "Rodrigues",
    "Ferreira",
    "Alves",
    "Pereira",
    "Lima",
    "Gomes",
    "Costa",
    "Ribeiro",
    "Martins",
    "Carvalho",
    "Almeida",
    "Lopes",
    "Soares",
    "Fernandes",
    "Vieira",
    "Barbosa",
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Miller",
    "Davis",
    "Wilson",
    "Anderson",
    "Taylor",
    "Thomas",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Thompson",
    "White",
    "Harris",
    "Clark",
    "Lewis",
    "Robinson",
    "Walker",
    "Young",
]
TRANSLIT = [
    ("mohammed", "muhammad"),
    ("mohammed", "mohamed"),
    ("yusuf", "youssef"),
    ("hussein", "husayn"),
    ("dmitri", "dmitry"),
    ("sergei", "sergey"),
    ("alexei", "aleksey"),
    ("yuri", "iurii"),
    ("zaitsev", "zaytsev"),
    ("vorobyov", "vorobiev"),
    ("khalil", "halil"),
    ("qureshi", "kureshi"),
    ("tariq", "tarik"),
    ("omar", "umar"),
    ("olga", "olha"),
    ("yelena", "elena"),
    ("semenov", "semyonov"),
    ("fedorov", "fyodorov"),
]
KEYBOARD = "qwertyuiopasdfghjklzxcvbnm"


def listed_names(n: int) -> list[tuple[str, str, list[str]]]:
    out, seen = [], set()
    while len(out) < n:
        if RNG.random() < 0.25:
            name = f"{RNG.choice(COMPANY_A)} {RNG.choice(COMPANY_B)} {RNG.choice(COMPANY_B)} {RNG.choice(SUFFIX)}"
            kind = "entity"
        else:
            parts = (
                [RNG.choice(FIRST)] + ([RNG.choice(FIRST)] if RNG.random() < 0.4 else []) + [RNG.choice(LAST)]
            )
            if RNG.random() < 0.3:
                parts.append(RNG.choice(LAST))
            name = " ".join(parts)
            kind = "individual"
        if name.casefold() in seen:
            continue
        seen.add(name.casefold())
        aliases = []
        if kind == "individual" and RNG.random() < 0.3:
            aliases.append(f"{RNG.choice(FIRST)} {name.split()[-1]}")
        out.append((name, kind, aliases))
    return out


def typo(word: str) -> str:
    if len(word) < 5:
        return word
    i = RNG.randrange(1, len(word) - 1)
    op = RNG.choice(("swap", "drop", "sub", "double"))
    if op == "swap":
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    if op == "drop":
        return word[:i] + word[i + 1 :]
    if op == "double":
        return word[:i] + word[i] + word[i:]
    return word[:i] + RNG.choice(KEYBOARD) + word[i + 1 :]


def variant(name: str, kind: str) -> tuple[str, str]:
    words = name.split()
    choice = RNG.choice(("typo", "translit", "reorder", "middle", "honorific", "accents", "case"))
    if kind == "entity":
        choice = RNG.choice(("typo", "suffix", "case", "reorder_company"))
    if choice == "typo":
        j = max(range(len(words)), key=lambda k: len(words[k]))
        words[j] = typo(words[j])
    elif choice == "translit":
        low = " ".join(words).casefold()
        for a, b in TRANSLIT:
            if a in low:
                low = low.replace(a, b)
                break
        else:
            j = max(range(len(words)), key=lambda k: len(words[k]))
            words[j] = typo(words[j])
            low = " ".join(words)
        words = low.split()
    elif choice == "reorder":
        words = [words[-1] + ",", *words[:-1]]
    elif choice == "middle":
        words = [words[0], RNG.choice(FIRST), *words[1:]]
    elif choice == "honorific":
        words = [RNG.choice(("Mr.", "Dr.", "Sheikh", "General")), *words]
    elif choice == "accents":
        table = str.maketrans({"a": "á", "e": "é", "o": "ó", "i": "í", "u": "ü"})
        words = [w.translate(table) if k == len(words) - 1 else w for k, w in enumerate(words)]
    elif choice == "case":
        words = [w.upper() for w in words]
    elif choice == "suffix":
        words = [*words[:-1], RNG.choice([s for s in SUFFIX if s != words[-1]])]
    elif choice == "reorder_company":
        words = [*words[:-1]]  # suffix dropped
    return " ".join(words), choice


def common_names(n: int) -> list[str]:
    return [
        " ".join(
            [RNG.choice(COMMON_FIRST)]
            + ([RNG.choice(COMMON_FIRST)] if RNG.random() < 0.3 else [])
            + [RNG.choice(COMMON_LAST), *([RNG.choice(COMMON_LAST)] if RNG.random() < 0.5 else [])]
        )
        for _ in range(n)
    ]


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


def part_index(entities: list[tuple[str, str, list[str]]], queries: int) -> None:
    from apps.compliance import conf
    from apps.compliance.screening.index import SanctionsIndex, make_entity

    t0 = time.perf_counter()
    index = SanctionsIndex()
    for i, (name, kind, aliases) in enumerate(entities):
        index.add(
            make_entity(
                entity_id=i, source="bench", external_id=str(i), name=name, aliases=aliases, entity_type=kind
            )
        )
    index.freeze()
    build_s = time.perf_counter() - t0
    weak, strong = conf.sanctions_weak_score(), conf.sanctions_strong_score()

    picks = [RNG.randrange(len(entities)) for _ in range(queries // 2)]
    variants = [(i, *variant(entities[i][0], entities[i][1])) for i in picks]
    commons = common_names(queries - len(variants))
    listed_tokens = {n.casefold() for n, _, _ in entities}

    timings: list[float] = []
    cpu: list[float] = []
    found = 0
    by_kind: dict[str, list[int]] = {}
    for i, text, kind in variants:
        t, c = time.perf_counter(), time.process_time()
        hits = index.screen(text, weak=weak, strong=strong)
        timings.append((time.perf_counter() - t) * 1000)
        cpu.append((time.process_time() - c) * 1000)
        ok = any(h.entity_id == i for h in hits)
        found += ok
        by_kind.setdefault(kind, [0, 0])
        by_kind[kind][0] += ok
        by_kind[kind][1] += 1
    false_pos = strong_fp = 0
    for text in commons:
        t, c = time.perf_counter(), time.process_time()
        hits = index.screen(text, weak=weak, strong=strong)
        timings.append((time.perf_counter() - t) * 1000)
        cpu.append((time.process_time() - c) * 1000)
        if hits and text.casefold() not in listed_tokens:
            false_pos += 1
            strong_fp += any(h.strength == "strong" for h in hits)

    print(
        f"== screening: one name vs {len(entities):,} listed entities (in-memory index, built in {build_s:.2f} s)"
    )
    print(
        f"   queries: {len(timings):,}   p50 {pct(timings, 0.5):.3f} ms   p95 {pct(timings, 0.95):.3f} ms   "
        f"p99 {pct(timings, 0.99):.3f} ms   max {max(timings):.3f} ms   (target p95 <= 5 ms)"
    )
    print(f"   CPU time of this process per query: p50 {pct(cpu, 0.5):.3f} ms   p95 {pct(cpu, 0.95):.3f} ms")
    print(
        f"   recall on {len(variants):,} variants of listed names: {found / len(variants):.1%} (weak or strong hit on the right entry)"
    )
    print(
        "   by variant: " + ", ".join(f"{k} {v[0] / v[1]:.0%} (n={v[1]})" for k, v in sorted(by_kind.items()))
    )
    print(
        f"   false positives on {len(commons):,} common non-listed names: {false_pos / len(commons):.2%} any hit, "
        f"{strong_fp / len(commons):.2%} strong (would block)"
    )
    print(f"   thresholds: weak {weak}, strong {strong}")


def decision_setup(entities: list[tuple[str, str, list[str]]]) -> dict[str, Any]:
    """Django on the benchmark database with the entities and the payment history loaded; returns what
    the measurements need (``pending(payer)`` makes a payment waiting for its decision)."""
    from benchmarks._lib.harness import bench_env, ensure_database

    env = bench_env("agentpay_bench_compliance", redis_db=11)
    env["DJANGO_SETTINGS_MODULE"] = "agentpay.settings.production"
    ensure_database(env)
    os.environ.update(env)
    import django

    django.setup()
    from datetime import timedelta

    from django.db import connection
    from django.utils import timezone
    from djmoney.money import Money

    from apps.compliance.models import KycProfile, SanctionsEntity, SanctionsList
    from apps.compliance.screening.index import sanctions_index, sanctions_index_invalidate
    from apps.core.models import Organization
    from apps.payments.models import OrchestrationPayment

    org, _ = Organization.objects.get_or_create(
        slug="bench-compliance", defaults={"name": "Bench compliance"}
    )
    if not SanctionsList.objects.filter(
        source="ofac", origin="bench", is_active=True, entity_count=len(entities)
    ).exists():
        SanctionsList.objects.filter(source="ofac").update(is_active=False)
        lst = SanctionsList.objects.create(
            source="ofac", format="ofac-csv", origin="bench", content_hash="bench", entity_count=len(entities)
        )
        SanctionsEntity.objects.bulk_create(
            [
                SanctionsEntity(sanctions_list=lst, external_id=str(i), name=n, entity_type=k, aliases=a)
                for i, (n, k, a) in enumerate(entities)
            ],
            batch_size=2000,
        )
    sanctions_index_invalidate(bump=True)
    t0 = time.perf_counter()
    size = len(sanctions_index())
    load_s = time.perf_counter() - t0

    payers = [f"bench-payer-{i}" for i in range(20)]
    for i, ref in enumerate(payers):
        KycProfile.objects.get_or_create(
            organization=org, party_ref=ref, defaults={"tier": ["basic", "full"][i % 2]}
        )
    OrchestrationPayment.objects.filter(organization=org).delete()
    now = timezone.now()

    def payment(**kw: object) -> OrchestrationPayment:
        fields: dict[str, object] = {
            "organization": org,
            "amount": Money(RNG.choice(["25.00", "120.00", "480.00", "900.00"]), "BRL"),
            "payer_ref": RNG.choice(payers),
            "payee_ref": f"payee-{RNG.randrange(50)}",
            "payee_name": " ".join(common_names(1)),
            "from_country": "BR",
            "to_country": "BR",
            "selected_rail": "pix",
            "status": "succeeded",
        }
        fields.update(kw)
        return OrchestrationPayment(**fields)

    # 100 payments per payer spread over 90 days, and one in ten received by a payer
    history = [payment() for _ in range(2000)]
    history += [
        payment(payer_ref=f"payee-{RNG.randrange(50)}", payee_ref=RNG.choice(payers)) for _ in range(200)
    ]
    OrchestrationPayment.objects.bulk_create(history)
    by_day: dict[int, list[object]] = {}
    for p in history:
        by_day.setdefault(RNG.randrange(90), []).append(p.pk)
    for day, pks in by_day.items():
        OrchestrationPayment.objects.filter(pk__in=pks).update(
            created_at=now - timedelta(days=day, hours=RNG.randrange(24))
        )
    # A heavy case: two payers whose whole history (100 payments each) is in the last 6 hours.
    heavy = ["bench-heavy-0", "bench-heavy-1"]
    for ref in heavy:
        KycProfile.objects.get_or_create(organization=org, party_ref=ref, defaults={"tier": "full"})
    busy = [payment(payer_ref=RNG.choice(heavy)) for _ in range(200)]
    OrchestrationPayment.objects.bulk_create(busy)
    OrchestrationPayment.objects.filter(pk__in=[p.pk for p in busy]).update(
        created_at=now - timedelta(hours=6)
    )
    # As autovacuum would after a bulk load, but now: each run deletes and re-creates the history,
    # and an autovacuum of the dead rows starting mid-run (or stale statistics) moved the figures
    # by a third between otherwise identical runs.
    with connection.cursor() as cur:
        for table in (
            "payments_orchestrationpayment",
            "compliance_paymentdecision",
            "compliance_case",
            "compliance_caseevent",
            "compliance_auditentry",
        ):
            cur.execute(f"VACUUM ANALYZE {table}")

    def pending(payer: str) -> OrchestrationPayment:
        p = payment(
            payer_ref=payer,
            amount=Money(RNG.choice(["50.00", "300.00", "1500.00", "9000.00"]), "BRL"),
            payee_ref=f"payee-{RNG.randrange(60)}",
            to_country=RNG.choice(["BR", "BR", "BR", "PT", "AE"]),
            status="screening",
        )
        p.save()
        return p

    return {
        "org": org,
        "payers": payers,
        "heavy": heavy,
        "pending": pending,
        "size": size,
        "load_s": load_s,
    }


def part_decision(entities: list[tuple[str, str, list[str]]], decisions: int) -> None:
    ctx = decision_setup(entities)  # sets Django up

    from django.db import connection, transaction

    from apps.compliance.models import PaymentDecision
    from apps.compliance.services import payment_compliance_decide
    from apps.payments.models import OrchestrationPayment

    org, payers, heavy, pending = ctx["org"], ctx["payers"], ctx["heavy"], ctx["pending"]
    size, load_s = ctx["size"], ctx["load_s"]
    cpu: list[float] = []
    by_outcome: dict[str, list[tuple[float, int, float]]] = {}
    after_commit: dict[str, list[float]] = {}

    def measure(
        todo: list[OrchestrationPayment], *, atomic: bool
    ) -> tuple[list[float], list[int], dict[str, int]]:
        timings: list[float] = []
        queries: list[int] = []
        outcomes: dict[str, int] = {}
        cpu.clear()
        by_outcome.clear()
        after_commit.clear()
        statements = [0]

        def count(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
            # Counting through Django's debug cursor would format every statement and slow it down.
            statements[0] += 1
            return execute(sql, params, many, context)

        for p in todo:
            statements[0] = 0
            with (
                connection.execute_wrapper(count),
                transaction.atomic() if atomic else contextlib.nullcontext(),
            ):
                t, c = time.perf_counter(), time.process_time()
                result = payment_compliance_decide(payment=p)
                timings.append((time.perf_counter() - t) * 1000)
                cpu.append((time.process_time() - c) * 1000)
                t = time.perf_counter()
            # the commit and what runs after it
            after_commit.setdefault(result.decision, []).append((time.perf_counter() - t) * 1000)
            queries.append(statements[0])
            outcomes[result.decision] = outcomes.get(result.decision, 0) + 1
            by_outcome.setdefault(result.decision, []).append((timings[-1], queries[-1], cpu[-1]))
        return timings, queries, outcomes

    def backend_cpu_s() -> float | None:
        """CPU seconds used so far by this connection's PostgreSQL backend (when it runs here)."""
        with connection.cursor() as cur:
            cur.execute("SELECT pg_backend_pid()")
            pid = cur.fetchone()[0]
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    warm = [pending(RNG.choice(payers)) for _ in range(20)]
    measure(warm, atomic=True)
    todo = [pending(RNG.choice(payers)) for _ in range(decisions)]
    server_before = backend_cpu_s()
    main_t, main_q, _ = measure(todo, atomic=True)
    server_after = backend_cpu_s()
    main_cpu = list(cpu)
    main_cpu_by_outcome = {k: [c for _, _, c in v] for k, v in by_outcome.items()}
    main_by_outcome = dict(by_outcome)
    main_after_commit = dict(after_commit)
    alone_t, _, _ = measure([pending(RNG.choice(payers)) for _ in range(decisions // 2)], atomic=False)
    heavy_t, heavy_q, _ = measure([pending(RNG.choice(heavy)) for _ in range(decisions // 2)], atomic=True)
    PaymentDecision.objects.filter(organization=org).delete()
    print(
        f"== payment_compliance_decide on PostgreSQL ({size:,} entities indexed in {load_s:.2f} s from the database; "
        f"2,200 history payments of 20 payers over 90 days)"
    )
    print(
        f"   in the orchestration transaction: {len(main_t)} decisions   p50 {pct(main_t, 0.5):.2f} ms   "
        f"p95 {pct(main_t, 0.95):.2f} ms   p99 {pct(main_t, 0.99):.2f} ms   (target p95 <= 5 ms)   "
        f"queries/decision: median {statistics.median(main_q):.0f}"
    )
    print(
        f"   CPU time of this process per decision: p50 {pct(main_cpu, 0.5):.2f} ms   p95 {pct(main_cpu, 0.95):.2f} ms"
    )
    if server_before is not None and server_after is not None:
        print(
            f"   CPU time of the PostgreSQL backend per decision (mean, with its transaction's BEGIN/COMMIT): "
            f"{(server_after - server_before) * 1000 / len(main_t):.2f} ms"
        )
    print(
        "   CPU by outcome: "
        + ", ".join(
            f"{k} p50 {pct(v, 0.5):.2f} ms p95 {pct(v, 0.95):.2f} ms"
            for k, v in sorted(main_cpu_by_outcome.items())
        )
    )
    print(
        "   by outcome: "
        + ", ".join(
            f"{k} n={len(v)} p50 {pct([t for t, _, _ in v], 0.5):.2f} ms p95 {pct([t for t, _, _ in v], 0.95):.2f} ms "
            f"({statistics.median(q for _, q, _ in v):.0f} queries)"
            for k, v in sorted(main_by_outcome.items())
        )
    )
    print(
        "   then the commit and the after-commit work (not part of the figures above): "
        + ", ".join(
            f"{k} p50 {pct(v, 0.5):.2f} ms p95 {pct(v, 0.95):.2f} ms"
            for k, v in sorted(main_after_commit.items())
        )
    )
    print(
        f"   on its own (autocommit, the INSERT commits): {len(alone_t)} decisions   p50 {pct(alone_t, 0.5):.2f} ms   "
        f"p95 {pct(alone_t, 0.95):.2f} ms"
    )
    print(
        f"   payers with 100 payments in the last 6 h: {len(heavy_t)} decisions   p50 {pct(heavy_t, 0.5):.2f} ms   "
        f"p95 {pct(heavy_t, 0.95):.2f} ms   queries/decision: median {statistics.median(heavy_q):.0f}"
    )


def main() -> None:
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")
    n = int(os.environ.get("BENCH_ENTITIES", "20000"))
    entities = listed_names(n)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "agentpay.settings.test")
    if os.environ.get("BENCH_SKIP_DB") == "1":
        import django

        django.setup()
        part_index(entities, int(os.environ.get("BENCH_QUERIES", "3000")))
        return
    part_decision(entities, int(os.environ.get("BENCH_DECISIONS", "400")))
    part_index(entities, int(os.environ.get("BENCH_QUERIES", "3000")))


if __name__ == "__main__":
    main()
