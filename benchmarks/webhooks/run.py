"""Webhook ingest: throughput and acknowledgement latency of POST /api/v1/webhooks/<platform>
under production settings on PostgreSQL + Redis, driven by wrk (a separate load process)
at rising concurrency.

Every request is a new, valid event (nothing is a duplicate):
- telegram: an official-shape ``Update`` (message with from/chat/date/text) with a unique
  ``update_id``, authenticated by ``X-Telegram-Bot-Api-Secret-Token`` (a PlatformAccount's
  ``webhook_secret``, found through its keyed hash);
- whatsapp: a Cloud API ``messages`` notification with a unique wamid, signed per request
  (``X-Hub-Signature-256``, HMAC-SHA256 of the body with the account's app secret, computed in
  wrk's LuaJIT by hmac_sha256.lua).

The server verifies, stores the raw event (``WebhookEvent``, unique per platform event id) and
answers 200; after the commit the event's id is pushed on the hand-off list in Redis, and a drain
task is sent to Celery once per burst. No Celery worker runs during the benchmark: the ids and
the drain tasks wait in the bench Redis db (flushed before each run). Only HTTP 200 counts as
acknowledged; afterwards the stored rows are counted and compared with the acknowledgements, and
the hand-off list must hold every stored row's id exactly once.

Target (design 1M messages/day): >= 1,000 webhooks/s acknowledged at p95 < 20 ms.
Env: BENCH_SERVER=granian|gunicorn|uvicorn (default granian's WSGI: 20-30 % more webhooks/s than
gunicorn gthread here, about 2x uvicorn's rate, where the sync views run in a thread pool under
ASGI), BENCH_WORKERS (2), BENCH_THREADS,
BENCH_SECONDS (6 per level), BENCH_LEVELS (1,8,16,32), BENCH_PLATFORMS (telegram,whatsapp),
BENCH_WRK_THREADS (1), BENCH_DATABASE_URL, BENCH_REDIS_URL.
Where the time goes per request: benchmarks/webhooks/profile_view.py (cProfile, one process);
CPU per request in process: cpu.py (process_time) and instructions.py (callgrind), which
contention on a shared machine disturbs far less than this load run.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks._lib.harness import PY, ROOT, bench_env, manage_shell, print_table, server

if TYPE_CHECKING:
    import psycopg

HERE = Path(__file__).resolve().parent
DB_NAME = "agentpay_bench_webhooks"
REDIS_DB = 10
TARGET_RPS = 1000
TARGET_P95_MS = 20.0
TELEGRAM_SECRET = "bench-telegram-webhook-secret_0123456789"
TELEGRAM_BOT_ID = "7000000001"
WHATSAPP_APP_SECRET = "bench-whatsapp-app-secret-0123456789abcdef"
WHATSAPP_PNID = "109876543210987"
LOCK_KEY = 0x5745_4248  # pg advisory lock id of this benchmark
# apps.conversations.services.WEBHOOK_QUEUE_KEY under the cache's KEY_PREFIX (CACHE_KEY_PREFIX)
PENDING_KEY = f"{os.environ.get('CACHE_KEY_PREFIX', 'agentpay')}:conversations:webhook_events:pending"

SEED = f"""
import json
from apps.conversations import services
from apps.conversations.models import PlatformAccount, WebhookEvent
from apps.core.models import Organization
org, _ = Organization.objects.get_or_create(slug="bench-webhooks", defaults={{"name": "Bench Webhooks"}})
def account(platform, external_id, secrets):
    acc = PlatformAccount.objects.filter(platform=platform, external_id=external_id).first()
    if acc is None:
        return services.platform_account_create(organization=org, platform=platform, external_id=external_id,
                                                secrets=secrets, name=f"bench {{platform}}")
    PlatformAccount.objects.filter(pk=acc.pk).update(organization=org, is_active=True)
    return services.platform_account_secrets_set(account=acc, secrets=secrets)
tg = account("telegram", "{TELEGRAM_BOT_ID}", {{"bot_token": "{TELEGRAM_BOT_ID}:bench", "webhook_secret": "{TELEGRAM_SECRET}"}})
wa = account("whatsapp", "{WHATSAPP_PNID}", {{"app_secret": "{WHATSAPP_APP_SECRET}", "verify_token": "bench-verify",
                                              "access_token": "bench-access"}})
