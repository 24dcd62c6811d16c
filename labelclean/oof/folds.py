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

from labelclean.errors import ConfigError
from labelclean.io.groups import (  # noqa: F401  (the copy groups the folds keep whole)
    duplicate_groups,
    in_row_order,
    workdir_groups,
)


def group_param(settings: dict) -> dict:
    """The oof parameters for the user's groups: ``{"group_col": name}``, or none."""
    return {"group_col": settings["group_col"]} if settings.get("group_col") else {}


def user_groups_of(plan) -> np.ndarray | None:
    """(len(plan.rows),) the `group_col` value of each row an oof plan predicts (None when the
    plan's parameters name no `group_col`); see :func:`labelclean.io.groups.read_groups`."""
    from labelclean.io.groups import groups_for_workdir

    return groups_for_workdir(plan.workdir, plan.params.get("group_col"),
                              plan.labeled["image_id"])


def user_group_values(workdir, group_col: str | None, image_ids: Sequence[str]) -> tuple:
    """``("<value>\\n<value>...",)``, the `group_col` value of each of ``image_ids`` as one
    text for the oof stage's input fingerprint (an edited group column makes the folds
    stale), or ``()`` without `group_col`."""
    from labelclean.io.groups import groups_for_workdir

    values = groups_for_workdir(workdir, group_col, image_ids)
    return () if values is None else ("\n".join(str(v) for v in values),)


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
