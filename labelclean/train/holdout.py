"""Held-out data for the train stage: copy groups, and a stratified split that never puts
two copies of one image on different sides.

Copies are the groups of ``duplicates.csv`` joined with identical file contents
(``sha256``), the same relation the oof stage's folds keep together; the held-out fraction
is one fold of scikit-learn's ``StratifiedGroupKFold`` over those groups.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

from labelclean.errors import ConfigError


def copy_groups(image_ids: Sequence[str], sha256: Sequence[str] | None = None,
                duplicates=None, user_groups: Sequence[object] | None = None) -> np.ndarray:
    """(N,) int64 group numbers ``0..G-1``: copies of one image share a number.

    Two images are copies when ``duplicates`` (the ``duplicates.csv`` table: ``group_id,
    image_id``, ...) puts them in one group or their ``sha256`` (``""``: unreadable, no
    hash) is equal, and transitively so (connected components of images and keys); images
    of one user group (``user_groups``: the ``group_col`` value of each, ``""``/None: none)
    share a number too.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    ids = [str(v) for v in image_ids]
    n = len(ids)
    keys: dict[str, int] = {}
    rows: list[int] = []
    cols: list[int] = []

    def join(row: int, key: str) -> None:
        rows.append(row)
        cols.append(n + keys.setdefault(key, len(keys)))

    for row, digest in enumerate(sha256 if sha256 is not None else ()):
        if isinstance(digest, str) and digest:
            join(row, "sha:" + digest)
    if duplicates is not None and len(duplicates):
        position = {v: i for i, v in enumerate(ids)}
        for image_id, group in zip(duplicates["image_id"].astype(str), duplicates["group_id"]):
            if image_id in position:
                join(position[image_id], f"dup:{group}")
    for row, value in enumerate(user_groups if user_groups is not None else ()):
        if value is not None and str(value) != "":
            join(row, f"usr:{value}")
    size = n + len(keys)
    graph = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(size, size))
    _, labels = connected_components(graph, directed=False)
    _, dense = np.unique(labels[:n], return_inverse=True)
    return dense.astype(np.int64)


def holdout_mask(codes: np.ndarray, groups: np.ndarray, fraction: float,
                 seed: int = 0) -> np.ndarray:
    """(N,) bool: the rows held out, about ``fraction`` of them, stratified by ``codes``
    (class codes) and never splitting a group of ``groups``.

    The split is fold 0 of ``StratifiedGroupKFold(round(1 / fraction))`` shuffled by
    ``seed``: the same rows for every method and labels source given the same codes,
    groups and seed.
    """
    from sklearn.model_selection import StratifiedGroupKFold

    codes, groups = np.asarray(codes), np.asarray(groups)
    mask = np.zeros(len(codes), dtype=bool)
    if fraction <= 0 or not len(codes):
        return mask
    n_splits = max(2, int(round(1 / fraction)))
    n_groups = len(np.unique(groups))
    if n_groups < n_splits:
        raise ConfigError(f"`holdout` {fraction:g} needs at least {n_splits} labeled images "
                          f"that are not copies of each other, but found {n_groups}; give a "
                          "larger `holdout`, `holdout` 0 (no held-out data) or `val_labels`")
    splitter = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    with warnings.catch_warnings():  # classes smaller than n_splits: sklearn warns
        warnings.simplefilter("ignore", UserWarning)
        _, held = next(iter(splitter.split(np.zeros(len(codes)), codes, groups)))
    mask[held] = True
    return mask


def touching(groups: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """(N,) bool: the rows whose group holds one of ``rows`` (row numbers or a mask)."""
    groups = np.asarray(groups)
    return np.isin(groups, groups[np.asarray(rows)])
