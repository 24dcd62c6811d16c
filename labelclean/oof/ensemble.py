"""Combining several aligned OOF probability arrays into one (a Kaggle-style blend).

``mean`` averages; ``weighted`` fits weights on the OOF log-loss; ``accuracy`` then tunes them
on the OOF accuracy (:func:`combine_oof`).
"""

from __future__ import annotations

import numpy as np

from labelclean.errors import RegistryError

ENSEMBLES = ("mean", "weighted", "accuracy")


def list_ensembles() -> list[str]:
    """Ways of combining several OOF files."""
    return list(ENSEMBLES)


def combine_oof(probs: list[np.ndarray], labels: np.ndarray | None = None,
                method: str = "mean") -> tuple[np.ndarray, list[float]]:
    """Combine aligned (N, K) probability arrays into one; returns (probs, weights).

    ``mean`` averages them; ``weighted`` fits non-negative weights summing to 1 that
    minimise the log-loss of the blend against ``labels`` (N,) class indices, on the rows
    that every file predicts; ``accuracy`` picks the weights (on a 0.05 grid) with the
    blend's highest accuracy against ``labels`` (ties: lower log-loss), as Kaggle ensembles
    are tuned. NaN rows stay NaN.
    """
    if method not in ENSEMBLES:
        raise RegistryError("`ensemble` method", method, list_ensembles())
    if len(probs) == 1:
        return probs[0], [1.0]
    weights = np.full(len(probs), 1 / len(probs))
    if method in ("weighted", "accuracy"):
        if labels is None:
            raise ValueError("fitted ensembles need labels")
        weights = fit_weights(probs, labels)
        if method == "accuracy":
            weights = fit_accuracy_weights(probs, labels, weights)
    blend = sum(w * p for w, p in zip(weights, probs))
    return blend, [float(w) for w in weights]


def fit_weights(probs: list[np.ndarray], labels: np.ndarray) -> np.ndarray:
    """Blend weights (M,) minimising log-loss of the labels (rows with NaN are skipped)."""
    from scipy.optimize import minimize

    rows = np.isfinite(np.stack([p[:, 0] for p in probs])).all(axis=0)
    picked = np.stack([p[rows, labels[rows]] for p in probs], axis=1)  # (n, M)

    def loss(theta: np.ndarray) -> float:
        w = np.exp(theta - theta.max())
        w /= w.sum()
        return float(-np.log(np.clip(picked @ w, 1e-12, None)).mean())

    best = minimize(loss, np.zeros(len(probs)), method="Nelder-Mead",
                    options={"xatol": 1e-4, "fatol": 1e-7, "maxiter": 400 * len(probs)})
    w = np.exp(best.x - best.x.max())
    return w / w.sum()


def fit_accuracy_weights(probs: list[np.ndarray], labels: np.ndarray, start: np.ndarray,
                         step: float = 0.05, grid_files: int = 4) -> np.ndarray:
    """Blend weights (M,) with the highest accuracy of the labels (ties: lower log-loss).

    Accuracy is a step function of the weights with wide plateaus, so for up to
    ``grid_files`` files every blend on a ``step`` grid of the simplex is tried (1,771 for
    four files), plus ``start``; beyond that, weight moves ``step`` at a time between files
    from ``start`` while that helps. Rows with NaN are skipped.
    """
    from itertools import combinations

    rows = np.isfinite(np.stack([p[:, 0] for p in probs])).all(axis=0)
    stacked = np.stack([p[rows] for p in probs])  # (M, n, K)
    y = labels[rows]
    m, units = len(probs), round(1 / step)

    def score(w: np.ndarray) -> tuple[float, float]:
        blend = np.tensordot(w, stacked, axes=1)
        accuracy = float((blend.argmax(axis=1) == y).mean())
        loss = float(-np.log(np.clip(blend[np.arange(len(y)), y], 1e-12, None)).mean())
        return accuracy, -loss

    best_w = np.asarray(start, dtype=np.float64)
    best = score(best_w)
    if m <= grid_files:  # compositions of `units` into m parts (stars and bars)
        for bars in combinations(range(units + m - 1), m - 1):
            cuts = np.diff(np.array([-1, *bars, units + m - 1])) - 1
            w = cuts / units
            trial = score(w)
            if trial > best:
                best, best_w = trial, w
        return best_w
    w = best_w.copy()
    while True:
        moves = [(a, b) for a in range(m) for b in range(m) if a != b and w[b] > 0]
        tried = []
        for a, b in moves:
            trial = w.copy()
            moved = min(step, trial[b])
            trial[a], trial[b] = trial[a] + moved, trial[b] - moved
            tried.append((score(trial), trial))
        top = max(tried, key=lambda t: t[0], default=None)
        if top is None or top[0] <= best:
            return w / w.sum()
        best, w = top
