from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand

from apps.intent import conf
from apps.intent.corpus import TRAIN_PATH, corpus_load, cross_validate, training_inputs
from apps.intent.engine import classifier


class Command(BaseCommand):
    help = "Train the intent classifier on data/train.jsonl and write the model file (INTENT_MODEL_PATH)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--train", default=str(TRAIN_PATH))
        parser.add_argument("--output", default=None)
        parser.add_argument(
            "--cv",
            type=int,
            default=0,
            metavar="K",
            help="only cross-validate: grouped K-fold on the training file through rules + model; writes nothing",
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        rows = corpus_load(Path(opts["train"]))
        if opts["cv"]:
            report = cross_validate(rows, folds=opts["cv"])
            for label, m in report["per_intent"].items():
                self.stdout.write(
                    f"{label:<20} p {m['precision']:.3f}  r {m['recall']:.3f}  f1 {m['f1']:.3f}"
                )
            self.stdout.write(
                f"grouped {report['folds']}-fold CV on {report['n']} lines: accuracy {report['accuracy']:.3f}  "
                f"macro-F1 {report['macro_f1']:.3f}"
            )
            return
        model = classifier.model_train(rows, training_inputs(rows))
        out = Path(opts["output"]) if opts["output"] else conf.model_path()
        classifier.model_save(model, out)
        classifier.model_reset()
        size = out.stat().st_size
        self.stdout.write(
            f"trained on {len(rows)} messages, {len(model.labels)} intents, temperature {model.temperature:.2f}; "
            f"wrote {out} ({size / 1024:.0f} KiB)"
        )
