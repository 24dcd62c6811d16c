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
    #: (N, D) pooled features of the fold models (``mode`` "train"), each row from the
    #: model of its own fold; None otherwise
    features: np.ndarray | None = None

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


#: Agreement with the given labels must beat chance by this many standard errors (and by 2
#: points) or the predictions are called chance-level.
CHANCE_MARGIN = 3.0


def chance_level(agreement: float, label_counts: np.ndarray) -> float | None:
    """The chance agreement ``agreement`` does not clearly beat, or None when it does.

    ``label_counts`` (K,) images per class (zeros allowed). Chance is what always
    answering the most common class scores, at least 1/K; "clearly" means by
    :data:`CHANCE_MARGIN` standard errors of a proportion over the images, and at least 2
    points. None too for fewer than 2 classes or no images.
    """
    counts = np.asarray(label_counts, dtype=float)
    n, k = counts.sum(), len(counts)
    if n <= 0 or k < 2 or not np.isfinite(agreement):
        return None
    chance = max(counts.max() / n, 1.0 / k)
    margin = max(0.02, CHANCE_MARGIN * float(np.sqrt(chance * (1 - chance) / n)))
    return float(chance) if agreement <= chance + margin else None


def chance_text(agreement: float, chance: float, n_images: int) -> str:
    """The start of a chance-level warning (:func:`chance_level`)."""
    def pct(x: float) -> str:
        return f"{x:.1%}" if x == 0 or x >= 0.001 else f"{x:.3%}"

    return (f"the out-of-fold predictions agree with the given labels on {pct(agreement)} "
            f"of {n_images:,} images, not clearly more than chance ({pct(chance)}: always "
            "answering the most common class): they say nothing about which labels are wrong")
