"""The statistical tier: TF-IDF (char + word n-grams) + logistic regression, temperature-calibrated.

Trained by ``manage.py train_intent`` from data/train.jsonl; the fitted model is a committed joblib
file loaded once per process (lazy singleton) after a format/version check.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import structlog

logger = structlog.get_logger(__name__)

MODEL_FORMAT = 2


class ModelUnavailable(Exception):
    """No usable model file (missing, or written by an incompatible format/library)."""


@dataclass
class IntentModel:
    vectorizer: Any  # sklearn FeatureUnion
    classifier: Any  # LogisticRegression
    labels: list[str]
    temperature: float
    meta: dict[str, Any]

    _fast: list[tuple[Any, dict[str, int], np.ndarray, int]] | None = None

    def _fast_parts(self) -> list[tuple[Any, dict[str, int], np.ndarray, int]]:
        """(analyzer, vocabulary, idf, column offset) per TF-IDF block, for the one-message fast path."""
        if self._fast is None:
            parts, offset = [], 0
            for _, vec in self.vectorizer.transformer_list:
                parts.append((_fast_analyzer(vec), vec.vocabulary_, vec.idf_, offset))
                offset += len(vec.vocabulary_)
            self._fast = parts
        return self._fast

    def logits_fast(self, text: str) -> np.ndarray:
        """Same numbers as the sklearn path (sublinear TF × IDF, L2 per block, linear layer) without
        sklearn's per-call validation, which costs milliseconds for a single message."""
        cols: list[np.ndarray] = []
        vals: list[np.ndarray] = []
        for analyzer, vocab, idf, offset in self._fast_parts():
            counts = Counter(analyzer(text))
            # the dict-view intersection runs in C; only the grams the vocabulary knows are looked up
            hits = [(vocab[gram], counts[gram]) for gram in counts.keys() & vocab.keys()]
            if not hits:
                continue
            pairs = np.array(hits, dtype=np.int64)
            pairs = pairs[pairs[:, 0].argsort()]  # column order: the same sums in every process
            idx = pairs[:, 0]
            w = (1.0 + np.log(pairs[:, 1])) * idf[idx]
            norm = float(np.sqrt((w * w).sum())) or 1.0
            cols.append(idx + offset)
            vals.append(w / norm)
        logits: np.ndarray = self.classifier.intercept_.copy()
        if cols:
            logits = logits + self.classifier.coef_[:, np.concatenate(cols)] @ np.concatenate(vals)
        return logits

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        if len(texts) == 1:
            raw = self.logits_fast(texts[0])[None, :]
        else:
            raw = self.classifier.decision_function(self.vectorizer.transform(texts))
        logits = raw / self.temperature
        logits = logits - logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        probs: np.ndarray = exp / exp.sum(axis=1, keepdims=True)
        return probs

    def predict(self, prepared: str) -> tuple[str, float, dict[str, float]]:
        """``prepared``: the output of pipeline.classifier_input (entities masked, normalised)."""
        probs = self.predict_proba([prepared])[0]
        best = int(probs.argmax())
        return (
            self.labels[best],
            float(probs[best]),
            {label: float(p) for label, p in zip(self.labels, probs, strict=True)},
        )


def _char_wb_ngrams(text: str, min_n: int, max_n: int) -> list[str]:
    """scikit-learn's ``char_wb`` n-grams (``_VectorizerMixin._char_wb_ngrams``), same list, less Python."""
    grams: list[str] = []
    extend = grams.extend
    for word in text.split():
        padded = f" {word} "
        size = len(padded)
        for n in range(min_n, max_n + 1):
            if size <= n:  # a short word counts once, then no longer n-grams
                grams.append(padded)
                break
            extend([padded[i : i + n] for i in range(size - n + 1)])
    return grams


_WHITE_SPACES = re.compile(r"\s\s+")


def _fast_analyzer(vec: Any) -> Any:
    """The vectorizer's analyzer; for plain lowercase ``char_wb`` a faster equivalent."""
    if vec.analyzer == "char_wb" and vec.lowercase and vec.strip_accents is None and vec.preprocessor is None:
        min_n, max_n = vec.ngram_range

        def analyze(text: str) -> list[str]:
            return _char_wb_ngrams(_WHITE_SPACES.sub(" ", text.lower()), min_n, max_n)

        return analyze
    return vec.build_analyzer()


def _build() -> tuple[Any, Any]:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import FeatureUnion

    vectorizer = FeatureUnion(
        [
            (
                "char",
                TfidfVectorizer(
                    analyzer="char_wb", ngram_range=(2, 4), min_df=2, sublinear_tf=True, max_features=30000
                ),
            ),
            (
                "word",
                TfidfVectorizer(
                    analyzer="word",
                    ngram_range=(1, 2),
                    min_df=1,
                    sublinear_tf=True,
                    token_pattern=r"(?u)\b\w+\b|[$€£?]",  # noqa: S106
                    max_features=15000,
                ),
            ),
        ]
    )
    # Balanced class weights: "none" and the requests/offers are over-represented in the corpus, and the
    # rarer short intents (confirm/decline) should not be drowned out (chosen by grouped CV on train.jsonl).
    classifier = LogisticRegression(C=20.0, max_iter=3000, class_weight="balanced")
    return vectorizer, classifier


