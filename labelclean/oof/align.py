"""Fitting OOF files to the dataset: one row per labeled image, checked, then combined.

:func:`load_oof` is the entry point: it reads every file (:func:`~labelclean.oof.files.read_oof`),
aligns it with the labels file (:func:`align_oof`), collects the warnings (a label column that
disagrees, predictions too good to be out-of-fold) and combines the files
(:func:`~labelclean.oof.ensemble.combine_oof`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from labelclean.errors import OOFError, RegistryError
from labelclean.io.dataset import IMAGE_EXTENSIONS
from labelclean.oof.ensemble import ENSEMBLES, combine_oof, list_ensembles
from labelclean.oof.files import OOFTable, preview, read_oof

#: Agreement with the given labels at or above this looks like in-fold predictions.
SUSPICIOUS_ACCURACY = 0.995


def align_oof(table: OOFTable, labeled_ids: Sequence[str], required: np.ndarray) -> np.ndarray:
    """The OOF rows in the order of ``labeled_ids``: (M, K), NaN rows where absent.

    ``labeled_ids`` are the dataset's labeled images (labels-file order); ``required`` (M,)
    bool marks those that must have a row (the readable ones). A ``.npy`` must have one
    row per labeled image. Raises on required images without a row (or with an empty
    one) and on ids not in the dataset.
    """
    labeled_ids = np.asarray(labeled_ids, dtype=object)
    k = table.probs.shape[1]
    if table.ids is None:
        if len(table.probs) != len(labeled_ids):
            raise OOFError(f"{table.source}: has {len(table.probs):,} rows but the labels file "
                           f"has {len(labeled_ids):,} labeled images; a .npy must hold one "
                           "row per labeled image, in labels-file order")
        aligned = table.probs
    else:
        aligned = _aligned_by_id(table, labeled_ids, k)
    missing = required & np.isnan(aligned).all(axis=1)
    if missing.any():
        raise OOFError(f"{table.source}: {int(missing.sum()):,} of the dataset's "
                       f"{int(required.sum()):,} readable labeled images have no row or an "
                       f"empty one (first: {preview(labeled_ids[missing])}); predict every "
                       "image of the labels file")
    return aligned


def _aligned_by_id(table: OOFTable, labeled_ids: np.ndarray, k: int) -> np.ndarray:
    """The rows of ``table`` placed at their images; its ``ids`` become the labels file's
    own (an id written with or without the file extension finds its image)."""
    import pandas as pd

    position = pd.Index(labeled_ids).get_indexer(table.ids)
    extra = position < 0
    if extra.any():
        position[extra] = _positions_by_stem(table.source, table.ids[extra], labeled_ids)
        extra = position < 0
    if extra.any():
        raise OOFError(f"{table.source}: {int(extra.sum()):,} ids are not labeled images of "
                       f"the dataset (first: {preview(table.ids[extra])}); predict on the same "
                       "labels file, or set `oof_id_col` if another column holds the ids")
    _check_one_row_per_image(table, position, labeled_ids)
    table.ids = labeled_ids[position]
    aligned = np.full((len(labeled_ids), k), np.nan)
    aligned[position] = table.probs
    return aligned


def _stem(image_id: str) -> str | None:
    """``image_id`` without its image extension (``a.jpg`` -> ``a``), None if it has none."""
    base, ext = os.path.splitext(image_id)
    return base if base and ext.lower() in IMAGE_EXTENSIONS else None


def _positions_by_stem(source: str, ids: np.ndarray, labeled_ids: np.ndarray) -> np.ndarray:
    """Positions in ``labeled_ids`` of ``ids`` written with or without the extension the
    labels file gives them (-1: none); an id matching two labeled images is an error."""
    exact = {str(v): i for i, v in enumerate(labeled_ids)}
    by_stem: dict[str, list[int]] = {}
    for i, v in enumerate(labeled_ids):
        stem = _stem(str(v))
        if stem is not None:
            by_stem.setdefault(stem, []).append(i)
    found = np.full(len(ids), -1, dtype=np.int64)
    for j, image_id in enumerate(ids):
        stem = _stem(str(image_id))
        hits = [exact[stem]] if stem is not None and stem in exact else by_stem.get(
            str(image_id), [])
        if len(hits) > 1:
            raise OOFError(f"{source}: id '{image_id}' matches {len(hits)} images of the "
                           f"labels file ({preview(labeled_ids[hits])}); write the ids as "
                           "the labels file does, with the file extension")
        if hits:
            found[j] = hits[0]
    return found


def _check_one_row_per_image(table: OOFTable, position: np.ndarray,
                             labeled_ids: np.ndarray) -> None:
    import pandas as pd

    dup = pd.Series(position).duplicated(keep=False).to_numpy()
    if dup.any():
        rows = np.flatnonzero(position == position[dup][0])
        both = " and ".join(repr(str(table.ids[r])) for r in rows[:2])
        raise OOFError(f"{table.source}: ids {both} "
                       f"both name image '{labeled_ids[position[rows[0]]]}'; keep one row per "
                       "image (with or without the file extension, not both)")


def label_column_warning(table: OOFTable, labeled_ids: Sequence[str],
                         given: Sequence[Any]) -> str | None:
    """A warning when the file's own label column disagrees with the labels file."""
    if table.labels is None or table.ids is None:
        return None
    import pandas as pd

    given_by_id = pd.Series([str(g) for g in given], index=pd.Index(labeled_ids))
    theirs = pd.Series(table.labels, index=pd.Index(table.ids)).astype(str).str.strip()
    differ = theirs != given_by_id.reindex(theirs.index)
    if not differ.any():
        return None
    return (f"{table.source}: its label column differs from the labels file for "
            f"{int(differ.sum()):,} images (first: {preview(theirs.index[differ])}); the labels "
            "file is used: were the predictions made with other labels?")


