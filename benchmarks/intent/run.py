"""Intent engine benchmark: the non-LLM path (entities + rules + model) in one process.

Feeds the corpus messages (test + train, cycled) through ``message_analyze`` and prints throughput
and p50/p95/p99 latency per message, wall clock and CPU time (the machine may be shared, so CPU time
shows what the engine itself costs). Targets: p95 <= 2 ms, >= 1,000 messages/s on one core.
Second pass: the same with the cache on and every message already cached (local memory cache).

Env: BENCH_MESSAGES (default 5000).
"""

from __future__ import annotations

import gc
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "agentpay.settings.test")
os.environ["INTENT_LLM_BASE_URL"] = ""
os.environ["INTENT_CACHE_ENABLED"] = "0"
os.environ.pop("REDIS_URL", None)


def _pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q / 100 * len(s) + 0.5) - 1))]


def _run(
    texts: list[tuple[str, str | None]], analyze: object
) -> tuple[float, list[float], list[float], dict[str, int]]:
    walls: list[float] = []
    cpus: list[float] = []
    tiers: dict[str, int] = {}
    started = time.perf_counter()
    for text, lang in texts:
        w0, c0 = time.perf_counter(), time.process_time()
        result = analyze(text, language=lang)  # type: ignore[operator]
        cpus.append((time.process_time() - c0) * 1000)
        walls.append((time.perf_counter() - w0) * 1000)
        tiers[result.tier] = tiers.get(result.tier, 0) + 1
    return time.perf_counter() - started, walls, cpus, tiers


def _print(label: str, total: float, walls: list[float], cpus: list[float], tiers: dict[str, int]) -> None:
    n = len(walls)
    print(f"{label}: {n} messages in {total:.2f} s = {n / total:,.0f} msg/s  (tiers {tiers})")
    print(
        f"  wall ms  p50 {_pct(walls, 50):.3f}  p95 {_pct(walls, 95):.3f}  p99 {_pct(walls, 99):.3f}  max {max(walls):.3f}"
    )
    print(f"  cpu  ms  p50 {_pct(cpus, 50):.3f}  p95 {_pct(cpus, 95):.3f}  p99 {_pct(cpus, 99):.3f}")


def main() -> None:
    import django

    django.setup()
    from apps.intent.corpus import TEST_PATH, TRAIN_PATH, corpus_load
    from apps.intent.engine import classifier, rules
    from apps.intent.services import message_analyze

    n = int(os.environ.get("BENCH_MESSAGES", "5000"))
    rows = corpus_load(TEST_PATH) + corpus_load(TRAIN_PATH)
    # Half the messages without a language, so detection is part of the measured path.
    texts = [(r["text"], r["language"] if i % 2 else None) for i, r in enumerate(rows)]
    texts = (texts * (n // len(texts) + 1))[:n]

    t0 = time.perf_counter()
    classifier.model_get()
    rules.rules_warm()
    print(f"warm-up (model load + spaCy blank pipelines): {(time.perf_counter() - t0) * 1000:.0f} ms")
    for text, lang in texts[:300]:
        message_analyze(text, language=lang)
    gc.collect()
    gc.freeze()

    total, walls, cpus, tiers = _run(texts, message_analyze)
    _print("non-LLM path, cache off", total, walls, cpus, tiers)
    ok = _pct(walls, 95) <= 2.0 and n / total >= 1000
    print(f"  target p95 <= 2 ms and >= 1,000 msg/s: {'met' if ok else 'NOT met'} (wall clock)")

    os.environ["INTENT_CACHE_ENABLED"] = "1"
    from django.core.cache import caches

    # The test settings' local memory cache keeps 300 entries; the corpus has more distinct texts.
    caches["default"]._max_entries = 1_000_000  # type: ignore[attr-defined]
    for text, lang in texts:
        message_analyze(text, language=lang)
    total, walls, cpus, tiers = _run(texts, message_analyze)
    _print("cache on, all hits (local memory cache)", total, walls, cpus, tiers)


if __name__ == "__main__":
    main()
