"""Folds for out-of-fold predictions: stratified by label, grouped by duplicate group and
by the user's groups (``group_col``).

Copies of one image must land in the same fold, or a model is scored on a picture it was
trained on (and its OOF probability says nothing about the label). Groups come from
``duplicates.csv`` and the confirmed pairs dedupe kept out of one group (``related.csv``)
when the dedupe stage has run, and always from identical file contents (``sha256`` in
``index.csv``), so exact copies never leak even without dedupe. The train stage's held-out
split keeps the same groups together (:func:`duplicate_groups` is the one builder).
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
                     duplicates: pd.DataFrame | None = None,
                     user_groups: Sequence[object] | None = None,
                     related: pd.DataFrame | None = None) -> np.ndarray:
    """One group number per image: copies share a number, and so do the images of one user
    group (``group_col``: a patient, a plant); every other image has its own. Copies are
    joined transitively here (a chain of copies must not cross folds either).

    Parameters
    ----------
    image_ids : (N,) image ids.
    sha256 : (N,) content hashes (``""`` for unreadable files); equal hashes are one group.
    duplicates : ``duplicates.csv`` as a table (``group_id, image_id``, ...), or None.
    user_groups : (N,) the user's group of each image (``""``/None: none), or None. A
        duplicate group spanning two user groups joins them (a copy must not cross folds).
    related : ``related.csv`` as a table (``image_id, other_id``, ...): confirmed copy pairs
        dedupe kept out of one group; each pair is joined. None: none.

    Returns
    -------
    (N,) int64 group numbers ``0..G-1``.
    """
    ids = np.asarray(image_ids, dtype=object)
    n = len(ids)
    edges_i, edges_j = [np.empty(0, np.int64)], [np.empty(0, np.int64)]
    if related is not None and len(related):
        position = {str(v): k for k, v in enumerate(ids)}
        pairs = [(position[a], position[b]) for a, b in zip(
            related["image_id"].astype(str), related["other_id"].astype(str))
            if a in position and b in position]
        if pairs:
            edges_i.append(np.array([a for a, _ in pairs], np.int64))
            edges_j.append(np.array([b for _, b in pairs], np.int64))
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
    if user_groups is not None:
        i, j = _chain_edges(np.asarray(user_groups, dtype=object))
        edges_i.append(i)
        edges_j.append(j)
    labels = group_labels(n, np.concatenate(edges_i), np.concatenate(edges_j))
    alone = labels < 0
    labels[alone] = labels.max(initial=-1) + 1 + np.arange(int(alone.sum()))
    return labels


def workdir_groups(workdir, image_ids: Sequence[str], sha256: Sequence[str] | None,
                   user_groups: Sequence[object] | None = None) -> np.ndarray:
    """:func:`duplicate_groups` of ``image_ids`` with the copies the work directory's dedupe
    found (``duplicates.csv`` and ``related.csv``, when there)."""
    from labelclean.io.dedupe_files import read_related
    from labelclean.io.formats import read_duplicates

    return duplicate_groups(image_ids, sha256, read_duplicates(workdir, required=False),
                            user_groups, read_related(workdir, required=False))


def in_row_order(groups: np.ndarray) -> np.ndarray:
    """``groups`` (N,) renumbered ``0..G-1`` in the order of each group's first row."""
    _, first, inverse = np.unique(groups, return_index=True, return_inverse=True)
    rank = np.empty(len(first), np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(len(first))
    return rank[inverse.ravel()]


def group_param(settings: dict) -> dict:
    """The oof parameters for the user's groups: ``{"group_col": name}``, or none."""
    return {"group_col": settings["group_col"]} if settings.get("group_col") else {}


def user_groups_of(plan) -> np.ndarray | None:
    """(len(plan.rows),) the `group_col` value of each row an oof plan predicts (None when the
    plan's parameters name no `group_col`); see :func:`labelclean.io.groups.read_groups`."""
    from labelclean.io.groups import groups_for_workdir

    return groups_for_workdir(plan.workdir, plan.params.get("group_col"),
                              plan.labeled["image_id"])


def group_counts(user_groups, duplicates_and_users: np.ndarray | None = None) -> dict:
    """For summaries: how many user groups there are, and how many groups the folds keep
    whole (user and duplicate groups joined); empty without user groups."""
    if user_groups is None:
        return {}
    named = {g for g in user_groups if g not in ("", None)}
    out = {"user_groups": len(named)}
    if duplicates_and_users is not None:
        out["fold_groups"] = int(len(np.unique(duplicates_and_users)))
    return out


def lone_class_rows(codes: np.ndarray) -> np.ndarray:
    """(N,) bool: the rows that are the only row of their class (``codes``: class codes).

    No model can learn such a class from the other rows, so these images get no
    out-of-fold prediction: the oof stage leaves them out of ``oof.csv`` and the noise stage
    keeps them unjudged.
    """
    codes = np.asarray(codes, dtype=np.int64)
    if not len(codes):
        return np.zeros(0, dtype=bool)
    return np.bincount(codes)[codes] == 1


def lone_note(n_images: int, classes: Sequence) -> str:
    """What the oof stage says about the ``n_images`` images that are alone in their class."""
    first = ", ".join(str(c) for c in list(classes)[:3])
    many = n_images != 1
    return (f"{n_images:,} image{'s are each' if many else ' is'} the only labeled image of "
            f"{'their' if many else 'its'} class (class{'es' if many else ''} {first}"
            f"{', ...' if n_images > 3 else ''}), so no model can predict "
            f"{'them' if many else 'it'} out of fold: left out of oof.csv, and "
            f"'labelclean noise' keeps {'them' if many else 'it'} unjudged")


def predictable_rows(codes: np.ndarray, classes: Sequence, source: object
                     ) -> tuple[np.ndarray, str]:
    """((N,) bool: the rows an out-of-fold model can predict, a note on the others).

    An image alone in its class (:func:`lone_class_rows`) is not predictable; when no image
    is, :class:`~labelclean.errors.NoLabelsError` names ``source`` (the index).
    """
    from labelclean.errors import NoLabelsError

    lone = lone_class_rows(codes)
    if not lone.any():
        return ~lone, ""
    if lone.all():
        what = ("has a single readable, labeled image" if len(codes) == 1 else
                f"has {len(codes):,} readable, labeled images, each alone in its class")
        raise NoLabelsError(f"{source} {what}: no model can predict an image out of fold "
                            "without other images of its class; give classes at least 2 "
                            "images (or bring your own predictions to 'labelclean noise')")
    return ~lone, lone_note(int(lone.sum()), [classes[c] for c in codes[lone]])


def usable_folds(labels: np.ndarray, n_folds: int) -> tuple[int, str]:
    """(the number of folds to make, a note when it is not ``n_folds``).

    Stratified folds need a class with at least ``n_folds`` images; when every class is
    smaller, as many folds as the largest class has images are made instead. Fewer
    images than folds is a :class:`ConfigError`.
    """
    if 2 <= len(labels) < n_folds:  # fails now, before any work
        raise ConfigError(f"`folds` = {n_folds} needs at least {n_folds} images, but only "
                          f"{len(labels):,} can be predicted; use fewer folds")
    counts = np.bincount(np.asarray(labels, dtype=np.int64)) if len(labels) else np.zeros(1)
    largest = int(counts.max())
    if n_folds < 2 or largest >= n_folds or largest < 2:
        return n_folds, ""
    return largest, (f"every class has fewer than {n_folds} images (the largest has "
                     f"{largest}): made {largest} folds instead of `folds` {n_folds}")


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
                          f"copies of each other, but found {n_groups}; use fewer folds "
                          "(images of one `group_col` value count as one)")
    largest = int(np.unique(labels, return_counts=True)[1].max())
    if largest < n_folds:
        fix = (f"use `folds` {largest} or fewer" if largest >= 2 else
               "give some class a second image")
        raise ConfigError(f"`folds` = {n_folds} needs a class with at least {n_folds} images, "
                          f"but the largest class has {largest}; {fix}")
    splitter = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    folds = np.full(len(labels), -1, dtype=np.int64)
    import warnings

    with warnings.catch_warnings():  # rare classes: sklearn warns, we spread what there is
        warnings.simplefilter("ignore", UserWarning)
        for k, (_, val) in enumerate(splitter.split(np.zeros(len(labels)), labels, groups)):
            folds[val] = k
    return folds