deleted, _ = WebhookEvent.objects.filter(platform__in=["telegram", "whatsapp"]).delete()
print(json.dumps({{"telegram": str(tg.pk), "whatsapp": str(wa.pk), "table": WebhookEvent._meta.db_table,
                  "deleted": deleted}}))
"""

COUNT = """
import json
from apps.conversations.models import WebhookEvent
accounts = json.loads('{accounts}')
qs = WebhookEvent.objects.filter(account_id__in=accounts.values())
print(json.dumps({{p: qs.filter(account_id=a).count() for p, a in accounts.items()}}
                 | {{"received": qs.filter(status="received").count(),
                     "ids": list(qs.order_by("pk").values_list("pk", flat=True))}}))
"""

PLATFORMS: dict[str, dict[str, Any]] = {
    "telegram": {
        "path": "/api/v1/webhooks/telegram",
        "lua": ("telegram.lua",),
        "env": {"WH_SECRET": TELEGRAM_SECRET},
        "what": "Telegram Update, unique update_id, X-Telegram-Bot-Api-Secret-Token",
    },
    "whatsapp": {
        "path": "/api/v1/webhooks/whatsapp",
        "lua": ("hmac_sha256.lua", "whatsapp.lua"),
        "env": {"WH_SECRET": WHATSAPP_APP_SECRET, "WH_PNID": WHATSAPP_PNID},
        "what": "WhatsApp text message, unique wamid, X-Hub-Signature-256 signed per request",
    },
}


def database_ready(env: dict[str, str]) -> None:
    """harness.ensure_database without collectstatic: the webhook path serves no static files, and
    collectstatic (compressing every asset again) takes 10-30 s of the 2-minute budget."""
    import psycopg

    url = env["DATABASE_URL"]
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
    subprocess.run([PY, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)


def exclusive_run(env: dict[str, str]) -> psycopg.Connection[Any]:
    """A session advisory lock on the bench database, held until the process ends: a second
    instance would share the rows, event ids and Redis db (its seed deletes rows, its flush drops
    queued tasks) and make both runs' persistence checks meaningless."""
    import psycopg

    conn = psycopg.connect(env["DATABASE_URL"], autocommit=True)
    row = conn.execute("SELECT pg_try_advisory_lock(%s)", (LOCK_KEY,)).fetchone()
    if not (row and row[0]):
        raise SystemExit(f"another webhooks benchmark is running on {DB_NAME}; run them one at a time")
    return conn


