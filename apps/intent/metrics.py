"""Metrics the intent app owns.

``intent_classification_accuracy`` is read at scrape time from the evaluation record that
``manage.py evaluate_intent`` writes next to the model file (``intent_model.eval.json``), so every
process serving ``/metrics`` reports the measured macro-F1 of the model it runs — NaN when the
model file changed since it was evaluated.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from prometheus_client import Gauge, Histogram

intent_classification_latency = Histogram(
    "intent_classification_latency_seconds",
    "Time to classify one message, by deciding tier",
    ["tier"],
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.05, 0.1, 0.3, 1, 3),
)
intent_classification_accuracy = Gauge(
    "intent_classification_accuracy",
    "Macro-F1 on the held-out test file of the model file in use (from evaluate_intent's record)",
)

_seen: dict[str, Any] = {}


def evaluation_record_path(model_path: Path) -> Path:
    return model_path.with_name(model_path.stem + ".eval.json")


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def evaluation_record_write(model_path: Path, report: dict[str, Any]) -> Path:
    """Keep evaluate_intent's headline figures beside the model file they were measured on."""
    record = {
        "model_sha256": file_sha256(model_path),
        "macro_f1": round(report["macro_f1"], 4),
        "accuracy": round(report["accuracy"], 4),
        "amount_currency_exact": round(report["entities"]["amount_currency_exact"], 4),
        "n": report["n"],
    }
    path = evaluation_record_path(model_path)
    path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return path


def measured_macro_f1() -> float:
    """The record's macro-F1 if it was measured on the current model file, else NaN."""
    from apps.intent import conf

    model_path = conf.model_path()
    record_path = evaluation_record_path(model_path)
    try:
        stamp = (model_path.stat().st_mtime_ns, record_path.stat().st_mtime_ns)
    except OSError:
        return float("nan")
    if _seen.get("stamp") != stamp:
        try:
            record = json.loads(record_path.read_text(encoding="utf-8"))
            ok = record.get("model_sha256") == file_sha256(model_path)
            _seen["value"] = float(record["macro_f1"]) if ok else float("nan")
        except (OSError, ValueError, KeyError, TypeError):
            _seen["value"] = float("nan")
        _seen["stamp"] = stamp
    return float(_seen["value"])


intent_classification_accuracy.set_function(measured_macro_f1)
