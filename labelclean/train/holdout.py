"""Held-out data for the train stage: a stratified split that never puts two copies of one
image on different sides.

The groups are the oof stage's (:func:`labelclean.io.groups.workdir_groups`: dedupe's
groups and related pairs, identical file contents, the user's ``group_col``); the held-out
fraction is one fold of scikit-learn's ``StratifiedGroupKFold`` over them.
"""

from __future__ import annotations

import warnings

import numpy as np

from labelclean.errors import ConfigError


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
        raise ConfigError(f"`holdout` {fraction:g} needs at least {n_splits} groups of labeled "
                          f"images (copies of one image, and one `group_col` group, are one "
                          f"group), but found {n_groups}; give a larger `holdout`, `holdout` 0 "
                          "(no held-out data) or `val_labels`")
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
