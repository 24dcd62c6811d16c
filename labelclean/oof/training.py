"""Full-mode out-of-fold probabilities: k-fold training of an image classifier.

Each fold trains a fresh model (:func:`labelclean.train.loop.train_fold`) on the other
folds and predicts its own rows. A finished fold is saved as ``fold<k>.pt`` (its
probabilities, rows and weights) under a key of everything that decides it (settings, seed,
classes, data, labels, folds), so an interrupted run resumes at the fold it stopped.
"""

from __future__ import annotations

import hashlib
import io
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from labelclean.io.workdir import atomic_path, fingerprint
from labelclean.oof.result import OOFResult, fold_rows, fold_score
from labelclean.progress import ProgressFn, report


def _array_key(*arrays: np.ndarray) -> str:
    digest = hashlib.sha256()
    for a in arrays:
        digest.update(np.ascontiguousarray(a).tobytes())
    return digest.hexdigest()[:16]


def _load_checkpoint(path: Path, key: str) -> dict | None:
    import torch

    if not path.exists():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception:  # a torn or foreign file: train the fold again
        return None
    return state if state.get("run_key") == key else None


def _save_checkpoint(path: Path, saved: dict) -> None:
    import torch

    buffer = io.BytesIO()  # torch.save meeting a full disk raises a RuntimeError: write here
    torch.save(saved, buffer)
    with atomic_path(path, now=True) as tmp:  # a resume point: kept even if the stage fails
        tmp.write_bytes(buffer.getbuffer())


class _EpochProgress:
    """``progress(done, total, description)`` counted in optimiser steps over all folds."""

    def __init__(self, folds: np.ndarray, config, progress: ProgressFn | None) -> None:
        self.n_folds, self.epochs, self.progress = int(folds.max()) + 1, config.epochs, progress
        self.per_epoch = [-(-int((folds != k).sum()) // config.batch_size)
                          for k in range(self.n_folds)]
        self.total = sum(self.per_epoch) * config.epochs
        self.done = 0

    def step(self, k: int):
        """The ``step(epoch, epochs)`` callback of fold ``k``'s training."""
        def step(epoch: int, epochs: int) -> None:
            self.done += 1
            report(self.progress, self.done, self.total,
                   f"fold {k + 1}/{self.n_folds} epoch {epoch + 1}/{epochs}")

        return step

    def resumed(self, k: int) -> None:
        self.done += self.per_epoch[k] * self.epochs
        report(self.progress, self.done, self.total, f"fold {k + 1}/{self.n_folds} (checkpoint)")


def _train_and_predict(images, labels: np.ndarray, train: np.ndarray, val: np.ndarray, k: int,
                       n_classes: int, config, seed: int, run_key: str, step) -> dict:
    """Fold ``k`` trained and its validation rows predicted, as a checkpoint dict."""
    from labelclean.train.loop import LossDiverged, predict_probs, train_fold

    try:
        net = train_fold(images, labels, train, n_classes, config, seed=seed * 1000 + k,
                         step=step)
    except LossDiverged as exc:
        raise exc.at(f"fold {k + 1}, ") from None
    from labelclean.oof.features import pooled_features

    with pooled_features(net) as seen:  # the pooled features, from the same forward passes
        fold_probs = predict_probs(net, images, val, config)
    features = seen.features(len(val))
    return {"run_key": run_key, "fold": k, "train_rows": train, "val_rows": val,
            "val_probs": fold_probs, "config": asdict(config),
            "val_features": None if features is None else features.astype(np.float16),
            "state_dict": {n: t.cpu() for n, t in net.state_dict().items()}}


def oof_from_training(images, labels: np.ndarray, folds: np.ndarray, n_classes: int, config,
                      *, seed: int, checkpoint_dir: str | Path | None, data_key: str,
                      progress: ProgressFn | None) -> OOFResult:
    """Train one model per fold of ``images`` (a :meth:`TrainConfig.resolved` ``config``);
    each predicts its fold's rows. Folds with a matching checkpoint in ``checkpoint_dir``
    are loaded instead of trained."""
    run_key = fingerprint(asdict(config), seed, n_classes, data_key, _array_key(labels, folds))
    ckpt_dir = Path(checkpoint_dir) if checkpoint_dir is not None else None
    ticker = _EpochProgress(folds, config, progress)
    probs = np.zeros((len(labels), n_classes))
    train_rows, scores, features = [], [], _FoldFeatures(len(labels))
    for k in range(ticker.n_folds):
        start = time.perf_counter()
        train, val = fold_rows(folds, k)
        path = ckpt_dir / f"fold{k}.pt" if ckpt_dir is not None else None
        saved = _load_checkpoint(path, run_key) if path is not None else None
        resumed = saved is not None
        if saved is None:
            saved = _train_and_predict(images, labels, train, val, k, n_classes, config, seed,
                                       run_key, ticker.step(k))
            if path is not None:
                _save_checkpoint(path, saved)
        else:
            ticker.resumed(k)
        probs[val] = saved["val_probs"]
        features.add(val, saved.get("val_features"))
        train_rows.append(np.asarray(saved["train_rows"]))
        scores.append(fold_score(k, train, val, probs, labels, start, resumed=resumed))
    return OOFResult(probs=probs, folds=folds, train_rows=train_rows, fold_scores=scores,
                     mode="train", features=features.array)


class _FoldFeatures:
    """Every fold's out-of-fold pooled features in one (N, D) array (None as soon as a
    fold has none, e.g. a checkpoint from before they were kept)."""

    def __init__(self, n: int) -> None:
        self.n, self.array, self.missing = n, None, False

    def add(self, rows: np.ndarray, fold_features: np.ndarray | None) -> None:
        if fold_features is None or self.missing:
            self.missing, self.array = True, None
            return
        if self.array is None:
            self.array = np.zeros((self.n, fold_features.shape[1]), dtype=np.float32)
        self.array[rows] = fold_features
