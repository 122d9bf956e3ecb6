from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand

from apps.intent import conf
from apps.intent.corpus import TEST_PATH, corpus_load, evaluate
from apps.intent.metrics import evaluation_record_write


class Command(BaseCommand):
    help = (
        "Evaluate the engine on the held-out test file: per-intent P/R/F1, macro-F1, entities, ECE, latency."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--test", default=str(TEST_PATH))
        parser.add_argument("--detect-language", action="store_true", help="ignore the gold language")
        parser.add_argument("--json", action="store_true")
        parser.add_argument("--errors", type=int, default=0, help="print up to N misclassified lines")
        parser.add_argument(
            "--no-record",
            action="store_true",
            help="don't write the evaluation record beside the model file (written for the default test file)",
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        rows = corpus_load(Path(opts["test"]))
        report = evaluate(rows, use_language=not opts["detect_language"])
        default_run = Path(opts["test"]).resolve() == TEST_PATH.resolve() and not opts["detect_language"]
        if default_run and not opts["no_record"] and conf.model_path().exists():
            evaluation_record_write(conf.model_path(), report)
        if opts["json"]:
            report = {k: v for k, v in report.items() if k != "errors"}
            self.stdout.write(json.dumps(report, indent=2))
            return
        w = self.stdout.write
        w(f"{'intent':<20} {'prec':>6} {'rec':>6} {'f1':>6} {'n':>5}")
        for label, m in report["per_intent"].items():
            w(f"{label:<20} {m['precision']:6.3f} {m['recall']:6.3f} {m['f1']:6.3f} {m['support']:5d}")
        w(f"\nmessages {report['n']}  accuracy {report['accuracy']:.3f}  macro-F1 {report['macro_f1']:.3f}")
        e = report["entities"]
        w(
            f"amount+currency exact {e['amount_currency_exact']:.3f}  date exact {e['date_exact']:.3f} (n={e['date_n']})  "
            f"party exact {e['party_exact']:.3f} (n={e['party_n']})"
        )
        w(f"calibration ECE {report['ece']:.3f}")
        for tier, lat in report["latency_ms"].items():
            count = report["tiers"].get(tier, report["n"])
            w(f"latency {tier:<6} n={count:<5} p50 {lat['p50']:.2f} ms  p95 {lat['p95']:.2f} ms")
        for err in report["errors"][: opts["errors"]]:
            w(json.dumps(err, ensure_ascii=False, default=str))
