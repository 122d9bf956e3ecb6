"""Webhook processing rate: how fast Celery workers turn stored webhook events into analysed
messages, flow steps and sent replies — the other half of ``run.py``, which measures only the
acknowledgement (no worker runs there).

N Telegram updates (official ``Update`` shape) from M chats, their texts a mix of payment requests
in English, Portuguese and Spanish and small talk, are stored and handed off exactly as the webhook
view does (``services.webhook_event_ingest``, then ``webhook_events_enqueue``: the ids on the Redis
hand-off list and one drain task). Then real Celery workers start (production settings, PostgreSQL
+ Redis broker, prefork) and the script polls the database until every event is ``processed``,
every message has its intent and every reply is recorded as sent. Replies go to a local fake Bot API
(``TELEGRAM_API_BASE``) that answers ``sendMessage`` / ``sendPhoto`` as Telegram does, so delivery
is real HTTP through the project's client.

Printed: events/s from the first processed event to the last (stored → processed), messages/s to
the last intent, replies sent, the load average; target context: 1M messages/day is 11.6/s on
average. Env: BENCH_DRAIN_EVENTS (2000), BENCH_DRAIN_CHATS (400), BENCH_DRAIN_CONCURRENCY (Celery
worker processes, 2), BENCH_DRAIN_TIMEOUT (s, 600), BENCH_DATABASE_URL, BENCH_REDIS_URL. Uses the
database and Redis db of ``run.py`` (and its lock: not at the same time).
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks._lib.harness import PY, ROOT, bench_env, manage_shell

_run = importlib.import_module("benchmarks.webhooks.run")

TEXTS = [
    "pay ana R$ 30 via pix",
    "manda R$ 50 pro João amanhã",
    "let's split the $90 dinner",
    "te pago 20 euros mañana",
    "did john pay me for the consulting?",
    "hi!",
    "obrigado",
    "send 45 USD to maria",
    "quanto custa mandar 100 reais?",
    "ok",
]

STORE = """
import json
from apps.conversations import services
from apps.conversations.models import (Conversation, ConversationMessage, OutboundMessage, PlatformAccount,
                                       WebhookEvent)
seed = json.loads('{seed}')
tg = PlatformAccount.objects.get(pk=seed["telegram"])
Conversation.objects.filter(organization_id=tg.organization_id).delete()  # earlier runs' messages and replies
texts = json.loads('{texts}')
ids = []
for n in range({events}):
    chat = 900000 + n % {chats}
    update = {{"update_id": 700000000 + n, "message": {{"message_id": n + 1, "date": 1767225600 + n,
              "from": {{"id": chat, "is_bot": False, "first_name": "Bench", "language_code": "pt"}},
              "chat": {{"id": chat, "type": "private", "first_name": "Bench"}}, "text": texts[n % len(texts)]}}}}
    pk = services.webhook_event_ingest(platform="telegram", event_id=f"{{tg.external_id}}:{{update['update_id']}}",
                                       event_type="message", payload=update, account_id=tg.pk,
                                       organization_id=tg.organization_id)
    ids.append(pk)
for i in range(0, len(ids), 500):
    services.webhook_events_enqueue(ids=ids[i:i + 500])
print(json.dumps({{"events": WebhookEvent._meta.db_table, "messages": ConversationMessage._meta.db_table,
                  "outbound": OutboundMessage._meta.db_table, "conversations": Conversation._meta.db_table,
                  "org": str(tg.organization_id), "stored": len(ids)}}))
