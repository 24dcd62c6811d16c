"""Dataset intake: a labels CSV + images folder, an ImageFolder tree, or an unlabeled folder.

The result is a :class:`Dataset`: one :class:`ImageRecord` per image (listed in the labels
file, found on disk, or both), each with its path relative to the images root and its label
in the labels file's own type (ints stay ints, strings stay strings).
"""

from __future__ import annotations

import csv
import json
import os
import re
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from labelclean.errors import ConfigError, LabelsFileError

IMAGE_EXTENSIONS = frozenset({
    ".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".gif", ".webp", ".bmp", ".dib", ".tif",
    ".tiff", ".ppm", ".pgm", ".pbm", ".pnm", ".ico", ".tga",
})
MISSING = "missing file"
OUTSIDE = "outside images root"
_DELIMITERS = [",", "\t", ";", "|"]
_INT_RE = re.compile(r"^-?(0|[1-9][0-9]*)$")


@dataclass
class ImageRecord:
    """One image of the dataset.

    ``path`` is relative to the images root (POSIX separators); ``problem`` is set when
    the file must not or cannot be opened (``missing file``, ``outside images root``).
    """

    image_id: str
    path: str
    label: Any = None
    problem: str | None = None


@dataclass
class Dataset:
    """The images of a dataset and their labels."""

    root: Path
    records: list[ImageRecord]
    kind: str  # "csv", "imagefolder" or "unlabeled"
    classes: list[Any] = field(default_factory=list)
    labels_file: Path | None = None
    id_col: str = "image_id"
    label_col: str = "label"
    path_col: str | None = None

    @property
    def has_labels(self) -> bool:
        return bool(self.classes)

    def abspath(self, record: ImageRecord) -> Path:
        return self.root / record.path

    def __len__(self) -> int:
        return len(self.records)


def parse_labels(values: Iterable[Any]) -> list[Any]:
    """Turn label strings into labels: ints when every non-empty value is a plain integer.

    Empty strings and missing values become ``None`` (unlabeled). ``"03"`` is not a plain
    integer, so a column holding it stays strings and round-trips unchanged.
    """
    raw = ["" if v is None or (isinstance(v, float) and v != v) else str(v).strip()
           for v in values]
    present = [v for v in raw if v != ""]
    as_int = bool(present) and all(_INT_RE.match(v) for v in present)
    return [None if v == "" else (int(v) if as_int else v) for v in raw]


def sort_classes(labels: Iterable[Any]) -> list[Any]:
    """Deterministic class order: numeric for ints, lexicographic for strings."""
    values = {v for v in labels if v is not None}
    if all(isinstance(v, int) for v in values):
        return sorted(values)
    return sorted(values, key=str)


def load_class_names(path: str | Path | None) -> dict[str, str]:
    """Read an optional ``{label: name}`` JSON mapping (keys compared as strings)."""
    if path is None:
        return {}
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"class names file {path} does not exist") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"class names file {path} is not JSON ({exc}); expected "
                          '{"0": "name", ...}') from None
    if not isinstance(data, dict):
        raise ConfigError(f"class names file {path} must hold a JSON object "
                          '{"label": "name", ...}')
    return {str(k): str(v) for k, v in data.items()}


# -- reading the labels file ------------------------------------------------------------

def sniff_delimiter(header: str) -> str | None:
    """The delimiter of a CSV header line: the most frequent of ``,``, tab, ``;`` and ``|``
    (``,`` on a tie), or None when the line holds none of them."""
    counts = {d: header.count(d) for d in _DELIMITERS}
    best = max(counts, key=counts.get)
    return best if counts[best] else None


def _detect_delimiter(path: Path, header: str) -> str:
    best = sniff_delimiter(header)
    if best is None:
        raise LabelsFileError(
            f"labels file {path}: cannot detect the delimiter: the header line {header!r} "
            "has no ',', tab, ';' or '|' between column names; save it as CSV")
    return best


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
    text_head = path.read_bytes()[:65536].decode("utf-8-sig", errors="replace")
    if not text_head.strip():
        raise LabelsFileError(f"labels file {path} is empty; expected a header line such "
                              f"as '{id_col},{label_col or 'label'}' and one row per image")
    header = text_head.lstrip().splitlines()[0]
    delimiter = _detect_delimiter(path, header) if (
        header.strip() not in (id_col, path_col)) else ","
    try:
        # index_col=False: a trailing delimiter on every row (a common spreadsheet export)
        # must not turn the first column into the index and shift the others
        with warnings.catch_warnings():  # ragged rows are read right; no need to warn
            warnings.simplefilter("ignore", pd.errors.ParserWarning)
            table = pd.read_csv(path, sep=delimiter, dtype=str, keep_default_na=False,
                                encoding="utf-8-sig", quoting=csv.QUOTE_MINIMAL,
                                index_col=False)
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise LabelsFileError(f"labels file {path} cannot be parsed: "
                              f"{str(exc).strip()}") from None
    table.columns = [str(c).strip() for c in table.columns]
    columns = ", ".join(table.columns)
    key_col = path_col or id_col
    for col, key in ((id_col, "id_col"), (path_col, "path_col"), (label_col, "label_col")):
        if col and col not in table.columns:
            raise LabelsFileError(f"labels file {path} has no column '{col}' "
                                  f"(columns: {columns}); pass `{key}` NAME")
    if table.empty:
        raise LabelsFileError(f"labels file {path} has a header but no rows")
    keys = table[key_col].str.strip()
    blank = keys == ""
    if blank.any():
        row = int(blank.to_numpy().nonzero()[0][0]) + 2
        raise LabelsFileError(f"labels file {path}: row {row} has an empty '{key_col}'")
    dup = keys.duplicated(keep=False)
    if dup.any():
        first = keys[dup].iloc[0]
        rows = [int(i) + 2 for i in np.flatnonzero((keys == first).to_numpy())[:3]]
        raise LabelsFileError(
            f"labels file {path}: image id '{first}' appears {int((keys == first).sum())} times "
            f"(rows {', '.join(map(str, rows))}); each image must have exactly one row")
    return table