def _fit_temperature(logits: np.ndarray, y: np.ndarray) -> float:
    """One scalar T minimising held-out log-loss (Guo et al. 2017, temperature scaling)."""
    best_t, best_loss = 1.0, float("inf")
    for t in np.concatenate([np.linspace(0.2, 1.0, 17), np.linspace(1.1, 4.0, 30)]):
        z = logits / t
        z = z - z.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        loss = -float(logp[np.arange(len(y)), y].mean())
        if loss < best_loss:
            best_t, best_loss = float(t), loss
    return best_t


def model_train(
    rows: list[dict[str, Any]], texts: list[str], *, seed: int = 0, calibration_folds: int = 5
) -> IntentModel:
    """Fit on ``texts`` (classifier inputs prepared from ``rows``) with labels ``rows[i]["intent"]``."""
    import sklearn
    from sklearn.model_selection import StratifiedKFold

    labels = sorted({r["intent"] for r in rows})
    y = np.array([labels.index(r["intent"]) for r in rows])
    # Out-of-fold logits calibrate the temperature on text the fold's model never saw.
    oof = np.zeros((len(rows), len(labels)))
    for train_idx, val_idx in StratifiedKFold(
        n_splits=calibration_folds, shuffle=True, random_state=seed
    ).split(texts, y):
        vec, clf = _build()
        clf.fit(vec.fit_transform([texts[i] for i in train_idx]), y[train_idx])
        oof[val_idx] = clf.decision_function(vec.transform([texts[i] for i in val_idx]))
    temperature = _fit_temperature(oof, y)
    vectorizer, classifier = _build()
    classifier.fit(vectorizer.fit_transform(texts), y)
    digest = hashlib.sha256("\n".join(json.dumps(r, sort_keys=True) for r in rows).encode()).hexdigest()[:16]
    meta = {
        "format": MODEL_FORMAT,
        "sklearn": sklearn.__version__,
        "n_train": len(rows),
        "corpus_sha": digest,
    }
    return IntentModel(
        vectorizer=vectorizer, classifier=classifier, labels=labels, temperature=temperature, meta=meta
    )


def model_save(model: IntentModel, path: Path) -> None:
    import joblib

    path.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(
        {
            "meta": model.meta,
            "vectorizer": model.vectorizer,
            "classifier": model.classifier,
            "labels": model.labels,
            "temperature": model.temperature,
        },
        path,
        compress=3,
    )


def model_load(path: Path) -> IntentModel:
    import joblib
    import sklearn

    if not path.exists():
        raise ModelUnavailable(f"no model file at {path}; run manage.py train_intent")
    try:
        blob = joblib.load(path)
    except Exception as exc:  # a truncated/corrupt file must not take the engine down
        raise ModelUnavailable(f"cannot read {path}: {exc}") from exc
    meta = blob.get("meta", {}) if isinstance(blob, dict) else {}
    if meta.get("format") != MODEL_FORMAT:
        raise ModelUnavailable(
            f"model format {meta.get('format')} != {MODEL_FORMAT}; retrain with manage.py train_intent"
        )
    if meta.get("sklearn", "").split(".")[:2] != sklearn.__version__.split(".")[:2]:
        raise ModelUnavailable(
            f"model built with scikit-learn {meta.get('sklearn')}, running {sklearn.__version__}; retrain"
        )
    return IntentModel(
        vectorizer=blob["vectorizer"],
        classifier=blob["classifier"],
        labels=list(blob["labels"]),
        temperature=float(blob["temperature"]),
        meta=meta,
    )


_lock = threading.Lock()
_model: IntentModel | None = None
_model_error: str | None = None
_loaded = False


def model_get() -> IntentModel | None:
    """The process-wide model (loaded on first use); None when unusable (the rules tier still answers)."""
    global _model, _model_error, _loaded
    if _loaded:
        return _model
    with _lock:
        if not _loaded:
            from apps.intent import conf

            try:
                _model = model_load(conf.model_path())
            except ModelUnavailable as exc:
                _model, _model_error = None, str(exc)
                logger.warning("intent_model_unavailable", error=str(exc))
            _loaded = True
    return _model


def model_reset(model: IntentModel | None = None) -> None:
    """Forget the loaded model (tests, after training); pass one to install it directly."""
    global _model, _loaded, _model_error
    with _lock:
        _model, _model_error = model, None
        _loaded = model is not None
