"""Folds for out-of-fold predictions: stratified by label, grouped by duplicate group.

Copies of one image must land in the same fold, or a model is scored on a picture it was
trained on (and its OOF probability says nothing about the label). Groups come from
``duplicates.csv`` when the dedupe stage has run, and always from identical file contents
(``sha256`` in ``index.csv``), so exact copies never leak even without dedupe.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from labelclean.dedupe.grouping import group_labels
from labelclean.errors import ConfigError


def _chain_edges(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Edges joining consecutive rows that share a key (``None``/"" keys join nothing)."""
    rows = np.array([i for i, k in enumerate(keys) if k is not None and k != ""], np.int64)
    if len(rows) < 2:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    values = pd.Series(keys[rows]).astype(str).to_numpy()
    order = np.argsort(values, kind="stable")
    same = values[order][1:] == values[order][:-1]
    return rows[order][:-1][same], rows[order][1:][same]


def duplicate_groups(image_ids: Sequence[str], sha256: Sequence[str] | None = None,
                     duplicates: pd.DataFrame | None = None) -> np.ndarray:
    """One group number per image: copies share a number, every other image has its own.

    Parameters
    ----------
    image_ids : (N,) image ids.
    sha256 : (N,) content hashes (``""`` for unreadable files); equal hashes are one group.
    duplicates : ``duplicates.csv`` as a table (``group_id, image_id``, ...), or None.

    Returns
    -------
    (N,) int64 group numbers ``0..G-1``.
    """
    ids = np.asarray(image_ids, dtype=object)
    n = len(ids)
    edges_i, edges_j = [np.empty(0, np.int64)], [np.empty(0, np.int64)]
    if sha256 is not None:
        i, j = _chain_edges(np.asarray(sha256, dtype=object))
        edges_i.append(i)
        edges_j.append(j)
    if duplicates is not None and len(duplicates):
        group_of = dict(zip(duplicates["image_id"].astype(str), duplicates["group_id"]))
        keys = np.array([group_of.get(str(v)) for v in ids], dtype=object)
        i, j = _chain_edges(keys)
        edges_i.append(i)
        edges_j.append(j)
    labels = group_labels(n, np.concatenate(edges_i), np.concatenate(edges_j))
    alone = labels < 0
    labels[alone] = labels.max(initial=-1) + 1 + np.arange(int(alone.sum()))
    return labels


def make_folds(labels: np.ndarray, groups: np.ndarray, n_folds: int = 5,
               seed: int = 0) -> np.ndarray:
    """Assign each row to a fold: stratified by ``labels``, never splitting a group.

    Parameters
    ----------
    labels : (N,) class codes.
    groups : (N,) group numbers (rows of one group always share a fold).
    n_folds : number of folds, at least 2.
    seed : shuffles the groups before they are dealt out.

    Returns
    -------
    (N,) int64 fold numbers ``0..n_folds-1``.
    """
    from sklearn.model_selection import StratifiedGroupKFold

    labels, groups = np.asarray(labels), np.asarray(groups)
    if n_folds < 2:
        raise ConfigError(f"`folds` must be at least 2, not {n_folds}")
    n_groups = len(np.unique(groups))
    if n_groups < n_folds:
        raise ConfigError(f"`folds` = {n_folds} needs at least {n_folds} images that are not "
                          f"copies of each other, but found {n_groups}; use fewer folds")
    splitter = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    folds = np.full(len(labels), -1, dtype=np.int64)
    import warnings

    with warnings.catch_warnings():  # rare classes: sklearn warns, we spread what there is
        warnings.simplefilter("ignore", UserWarning)
        for k, (_, val) in enumerate(splitter.split(np.zeros(len(labels)), labels, groups)):
            folds[val] = k
    return folds