"""


class FakeBotApi(BaseHTTPRequestHandler):
    """Answers the Bot API methods the replies use, as Telegram does (``{"ok": true, "result": …}``)."""

    sent = 0
    lock = threading.Lock()

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        method = self.path.rsplit("/", 1)[-1]
        with FakeBotApi.lock:
            FakeBotApi.sent += 1
            message_id = FakeBotApi.sent
        result: object = True if method == "answerCallbackQuery" else {"message_id": message_id, "date": 0}
        body = json.dumps({"ok": True, "result": result}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def main() -> None:
    events = int(os.environ.get("BENCH_DRAIN_EVENTS", "2000"))
    chats = int(os.environ.get("BENCH_DRAIN_CHATS", "400"))
    concurrency = int(os.environ.get("BENCH_DRAIN_CONCURRENCY", "2"))
    timeout = float(os.environ.get("BENCH_DRAIN_TIMEOUT", "600"))
    env = bench_env(_run.DB_NAME, redis_db=_run.REDIS_DB)
    _run.database_ready(env)
    lock = _run.exclusive_run(env)
    import psycopg
    import redis

    redis.Redis.from_url(env["REDIS_URL"]).flushdb()
    fake = ThreadingHTTPServer(("127.0.0.1", 0), FakeBotApi)
    threading.Thread(target=fake.serve_forever, daemon=True).start()
    env["TELEGRAM_API_BASE"] = f"http://127.0.0.1:{fake.server_address[1]}"
    seed = manage_shell(env, _run.SEED)
    t0 = time.monotonic()
    info = json.loads(
        manage_shell(
            env,
            STORE.format(seed=seed, texts=json.dumps(TEXTS).replace("'", "\\'"), events=events, chats=chats),
        )
    )
    stored_in = time.monotonic() - t0
    org = info["org"]
    count_sql = {
        "processed": f"SELECT count(*) FROM \"{info['events']}\" WHERE organization_id = %s AND status <> 'received'",
        "analysed": f"SELECT count(*) FROM \"{info['messages']}\" m WHERE m.direction = 'inbound' "
        "AND m.detected_intent <> '' AND m.conversation_id IN "
        f'(SELECT id FROM "{info["conversations"]}" WHERE organization_id = %s)',
        "sent": f"SELECT count(*) FROM \"{info['outbound']}\" o WHERE o.status = 'sent' AND o.conversation_id IN "
        f'(SELECT id FROM "{info["conversations"]}" WHERE organization_id = %s)',
    }
    worker = subprocess.Popen(
        [
            *(PY, "-m", "celery", "-A", "agentpay", "worker", "-c", str(concurrency), "--loglevel=WARNING"),
            *("--without-heartbeat", "--without-gossip", "--without-mingle", "-n", f"drain-{os.getpid()}@%h"),
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    first: dict[str, float] = {}
    last: dict[str, float] = {}
    counts = dict.fromkeys(count_sql, 0)
    load_before = os.getloadavg()[0]
    started = time.monotonic()
    try:
        with psycopg.connect(env["DATABASE_URL"], autocommit=True) as db:
            while time.monotonic() - started < timeout:
                now = time.monotonic()
                for name, sql in count_sql.items():
                    row = db.execute(sql, (org,)).fetchone()
                    value = int(row[0]) if row else 0
                    if value and name not in first:
                        first[name] = now
                    if value != counts[name]:
                        last[name] = now
                    counts[name] = value
                if (
                    counts["processed"] >= events
                    and counts["analysed"] >= events
                    and now - last.get("sent", 0) > 3
                ):
                    break  # every message analysed, and no reply sent for 3 s
                time.sleep(0.25)
    finally:
        worker.send_signal(signal.SIGTERM)  # warm shutdown: the pool finishes its tasks
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
        fake.shutdown()
        lock.close()
    load_after = os.getloadavg()[0]
    print(
        f"webhooks/drain: {events} Telegram updates from {chats} chats, stored + handed off in "
        f"{stored_in:.1f} s; Celery prefork x{concurrency}, PostgreSQL + Redis, replies to a fake Bot API"
    )
    for name in ("processed", "analysed"):
        span = last.get(name, 0) - first.get(name, 0)
        rate = counts[name] / span if span > 0 else 0.0
        print(f"  {name:<10} {counts[name]:>6} / {events}   {rate:8.1f}/s   (first to last, {span:.1f} s)")
    span = last.get("sent", 0) - first.get("sent", 0)
    print(
        f"  replies sent {counts['sent']:>6} ({counts['sent'] / span if span > 0 else 0.0:.1f}/s; Bot API calls"
        f" answered: {FakeBotApi.sent}; small talk and follow-ups in a flow get no reply of their own)"
    )
    print(f"  load average {load_before:.2f} before / {load_after:.2f} after")
    done = counts["processed"] >= events and counts["analysed"] >= events
    print(f"verdict webhooks/drain: {'DONE' if done else 'INCOMPLETE'} — 1M messages/day = 11.6/s average")


if __name__ == "__main__":
    main()
