"""Reading out-of-fold (OOF) predictions the way people actually save them, and checking them.

Accepted files:

* CSV or Parquet with an id column and one probability column per class, named by the
  class value (``3``, ``cbb``), ``prob_<class>``, ``pred_<class>`` or ``<class>_prob``;
  optional ``label`` and ``fold`` columns. ``oof.csv`` written by ``labelclean oof``
  (``image_id, label, fold, <one column per class>``) needs no options.
* ``.npy``: an (N, K) array, one row per labeled image in labels-file order, columns in
  class order.

Logits are soft-maxed only when asked (``logits=True``), never guessed. Every check runs
before anything is computed and raises :class:`~labelclean.errors.OOFError` with the fix.
Fitting the files to the dataset (and :func:`~labelclean.oof.align.load_oof`, the entry
point) is in :mod:`labelclean.oof.align`; combining several in :mod:`labelclean.oof.ensemble`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from labelclean.arrays import softmax
from labelclean.errors import OOFError
from labelclean.io.labelsfile import read_header

#: Names recognised as the id column, in order of preference (after an explicit one).
ID_COLUMNS = ("image_id", "id", "image", "filename", "file", "path")
#: Columns that are never class probabilities.
META_COLUMNS = ("label", "fold", "kfold", "target", "given_label")
#: A row of probabilities may miss 1 by this much (files often round to 3-4 decimals).
SUM_TOLERANCE = 1e-2
COLUMN_STYLES = "name them by class value, prob_<class>, pred_<class> or <class>_prob"


@dataclass
class OOFTable:
    """One OOF file, read and checked.

    ``probs`` is (N, K) float64 in class order, rows summing to 1 (soft-maxed if the file
    held logits). ``ids`` is (N,) strings, or ``None`` for a ``.npy`` (labels-file order).
    ``labels`` holds the file's own label column as strings, if it had one.
    """

    source: str
    probs: np.ndarray
    ids: np.ndarray | None = None
    labels: np.ndarray | None = None
    columns: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _name(path: Path) -> str:
    return f"OOF file {path}"


def preview(values: Sequence[Any], n: int = 3) -> str:
    """The first ``n`` values, as text for a message."""
    return ", ".join(str(v) for v in list(values)[:n])


# -- reading ------------------------------------------------------------------------------

def read_oof(path: str | Path, classes: Sequence[Any], *, id_col: str | None = None,
             label_col: str | None = None, logits: bool = False) -> OOFTable:
    """Read and check one OOF file (``.csv``, ``.parquet``/``.pq`` or ``.npy``).

    Parameters
    ----------
    path : the file.
    classes : the dataset's K classes, in the order the probability columns are returned.
    id_col : the id column; default: the first of :data:`ID_COLUMNS` present.
    label_col : the labels file's label column (also treated as a non-probability column).
    logits : soft-max each row (the file holds logits); without it, values must already be
        probabilities.

    Returns an :class:`OOFTable` with ``probs`` of shape (N, K).
    """
    path = Path(path)
    if not path.exists():
        raise OOFError(f"{_name(path)} does not exist; pass the path of your out-of-fold "
                       "predictions, or make them with 'labelclean oof'")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        table = _read_npy(path, len(classes))
    elif suffix in (".csv", ".parquet", ".pq", ".tsv", ".txt"):
        table = _read_table(path, classes, id_col, label_col)
    else:
        raise OOFError(f"{_name(path)}: unsupported format '{path.suffix}'; expected .csv, "
                       ".parquet or .npy")
    table.probs = check_probabilities(table.probs, table.source, table.ids, logits=logits,
                                      warnings=table.warnings)
    return table


def _read_npy(path: Path, n_classes: int) -> OOFTable:
    with open(path, "rb") as fh:
        if fh.read(6) != b"\x93NUMPY":
            raise OOFError(f"{_name(path)} is not a NumPy .npy file (it has no .npy header); "
                           "save the (N, K) array with numpy.save, or pass a CSV or Parquet")
    try:
        probs = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise OOFError(f"{_name(path)} cannot be read as a NumPy array ({exc})") from None
    if probs.ndim != 2:
        raise OOFError(f"{_name(path)}: expected a 2-d array (N, K), found shape "
                       f"{tuple(probs.shape)}")
    if probs.shape[1] != n_classes:
        raise OOFError(f"{_name(path)}: expected {n_classes} probability columns (one per "
                       f"class), found {probs.shape[1]}; a .npy must hold one column per "
                       "class, in class order")
    return OOFTable(source=_name(path), probs=np.asarray(probs, dtype=np.float64))


def _read_table(path: Path, classes: Sequence[Any], id_col: str | None,
                label_col: str | None) -> OOFTable:
    source = _name(path)
    parquet = path.suffix.lower() in (".parquet", ".pq")
    if parquet:
        import pyarrow.parquet as pq

        try:
            columns = [str(c) for c in pq.read_schema(path).names]
        except (OSError, ValueError) as exc:  # ArrowInvalid is a ValueError
            raise OOFError(f"{source} cannot be read as Parquet ({exc})") from None
        delimiter = ","
    else:
        columns, delimiter = read_header(path)
    id_name = _id_column(source, columns, id_col)
    meta = {id_name, label_col, *META_COLUMNS} - {None}
    class_cols = match_class_columns(source, [c for c in columns if c not in meta], classes)
    label_name = next((c for c in (label_col, "label") if c and c in columns and c != id_name),
                      None)
    wanted = [id_name, *( [label_name] if label_name else []), *class_cols]
    arrow = _read_parquet(path, wanted) if parquet else _read_csv(
        path, columns, wanted, (id_name, label_name), delimiter)
    ids = _strings(arrow.column(id_name))
    probs = np.column_stack([arrow.column(c).cast("float64").to_numpy(zero_copy_only=False)
                             for c in class_cols]) if len(ids) else np.zeros((0, len(classes)))
    labels = _strings(arrow.column(label_name)) if label_name else None
    _check_unique_ids(source, ids)
    return OOFTable(source=source, probs=probs, ids=ids, labels=labels, columns=class_cols)


def _strings(column) -> np.ndarray:
    """An arrow column as an object array of stripped strings."""
    import pyarrow.compute as pc

    trimmed = pc.utf8_trim_whitespace(column.cast("string"))
    return np.asarray(trimmed.to_numpy(zero_copy_only=False), dtype=object)


def _read_csv(path: Path, columns: list[str], wanted: list[str],
              text_columns: tuple[str, str | None], delimiter: str):
    """The ``wanted`` columns of a CSV whose header is ``columns`` (as :func:`read_header`
    read it: quoted names with delimiters, quotes or newlines, stripped); values may hold
    newlines too. ``text_columns`` (id, label) are strings, the others float64."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    types = {c: pa.float64() for c in wanted}
    types.update({c: pa.string() for c in text_columns if c})
    try:
        return pacsv.read_csv(
            path, read_options=pacsv.ReadOptions(column_names=columns, skip_rows_after_names=1),
            parse_options=pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(column_types=types, include_columns=wanted,
                                                 strings_can_be_null=False))
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        raise OOFError(f"{_name(path)} cannot be parsed as CSV with numeric probability "
                       f"columns ({exc})") from None


