"""Duplicate groups from pairs, and which copy of each group to keep.

Groups are the connected components of the graph whose edges are the confirmed pairs
(:func:`labelclean.arrays.group_labels`, a vectorised union-find).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from labelclean.arrays import group_labels  # noqa: F401  (the stages import it from here)


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
