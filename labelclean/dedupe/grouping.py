"""Duplicate groups from pairs (union-find), and which copy of each group to keep.

Groups are the connected components of the graph whose edges are the confirmed pairs,
found by a vectorised union-find in O((N + M) log N) time and O(N + M) memory.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def _roots(i: np.ndarray, j: np.ndarray, n: int) -> np.ndarray:
    """Union-find, vectorised: hook each edge's larger root under its smaller one, then
    compress paths (pointer jumping), until both ends of every edge share a root."""
    parent = np.arange(n, dtype=np.int64)
    while True:
        low = np.minimum(parent[i], parent[j])
        np.minimum.at(parent, parent[i], low)
        np.minimum.at(parent, parent[j], low)
        while True:
            grand = parent[parent]
            if np.array_equal(grand, parent):
                break
            parent = grand
        if np.array_equal(parent[i], parent[j]):
            return parent


def group_labels(n: int, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Union-find over ``n`` items joined by the edges ``(i[k], j[k])``.

    Returns
    -------
    (n,) int64 group label per item; items in no edge get -1, groups are numbered
    0, 1, ... in the order of their first (lowest-numbered) member.
    """
    labels = np.full(n, -1, dtype=np.int64)
    if n == 0 or len(i) == 0:
        return labels
    i, j = np.asarray(i, np.int64), np.asarray(j, np.int64)
    roots = _roots(i, j, n)
    members = np.zeros(n, dtype=bool)
    members[i] = members[j] = True
    # roots are the smallest member of each group, so their order is first-member order
    _, dense = np.unique(roots[members], return_inverse=True)
    labels[members] = dense
    return labels


def groups_of(labels: np.ndarray) -> list[np.ndarray]:
    """Members (row numbers, ascending) of each group of ``labels`` (-1 = no group)."""
    rows = np.flatnonzero(labels >= 0)
    order = rows[np.argsort(labels[rows], kind="stable")]
    return [g for g in np.split(order, np.flatnonzero(np.diff(labels[order])) + 1) if len(g)]


def choose_keep(members: np.ndarray, area: np.ndarray, nbytes: np.ndarray) -> int:
    """The copy to keep: the largest pixel area, then the largest file, then the first row.

    ``area`` and ``nbytes`` are (N,) arrays over all rows; returns a member's row number.
    """
    # lexsort sorts by the last key first; negate so larger values come first
    order = np.lexsort((members, -nbytes[members], -area[members]))
    return int(members[order[0]])


def labels_conflict(labels: Sequence[Any]) -> bool:
    """True when the (non-missing) labels of a group's members are not all equal."""
    present = {str(v) for v in labels
               if v is not None and not (isinstance(v, float) and np.isnan(v)) and str(v) != ""}
    return len(present) > 1