def suspicious_warning(source: str, probs: np.ndarray, labels: np.ndarray) -> str | None:
    """A warning when predictions agree with the given labels too well to be out-of-fold.

    ``probs`` (N, K) and ``labels`` (N,) class indices of the scored images.
    """
    if len(labels) < 100:
        return None
    accuracy = float((probs.argmax(axis=1) == labels).mean())
    if accuracy < SUSPICIOUS_ACCURACY:
        return None
    return (f"{source}: predictions agree with the given labels on {accuracy:.1%} of images; "
            "out-of-fold predictions rarely do (were they made by models that trained on "
            "these images?); wrong labels will be missed")



# -- the entry point -------------------------------------------------------------------

@dataclass
class OOFInput:
    """OOF probabilities fitted to the dataset: ``probs`` (M, K) in labeled-image order."""

    probs: np.ndarray
    sources: list[str]
    weights: list[float]
    warnings: list[str] = field(default_factory=list)


def load_oof(paths: Sequence[str | Path], classes: Sequence[Any], labeled_ids: Sequence[str],
             given: np.ndarray, required: np.ndarray, *, id_col: str | None = None,
             label_col: str | None = None, logits: bool = False,
             ensemble: str = "mean") -> OOFInput:
    """Read, check, align and combine one or more OOF files.

    ``labeled_ids`` (M,) are the labeled images in labels-file order, ``given`` (M,) their
    class indices and ``required`` (M,) bool those that must be predicted (readable).
    Every file is checked before anything is combined; warnings come back as text.
    """
    if ensemble not in ENSEMBLES:
        raise RegistryError("`ensemble` method", ensemble, list_ensembles())
    aligned, warnings = [], []
    labeled_ids = np.asarray(labeled_ids, dtype=object)
    for path in paths:
        table = read_oof(path, classes, id_col=id_col, label_col=label_col, logits=logits)
        probs = align_oof(table, labeled_ids, required)
        warnings += table.warnings
        note = label_column_warning(table, labeled_ids, [classes[g] for g in given])
        rows = np.isfinite(probs[:, 0])
        note2 = suspicious_warning(table.source, probs[rows], given[rows])
        warnings += [w for w in (note, note2) if w]
        aligned.append(probs)
    probs, weights = combine_oof(aligned, given, ensemble)
    return OOFInput(probs=probs, sources=[str(p) for p in paths], weights=weights,
                    warnings=warnings)