def _read_parquet(path: Path, wanted: list[str]):
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return pq.read_table(path, columns=wanted)
    except (pa.ArrowInvalid, OSError) as exc:
        raise OOFError(f"{_name(path)} cannot be read as Parquet ({exc})") from None


def _id_column(source: str, columns: list[str], id_col: str | None) -> str:
    candidates = [id_col] if id_col else list(ID_COLUMNS)
    for name in candidates:
        if name in columns:
            return name
    raise OOFError(f"{source} has no id column (looked for {', '.join(candidates)}; found "
                   f"{', '.join(columns)}); name it image_id or set `oof_id_col`")


def _class_of(column: str, by_name: dict[str, int]) -> int | None:
    if column in by_name:
        return by_name[column]
    low = column.lower()
    for prefix in ("prob_", "pred_"):
        if low.startswith(prefix) and column[len(prefix):] in by_name:
            return by_name[column[len(prefix):]]
    if low.endswith("_prob") and column[:-5] in by_name:
        return by_name[column[:-5]]
    return None


def match_class_columns(source: str, candidates: list[str], classes: Sequence[Any]) -> list[str]:
    """Map probability columns to classes; returns the column names in class order.

    A column matches class ``c`` when named ``c``, ``prob_c``, ``pred_c`` or ``c_prob``.
    Raises when the number of columns is not K, or a column matches no class.
    """
    by_name = {str(c): i for i, c in enumerate(classes)}
    names = preview(classes, len(classes))
    if len(candidates) != len(classes):
        raise OOFError(f"{source}: expected {len(classes)} probability columns (one per "
                       f"class: {names}), found {len(candidates)}: {preview(candidates, 12)}; "
                       f"{COLUMN_STYLES}")
    matched = {c: _class_of(c, by_name) for c in candidates}
    unmatched = [c for c, k in matched.items() if k is None]
    if unmatched:
        many = len(unmatched) > 1
        raise OOFError(f"{source}: column{'s' if many else ''} "
                       f"{', '.join(repr(c) for c in unmatched)} match{'' if many else 'es'} "
                       f"no class of the labels file (classes: {names}); {COLUMN_STYLES}")
    order = sorted(candidates, key=lambda c: matched[c])
    if len({matched[c] for c in candidates}) != len(candidates):
        seen: dict[int, str] = {}
        for c in order:
            if matched[c] in seen:
                raise OOFError(f"{source}: columns '{seen[matched[c]]}' and '{c}' both name "
                               f"class {classes[matched[c]]}; keep one column per class")
            seen[matched[c]] = c
    return order


