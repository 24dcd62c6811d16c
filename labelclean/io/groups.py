"""User groups: a column of the labels file (patient, plant, field) whose rows must stay
on one side of every split.

``[dataset] group_col = "patient_id"`` in ``labelclean.toml`` (``labelclean init
--group-col patient_id``) names it. :func:`read_groups` gives the group of each image; the
oof stage's folds (:func:`labelclean.oof.folds.make_folds`) keep each group in one fold,
together with the duplicate groups, and a held-out split can do the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from labelclean.errors import ConfigError


def read_groups(labels_file: str | Path | None, id_col: str, group_col: str,
                image_ids: Sequence[str], path_col: str | None = None) -> np.ndarray:
    """(N,) object array: the ``group_col`` value of each of ``image_ids`` ("" when the row
    has none, or the id is not in the labels file).

    ``image_ids`` are the index's ids (the labels file's ``id_col`` text, or ``path_col``'s
    when the file has no id column). Raises :class:`ConfigError` naming `group_col` when
    there is no labels file or no such column.
    """
    from labelclean.io.labelsfile import read_labels_table

    if labels_file is None:
        raise ConfigError(f"`group_col` {group_col!r} needs a labels file with that column; "
                          "an ImageFolder tree has none (pass `labels` FILE, or drop "
                          "`group_col`)")
    table = read_labels_table(labels_file, id_col, None, path_col)
    if group_col not in table.columns:
        raise ConfigError(f"labels file {labels_file} has no column '{group_col}' (columns: "
                          f"{', '.join(table.columns)}); set `group_col` to one of them")
    key = id_col if id_col in table.columns else path_col
    values = dict(zip(table[key].str.strip(), table[group_col].fillna("").str.strip()))
    return np.array([values.get(str(i), "") for i in image_ids], dtype=object)


def groups_for_workdir(workdir: str | Path, group_col: str | None,
                       image_ids: Sequence[str]) -> np.ndarray | None:
    """:func:`read_groups` for the dataset the work directory's scan recorded (its labels
    file and columns); None when ``group_col`` is unset."""
    if not group_col:
        return None
    from labelclean.io.workdir import Workdir

    meta = (Workdir(workdir).read_record("scan") or {}).get("dataset") or {}
    return read_groups(meta.get("labels_file"), meta.get("id_col") or "image_id", group_col,
                       image_ids, meta.get("path_col"))


def count_dataset_groups(dataset, group_col: str | None) -> int | None:
    """How many groups ``group_col`` makes among the labeled images of ``dataset`` (an
    :class:`~labelclean.io.dataset.Dataset`); None when unset. Checks the column exists."""
    if not group_col:
        return None
    ids = [r.image_id for r in dataset.records]
    groups = read_groups(dataset.labels_file, dataset.id_col, group_col, ids, dataset.path_col)
    return len({g for g in groups if g != ""})
