"""Reading a labels file (and any CSV header) the way people actually save them.

CSV quoting is honoured everywhere a header is parsed, so a class or column name may hold
the delimiter, a quote or a newline (``"Leaf, healthy"``, ``Mosaic "CMD"``).
:func:`read_labels_table` reads the labels file as text and checks its columns and ids;
:func:`label_values` turns its label column into labels (``NaN``, ``NA``, empty: unlabeled).
"""

from __future__ import annotations

import csv
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from labelclean.errors import LabelsFileError

_DELIMITERS = [",", "\t", ";", "|"]
_INT_RE = re.compile(r"^-?(0|[1-9][0-9]*)$")
#: A quoted span of a header line (to its end when the quote closes on a later line).
_QUOTED_RE = re.compile(r'"[^"]*(?:"|$)')
#: Label texts that mean "no label" (pandas' missing-value texts): such an image is
#: unlabeled (scanned, not scored), never a class.
NA_TEXTS = frozenset({
    "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
    "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null",
})


def parse_labels(values: Any) -> list[Any]:
    """Turn label strings into labels: ints when every non-empty value is a plain integer.

    Empty strings and missing values become ``None`` (unlabeled). ``"03"`` is not a plain
    integer, so a column holding it stays strings and round-trips unchanged.
    """
    raw = ["" if v is None or (isinstance(v, float) and v != v) else str(v).strip()
           for v in values]
    present = [v for v in raw if v != ""]
    as_int = bool(present) and all(_INT_RE.match(v) for v in present)
    return [None if v == "" else (int(v) if as_int else v) for v in raw]


def label_values(column: pd.Series) -> list[Any]:
    """The labels of a labels file's label column: :data:`NA_TEXTS` (``NaN``, ``NA``,
    empty, ...) are None (unlabeled) and do not stop the others being ints."""
    text = column.astype(str).str.strip()
    return parse_labels(text.where(~text.isin(NA_TEXTS), ""))


def sniff_delimiter(header: str) -> str | None:
    """The delimiter of a CSV header line: the most frequent of ``,``, tab, ``;`` and ``|``
    outside quoted names (``,`` on a tie), or None when the line holds none of them."""
    bare = _QUOTED_RE.sub("", header)
    counts = {d: bare.count(d) for d in _DELIMITERS}
    best = max(counts, key=counts.get)
    return best if counts[best] else None


def read_header(path: str | Path) -> tuple[list[str], str]:
    """The column names of a CSV file (stripped; CSV quoting honoured, so a name may hold
    the delimiter, a quote or a newline) and its delimiter (``,`` when none is found)."""
    with open(path, encoding="utf-8-sig", errors="replace", newline="") as fh:
        delimiter = sniff_delimiter(fh.readline()) or ","
        fh.seek(0)
        try:
            row = next(csv.reader(fh, delimiter=delimiter), [])
        except csv.Error:  # a name longer than csv's field limit, or a stray NUL
            row = []
    return [c.strip().lstrip("\ufeff").strip() for c in row], delimiter


def _detect_delimiter(path: Path, header: str) -> str:
    best = sniff_delimiter(header)
    if best is None:
        raise LabelsFileError(
            f"labels file {path}: cannot detect the delimiter: the header line {header!r} "
            "has no ',', tab, ';' or '|' between column names; save it as CSV")
    return best


def _read_text_table(path: Path, delimiter: str) -> pd.DataFrame:
    try:
        # index_col=False: a trailing delimiter on every row (a common spreadsheet export)
        # must not turn the first column into the index and shift the others
        with warnings.catch_warnings():  # ragged rows are read right; no need to warn
            warnings.simplefilter("ignore", pd.errors.ParserWarning)
            table = pd.read_csv(path, sep=delimiter, dtype=str, keep_default_na=False,
                                encoding="utf-8-sig", quoting=csv.QUOTE_MINIMAL,
                                index_col=False)
    except UnicodeDecodeError as exc:
        raise LabelsFileError(f"labels file {path} is not UTF-8 text (it holds the byte "
                              f"0x{exc.object[exc.start]:02x}, as Latin-1 or Windows-1252 "
                              "text does); save it as CSV UTF-8") from None
    except pd.errors.ParserError as exc:
        raise LabelsFileError(f"labels file {path} cannot be parsed: "
                              f"{str(exc).strip()}") from None
    table.columns = [str(c).strip() for c in table.columns]
    return table


def read_labels_table(path: str | Path, id_col: str, label_col: str | None,
                      path_col: str | None = None) -> pd.DataFrame:
    """Read a labels file as a table of strings, checking the columns and ids.

    Returns the file's own columns, every cell a string (so it can be written back
    unchanged as ``clean.csv``).
    """
    path = Path(path)
    if not path.exists():
        raise LabelsFileError(f"labels file {path} does not exist; pass `labels` FILE")
    if path.is_dir():
        raise LabelsFileError(f"labels file {path} is a folder; pass the CSV file itself")
    with open(path, "rb") as fh:
        head = fh.read(65536)
    if head[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise LabelsFileError(f"labels file {path} is UTF-16 text (it starts with a UTF-16 "
                              "byte-order mark); expected UTF-8: save it as CSV UTF-8")
    text_head = head.decode("utf-8-sig", errors="replace")
    if not text_head.strip():
        raise LabelsFileError(f"labels file {path} is empty; expected a header line such "
                              f"as '{id_col},{label_col or 'label'}' and one row per image")
    header = text_head.lstrip().splitlines()[0]
    delimiter = _detect_delimiter(path, header) if (
        header.strip() not in (id_col, path_col)) else ","
    table = _read_text_table(path, delimiter)
    columns = ", ".join(table.columns)
    for col, key in ((id_col, "id_col"), (path_col, "path_col"), (label_col, "label_col")):
        if col and col not in table.columns:
            raise LabelsFileError(f"labels file {path} has no column '{col}' "
                                  f"(columns: {columns}); pass `{key}` NAME")
    if table.empty:
        raise LabelsFileError(f"labels file {path} has a header but no rows; add one row "
                              "per image, or leave out `labels` for an unlabeled folder")
    _check_keys(path, table[path_col or id_col].str.strip(), path_col or id_col)
    return table


def _check_keys(path: Path, keys: pd.Series, key_col: str) -> None:
    blank = keys == ""
    if blank.any():
        row = int(blank.to_numpy().nonzero()[0][0]) + 2
        raise LabelsFileError(f"labels file {path}: row {row} has an empty '{key_col}'; "
                              "give every row the image it labels")
    dup = keys.duplicated(keep=False)
    if dup.any():
        first = keys[dup].iloc[0]
        rows = [int(i) + 2 for i in np.flatnonzero((keys == first).to_numpy())[:3]]
        raise LabelsFileError(
            f"labels file {path}: image id '{first}' appears {int((keys == first).sum())} times "
            f"(rows {', '.join(map(str, rows))}); each image must have exactly one row")
