"""Scoring a work directory against known truth (the demo's ``truth.csv``).

``truth.csv`` columns: ``image_id, true_label, given_label, label_noise, duplicate_of,
duplicate_kind, unreadable``. Every score is in [0, 1], higher is better.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from labelclean.io.checks import as_bool
from labelclean.io.formats import read_duplicates, read_index, read_manifest
from labelclean.io.workdir import INDEX


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
    index = read_index(workdir)
    found = set(index.loc[~index["readable"], "image_id"])
    expected = set(truth.loc[truth["unreadable"].astype(bool), "image_id"])
    return {"unreadable_recall": len(found & expected) / max(len(expected), 1)}


def score_duplicates(workdir: Path, truth: pd.DataFrame) -> dict[str, float]:
    """Pair precision and recall of ``duplicates.csv``, overall and per kind of copy."""
    from labelclean.evaluate.pairs import score_duplicates as score_table

    table = read_duplicates(workdir, required=False)
    if table is None:
        return {}
    scored = score_table(table, truth)
    scores = {"duplicate_pair_precision": scored["precision"],
              "duplicate_pair_recall": scored["recall"]}
    for kind, (found, total) in scored["recall_by_kind"].items():
        scores[f"duplicate_recall[{kind}]"] = found / max(total, 1)
    return scores


def score_label_issues(workdir: Path, truth: pd.DataFrame) -> dict[str, float]:
    """Label-issue precision/recall/F1 of ``manifest.csv`` and relabel accuracy.

    Scored on the readable labeled images of the manifest; an image counts as found when
    ``is_label_issue`` is true. Relabel accuracy: share of ``relabel`` rows whose suggested
    label is the true label.
    """
    manifest = read_manifest(workdir, required=False)
    if manifest is None:
        return {}
    t = truth.astype({"image_id": str}).set_index("image_id")
    rows = manifest[~manifest["image_id"].map(t["unreadable"]).astype(bool)]
    found = as_bool(rows["is_label_issue"])
    actual = rows["image_id"].map(t["label_noise"]).astype(bool)
    scores = {f"label_issue_{k}": v for k, v in
              precision_recall_f1(found, actual.to_numpy()).items()}
    relabel = rows[rows["action"] == "relabel"]
    if len(relabel):
        true = relabel["image_id"].map(t["true_label"]).astype(str)
        scores["relabel_accuracy"] = float((relabel["suggested_label"] == true).mean())
    return scores


def score_against_truth(workdir: Path, truth: pd.DataFrame) -> dict[str, float]:
    """Every score of the work directory's files against the demo's injected truth."""
    scores: dict[str, float] = {}
    scores.update(score_unreadable(workdir, truth))
    scores.update(score_duplicates(workdir, truth))
    scores.update(score_label_issues(workdir, truth))
    return scores