# -- walking the images folder ----------------------------------------------------------

def list_image_files(root: Path, exclude: Iterable[Path] = ()) -> list[str]:
    """Every image file under ``root`` (nested folders too), as sorted relative POSIX paths.

    Hidden files and folders (starting with '.') and the ``exclude`` folders are skipped;
    symbolic links to folders are not followed.
    """
    excluded = {Path(p).resolve() for p in exclude}
    found: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".")
                             and (here / d).resolve() not in excluded)
        for name in filenames:
            if name.startswith(".") or Path(name).suffix.lower() not in IMAGE_EXTENSIONS:
                continue
            found.append((here / name).relative_to(root).as_posix())
    return sorted(found)


def is_inside(root: Path, candidate: Path) -> bool:
    """True when ``candidate`` (symlinks resolved) lies inside ``root``."""
    try:
        candidate.resolve().relative_to(root.resolve())
        return True
    except (ValueError, OSError):
        return False


def _walked_inside(root: Path, rel: str) -> bool:
    """Whether a file found by walking ``root`` lies inside it.

    The walk does not follow symlinked folders, so such a file is inside unless it is
    itself a symlink pointing out: one ``lstat``, not a full path resolution, per file.
    """
    path = root / rel
    return not os.path.islink(path) or is_inside(root, path)


def _safe_relative(root: Path, given: str, walked: set[str]) -> tuple[str, str | None]:
    """Map a path from the labels file to (relative path, problem)."""
    p = Path(given)
    if p.is_absolute():
        return given, OUTSIDE
    if ".." not in p.parts and p.as_posix() in walked:
        return (p.as_posix(), None) if _walked_inside(root, p.as_posix()) else (given, OUTSIDE)
    if not is_inside(root, root / p):
        return given, OUTSIDE
    return p.as_posix(), None


def load_dataset(images: str | Path, labels: str | Path | None = None, *,
                 id_col: str = "image_id", label_col: str = "label",
                 path_col: str | None = None, exclude: Iterable[Path] = ()) -> Dataset:
    """Build the dataset from an images folder and an optional labels file.

    Without a labels file, first-level sub-folders are classes (ImageFolder); a folder
    with no sub-folders of images is an unlabeled dataset.
    """
    root = Path(images)
    if not root.exists():
        raise ConfigError(f"images folder {root} does not exist; pass `images` DIR")
    if not root.is_dir():
        raise ConfigError(f"`images` must be a folder, but {root} is a file")
    files = list_image_files(root, exclude=exclude)
    if labels is None:
        return _from_folder(root, files)
    return _from_labels_file(root, files, Path(labels), id_col, label_col, path_col)


def _from_folder(root: Path, files: list[str]) -> Dataset:
    # folder names parsed like a labels column: '0'..'9' become ints, as index.csv reads back
    labels = parse_labels(f.split("/", 1)[0] if "/" in f else None for f in files)
    kind = "imagefolder" if any(lbl is not None for lbl in labels) else "unlabeled"
    records = [ImageRecord(image_id=f, path=f, label=lbl,
                           problem=None if _walked_inside(root, f) else OUTSIDE)
               for f, lbl in zip(files, labels)]
    return Dataset(root=root, records=records, kind=kind, classes=sort_classes(labels))


def _from_labels_file(root: Path, files: list[str], labels_file: Path, id_col: str,
                      label_col: str, path_col: str | None) -> Dataset:
    table = read_labels_table(labels_file, id_col, label_col, path_col)
    on_disk = set(files)
    by_stem: dict[str, str] = {}
    for f in files:
        by_stem.setdefault(f.rsplit(".", 1)[0], f)
    label_values = parse_labels(table[label_col])
    ids = table[id_col].str.strip().tolist()
    given_paths = table[path_col].str.strip().tolist() if path_col else ids
    records, used = [], set()
    for image_id, given, label in zip(ids, given_paths, label_values):
        rel, problem = _safe_relative(root, given, on_disk)
        if problem is None:
            if rel not in on_disk and not (root / rel).is_file():
                rel = by_stem.get(rel, rel)
            if rel not in on_disk and not (root / rel).is_file():
                problem = MISSING
            elif not (_walked_inside(root, rel) if rel in on_disk
                      else is_inside(root, root / rel)):
                problem = OUTSIDE
        used.add(rel)
        records.append(ImageRecord(image_id=image_id, path=rel, label=label, problem=problem))
    listed_ids = set(ids)
    for f in files:
        if f not in used and f not in listed_ids:
            records.append(ImageRecord(image_id=f, path=f, label=None,
                                       problem=None if _walked_inside(root, f) else OUTSIDE))
    return Dataset(root=root, records=records, kind="csv", classes=sort_classes(label_values),
                   labels_file=labels_file, id_col=id_col, label_col=label_col,
                   path_col=path_col)
