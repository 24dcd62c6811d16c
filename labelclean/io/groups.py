"""The groups every split keeps whole: copies of one image, and the user's groups.

User groups are a column of the labels file (patient, plant, field): ``[dataset]
group_col = "patient_id"`` in ``labelclean.toml`` (``labelclean init --group-col
patient_id``) names it, and :func:`read_groups` gives the group of each image. Copies are
what dedupe found (``duplicates.csv`` groups, ``related.csv`` pairs) and identical file
contents. :func:`duplicate_groups` joins all of them; the oof stage's folds
(:func:`labelclean.oof.folds.make_folds`) and the train stage's held-out split both keep
each of its groups on one side.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from labelclean.arrays import group_labels
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


def _chain_edges(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Edges joining consecutive rows that share a key (``None``/"" keys join nothing)."""
    rows = np.array([i for i, k in enumerate(keys) if k is not None and k != ""], np.int64)
    if len(rows) < 2:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    values = np.array([str(k) for k in keys[rows]], dtype=object)
    order = np.argsort(values, kind="stable")
    same = values[order][1:] == values[order][:-1]
    return rows[order][:-1][same], rows[order][1:][same]


def duplicate_groups(image_ids: Sequence[str], sha256: Sequence[str] | None = None,
                     duplicates: Any = None,
                     user_groups: Sequence[object] | None = None,
                     related: Any = None) -> np.ndarray:
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
