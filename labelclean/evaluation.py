"""Scoring a work directory against known truth (the demo's ``truth.csv``).

``truth.csv`` columns: ``image_id, true_label, given_label, label_noise, duplicate_of,
duplicate_kind, unreadable``. Every score is in [0, 1], higher is better.
"""

from __future__ import annotations

from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd

from .workdir import DUPLICATES, INDEX, MANIFEST


def precision_recall_f1(predicted: np.ndarray, actual: np.ndarray) -> dict[str, float]:
    """Precision, recall and F1 of boolean ``predicted`` against boolean ``actual`` (N,)."""
    predicted, actual = np.asarray(predicted, bool), np.asarray(actual, bool)
    hits = int((predicted & actual).sum())
    precision = hits / max(int(predicted.sum()), 1)
    recall = hits / max(int(actual.sum()), 1)
    f1 = 2 * precision * recall / max(precision + recall, 1e-12)
    return {"precision": precision, "recall": recall, "f1": f1}


def score_unreadable(workdir: Path, truth: pd.DataFrame) -> dict[str, float]:
    path = Path(workdir) / INDEX
    if not path.exists():
        return {}
    index = pd.read_csv(path, dtype=str, keep_default_na=False)
    found = set(index.loc[index["readable"].str.lower() == "false", "image_id"])
    expected = set(truth.loc[truth["unreadable"].astype(bool), "image_id"])
    return {"unreadable_recall": len(found & expected) / max(len(expected), 1)}


def truth_pairs(truth: pd.DataFrame) -> dict[frozenset, str]:
    """Every (copy, original) pair the demo injected, with its kind."""
    copies = truth[truth["duplicate_of"].fillna("") != ""]
    return {frozenset((c, o)): k for c, o, k in
            zip(copies["image_id"], copies["duplicate_of"], copies["duplicate_kind"])}


def predicted_pairs(duplicates: pd.DataFrame) -> set[frozenset]:
    """Every pair of images that share a group in ``duplicates.csv``."""
    pairs: set[frozenset] = set()
    for _, members in duplicates.groupby("group_id")["image_id"]:
        pairs.update(frozenset(p) for p in combinations(sorted(members), 2))
    return pairs


def score_duplicates(workdir: Path, truth: pd.DataFrame) -> dict[str, float]:
    """Pair precision and recall of ``duplicates.csv``, overall, exact, near and per kind."""
    path = Path(workdir) / DUPLICATES
    if not path.exists():
        return {}
    found = predicted_pairs(pd.read_csv(path, dtype=str, keep_default_na=False))
    expected = truth_pairs(truth)
    hits = found & set(expected)
    scores = {"duplicate_pair_precision": len(hits) / max(len(found), 1),
              "duplicate_pair_recall": len(hits) / max(len(expected), 1)}
    kinds = sorted(set(expected.values()))
    for group, members in (("exact", [k for k in kinds if k.startswith("exact")]),
                           ("near", [k for k in kinds if not k.startswith("exact")])):
        pairs = {p for p, k in expected.items() if k in members}
        scores[f"duplicate_{group}_recall"] = len(pairs & found) / max(len(pairs), 1)
    for kind in kinds:
        pairs = {p for p, k in expected.items() if k == kind}
        scores[f"duplicate_recall[{kind}]"] = len(pairs & found) / max(len(pairs), 1)
    return scores


def score_label_issues(workdir: Path, truth: pd.DataFrame) -> dict[str, float]:
    """Label-issue precision/recall/F1 of ``manifest.csv`` and relabel accuracy.

    Scored on the readable labeled images of the manifest; an image counts as found when
    ``is_label_issue`` is true. Relabel accuracy: share of ``relabel`` rows whose suggested
    label is the true label.
    """
    path = Path(workdir) / MANIFEST
    if not path.exists():
        return {}
    manifest = pd.read_csv(path, dtype=str, keep_default_na=False)
    t = truth.astype({"image_id": str}).set_index("image_id")
    rows = manifest[~manifest["image_id"].map(t["unreadable"]).astype(bool)]
    found = rows["is_label_issue"].str.lower() == "true"
    actual = rows["image_id"].map(t["label_noise"]).astype(bool)
    scores = {f"label_issue_{k}": v for k, v in
              precision_recall_f1(found.to_numpy(), actual.to_numpy()).items()}
    relabel = rows[rows["action"] == "relabel"]
    if len(relabel):
        true = relabel["image_id"].map(t["true_label"]).astype(str)
        scores["relabel_accuracy"] = float((relabel["suggested_label"] == true).mean())
    return scores
