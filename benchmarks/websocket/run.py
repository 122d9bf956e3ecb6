"""WebSocket live feed: N concurrent authenticated connections on the organisation stream
(``/api/v1/stream``) and the fan-out latency of events broadcast to all of them.

Server: uvicorn (production settings, PostgreSQL + Redis channel layer) on 127.0.0.1.
Load: separate lean client processes (``load.py``: raw asyncio protocols on uvloop, no JSON
decoding per event); one of them publishes timestamped events to the organisation's group
through the Redis channel layer (as a Celery worker does), every connection records receive
time − publish time.

Besides the latencies (which depend on what else runs on the machine) it prints CPU time per
delivered frame of the server processes and of the load processes during the event phase,
read from /proc and getrusage: figures that contention does not inflate.

Target (design): 10,000 concurrent connections, fan-out p95 < 100 ms.
Env: BENCH_WS_CONNECTIONS (10000), BENCH_WS_SHARDS (load processes, 2), BENCH_WS_EVENTS (5),
BENCH_WS_GAP (seconds between events, 2), BENCH_WORKERS (uvicorn workers, 2),
BENCH_WS_IMPL (uvicorn --ws, websockets-sansio), BENCH_WS_DEFLATE (server permessage-deflate,
0), BENCH_WS_CLIENT_DEFLATE (clients offer it as browsers do, 1), BENCH_WS_PUBLISH (service: through
apps.core.events.group_send_now as a Celery task does; layer: the layer directly), BENCH_DATABASE_URL,
BENCH_REDIS_URL.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks._lib.harness import bench_env, ensure_database, free_port, manage_shell, wait_http

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
SEED = """
from rest_framework_simplejwt.tokens import AccessToken
from apps.core.models import Organization, User, Membership
org, _ = Organization.objects.get_or_create(slug="bench-ws", defaults={"name": "Bench WS"})
user, _ = User.objects.get_or_create(username="bench-ws")
Membership.objects.get_or_create(organization=org, user=user, defaults={"role": "owner"})
print(f"{org.pk} {AccessToken.for_user(user)}")
"""
DEADLINE_S = 300
IDLE_SAMPLE_S = 3.0


def group_pids(pgid: int) -> list[int]:
    """The processes of the server's process group (the uvicorn supervisor and its workers)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                if int(f.read().rsplit(")", 1)[1].split()[2]) == pgid:  # state, ppid, pgrp
                    pids.append(int(entry))
        except OSError:
            continue
    return pids


def group_cpu_seconds(pgid: int) -> tuple[float, float]:
    """User and system CPU time of every process in the server's process group (uvicorn workers)."""
    ticks = os.sysconf("SC_CLK_TCK")
    user = system = 0
    for pid in group_pids(pgid):
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        user += int(fields[11])  # fields after the name: state, ppid, pgrp, …, utime(11), stime(12)
        system += int(fields[12])
    return user / ticks, system / ticks


def perf_start(pgid: int, output: str) -> subprocess.Popen[bytes] | None:
    """With BENCH_WS_PERF=<file>: ``perf record`` the server processes during the event phase
    (kernel and user stacks; read it with ``perf report -i <file> --no-children``)."""
    if not output:
        return None
    pids = ",".join(str(p) for p in group_pids(pgid))
    cmd = ["perf", "record", "-q", "-F", "1999", "-g", "-p", pids, "-o", output]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    time.sleep(0.5)  # perf attaches before the first event
    return proc


