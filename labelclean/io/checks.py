"""Small named checks of the work directory's files, whose messages read alike.

Each check raises the error class it is given (a :class:`~labelclean.errors.LabelcleanError`
subclass) with a message naming the file, what was expected, what was found, and the fix:
``<file> has no column 'x' (expected a, b; found c); <fix>``. Also the CSV values every
stage reads the same way: booleans (:func:`as_bool`) and labels (:func:`is_labeled`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from labelclean.errors import MissingStageError

#: CSV cells read as true (after stripping, any case); every other value is false.
TRUE_TEXTS = ("true", "1", "yes")


def resolve(source: str | os.PathLike, name: str) -> Path:
    """``source`` itself when it names a file like ``name``, else ``source / name``.

    A work directory, or the file itself: ``resolve(wd, "duplicates.csv")`` and
    ``resolve(wd / "duplicates.csv", "duplicates.csv")`` are the same path.
    """
    path = Path(source)
    if path.is_dir() or path.suffix.lower() != Path(name).suffix.lower():
        return path / name
    return path


def check_exists(path: Path, command: str) -> None:
    """MissingStageError ``<path> does not exist; run '<command>' first`` if it is absent."""
    if not path.exists():
        raise MissingStageError(f"{path} does not exist; run '{command}' first")


def read_csv_text(path: Path, error: type[Exception], fix: str, **kwargs: Any) -> pd.DataFrame:
    """A CSV as a table of strings ("" for empty cells); unreadable -> ``error`` with ``fix``."""
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False, **kwargs)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise error(f"{path} cannot be read as CSV ({exc}); {fix}") from None


def check_columns(table: pd.DataFrame, required: Sequence[str], source: Any,
                  error: type[Exception], fix: str) -> pd.DataFrame:
    """``table`` unchanged if it has every ``required`` column, else ``error``."""
    absent = [c for c in required if c not in table.columns]
    if absent:
        raise error(f"{source} has no column {', '.join(repr(c) for c in absent)} "
                    f"(expected {', '.join(required)}; found {', '.join(map(str, table.columns))})"
                    f"; {fix}")
    return table


def check_values(values: pd.Series, allowed: Sequence[str], column: str, source: Any,
                 error: type[Exception], fix: str) -> None:
    """Every value of ``values`` is one of ``allowed``, else ``error`` naming the strays."""
    bad = sorted(set(values) - set(allowed))
    if bad:
        raise error(f"{source}: unknown {column} {', '.join(repr(b) for b in bad[:5])} "
                    f"(expected one of {', '.join(allowed)}); {fix}")


def check_unit_interval(values: pd.Series, column: str, source: Any, error: type[Exception],
                        fix: str) -> None:
    """Numeric cells of ``values`` lie in [0, 1] (empty cells are allowed), else ``error``."""
    numbers = pd.to_numeric(values.replace("", None), errors="coerce")
    if ((numbers < 0) | (numbers > 1)).any():
        raise error(f"{source}: {column} must lie in [0, 1], found "
                    f"{numbers.min():g}..{numbers.max():g}; {fix}")


# -- values ------------------------------------------------------------------------------------

def as_bool(values: Iterable[Any]) -> np.ndarray:
    """CSV booleans as a (N,) bool array: ``true``/``1``/``yes`` (any case, stripped) are
    true, everything else false; a bool column passes through."""
    series = values if isinstance(values, pd.Series) else pd.Series(list(values), dtype=object)
    if series.dtype == bool:
        return series.to_numpy()
    return series.astype(str).str.strip().str.lower().isin(TRUE_TEXTS).to_numpy()


def is_labeled(labels: Iterable[Any]) -> np.ndarray:
    """(N,) bool: True where a label is present. None, NaN and "" mean unlabeled (the scan
    writes "" for an unlabeled image and :func:`labelclean.io.formats.read_index` reads it
    back as None)."""
    series = labels if isinstance(labels, pd.Series) else pd.Series(list(labels), dtype=object)
    return (series.notna() & (series.astype(str) != "")).to_numpy(bool)
