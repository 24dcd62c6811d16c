"""The dedupe stage's output tables: ``duplicates.csv`` rows and the related pairs.

Groups come from :func:`labelclean.dedupe.stars.star_groups`: each member's ``method`` and
``score`` are those of its own confirmed pair with the group's keeper (score 1.0 =
identical, higher is more alike), or, for a member attached as the same bytes or pixels of
another member, ``exact`` / ``pixels`` to the keeper when it is, else its twin's.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from labelclean.dedupe.grouping import labels_conflict
from labelclean.dedupe.stars import Stars
from labelclean.io.dedupe_files import RELATED_COLUMNS
from labelclean.io.formats import DUPLICATES_COLUMNS


def _edge_lookup(pairs: pd.DataFrame) -> dict[tuple[int, int], tuple[str, float]]:
    return {(int(a), int(b)): (m, float(s)) for a, b, m, s in
            zip(pairs["i"], pairs["j"], pairs["method"], pairs["score"])}


def _relation(row, keep, sha, digests, edges, twin_of) -> tuple[str, float]:
    if sha[row] and sha[row] == sha[keep]:
        return "exact", 1.0
    if digests.get(row) is not None and digests.get(row) == digests.get(keep):
        return "pixels", 1.0
    found = edges.get((min(row, keep), max(row, keep)))
    if found is None:  # attached as a twin of a member: that member's relation
        partner = twin_of.get(row)
        found = edges.get((min(partner, keep), max(partner, keep)), ("pixels", 1.0)) \
            if partner is not None else ("pixels", 1.0)
    return found[0], round(found[1], 4)


def group_table(index: pd.DataFrame, pairs: pd.DataFrame, stars: Stars,
                digests: dict[int, str | None], strength: dict[str, int]) -> pd.DataFrame:
    """``duplicates.csv``: one row per member of each group, its keeper first.

    Groups are numbered 1.. by size (largest first), then by keeper row; ``strength`` ranks
    method names (lower is stronger) to name the keeper's row by its strongest copy.
    """
    sha = index["sha256"].fillna("").astype(str).to_numpy()
    ids, given = index["image_id"].to_numpy(), index["label"].to_numpy()
    edges = _edge_lookup(pairs)
    twins = pairs[pairs["method"].isin(["exact", "pixels"])]
    twin_of = {int(b): int(a) for a, b in zip(twins["i"], twins["j"])}
    twin_of.update({int(a): int(b) for a, b in zip(twins["i"], twins["j"])
                    if int(a) not in twin_of})
    members_of = [np.flatnonzero(stars.labels == g) for g in range(len(stars.keepers))]
    order = sorted(range(len(members_of)),
                   key=lambda g: (-len(members_of[g]), int(stars.keepers[g])))
    rows = []
    for gid, g in enumerate(order, start=1):
        keep = int(stars.keepers[g])
        conflict = labels_conflict(given[members_of[g]])
        others = [(int(m), *_relation(int(m), keep, sha, digests, edges, twin_of))
                  for m in members_of[g] if m != keep]
        strongest = min((method for _, method, _ in others), key=lambda m: strength.get(m, 99))
        for row, method, score in [(keep, strongest, 1.0)] + others:
            rows.append((gid, ids[row], given[row], row == keep, method, score, conflict))
    table = pd.DataFrame(rows, columns=DUPLICATES_COLUMNS)
    table["label"] = table["label"].astype(object).where(table["label"].notna(), "")
    table.attrs["group_of_label"] = {g: gid for gid, g in enumerate(order, start=1)}
    return table


def related_table(index: pd.DataFrame, pairs: pd.DataFrame, stars: Stars,
                  group_of_label: dict[int, int]) -> pd.DataFrame:
    """``related.csv``: the confirmed pairs whose images are not in one group, with each
    image's ``group_id`` in ``duplicates.csv`` (empty when in none)."""
    rel = pairs[stars.related]
    ids = index["image_id"].to_numpy()
    i, j = rel["i"].to_numpy(np.int64), rel["j"].to_numpy(np.int64)

    def gid(rows: np.ndarray) -> list:
        return [group_of_label.get(int(g), "") if g >= 0 else "" for g in stars.labels[rows]]

    return pd.DataFrame({"image_id": ids[i], "other_id": ids[j],
                         "method": rel["method"].to_numpy(),
                         "score": rel["score"].round(4).to_numpy(),
                         "group_id": gid(i), "other_group_id": gid(j)},
                        columns=RELATED_COLUMNS)
