"""The labelled corpus (data/train.jsonl, data/test.jsonl): loading, training inputs and evaluation."""

from __future__ import annotations

import json
import math
import time
from collections import Counter, defaultdict
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from apps.intent.conf import DATA_DIR
from apps.intent.engine import pipeline
from apps.intent.registry import INTENT_NAMES

TRAIN_PATH = DATA_DIR / "train.jsonl"
TEST_PATH = DATA_DIR / "test.jsonl"


def corpus_load(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _row_now(row: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(row.get("now") or "2026-03-10T12:00:00-03:00")


def training_inputs(rows: list[dict[str, Any]]) -> list[str]:
    """What the classifier sees for each row: the same masking the live pipeline applies."""
    out = []
    for r in rows:
        lang = pipeline.language_resolve(r["text"], r.get("language"))
        entities = pipeline.entities_extract(
            r["text"], language=lang, now=_row_now(r), context=None, organization_currency=None
        )
        out.append(pipeline.classifier_input(r["text"], entities))
    return out


def _primary_party(result: Any) -> str | None:
    for p in result.parties:
        if p.kind != "pronoun":
            return str(p.value)
    return None


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    s = sorted(values)
    k = max(0, min(len(s) - 1, math.ceil(q / 100 * len(s)) - 1))
    return s[k]


def evaluate(rows: list[dict[str, Any]], *, use_language: bool = True) -> dict[str, Any]:
    """Intent P/R/F1, macro-F1, entity exact match, ECE and latency per tier over ``rows``."""
    y_true, y_pred, confs = [], [], []
    latency: dict[str, list[float]] = defaultdict(list)
    amount_ok = date_ok = party_ok = 0
    amount_n = date_n = party_n = 0
    errors = []
    for r in rows:
        started = time.perf_counter()
        res = pipeline.analyze(
            r["text"], language=r.get("language") if use_language else None, now=_row_now(r), use_cache=False
        )
        latency[res.tier].append((time.perf_counter() - started) * 1000)
        latency["all"].append((time.perf_counter() - started) * 1000)
        y_true.append(r["intent"])
        y_pred.append(res.intent)
        confs.append(res.confidence)
        a = res.amount
        pred_amount = (f"{a.value:.2f}", a.currency) if a else (None, None)
        gold_amount = (r.get("amount"), r.get("currency"))
        amount_n += 1
        amount_ok += pred_amount == gold_amount
        if r.get("date") or res.dates:
            date_n += 1
            date_ok += (res.dates[0].value[:10] if res.dates else None) == r.get("date")
        if r.get("party") or _primary_party(res):
            party_n += 1
            party_ok += _primary_party(res) == r.get("party")
        if res.intent != r["intent"] or pred_amount != gold_amount:
            errors.append(
                {
                    "text": r["text"],
                    "gold": r["intent"],
                    "pred": res.intent,
                    "tier": res.tier,
                    "gold_amount": gold_amount,
                    "pred_amount": pred_amount,
                }
            )
    per_intent = _per_intent(y_true, y_pred)
    supported = [v["f1"] for v in per_intent.values() if v["support"]]
    correct = [t == p for t, p in zip(y_true, y_pred, strict=True)]
    return {
        "n": len(rows),
        "accuracy": sum(correct) / len(rows) if rows else 0.0,
        "macro_f1": sum(supported) / len(supported) if supported else 0.0,
        "per_intent": per_intent,
        "entities": {
            "amount_currency_exact": amount_ok / amount_n if amount_n else 1.0,
            "date_exact": date_ok / date_n if date_n else 1.0,
            "date_n": date_n,
            "party_exact": party_ok / party_n if party_n else 1.0,
            "party_n": party_n,
        },
        "ece": expected_calibration_error(confs, correct),
        "tiers": dict(
            Counter(t for t in latency if t != "all")
            and {t: len(v) for t, v in latency.items() if t != "all"}
        ),
        "latency_ms": {t: {"p50": _percentile(v, 50), "p95": _percentile(v, 95)} for t, v in latency.items()},
        "errors": errors,
    }


def cross_validate(rows: list[dict[str, Any]], *, folds: int = 5, seed: int = 0) -> dict[str, Any]:
    """Grouped k-fold on the training corpus: lines of one template are held out together, and each
    fold's model is evaluated through the whole pipeline (rules + model), so choices about the model or
    the rules are made on train.jsonl alone and never on the held-out test file."""
    from sklearn.model_selection import GroupKFold

    from apps.intent.engine import classifier

    groups = [r.get("group") or r["text"] for r in rows]
    inputs = training_inputs(rows)
    y_true: list[str] = []
    y_pred: list[str] = []
    installed = classifier.model_get()
    try:
        for train_idx, val_idx in GroupKFold(n_splits=folds).split(rows, groups=groups):
            fold_model = classifier.model_train(
                [rows[i] for i in train_idx], [inputs[i] for i in train_idx], seed=seed
            )
            classifier.model_reset(fold_model)
            for i in val_idx:
                r = rows[i]
                res = pipeline.analyze(
                    r["text"], language=r.get("language"), now=_row_now(r), use_cache=False
                )
                y_true.append(r["intent"])
                y_pred.append(res.intent)
    finally:
        classifier.model_reset(installed)
    per_intent = _per_intent(y_true, y_pred)
    supported = [v["f1"] for v in per_intent.values() if v["support"]]
    return {
        "n": len(rows),
        "folds": folds,
        "accuracy": sum(t == p for t, p in zip(y_true, y_pred, strict=True)) / len(rows) if rows else 0.0,
        "macro_f1": sum(supported) / len(supported) if supported else 0.0,
        "per_intent": per_intent,
    }


def _per_intent(y_true: list[str], y_pred: list[str]) -> dict[str, dict[str, float]]:
    per_intent = {}
    for label in INTENT_NAMES:
        tp = sum(1 for t, p in zip(y_true, y_pred, strict=True) if t == p == label)
        fp = sum(1 for t, p in zip(y_true, y_pred, strict=True) if p == label and t != label)
        fn = sum(1 for t, p in zip(y_true, y_pred, strict=True) if t == label and p != label)
        prec = tp / (tp + fp) if tp + fp else 0.0
        rec = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
        per_intent[label] = {"precision": prec, "recall": rec, "f1": f1, "support": tp + fn}
    return per_intent


def expected_calibration_error(confidences: list[float], correct: list[bool], bins: int = 10) -> float:
    """ECE with equal-width bins: Σ |accuracy − mean confidence| weighted by bin size."""
    if not confidences:
        return 0.0
    total = 0.0
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        idx = [i for i, c in enumerate(confidences) if (lo < c <= hi) or (b == 0 and c == 0)]
        if not idx:
            continue
        acc = sum(correct[i] for i in idx) / len(idx)
        conf = sum(confidences[i] for i in idx) / len(idx)
        total += len(idx) / len(confidences) * abs(acc - conf)
    return total


def decimal_or_none(v: Any) -> Decimal | None:
    return Decimal(v) if v is not None else None