@contextmanager
def ws_server(env: dict[str, str], *, workers: int, ws_impl: str, deflate: bool) -> Iterator[tuple[int, int]]:
    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        "agentpay.asgi:application",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--no-access-log",
        "--log-level",
        "warning",
        "--ws",
        ws_impl,
        # Compressing a 100-byte event costs a zlib stream per socket (and ~100 KB of memory
        # each) and saves nothing: the live feed's server declines it (browsers cope).
        "--ws-per-message-deflate",
        "true" if deflate else "false",
        "--lifespan",
        "off",
    ]
    if env.get("BENCH_WS_GC_LOG_FILE"):  # every server process logs its collections (gclog/)
        env = dict(env, PYTHONPATH=f"{HERE / 'gclog'}{os.pathsep}{env.get('PYTHONPATH', '')}")
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, start_new_session=True)
    try:
        wait_http(port)
        yield port, proc.pid
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def gc_summary(path: str, since: float, until: float) -> str:
    """The server's collections between ``since`` and ``until`` (wall clock) from the gclog file."""
    count, seconds, longest = [0, 0, 0], [0.0, 0.0, 0.0], 0.0
    if os.path.exists(path):
        for line in Path(path).read_text().splitlines():
            _pid, at, generation, took, _collected, young, young_s = line.split()
            if since <= float(at) <= until:
                count[int(generation)] += 1
                seconds[int(generation)] += float(took)
                longest = max(longest, float(took))
                count[0] += int(young)
                seconds[0] += float(young_s)
    return (
        f"server gc during the event phase: generation 0/1/2 collections {count[0]}/{count[1]}/{count[2]}, "
        f"{1e3 * seconds[0]:.0f}/{1e3 * seconds[1]:.0f}/{1e3 * seconds[2]:.0f} ms, longest generation 1-2 "
        f"pause {1e3 * longest:.0f} ms"
    )


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def main() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # inherited by server and load processes
    n = int(os.environ.get("BENCH_WS_CONNECTIONS", "10000"))
    shards = int(os.environ.get("BENCH_WS_SHARDS", "2"))
    events = int(os.environ.get("BENCH_WS_EVENTS", "5"))
    gap = float(os.environ.get("BENCH_WS_GAP", "2"))
    workers = int(os.environ.get("BENCH_WORKERS", "2"))
    if n + 200 > hard:
        print(f"open-file limit {hard} is too low for {n} connections; lowering to {hard - 500}")
        n = hard - 500
    deflate = os.environ.get("BENCH_WS_DEFLATE", "0") == "1"
    env = bench_env("agentpay_bench_ws", redis_db=7)
    env["CHANNEL_PREFIX"] = f"benchws{os.getpid()}"
    ensure_database(env)
    org_id, token = manage_shell(env, SEED).split()
    started = time.time()
    ws_impl = os.environ.get("BENCH_WS_IMPL", "websockets-sansio")
    gc_report = ""
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as tmp:  # workers may still log
        gc_log = os.environ.get("BENCH_WS_GC_LOG", "")  # 1 or the file to keep the log in
        if gc_log:
            env = dict(env, BENCH_WS_GC_LOG_FILE=str(Path(tmp) / "gc.log") if gc_log == "1" else gc_log)
        with ws_server(env, workers=workers, ws_impl=ws_impl, deflate=deflate) as (port, pgid):
            url = f"ws://127.0.0.1:{port}/api/v1/stream?token={token}"
            procs, outs = [], []
            for shard in range(shards):
                count = n // shards + (1 if shard < n % shards else 0)
                out = str(Path(tmp) / f"shard{shard}.json")
                outs.append(out)
                args = [
                    url,
                    str(count),
                    str(shard),
                    str(shards),
                    env["REDIS_URL"],
                    env["CHANNEL_PREFIX"],
                    f"org.{org_id}",
                    str(events),
                    str(gap),
                    out,
                ]
                procs.append(
                    subprocess.Popen(
                        [sys.executable, str(HERE / "load.py"), *args],
                        env=env,  # the publisher uses the server's settings (production, same Redis prefix)
                        stdin=subprocess.PIPE,
                        stdout=subprocess.PIPE,
                        text=True,
                    )
                )
            ready = []
            for proc in procs:
                line = proc.stdout.readline() if proc.stdout else ""
                if not line:
                    raise SystemExit("a load process died while connecting")
                ready.append(json.loads(line))
            # What the server spends with every socket open and nothing to send (keepalive pings,
            # the layer's polling), subtracted below so the figure is the fan-out's own.
            idle0, t_idle = sum(group_cpu_seconds(pgid)), time.monotonic()
            time.sleep(IDLE_SAMPLE_S)
            idle_rate = (sum(group_cpu_seconds(pgid)) - idle0) / (time.monotonic() - t_idle)
            perf = perf_start(pgid, os.environ.get("BENCH_WS_PERF", ""))
            (user0, sys0), t_events, wall_events = group_cpu_seconds(pgid), time.monotonic(), time.time()
            for proc in procs:
                assert proc.stdin is not None
                proc.stdin.write("go\n")
                proc.stdin.flush()
            for proc in procs:  # every shard has stopped listening (its sockets still open)
                if not (proc.stdout.readline() if proc.stdout else ""):
                    raise SystemExit("a load process died during the event phase")
            (user1, sys1), t_listened, wall_listened = group_cpu_seconds(pgid), time.monotonic(), time.time()
            if perf is not None:
                perf.send_signal(signal.SIGINT)
                perf.wait(timeout=60)
            server_user, server_sys = user1 - user0, sys1 - sys0
            server_cpu_gross = server_user + server_sys
            server_cpu = max(0.0, server_cpu_gross - idle_rate * (t_listened - t_events))
            for proc in procs:
                assert proc.stdin is not None
                proc.stdin.write("close\n")
                proc.stdin.flush()
            for proc in procs:
                proc.wait(timeout=max(10, DEADLINE_S - (time.time() - started)))
            results = [json.loads(Path(o).read_text()) for o in outs]
            if gc_log:
                gc_report = gc_summary(env["BENCH_WS_GC_LOG_FILE"], wall_events, wall_listened)
    connected = sum(r["connected"] for r in results)
    failed = sum(r["failed"] for r in results)
    published = next(r["sent_at"] for r in results if r["sent_at"])  # the publishing shard's
    lat = [
        1e3 * (at - published[seq])
        for r in results
        for seq, at in zip(r["seq"], r["received_at"], strict=True)
    ]
    expected = connected * events
    ramp = max(r["ramp_s"] for r in results)
    load_cpu = sum(r["cpu_s"] for r in results)
    load_sys = sum(r["sys_s"] for r in results)
    most = max(r["events_per_connection_max"] for r in results)
    least = min(r["events_per_connection_min"] for r in results)
    missing = expected - len(lat)
    problems = [p for r in results for p in r["problems"]]
    print(
        f"websocket: /api/v1/stream, uvicorn x{workers} (--ws {ws_impl}, permessage-deflate "
        f"{'on' if deflate else 'off'}), {env.get('CHANNEL_LAYER', 'pubsub')} Redis channel layer, "
        f"{shards} load processes (deflate negotiated: {any(r['deflate'] for r in results)})"
    )
    print(
        f"connections: {connected} open of {n} requested ({failed} failed), ramp {ramp:.1f} s "
        f"({connected / ramp if ramp else 0:.0f} conn/s)"
    )
    print(
        f"events: {events} broadcasts x {connected} connections = {expected} expected, "
        f"{len(lat)} delivered ({100 * len(lat) / expected if expected else 0:.1f}%)"
    )
    print(
        f"fan-out latency ms: p50 {percentile(lat, 50):.1f}  p95 {percentile(lat, 95):.1f}  "
        f"p99 {percentile(lat, 99):.1f}  max {max(lat) if lat else float('nan'):.1f}"
    )
    by_event: dict[int, list[float]] = {}
    for r in results:
        for seq, at in zip(r["seq"], r["received_at"], strict=True):
            by_event.setdefault(seq, []).append(1e3 * (at - published[seq]))
    print(
        "per event p50/max ms: "
        + ", ".join(f"{percentile(v, 50):.0f}/{max(v):.0f}" for _seq, v in sorted(by_event.items()))
    )
    per = max(len(lat), 1)
    print(
        f"events per connection: min {least}, max {most} (duplicates: {'none' if most <= events else 'YES'}; "
        f"not arrived by the end of the run: {missing}); frame problems: {problems or 'none'}"
    )
    print(
        f"CPU during the event phase: server {server_cpu:.2f} s net of idle ({server_cpu_gross:.2f} s "
        f"gross, idle {idle_rate:.3f} CPU-s/s) = {1e6 * server_cpu / per:.1f} us per delivered frame; "
        f"load processes {load_cpu:.2f} s = {1e6 * load_cpu / per:.1f} us per frame"
    )
    print(
        f"  of which system (kernel) time: server {1e6 * server_sys / per:.1f} us, user "
        f"{1e6 * server_user / per:.1f} us per frame (gross); load processes system "
        f"{1e6 * load_sys / per:.1f} us, user {1e6 * (load_cpu - load_sys) / per:.1f} us per frame; "
        f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    if gc_report:
        print(gc_report)
    ok = connected >= n and len(lat) == expected and percentile(lat, 95) < 100
    print("target 10,000 connections with p95 < 100 ms: " + ("met" if ok and n >= 10000 else "NOT met"))


if __name__ == "__main__":
    main()
