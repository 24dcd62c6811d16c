"""What an out-of-fold computation hands back, and the score kept for each fold."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class OOFResult:
    """Out-of-fold probabilities and how they were made.

    ``probs`` (N, K): row i comes from the model of fold ``folds[i]``, trained on
    ``train_rows[folds[i]]``, which never holds i. ``fold_scores``: one dict per fold
    (``fold, n_train, n_val, val_accuracy, seconds, resumed``); accuracy is against the
    given (possibly wrong) labels. ``seconds``: the wall time of the oof stage's compute
    step (NaN outside the stage).
    """

    probs: np.ndarray
    folds: np.ndarray
    train_rows: list[np.ndarray]
    fold_scores: list[dict[str, Any]] = field(default_factory=list)
    mode: str = "embeddings"
    seconds: float = float("nan")

    @property
    def accuracy(self) -> float:
        """Agreement of the OOF argmax with the given labels (set by the caller's labels)."""
        return float(np.mean([s["val_accuracy"] for s in self.fold_scores])) if (
            self.fold_scores) else float("nan")


def fold_rows(folds: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(training rows, validation rows) of fold ``k``."""
    return np.flatnonzero(folds != k), np.flatnonzero(folds == k)


def fold_score(k: int, train: np.ndarray, val: np.ndarray, probs: np.ndarray,
               labels: np.ndarray, start: float, resumed: bool = False) -> dict[str, Any]:
    """Fold ``k``'s entry of :attr:`OOFResult.fold_scores` (``start``: its perf_counter)."""
    correct = probs[val].argmax(axis=1) == labels[val]
    return {"fold": k, "n_train": int(len(train)), "n_val": int(len(val)),
            "val_accuracy": float(correct.mean()) if len(val) else float("nan"),
            "seconds": round(time.perf_counter() - start, 3), "resumed": resumed}
