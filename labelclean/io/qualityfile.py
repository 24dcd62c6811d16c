"""``quality.csv``: one row per image, its image-quality issues and scores.

Columns (:data:`QUALITY_COLUMNS`): ``image_id``, ``issues`` (the flagged names,
``;``-separated, in :data:`labelclean.scan.quality.ISSUES` order; ``""`` when none), then
one ``<check>_score`` per check in [0, 1], **lower is worse**, and ``outlier_score``
(empty until ``labelclean noise`` has embeddings to score outliers from). Unreadable files
have empty scores. The scan writes the image checks; the noise stage rewrites the file
with the outlier scores added. :func:`read_quality` and :func:`write_quality` are its one
reader and writer.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from labelclean.errors import WorkdirFileError
from labelclean.io.checks import check_columns, check_exists, read_csv_text, resolve
from labelclean.io.workdir import QUALITY, write_csv

#: The issues ``quality.csv`` may list (the image checks, then ``outlier``).
QUALITY_ISSUES = ("dark", "light", "blurry", "low_information", "grayscale",
                  "odd_aspect_ratio", "odd_size", "outlier")
QUALITY_COLUMNS = ["image_id", "issues"] + [f"{name}_score" for name in QUALITY_ISSUES]
_FIX = "run 'labelclean scan --force'"


def read_quality(source: str | os.PathLike, *, required: bool = True) -> pd.DataFrame | None:
    """``quality.csv`` with float scores (NaN where empty) and ``issues`` as text.

    ``source`` is the work directory or the file; absent: MissingStageError naming
    ``labelclean scan``, or None when not ``required``.
    """
    path = resolve(source, QUALITY)
    if not required and not path.exists():
        return None
    check_exists(path, "labelclean scan")
    table = read_csv_text(path, WorkdirFileError, _FIX)
    check_columns(table, QUALITY_COLUMNS, path, WorkdirFileError, _FIX)
    for col in QUALITY_COLUMNS[2:]:
        values = pd.to_numeric(table[col].replace("", None), errors="coerce")
        if values.isna().sum() > (table[col] == "").sum():
            raise WorkdirFileError(f"{path}: column {col} must hold numbers in [0, 1]; {_FIX}")
        table[col] = values.astype(float)
    return table


def write_quality(table: pd.DataFrame, target: str | os.PathLike) -> Path:
    """Write ``quality.csv`` (exactly :data:`QUALITY_COLUMNS`, scores rounded to 4
    decimals), atomically; ``target`` is the work directory or the file."""
    out = table[QUALITY_COLUMNS].copy()
    for col in QUALITY_COLUMNS[2:]:
        out[col] = out[col].astype(float).round(4)
    return write_csv(out, resolve(target, QUALITY))