def _check_unique_ids(source: str, ids: np.ndarray) -> None:
    import pandas as pd

    dup = pd.Series(ids).duplicated(keep=False).to_numpy()
    if dup.any():
        first = ids[dup][0]
        raise OOFError(f"{source}: id '{first}' appears {int((ids == first).sum())} times; "
                       "each image needs exactly one row (average repeated predictions "
                       "first)")


# -- values ---------------------------------------------------------------------------------

def _row_label(ids: np.ndarray | None, row: int) -> str:
    return f"id '{ids[row]}'" if ids is not None else f"row {row}"


def check_probabilities(probs: np.ndarray, source: str, ids: np.ndarray | None = None, *,
                        logits: bool = False, tolerance: float = SUM_TOLERANCE,
                        warnings: list[str] | None = None) -> np.ndarray:
    """Check an (N, K) array of probabilities (or logits) and return it normalised.

    Raises on NaN/inf, negative values, and rows whose sum misses 1 by more than
    ``tolerance``; with ``logits=True`` only NaN/inf are errors and rows are soft-maxed.
    A row that is entirely empty (all NaN) means "no prediction": it stays NaN here, and
    :func:`~labelclean.oof.align.align_oof` accepts it only for an image that needs none
    (an unreadable one).
    """
    probs = np.asarray(probs, dtype=np.float64)
    empty = np.isnan(probs).all(axis=1) if probs.shape[1] else np.zeros(len(probs), bool)
    bad = ~np.isfinite(probs).all(axis=1) & ~empty
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise OOFError(f"{source}: {int(bad.sum()):,} rows hold NaN, empty or infinite "
                       f"values (first: {_row_label(ids, row)}); re-predict or fill them")
    if logits:
        if len(probs) and _looks_like_probabilities(probs, tolerance) and warnings is not None:
            warnings.append(f"{source}: `logits` is set but the rows already look like "
                            "probabilities (in [0, 1], summing to 1); soft-maxing flattens "
                            "them: unset `logits` if they are probabilities")
        return softmax(probs)
    negative = (probs < 0).any(axis=1)
    if negative.any():
        row = int(np.flatnonzero(negative)[0])
        raise OOFError(f"{source}: {int(negative.sum()):,} rows hold negative values (first: "
                       f"{_row_label(ids, row)}, {probs[row].min():.4g}); probabilities "
                       "must be >= 0; if the file holds logits, set `logits`")
    sums = probs.sum(axis=1)
    off = np.abs(sums - 1) > tolerance
    if off.any():
        row = int(np.flatnonzero(off)[0])
        raise OOFError(f"{source}: {int(off.sum()):,} rows do not sum to 1 (tolerance "
                       f"{tolerance:g}; first: {_row_label(ids, row)} sums to "
                       f"{sums[row]:.4g}); if the file holds logits, set `logits`, "
                       "otherwise normalise each row")
    return probs / sums[:, None] if len(probs) else probs


def _looks_like_probabilities(values: np.ndarray, tolerance: float) -> bool:
    return bool((values >= 0).all() and (np.abs(values.sum(axis=1) - 1) <= tolerance).all())
