"""Scoring duplicate groups against known truth (the demo's ``truth.csv``).

A found pair is two images in the same group; a true pair is a copy and the image it was
made from (``duplicate_of``), or two copies of one original. Recall is counted per kind of
copy (``duplicate_kind``), precision per ``method`` that found the copy.
"""

from __future__ import annotations

from itertools import combinations
from typing import Any

import pandas as pd

from labelclean.dedupe.find import method_order


def _true_pairs(truth: pd.DataFrame) -> dict[frozenset, str]:
    copies = truth[truth["duplicate_of"].fillna("").astype(str) != ""]
    originals: dict[str, list[tuple[str, str]]] = {}
    for image_id, source, kind in zip(copies["image_id"], copies["duplicate_of"],
                                      copies["duplicate_kind"]):
        originals.setdefault(str(source), []).append((str(image_id), str(kind)))
    pairs: dict[frozenset, str] = {}
    for source, members in originals.items():
        for image_id, kind in members:
            pairs[frozenset((source, image_id))] = kind
        for (a, kind_a), (b, kind_b) in combinations(members, 2):
            pairs[frozenset((a, b))] = kind_a if kind_a == kind_b else f"{kind_a}+{kind_b}"
    return pairs


def score_duplicates(table: pd.DataFrame, truth: pd.DataFrame) -> dict[str, Any]:
    """Pair precision and recall of a ``duplicates.csv`` table against ``truth``.

    Returns ``{"precision", "recall", "found_pairs", "true_pairs", "recall_by_kind":
    {kind: (found, total)}, "precision_by_method": {method: (correct, found)}}``; precision
    and recall are in [0, 1], higher is better.
    """
    truth_pairs = _true_pairs(truth)
    found: dict[frozenset, str] = {}
    for _, rows in table.groupby("group_id", sort=False):
        method = dict(zip(rows["image_id"].astype(str), rows["method"]))
        for a, b in combinations(rows["image_id"].astype(str), 2):
            # a pair is credited to the weaker of its two rows' methods
            found[frozenset((a, b))] = max(method[a], method[b], key=method_order)
    by_kind: dict[str, list[int]] = {}
    for pair, kind in truth_pairs.items():
        counts = by_kind.setdefault(kind, [0, 0])
        counts[0] += pair in found
        counts[1] += 1
    by_method: dict[str, list[int]] = {}
    for pair, method in found.items():
        counts = by_method.setdefault(method, [0, 0])
        counts[0] += pair in truth_pairs
        counts[1] += 1
    correct = sum(pair in truth_pairs for pair in found)
    return {
        "precision": correct / len(found) if found else 1.0,
        "recall": sum(c[0] for c in by_kind.values()) / max(len(truth_pairs), 1),
        "found_pairs": len(found), "true_pairs": len(truth_pairs),
        "recall_by_kind": {k: tuple(v) for k, v in sorted(by_kind.items())},
        "precision_by_method": {k: tuple(v) for k, v in sorted(by_method.items())},
    }
