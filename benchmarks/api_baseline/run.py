"""API baseline: an authenticated GET of a small list endpoint (/api/v1/payments,
20 rows of one organisation) under production settings on PostgreSQL + Redis,
driven by wrk (a separate load process) at rising concurrency.

Target on a 2-core machine: >= 1,000 req/s at p95 < 20 ms.
Env: BENCH_SERVER=granian|uvicorn|gunicorn (harness.server), BENCH_WORKERS, BENCH_THREADS, BENCH_SECONDS, BENCH_DATABASE_URL, BENCH_REDIS_URL.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks._lib.harness import (
    analyze,
    bench_env,
    ensure_database,
    manage_shell,
    print_table,
    server,
    wrk,
)

SEED = """
from djmoney.money import Money
from rest_framework_simplejwt.tokens import AccessToken
from apps.core.models import Organization, User, Membership
from apps.payments.models import OrchestrationPayment
org, _ = Organization.objects.get_or_create(slug="bench", defaults={"name": "Bench"})
user, _ = User.objects.get_or_create(username="bench")
Membership.objects.get_or_create(organization=org, user=user, defaults={"role": "owner"})
missing = 20 - OrchestrationPayment.objects.filter(organization=org).count()
for i in range(max(0, missing)):
    OrchestrationPayment.objects.create(organization=org, amount=Money("10.00", "BRL"), selected_rail="pix",
                                        payee_ref=f"p{i}", status="succeeded")
print(str(AccessToken.for_user(user)))
"""


def main() -> None:
    env = bench_env("agentpay_bench")
    ensure_database(env)
    token = manage_shell(env, SEED)
    kind = os.environ.get("BENCH_SERVER", "granian")
    workers = int(os.environ.get("BENCH_WORKERS", "2"))
    seconds = int(os.environ.get("BENCH_SECONDS", "8"))
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    rows = []
    with server(env, kind=kind, workers=workers) as port:
        url = f"http://127.0.0.1:{port}/api/v1/payments?page_size=20"
        wrk(url, connections=4, seconds=2, headers=headers)  # warm-up
        analyze(env)  # the statistics autovacuum would have gathered by now (harness.analyze)
        for conc in (1, 4, 8, 16, 32):
            rows.append((conc, wrk(url, connections=conc, seconds=seconds, headers=headers)))
    print_table(
        f"api_baseline: GET /api/v1/payments (20 rows, JWT) — {kind} x{workers}, PostgreSQL + Redis, "
        f"log level {env['LOG_LEVEL']}",
        rows,
    )
    best = max((r for _, r in rows if r["p95_ms"] < 20), key=lambda r: r["rps"], default=None)
    verdict = (
        f"best under p95<20ms: {best['rps']:.0f} req/s (target >= 1000)"
        if best
        else "no level met p95 < 20 ms"
    )
    print(verdict)


if __name__ == "__main__":
    main()
