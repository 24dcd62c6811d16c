"""The dedupe stage's side files: ``related.csv`` (pairs kept out of groups) and
``leaks.csv`` (copies of another set's images).

``related.csv``: ``image_id, other_id, method, score, group_id, other_group_id`` — pairs the
dedupe stage confirmed as copies whose two images are not in one duplicate group (a chain
A~B~C that would have joined A and C, or a group that stopped at its size limit); each
image's ``group_id`` in ``duplicates.csv``, empty when in none. ``score`` in [0, 1], 1.0 =
identical.

``leaks.csv``: ``image_id, other_set, other_path, method, score`` — this dataset's images
that are copies of an image of another set (``dedupe --against DIR``): the other set's
folder as given, the other image's path relative to it, how the copy was found and its
score (1.0 = identical).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from labelclean.errors import WorkdirFileError
from labelclean.io.checks import check_columns, check_exists, read_csv_text, resolve
from labelclean.io.workdir import AGAINST_DIR, LEAKS, RELATED, write_csv  # noqa: F401

RELATED_COLUMNS = ["image_id", "other_id", "method", "score", "group_id", "other_group_id"]
LEAKS_COLUMNS = ["image_id", "other_set", "other_path", "method", "score"]
_FIX = "run 'labelclean dedupe --force'"
Source = str | Path


def _table(source: Source, name: str, columns: list[str], command: str,
           required: bool) -> pd.DataFrame | None:
    path = resolve(source, name)
    if not required and not path.exists():
        return None
    check_exists(path, command)
    table = read_csv_text(path, WorkdirFileError, _FIX)
    table = check_columns(table, columns, path, WorkdirFileError, _FIX)
    table["score"] = table["score"].astype(float)
    return table[columns]


def write_related(table: pd.DataFrame, workdir: Source) -> Path:
    """Write ``related.csv`` (:data:`RELATED_COLUMNS`), atomically."""
    return write_csv(table[RELATED_COLUMNS], resolve(workdir, RELATED))


def read_related(source: Source, *, required: bool = True) -> pd.DataFrame | None:
    """``related.csv`` as text (``score`` as float); None when absent and not required."""
    return _table(source, RELATED, RELATED_COLUMNS, "labelclean dedupe", required)


def write_leaks(table: pd.DataFrame, workdir: Source) -> Path:
    """Write ``leaks.csv`` (:data:`LEAKS_COLUMNS`), atomically."""
    return write_csv(table[LEAKS_COLUMNS], resolve(workdir, LEAKS))


def read_leaks(source: Source, *, required: bool = True) -> pd.DataFrame | None:
    """``leaks.csv`` as text (``score`` as float); None when absent and not required."""
    return _table(source, LEAKS, LEAKS_COLUMNS, "labelclean dedupe --against DIR", required)
