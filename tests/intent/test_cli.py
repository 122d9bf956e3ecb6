from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from django.core.management import call_command

from apps.intent.engine import classifier


def _run(stdin: str, *args: str) -> list[dict[str, Any]]:
    out, err = io.StringIO(), io.StringIO()
    call_command("analyze_messages", *args, stdin=io.StringIO(stdin), stdout=out, stderr=err)
    return [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]


def test_analyze_messages_jsonl_with_bad_lines() -> None:
    # given good lines mixed with broken ones
    stdin = "\n".join(
        [
            json.dumps({"id": 1, "text": "te mando 50 conto amanhã", "now": "2026-03-10T12:00:00-03:00"}),
            "{not json",
            json.dumps({"text": ""}),
            json.dumps(["a", "list"]),
            json.dumps({"text": "ok", "now": "someday"}),
            json.dumps({"text": "x" * 100_001}),
            json.dumps({"text": "split $90 3 ways", "language": "en"}),
        ]
    )
    # when run
    rows = _run(stdin)
    # then every line gets an answer, in order, and bad lines say why
    assert (
        rows[0]["id"] == 1
        and rows[0]["intent"] == "payment_promise"
        and rows[0]["dates"][0]["value"] == "2026-03-11"
    )
    assert [r.get("error", {}).get("code") for r in rows[1:6]] == [
        "invalid_json",
        "empty_text",
        "invalid_line",
        "invalid_now",
        "text_too_long",
    ]
    assert [r.get("line") for r in rows[1:6]] == [2, 3, 4, 5, 6]
    assert rows[6]["intent"] == "split_bill"


def test_analyze_messages_organization_currency() -> None:
    rows = _run(json.dumps({"text": "te mando 50 amanhã"}), "--organization-currency", "BRL")
    assert rows[0]["amounts"][0]["currency"] == "BRL"


def test_evaluate_intent_prints_the_report(tmp_path: Path) -> None:
    sample = tmp_path / "t.jsonl"
    lines = [
        {
            "text": "split $90 3 ways",
            "language": "en",
            "intent": "split_bill",
            "amount": "90.00",
            "currency": "USD",
            "date": None,
            "party": None,
        },
        {
            "text": "the movie cost $20 lol",
            "language": "en",
            "intent": "none",
            "amount": "20.00",
            "currency": "USD",
            "date": None,
            "party": None,
        },
        {
            "text": "te pago amanhã",
            "language": "pt",
            "intent": "payment_promise",
            "amount": None,
            "currency": None,
            "date": "2026-03-11",
            "party": None,
            "now": "2026-03-10T12:00:00-03:00",
        },
    ]
    sample.write_text("\n".join(json.dumps(x) for x in lines))
    out = io.StringIO()
    call_command("evaluate_intent", "--test", str(sample), "--json", stdout=out)
    report = json.loads(out.getvalue())
    assert report["n"] == 3 and report["macro_f1"] == 1.0
    assert report["entities"]["amount_currency_exact"] == 1.0 and report["entities"]["date_exact"] == 1.0
    assert 0 <= report["ece"] <= 1
    assert set(report["latency_ms"]) >= {"all", "rules", "model"}
    text = io.StringIO()
    call_command("evaluate_intent", "--test", str(sample), stdout=text)
    assert "macro-F1 1.000" in text.getvalue() and "split_bill" in text.getvalue()


def test_train_intent_writes_a_loadable_model(tmp_path: Path) -> None:
    # given a small corpus (every intent a few times)
    from apps.intent.corpus import TRAIN_PATH, corpus_load

    rows = corpus_load(TRAIN_PATH)
    small = []
    for intent in sorted({r["intent"] for r in rows}):
        small += [r for r in rows if r["intent"] == intent][:12]
    train = tmp_path / "train.jsonl"
    train.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in small))
    out_path = tmp_path / "model.joblib"
    # when trained
    out = io.StringIO()
    call_command("train_intent", "--train", str(train), "--output", str(out_path), stdout=out)
    # then the file loads with its version check and classifies
    model = classifier.model_load(out_path)
    assert model.meta["n_train"] == len(small) and 0.2 <= model.temperature <= 4
    assert model.predict("zamt split 0 ways")[0] in model.labels
    assert "trained on" in out.getvalue()


def test_evaluate_intent_records_the_figures_that_metrics_reports(tmp_path: Path, settings: Any) -> None:
    import shutil
    import struct

    from django.test import Client

    from apps.intent import conf
    from apps.intent.metrics import evaluation_record_path, measured_macro_f1

    # given a copy of the committed model as the model in use
    model = tmp_path / "model.joblib"
    shutil.copy(conf.DATA_DIR / "intent_model.joblib", model)
    settings.INTENT_MODEL_PATH = str(model)
    classifier.model_reset()
    try:
        assert measured_macro_f1() != measured_macro_f1()  # NaN: never evaluated
        # when the held-out evaluation runs
        out = io.StringIO()
        call_command("evaluate_intent", "--json", stdout=out)
        report = json.loads(out.getvalue())
        # then its macro-F1 is kept beside the model and served on /metrics
        record = json.loads(evaluation_record_path(model).read_text())
        assert record["macro_f1"] == round(report["macro_f1"], 4)
        body = Client().get("/metrics").content.decode()
        line = next(x for x in body.splitlines() if x.startswith("intent_classification_accuracy "))
        assert float(line.split()[1]) == record["macro_f1"]
        # and a changed model file no longer claims that figure
        with model.open("ab") as fh:
            fh.write(struct.pack("B", 0))
        assert measured_macro_f1() != measured_macro_f1()
    finally:
        classifier.model_reset()