def wrk_load(
    url: str, *, lua: tuple[str, ...], extra_env: dict[str, str], connections: int, seconds: int, threads: int
) -> dict[str, float]:
    """wrk with a generator script (+ report.lua): latency, socket errors and the 200 counts."""
    if shutil.which("wrk") is None:
        raise SystemExit("benchmarks need wrk (Debian package 'wrk'): apt-get install -y wrk")
    script = "\n".join((HERE / name).read_text() for name in (*lua, "report.lua"))
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script)
    threads = max(1, min(threads, connections))
    cmd = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s", "-s", f.name]
    cmd += ["--timeout", "5s", url]
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, check=True, env={**os.environ, **extra_env}
        )
    finally:
        os.unlink(f.name)
    line = next((x for x in proc.stderr.splitlines() if x.startswith("WRKJSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no summary:\n{proc.stdout}\n{proc.stderr}")
    data = json.loads(line[len("WRKJSON ") :])
    secs = data["duration_us"] / 1e6
    return {
        "rps": data["acked"] / secs,  # acknowledged (HTTP 200) per second
        "p50_ms": data["p50_us"] / 1000,
        "p95_ms": data["p95_us"] / 1000,
        "p99_ms": data["p99_us"] / 1000,
        "max_ms": data["max_us"] / 1000,
        "errors": data["errors"],
        "non2xx": data["non2xx"],  # counted by report.lua: any status outside 200-299
        "requests": data["requests"],
        "sent": data["sent"],
        "acked": data["acked"],
        "stored": data["stored"],
        "non200": data["non200"],
    }


class Probe:
    """Direct reads (no Django start-up) of the stored rows and the queued Celery messages."""

    def __init__(self, env: dict[str, str], table: str, accounts: dict[str, str]) -> None:
        import psycopg
        import redis

        self.db = psycopg.connect(env["DATABASE_URL"], autocommit=True)
        self.redis = redis.Redis.from_url(env["REDIS_URL"])
        self.table = table
        self.accounts = accounts

    def rows(self, platform: str) -> int:
        sql = f'SELECT count(*) FROM "{self.table}" WHERE account_id = %s'  # table name from the model
        row = self.db.execute(sql, (self.accounts[platform],)).fetchone()
        return int(row[0]) if row else 0

    def settled_rows(self, platform: str) -> int:
        """Row count once the requests in flight when wrk stopped have committed."""
        last = self.rows(platform)
        for _ in range(20):
            time.sleep(0.15)
            now = self.rows(platform)
            if now == last:
                return now
            last = now
        return last

    def queued(self) -> int:
        """Messages waiting in the Celery queues (kombu's Redis lists ``celery`` + priority lists)."""
        keys = [k for k in self.redis.scan_iter(match="celery*") if self.redis.type(k) == b"list"]
        return sum(int(self.redis.llen(k)) for k in keys)

    def pending(self) -> list[int]:
        """Event ids on the hand-off list (``services.WEBHOOK_QUEUE_KEY`` under the production
        cache's key prefix), waiting for a drain task."""
        return [int(x) for x in self.redis.lrange(PENDING_KEY, 0, -1)]

    def subscriptions(self) -> int:
        """Pub/sub channels held by clients of the bench Redis db (Celery's Redis result backend
        can subscribe to a channel per task sent; 0 means nothing accumulates in the web process)."""
        return sum(
            int(c.get("sub", 0) or 0) for c in self.redis.client_list() if str(c.get("db")) == str(REDIS_DB)
        )

    def close(self) -> None:
        self.db.close()
        self.redis.close()


def main() -> None:
    started = time.monotonic()
    env = bench_env(DB_NAME, redis_db=REDIS_DB)
    database_ready(env)
    lock = exclusive_run(env)
    import redis

    redis.Redis.from_url(env["REDIS_URL"]).flushdb()  # no queued tasks from earlier runs
    seed = json.loads(manage_shell(env, SEED))
    kind = os.environ.get("BENCH_SERVER", "granian")
    workers = int(os.environ.get("BENCH_WORKERS", "2"))
    seconds = int(os.environ.get("BENCH_SECONDS", "6"))
    wrk_threads = int(os.environ.get("BENCH_WRK_THREADS", "1"))
    levels = [int(x) for x in os.environ.get("BENCH_LEVELS", "1,8,16,32").split(",")]
    platforms = [p for p in os.environ.get("BENCH_PLATFORMS", "telegram,whatsapp").split(",") if p]
    probe = Probe(env, seed["table"], {p: seed[p] for p in PLATFORMS})
    load_before = os.getloadavg()[0]
    results: dict[str, list[tuple[int, dict[str, float]]]] = {}
    totals: dict[str, dict[str, int]] = {}
    persist: dict[str, list[tuple[int, int, int, int]]] = {}
    subscriptions = 0
    with server(env, kind=kind, workers=workers) as port:
        for platform in platforms:
            spec = PLATFORMS[platform]
            url = f"http://127.0.0.1:{port}{spec['path']}"
            tot = totals.setdefault(platform, {"sent": 0, "acked": 0, "stored": 0, "non200": 0})
            rows_before = probe.rows(platform)
            # level 0 is the warm-up; event ids: 500,000,000 + level * 10,000,000 + thread * 1,000,000 + n
            for idx, conc in enumerate([4, *levels]):
                warm = idx == 0
                r = wrk_load(
                    url,
                    lua=spec["lua"],
                    extra_env={**spec["env"], "WH_BASE": str(500_000_000 + idx * 10_000_000)},
                    connections=conc,
                    seconds=2 if warm else seconds,
                    threads=wrk_threads,
                )
                rows_after = probe.settled_rows(platform)
                for key in tot:
                    tot[key] += int(r[key])
                if not warm:
                    results.setdefault(platform, []).append((conc, r))
                    persist.setdefault(platform, []).append(
                        (conc, int(r["acked"]), rows_after - rows_before, int(r["sent"]))
                    )
                rows_before = rows_after
        subscriptions = probe.subscriptions()
    accounts = {p: seed[p] for p in PLATFORMS}
    counted = json.loads(manage_shell(env, COUNT.format(accounts=json.dumps(accounts))))
    queued = probe.queued()
    pending = probe.pending()
    probe.close()
    lock.close()

    print()
    print(
        f"machine: {os.cpu_count()} CPUs, load average {load_before:.2f} before / {os.getloadavg()[0]:.2f} after "
        "the load (server, PostgreSQL, Redis and wrk share these CPUs)"
    )
    for platform, rows in results.items():
        print_table(
            f"webhooks/{platform}: POST {PLATFORMS[platform]['path']} ({PLATFORMS[platform]['what']}) — "
            f"{kind} x{workers}, PostgreSQL + Redis, log level {env['LOG_LEVEL']}; req/s = acknowledged (200)/s",
            rows,
        )
        print(
            f"  {'conc':>5} {'acked':>8} {'new rows':>9} {'sent':>8}  (rows - acked = requests in flight at cut-off)"
        )
        for conc, acked, new_rows, sent in persist[platform]:
            print(f"  {conc:>5} {acked:>8} {new_rows:>9} {sent:>8}")
        print()

    print("persistence (no Celery worker ran: every stored event's id waits on the hand-off list):")
    total_acked = 0
    all_ok = True
    for platform, tot in totals.items():
        rows_n = int(counted[platform])
        unanswered = tot["sent"] - tot["acked"] - tot["non200"]
        ok = tot["acked"] <= rows_n <= tot["acked"] + unanswered and tot["stored"] == tot["acked"]
        all_ok = all_ok and ok
        total_acked += tot["acked"]
        print(
            f"  {platform}: acknowledged 200 = {tot['acked']} (incl. warm-up), new-row answers = {tot['stored']}, "
            f"rows stored (ORM count) = {rows_n}, difference = {rows_n - tot['acked']} "
            f"(unanswered at wrk cut-off: {unanswered}), non-200 = {tot['non200']} -> "
            f"{'OK' if ok else 'MISMATCH'}"
        )
    handed_off = sorted(pending) == sorted(counted["ids"])  # every stored row exactly once
    all_ok = all_ok and handed_off and queued >= 1
    print(
        f"  hand-off list: {len(pending)} ids ({len(set(pending))} distinct) for {len(counted['ids'])} stored rows, "
        f"rows still 'received': {counted['received']} -> {'OK' if handed_off else 'MISMATCH'} (each event once); "
        f"Celery drain tasks queued: {queued} (one per burst, not per event)"
    )
    print(f"  pub/sub subscriptions held on the bench Redis after the load: {subscriptions}")

    print()
    for platform, rows in results.items():
        best = max((r for _, r in rows if r["p95_ms"] < TARGET_P95_MS), key=lambda r: r["rps"], default=None)
        clean = all(r["non2xx"] == 0 and r["errors"] == 0 for _, r in rows)
        if best is None:
            verdict = f"FAIL — no level met p95 < {TARGET_P95_MS:.0f} ms"
        else:
            met = best["rps"] >= TARGET_RPS
            verdict = (
                f"{'PASS' if met and clean and all_ok else 'FAIL'} — best under p95<{TARGET_P95_MS:.0f}ms: "
                f"{best['rps']:.0f} webhooks/s acknowledged at p95 {best['p95_ms']:.1f} ms "
                f"(target >= {TARGET_RPS}/s; 1M/day = {1_000_000 / 86400:.1f}/s average)"
            )
        if not clean:
            verdict += "; non-2xx or socket errors seen"
        if not all_ok:
            verdict += "; stored rows / queued tasks do not match the acknowledgements"
        print(f"verdict webhooks/{platform} ({kind}): {verdict}")
    print(f"total wall time {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
