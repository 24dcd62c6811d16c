"""Every file of the work directory: its columns, its one reader, its one atomic writer.

* ``index.csv`` (:data:`INDEX_COLUMNS`): :func:`read_index`, :func:`write_index`
  (:func:`index_ids` reads only the ids);
* ``hashes.csv`` (``image_id`` + one hex column per hash): :func:`read_hashes`,
  :func:`write_hashes`;
* ``thumbs.npy`` ((N, 32, 32) uint8): :func:`read_thumbs`, :func:`write_thumbs`;
* ``duplicates.csv`` (:data:`DUPLICATES_COLUMNS`): :func:`read_duplicates`,
  :func:`write_duplicates`;
* ``oof.csv`` / ``oof_scored.csv`` (:data:`OOF_META` + one column per class):
  :func:`oof_table` builds one, :func:`read_oof_table`, :func:`write_oof`;
* ``manifest.csv`` (:data:`MANIFEST_COLUMNS`, :data:`ACTIONS`): :func:`read_manifest`
  (also a person's edit), :func:`write_manifest`, :func:`manifest_counts`;
* ``summary.json``: :func:`read_summary`, :func:`write_summary`.

Readers take the work directory or the file itself. A file a reader needs that is absent
raises :class:`~labelclean.errors.MissingStageError` naming the command that writes it
(``required=False``: None instead); a file whose content is wrong raises the file's error
class with the checks of :mod:`labelclean.io.checks`. Also here: what every stage reads
from the scan record (:func:`images_root`) and which index rows are labeled
(:func:`labeled_mask`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from labelclean.errors import ManifestError, MissingStageError, OOFError, WorkdirFileError
from labelclean.io.checks import (
    as_bool,
    check_columns,
    check_exists,
    check_unit_interval,
    check_values,
    is_labeled,
    read_csv_text,
    resolve,
)
from labelclean.io.dataset import parse_labels
from labelclean.io.workdir import (
    DUPLICATES,
    HASHES,
    INDEX,
    MANIFEST,
    OOF,
    SUMMARY,
    THUMBS,
    Workdir,
    atomic_path,
    check_free_space,
    write_csv,
    write_csv_fast,
    write_json,
)

Source = str | os.PathLike

INDEX_COLUMNS = ["image_id", "path", "label", "readable", "error", "width", "height", "mode",
                 "format", "bytes", "sha256"]
#: ``score`` is the similarity to the group's kept copy, 1.0 = identical (higher is closer).
DUPLICATES_COLUMNS = ["group_id", "image_id", "label", "keep", "method", "score",
                      "label_conflict"]
#: The first columns of ``oof.csv``; one probability column per class follows.
OOF_META = ["image_id", "label", "fold"]
#: ``label_quality`` in [0, 1], lower is worse; ``reason`` lists every finding, ``;``-separated.
MANIFEST_COLUMNS = ["image_id", "path", "given_label", "suggested_label", "action", "reason",
                    "label_quality", "is_label_issue", "duplicate_group"]
#: Columns a manifest a person edited must keep; the others may be dropped.
MANIFEST_EDIT_COLUMNS = ["image_id", "action", "suggested_label"]
ACTIONS = ("keep", "relabel", "drop", "review")

_SCAN_FIX = "run 'labelclean scan --force'"
_DEDUPE_FIX = "run 'labelclean dedupe --force'"
_NOISE_FIX = "run 'labelclean noise' again"
_OOF_FIX = ("pass an out-of-fold file with columns image_id, label, fold and one column per "
            "class")


# -- what the scan recorded ---------------------------------------------------------------------

def labeled_mask(index: pd.DataFrame) -> np.ndarray:
    """(N,) bool: the rows of ``index`` that have a label (None, NaN or "" is unlabeled)."""
    return is_labeled(index["label"])


def missing_images_root(workdir: Source | None = None) -> MissingStageError:
    """The error of a stage that needs the images folder when no scan record names one."""
    where = f" of {workdir}" if workdir is not None else ""
    return MissingStageError(f"the scan record{where} names no existing images folder; run "
                             "'labelclean scan' again, or pass the images folder")


def images_root(workdir: Source, *, required: bool = False) -> Path | str | None:
    """The images folder the scan recorded (``index.csv`` paths are relative to it): a
    :class:`Path`, or a URI (``s3://bucket/prefix``, not asked for: the reads say).

    None when no scan record names an existing folder; with ``required``, a
    :class:`~labelclean.errors.MissingStageError` instead.
    """
    from labelclean.io.locations import is_uri

    root = ((Workdir(workdir).read_record("scan") or {}).get("dataset") or {}).get("root")
    if root and is_uri(root):
        return root
    if root and Path(root).is_dir():
        return Path(root)
    if required:
        raise missing_images_root(workdir)
    return None


# -- index.csv, hashes.csv, thumbs.npy (the scan) ---------------------------------------------

def read_index(workdir: Source) -> pd.DataFrame:
    """``index.csv`` with its types: labels as in the labels file (None: unlabeled),
    ``readable`` bool, ``width``/``height``/``bytes`` Int64 (NA for unreadable files)."""
    path = Path(workdir) / INDEX
    check_exists(path, "labelclean scan")
    frame = read_csv_text(path, WorkdirFileError, _SCAN_FIX)
    check_columns(frame, INDEX_COLUMNS, path, WorkdirFileError, _SCAN_FIX)
    frame["label"] = pd.Series(parse_labels(frame["label"]), dtype=object)
    frame["readable"] = as_bool(frame["readable"])
    for col in ("width", "height", "bytes"):
        frame[col] = pd.to_numeric(frame[col].replace("", None)).astype("Int64")
    return frame


def index_ids(workdir: Source) -> list[str] | None:
    """The ``image_id`` column of ``index.csv``, in row order (only that column is read);
    None before the scan."""
    path = Path(workdir) / INDEX
    if not path.exists():
        return None
    return pd.read_csv(path, usecols=["image_id"], dtype=str,
                       keep_default_na=False)["image_id"].tolist()


def write_index(index: pd.DataFrame, workdir: Source) -> Path:
    """Write ``index.csv`` (:data:`INDEX_COLUMNS`), atomically."""
    return write_csv(index[INDEX_COLUMNS], Path(workdir) / INDEX)


def read_hashes(workdir: Source) -> pd.DataFrame:
    """``hashes.csv``: ``image_id`` + one hex column per hash method, as text."""
    path = Path(workdir) / HASHES
    check_exists(path, "labelclean scan")
    table = read_csv_text(path, WorkdirFileError, _SCAN_FIX)
    return check_columns(table, ["image_id"], path, WorkdirFileError, _SCAN_FIX)


def write_hashes(hashes: pd.DataFrame, workdir: Source) -> Path:
    """Write ``hashes.csv``, atomically."""
    return write_csv(hashes, Path(workdir) / HASHES)


def read_thumbs(workdir: Source) -> np.ndarray:
    """``thumbs.npy``: (N, S, S) uint8 greyscale thumbnails in index order (a read-only
    memmap)."""
    path = Path(workdir) / THUMBS
    check_exists(path, "labelclean scan")
    thumbs = np.load(path, mmap_mode="r")
    if thumbs.ndim != 3 or thumbs.dtype != np.uint8:
        raise WorkdirFileError(f"{path} holds a {thumbs.dtype} array of shape {thumbs.shape}; "
                               f"expected (N, 32, 32) uint8; {_SCAN_FIX}")
    return thumbs


def write_thumbs(thumbs: np.ndarray, workdir: Source) -> Path:
    """Write ``thumbs.npy``, atomically (first checking that the disk can hold it)."""
    target = Path(workdir) / THUMBS
    check_free_space(target, thumbs.nbytes + 128)
    with atomic_path(target) as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, thumbs)
    return target


# -- duplicates.csv -----------------------------------------------------------------------------

def _stage_table(source: Source, name: str, columns: list[str], command: str,
                 error: type[Exception], fix: str, required: bool
                 ) -> tuple[Path, pd.DataFrame] | None:
    """``(path, table of strings)`` of a stage's CSV with its columns checked; None when it
    is absent and not ``required`` (else MissingStageError naming ``command``)."""
    path = resolve(source, name)
    if not required and not path.exists():
        return None
    check_exists(path, command)
    table = read_csv_text(path, error, fix)
    return path, check_columns(table, columns, path, error, fix)


def read_duplicates(source: Source, *, required: bool = True,
                    typed: bool = False) -> pd.DataFrame | None:
    """``duplicates.csv``: one row per member of a duplicate group.

    ``source`` is the work directory or the file. Absent: MissingStageError, or None when
    not ``required``. Every cell is the CSV text (the file's own columns), or with
    ``typed`` exactly :data:`DUPLICATES_COLUMNS` with ``group_id`` int, ``label`` as in the
    labels file, ``keep``/``label_conflict`` bool and ``score`` float (1.0 = identical).
    """
    found = _stage_table(source, DUPLICATES, DUPLICATES_COLUMNS, "labelclean dedupe",
                         WorkdirFileError, _DEDUPE_FIX, required)
    if found is None:
        return None
    path, table = found
    if not typed:
        return table
    table["group_id"] = table["group_id"].astype(int)
    table["label"] = pd.Series(parse_labels(table["label"]), dtype=object)
    for col in ("keep", "label_conflict"):
        table[col] = as_bool(table[col])
    table["score"] = table["score"].astype(float)
    return table[DUPLICATES_COLUMNS]


def write_duplicates(table: pd.DataFrame, workdir: Source) -> Path:
    """Write ``duplicates.csv`` (:data:`DUPLICATES_COLUMNS`), atomically."""
    return write_csv(table[DUPLICATES_COLUMNS], resolve(workdir, DUPLICATES))


# -- oof.csv and oof_scored.csv -----------------------------------------------------------------

def oof_table(image_ids: Sequence[Any], labels: Sequence[Any], folds: np.ndarray | None,
              probs: np.ndarray, classes: Sequence[Any],
              decimals: int | None = 6) -> pd.DataFrame:
    """The ``oof.csv`` table: ``image_id, label, fold``, then one column per class value.

    ``probs`` (N, K) is rounded to ``decimals`` (None: as given); a low probability of the
    given label is the sign of a wrong label. ``fold`` is empty when ``folds`` is None
    (probabilities that came from elsewhere).
    """
    table = pd.DataFrame({"image_id": list(image_ids), "label": list(labels),
                          "fold": "" if folds is None else np.asarray(folds, dtype=np.int64)})
    values = probs if decimals is None else np.round(probs, decimals)
    columns = pd.DataFrame(values, columns=[str(c) for c in classes])
    return pd.concat([table, columns], axis=1)


def read_oof_table(source: Source, *, required: bool = True,
                   text: bool = False) -> pd.DataFrame | None:
    """``oof.csv`` (or ``oof_scored.csv``, given as the file): :data:`OOF_META` and one
    probability column per class. ``text``: every cell as the CSV text; else ``image_id``
    text and the other columns typed as pandas reads them. Absent: MissingStageError, or
    None when not ``required``."""
    path = resolve(source, OOF)
    if not required and not path.exists():
        return None
    check_exists(path, "labelclean oof")
    if text:
        table = read_csv_text(path, OOFError, _OOF_FIX)
    else:
        table = pd.read_csv(path, dtype={"image_id": str}, keep_default_na=False)
    return check_columns(table, OOF_META, path, OOFError, _OOF_FIX)


def write_oof(table: pd.DataFrame, target: Source, *, fast: bool = False) -> Path:
    """Write an :func:`oof_table` atomically (``fast``: with pyarrow, strings quoted)."""
    path = resolve(target, OOF)
    return write_csv_fast(table, path) if fast else write_csv(table, path)


# -- manifest.csv -------------------------------------------------------------------------------

def read_manifest(source: Source, *, required: bool = True,
                  edited: bool = False) -> pd.DataFrame | None:
    """``manifest.csv`` as text.

    The file ``labelclean noise`` wrote: every :data:`MANIFEST_COLUMNS`, actions and
    ``label_quality`` checked, cells unchanged; absent: MissingStageError, or None when not
    ``required``. ``edited`` (a person's edit, from a spreadsheet or the report, at the
    path given): only :data:`MANIFEST_EDIT_COLUMNS` needed; ids and labels stripped, actions
    lower-cased. A bad file raises :class:`~labelclean.errors.ManifestError`.
    """
    if edited:
        return _read_edited_manifest(Path(source))
    found = _stage_table(source, MANIFEST, MANIFEST_COLUMNS, "labelclean noise", ManifestError,
                         _NOISE_FIX, required)
    if found is None:
        return None
    path, table = found
    fix = "fix the file or " + _NOISE_FIX
    check_values(table["action"], ACTIONS, "action", path, ManifestError, fix)
    check_unit_interval(table["label_quality"], "label_quality", path, ManifestError,
                        _NOISE_FIX)
    return table


def _read_edited_manifest(path: Path) -> pd.DataFrame:
    name = f"manifest {path}"
    if not path.exists():
        raise ManifestError(f"{name} does not exist; run 'labelclean noise' or export one "
                            "from the report")
    fix = "save it as CSV with the manifest's columns"
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ManifestError(f"{name} cannot be read as CSV ({exc}); {fix}") from None
    table.columns = [str(c).strip() for c in table.columns]
    check_columns(table, MANIFEST_EDIT_COLUMNS, name, ManifestError,
                  f"keep the columns {', '.join(MANIFEST_EDIT_COLUMNS)}")
    table["image_id"] = table["image_id"].str.strip()
    table["action"] = table["action"].str.strip().str.lower()
    table["suggested_label"] = table["suggested_label"].str.strip()
    return table


def write_manifest(manifest: pd.DataFrame, target: Source) -> Path:
    """Write ``manifest.csv`` (exactly :data:`MANIFEST_COLUMNS`), atomically."""
    return write_csv(manifest[MANIFEST_COLUMNS], resolve(target, MANIFEST))


def manifest_counts(manifest: pd.DataFrame) -> dict[str, dict[str, int]]:
    """Images per action (every one of :data:`ACTIONS`, in order) and per reason token
    (most frequent first): ``{"action": {...}, "reason": {...}}``."""
    actions = manifest["action"].value_counts()
    tokens = manifest["reason"].str.split(";").explode().str.strip()
    tokens = tokens[tokens.notna() & (tokens != "")].value_counts()
    return {"action": {a: int(actions.get(a, 0)) for a in ACTIONS},
            "reason": {str(k): int(v) for k, v in tokens.items()}}


# -- summary.json -------------------------------------------------------------------------------

def read_summary(source: Source, *, required: bool = True) -> dict | None:
    """``summary.json``: a JSON object (``counts``, ``noise_rate_per_class``, ...).
    Absent: MissingStageError, or None when not ``required``."""
    path = resolve(source, SUMMARY)
    if not required and not path.exists():
        return None
    check_exists(path, "labelclean noise")
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise WorkdirFileError(f"{path} is not JSON ({exc}); {_NOISE_FIX}") from None
    if not isinstance(summary, dict):
        raise WorkdirFileError(f"{path} must hold a JSON object with 'counts' and "
                               f"'noise_rate_per_class'; {_NOISE_FIX}")
    return summary


def write_summary(summary: dict, target: Source) -> Path:
    """Write ``summary.json``, atomically."""
    return write_json(summary, resolve(target, SUMMARY))
