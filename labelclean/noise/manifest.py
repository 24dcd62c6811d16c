"""The manifest (one decision per labeled image) and the clean labels file it produces.

``clean.csv`` is the labels file itself, read as text so every value round-trips: rows
whose action is ``drop`` removed, ``relabel`` rows given their ``suggested_label``;
``review`` and ``keep`` rows unchanged (a review row keeps its given label until a person
decides). For an ImageFolder dataset (no labels file) it has the columns ``image_id,label``
with the image's path as id.

:func:`apply_manifest` does the same from a manifest a person edited (in a spreadsheet, or
exported from the report), after checking the edits and that it has a row for every labeled
image (or, with ``partial``, taking the work directory's decisions for those it leaves out).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from labelclean.errors import ManifestError, NoLabelsError
from labelclean.io.dataset import Dataset, read_labels_table
from labelclean.io.formats import ACTIONS, MANIFEST_EDIT_COLUMNS, read_manifest
from labelclean.io.guard import Inputs, check_output, writing
from labelclean.io.workdir import CLEAN, MANIFEST, write_csv


@dataclass
class LabelsTable:
    """The labels file as text: ``table`` with its own columns, keyed by ``key_col``."""

    table: pd.DataFrame
    key_col: str
    label_col: str

    @property
    def keys(self) -> pd.Series:
        return self.table[self.key_col].str.strip()


def labels_table_of(dataset: Dataset) -> LabelsTable:
    """The labels file of ``dataset`` as text, or ``image_id,label`` for an ImageFolder."""
    if not dataset.has_labels:
        raise NoLabelsError(f"the dataset in {dataset.root} has no labels; pass `labels` FILE "
                            "or use an ImageFolder tree (one sub-folder per class)")
    if dataset.labels_file is None:
        rows = [(r.path, str(r.label)) for r in dataset.records if r.label is not None]
        return LabelsTable(pd.DataFrame(rows, columns=["image_id", "label"]), "image_id",
                           "label")
    table = read_labels_table(dataset.labels_file, dataset.id_col, dataset.label_col,
                              dataset.path_col)
    return LabelsTable(table, dataset.id_col, dataset.label_col)


def as_text(manifest: pd.DataFrame) -> pd.DataFrame:
    """The manifest as the text a CSV round-trip gives (labels as strings, '' for none)."""
    text = manifest.copy()
    for col in ("given_label", "suggested_label", "duplicate_group"):
        text[col] = text[col].map(lambda v: "" if pd.isna(v) else str(v))
    return text


def clean_table(labels: LabelsTable, manifest: pd.DataFrame) -> pd.DataFrame:
    """The clean labels table: drops removed, relabels applied, everything else unchanged.

    ``manifest`` needs ``image_id``, ``action`` and ``suggested_label`` (text); labels-file
    rows it does not list are kept as they are.
    """
    by_id = manifest.set_index(manifest["image_id"].astype(str))
    action = labels.keys.map(by_id["action"]).fillna("keep").to_numpy()
    new_label = labels.keys.map(by_id["suggested_label"]).to_numpy()
    clean = labels.table.copy()
    relabel = action == "relabel"
    clean.loc[relabel, labels.label_col] = new_label[relabel].astype(str)
    return clean.loc[action != "drop"].reset_index(drop=True)


# -- an edited manifest -------------------------------------------------------------------------

@dataclass
class ApplyResult:
    """What :func:`apply_manifest` wrote: the clean file and counts per action."""

    path: Path
    counts: dict[str, int] = field(default_factory=dict)
    rows_in: int = 0
    rows_out: int = 0
    #: labels-file rows the manifest has no row for (rows without a label), kept as they are
    not_in_manifest: int = 0
    #: rows taken from the work directory's manifest.csv (``partial``)
    from_workdir: int = 0


def _first(values: Any, n: int = 3) -> str:
    return ", ".join(str(v) for v in list(values)[:n])


def check_manifest(manifest: pd.DataFrame, labels: LabelsTable, classes: list[Any],
                   source: str) -> None:
    """Check an edited manifest against the labels file; raises ManifestError."""
    ids = manifest["image_id"]
    dup = ids.duplicated(keep=False)
    if dup.any():
        first = ids[dup].iloc[0]
        raise ManifestError(f"{source}: image id '{first}' appears {int((ids == first).sum())} "
                            "times; keep one row per image")
    unknown = ~ids.isin(set(labels.keys))
    if unknown.any():
        raise ManifestError(f"{source}: {int(unknown.sum()):,} image ids are not in the labels "
                            f"file (first: {_first(ids[unknown])}); apply a manifest made for "
                            "this dataset")
    bad = ~manifest["action"].isin(ACTIONS)
    if bad.any():
        found = sorted(set(manifest.loc[bad, "action"]))
        raise ManifestError(f"{source}: unknown action {', '.join(repr(a) for a in found[:5])} "
                            f"on {int(bad.sum()):,} rows (first: {_first(ids[bad])}); use one "
                            f"of {', '.join(ACTIONS)}")
    relabel = manifest["action"] == "relabel"
    empty = relabel & (manifest["suggested_label"] == "")
    if empty.any():
        raise ManifestError(f"{source}: {int(empty.sum()):,} rows say relabel but have no "
                            f"suggested_label (first: {_first(ids[empty])}); fill in the new "
                            "label or change the action")
    names = {str(c) for c in classes}
    wrong = relabel & ~empty & ~manifest["suggested_label"].isin(names)
    if wrong.any():
        first = manifest.loc[wrong].iloc[0]
        raise ManifestError(f"{source}: {int(wrong.sum()):,} rows relabel to a class that does "
                            f"not exist (first: {first['image_id']} -> "
                            f"'{first['suggested_label']}'); classes: "
                            f"{_first(classes, len(classes))}")


def _missing_ids(manifest: pd.DataFrame, dataset: Dataset) -> list[str]:
    """The labeled images of ``dataset`` that ``manifest`` has no row for, in dataset order."""
    have = set(manifest["image_id"])
    return [r.image_id for r in dataset.records if r.label is not None and r.image_id not in have]


def complete_manifest(manifest: pd.DataFrame, dataset: Dataset, labels: LabelsTable,
                      workdir: Path, source: str, *, partial: bool) -> tuple[pd.DataFrame, int]:
    """``manifest`` with a row for every labeled image, and how many rows were added.

    Without ``partial`` a manifest that leaves an image out is an error (applying it would
    keep that image as it is, unreadable or a duplicate copy); with it, the rows it leaves
    out come from the work directory's ``manifest.csv``.
    """
    missing = _missing_ids(manifest, dataset)
    if not missing:
        return manifest, 0
    own = workdir / MANIFEST
    n = sum(r.label is not None for r in dataset.records)
    if not partial:
        raise ManifestError(
            f"{source} has no row for {len(missing):,} of the {n:,} labeled images (first: "
            f"{_first(missing)}); applied as it is, it would keep every one of them, "
            "unreadable files and duplicate copies included; apply a manifest with a row per "
            "image (as 'labelclean noise' and the report's export write it), or pass "
            f"`partial` to take the decisions of {own} for the images it leaves out")
    base = read_manifest(workdir, required=False)
    if base is None:
        raise ManifestError(f"`partial` takes the decisions for the {len(missing):,} images "
                            f"{source} leaves out from {own}, which does not exist; run "
                            "'labelclean noise' first, or apply a manifest with a row per image")
    fill = base.loc[base["image_id"].isin(set(missing)), MANIFEST_EDIT_COLUMNS]
    if len(fill) < len(missing):
        lost = sorted(set(missing) - set(fill["image_id"]))
        raise ManifestError(f"neither {source} nor {own} has a row for {len(lost):,} labeled "
                            f"images (first: {_first(lost)}); run 'labelclean noise' again, "
                            "or add their rows to the manifest")
    check_manifest(fill, labels, dataset.classes, f"manifest {own}")
    return pd.concat([manifest[MANIFEST_EDIT_COLUMNS], fill], ignore_index=True), len(fill)


def apply_manifest(manifest_path: str | Path, dataset: Dataset, workdir: str | Path, *,
                   out: str | Path | None = None, partial: bool = False,
                   inputs: Inputs | None = None) -> ApplyResult:
    """Turn an edited manifest into ``clean.csv`` (default: in ``workdir``).

    ``out`` is checked first (:func:`~labelclean.io.guard.check_output`): it may not be in
    the images folder, the labels file, the manifest, one of ``inputs`` (what else the
    caller read, e.g. the project file) or a file of the work directory. Then the edits
    (unknown ids or actions, relabel without a label or to a class that does not exist) and
    that every labeled image has a row (``partial``: :func:`complete_manifest`).
    Labels-file rows without a label are kept as they are.
    """
    workdir = Path(workdir)
    target = Path(out) if out else workdir / CLEAN
    check_output(target, images_root=dataset.root, workdir=workdir, inputs={
        "the labels file": dataset.labels_file, "the manifest being applied": manifest_path,
        **(inputs or {})})
    source = f"manifest {manifest_path}"
    manifest = read_manifest(manifest_path, edited=True)
    labels = labels_table_of(dataset)
    check_manifest(manifest, labels, dataset.classes, source)
    manifest, filled = complete_manifest(manifest, dataset, labels, workdir, source,
                                         partial=partial)
    clean = clean_table(labels, manifest)
    with writing(target):
        write_csv(clean, target)
    counts = manifest["action"].value_counts()
    return ApplyResult(path=target, counts={a: int(counts.get(a, 0)) for a in ACTIONS},
                       rows_in=len(labels.table), rows_out=len(clean), from_workdir=filled,
                       not_in_manifest=int((~labels.keys.isin(set(manifest["image_id"]))).sum()))
