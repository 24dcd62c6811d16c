"""Fast out-of-fold probabilities: a classifier on each image's embedding, per fold.

The learners (logistic regression, k nearest neighbours) are a registry of scikit-learn
factories. Inside each fold the learner's scores are calibrated by temperature scaling: a
temperature is fitted on a held-out quarter of the fold's training groups.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from labelclean.arrays import softmax  # in the logits' dtype: float32 scores stay float32
from labelclean.errors import RegistryError
from labelclean.oof.result import OOFResult, fold_rows, fold_score
from labelclean.progress import ProgressFn, report


def _logreg(seed: int):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(C=0.01, tol=1e-3, max_iter=200,
                                                              random_state=seed))


def _knn(seed: int):
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import Normalizer

    return make_pipeline(Normalizer(), KNeighborsClassifier(n_neighbors=15, weights="distance"))


#: OOF learners on features: name -> factory(seed) of a scikit-learn classifier.
LEARNERS: dict[str, Callable[[int], Any]] = {"logreg": _logreg, "knn": _knn}


def list_learners() -> list[str]:
    """Names of the classifiers fast mode can fit on embeddings."""
    return sorted(LEARNERS)


def make_learner(name: str, seed: int = 0):
    if name not in LEARNERS:
        raise RegistryError("OOF learner", name, list_learners())
    return LEARNERS[name](seed)


# -- temperature calibration --------------------------------------------------------------

def class_logits(model, x: np.ndarray) -> np.ndarray:
    """(n, len(model.classes_)) scores whose softmax is the model's belief."""
    if hasattr(model, "decision_function"):
        scores = model.decision_function(x)
        return np.column_stack([np.zeros(len(x)), scores]) if scores.ndim == 1 else scores
    return np.log(np.clip(model.predict_proba(x), 1e-6, None))


def fit_temperature(logits: np.ndarray, targets: np.ndarray) -> float:
    """The temperature T minimising the log loss of ``softmax(logits / T)`` on ``targets``
    (column positions, -1 for rows whose class the model does not know, ignored)."""
    from scipy.optimize import minimize_scalar

    known = targets >= 0
    if not known.any():
        return 1.0
    logits, targets = logits[known], targets[known]

    def nll(log_t: float) -> float:
        p = softmax(logits, float(np.exp(log_t)))[np.arange(len(targets)), targets]
        return float(-np.log(np.clip(p, 1e-12, None)).mean())

    return float(np.exp(minimize_scalar(nll, bounds=(-4, 4), method="bounded").x))


def _calibrated_fold(x: np.ndarray, y: np.ndarray, groups: np.ndarray, learner: str,
                     calibrate: bool, seed: int):
    """(model fitted on all of x, temperature fitted on a held-out quarter of x's groups)."""
    temperature = 1.0
    if calibrate and len(np.unique(groups)) >= 4:
        import warnings

        from sklearn.model_selection import StratifiedGroupKFold

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            fit, held = next(StratifiedGroupKFold(4, shuffle=True, random_state=seed).split(
                x, y, groups))
        inner = make_learner(learner, seed).fit(x[fit], y[fit])
        position = {c: i for i, c in enumerate(inner.classes_)}
        targets = np.array([position.get(c, -1) for c in y[held]])
        temperature = fit_temperature(class_logits(inner, x[held]), targets)
    return make_learner(learner, seed).fit(x, y), temperature


# -- fast mode --------------------------------------------------------------------------

def _spread(probs: np.ndarray, seen: np.ndarray, n_classes: int) -> np.ndarray:
    """Probabilities over the ``seen`` classes as (n, n_classes), zeros for the unseen."""
    full = np.zeros((len(probs), n_classes))
    full[:, seen] = probs
    return full


def oof_from_features(features: np.ndarray, labels: np.ndarray, groups: np.ndarray,
                      folds: np.ndarray, n_classes: int, *, learner: str, calibrate: bool,
                      seed: int, progress: ProgressFn | None) -> OOFResult:
    """Fit ``learner`` on each fold's other rows of ``features`` (N, D); probabilities of
    the fold's rows (N, ``n_classes``), temperature-calibrated unless ``calibrate`` is off."""
    make_learner(learner)  # unknown names fail before any work
    n_folds = int(folds.max()) + 1
    probs = np.zeros((len(labels), n_classes))
    train_rows, scores = [], []
    for k in range(n_folds):
        start = time.perf_counter()
        train, val = fold_rows(folds, k)
        model, temperature = _calibrated_fold(np.asarray(features[train], dtype=np.float32),
                                              labels[train], groups[train], learner,
                                              calibrate, seed)
        x_val = np.asarray(features[val], dtype=np.float32)
        fold_probs = (softmax(class_logits(model, x_val), temperature) if calibrate
                      else model.predict_proba(x_val))
        probs[val] = _spread(fold_probs, np.asarray(model.classes_), n_classes)
        train_rows.append(train)
        scores.append(fold_score(k, train, val, probs, labels, start))
        report(progress, k + 1, n_folds, f"fold {k + 1}/{n_folds}")
    return OOFResult(probs=probs, folds=folds, train_rows=train_rows, fold_scores=scores,
                     mode="embeddings")
