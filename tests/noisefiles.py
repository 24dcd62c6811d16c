"""Inputs for the noise tests: OOF predictions and duplicate groups made from a demo's truth."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd


def read_truth(demo) -> pd.DataFrame:
    return pd.read_csv(demo.truth, dtype={"image_id": str, "duplicate_of": str},
                       keep_default_na=False)


def synthetic_probs(true: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """(N, K) probabilities that mostly favour ``true`` (N,), like a decent classifier."""
    rng = np.random.default_rng(seed)
    alpha = np.full((len(true), k), 0.3)
    hard = rng.random(len(true)) < 0.1
    alpha[np.arange(len(true)), true] = np.where(hard, 1.0, 8.0)
    draws = rng.gamma(alpha)
    return draws / draws.sum(axis=1, keepdims=True)


def demo_oof(demo, seed: int = 0) -> pd.DataFrame:
    """``image_id, label, fold, 0..9`` for every readable image of a demo (labelclean style)."""
    truth = read_truth(demo)
    truth = truth[~truth["unreadable"].astype(str).str.lower().eq("true")]
    probs = synthetic_probs(truth["true_label"].to_numpy(int), 10, seed)
    oof = pd.DataFrame(probs, columns=[str(c) for c in range(10)])
    oof.insert(0, "image_id", truth["image_id"].to_numpy())
    oof.insert(1, "label", truth["given_label"].to_numpy())
    oof.insert(2, "fold", np.arange(len(truth)) % 5)
    return oof


def truth_duplicates(demo) -> pd.DataFrame:
    """duplicates.csv rows for the injected copies: original kept, copies not."""
    truth = read_truth(demo).set_index("image_id")
    rows = []
    copies = truth[truth["duplicate_of"] != ""]
    for source, group in copies.groupby("duplicate_of"):
        members = [source, *group.index]
        labels = truth.loc[members, "given_label"]
        for i, member in enumerate(members):
            rows.append({"group_id": f"g-{source}", "image_id": member,
                         "label": labels[member], "keep": i == 0, "method": "sha256",
                         "score": 1.0, "label_conflict": labels.nunique() > 1})
    return pd.DataFrame(rows)


def copy_demo(demo, dest: Path) -> tuple[Path, Path]:
    """A writable copy of the demo's labels file; returns (images folder, labels file)."""
    dest.mkdir(parents=True, exist_ok=True)
    labels = dest / "labels.csv"
    shutil.copy(demo.labels, labels)
    return demo.images, labels
