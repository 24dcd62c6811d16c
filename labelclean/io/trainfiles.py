"""The train stage's files in the work directory: their names, columns, readers and writers.

* ``train/<recipe>/metrics.csv``: one row per epoch (``epoch``, the method's mean losses,
  ``heldout_accuracy``, ``lr``, ``seconds``, then the method's own columns):
  :func:`read_metrics`;
* ``train/comparison.csv`` (:data:`COMPARISON_COLUMNS`, then ``recall_<class>`` per class,
  then ``note``): one row per recipe of ``labelclean train --compare``:
  :func:`comparison_table`, :func:`write_comparison`, :func:`read_comparison`.

Accuracy and recall are in [0, 1], higher is better; empty when the recipe did not run.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from labelclean.errors import WorkdirFileError
from labelclean.io.workdir import TRAIN_DIR, write_csv  # noqa: F401

Source = str | os.PathLike

COMPARISON = "comparison.csv"
METRICS = "metrics.csv"
COMPARISON_COLUMNS = ["recipe", "method", "labels_from", "n_train", "n_unlabeled",
                      "heldout_accuracy", "seconds", "epochs"]


def comparison_table(rows: Sequence[dict[str, Any]], classes: Sequence[Any]) -> pd.DataFrame:
    """The ``comparison.csv`` table of ``rows`` (each: the :data:`COMPARISON_COLUMNS`,
    ``recall`` {class text: recall or None} and ``note``)."""
    records = []
    for row in rows:
        record = {c: row.get(c) for c in COMPARISON_COLUMNS}
        recall = row.get("recall") or {}
        record.update({f"recall_{c}": recall.get(str(c)) for c in classes})
        record["note"] = row.get("note", "")
        records.append(record)
    columns = COMPARISON_COLUMNS + [f"recall_{c}" for c in classes] + ["note"]
    return pd.DataFrame(records, columns=columns)


def comparison_path(workdir: Source) -> Path:
    return Path(workdir) / TRAIN_DIR / COMPARISON


def write_comparison(table: pd.DataFrame, workdir: Source) -> Path:
    """Write ``train/comparison.csv``, atomically."""
    return write_csv(table, comparison_path(workdir))


def read_comparison(workdir: Source) -> pd.DataFrame | None:
    """``train/comparison.csv`` (None when absent); a file without the
    :data:`COMPARISON_COLUMNS` raises :class:`~labelclean.errors.WorkdirFileError`."""
    path = comparison_path(workdir)
    if not path.exists():
        return None
    try:
        table = pd.read_csv(path, dtype={"recipe": str, "note": str}, keep_default_na=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise WorkdirFileError(f"{path} cannot be read as CSV ({exc}); run 'labelclean "
                               "train --compare' again") from None
    missing = [c for c in COMPARISON_COLUMNS if c not in table.columns]
    if missing:
        raise WorkdirFileError(f"{path} lacks the columns {', '.join(missing)}; run "
                               "'labelclean train --compare' again")
    table["note"] = table.get("note", pd.Series(dtype=str)).fillna("")
    return table


def read_metrics(folder: Source) -> pd.DataFrame | None:
    """A run's ``metrics.csv`` (``folder``: the run's output folder, or the file), or None
    when it is absent or unreadable."""
    path = Path(folder)
    path = path / METRICS if path.is_dir() else path
    if not path.exists():
        return None
    try:
        return pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError):
        return None
