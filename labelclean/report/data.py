"""What the report shows: the work directory's files read, checked and turned into plain data.

Only ``index.csv`` is required; ``manifest.csv``, ``duplicates.csv``, ``oof.csv`` and
``summary.json`` are each optional, and every one that is missing becomes a note saying
what it would add and which command writes it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from labelclean.errors import OOFError
from labelclean.io.checks import as_bool
from labelclean.io.formats import (
    OOF_META,
    labeled_mask,
    manifest_counts,
    oof_table,
    read_duplicates,
    read_index,
    read_manifest,
    read_oof_table,
    read_summary,
)
from labelclean.io.workdir import DUPLICATES, MANIFEST, OOF, OOF_SCORED, SUMMARY


@dataclass
class ReportInputs:
    """The work directory's files, as far as they exist (``None`` when missing)."""

    index: pd.DataFrame
    manifest: pd.DataFrame | None = None
    duplicates: pd.DataFrame | None = None
    oof: pd.DataFrame | None = None
    summary: dict | None = None
    class_names: dict[str, str] = field(default_factory=dict)
    missing: list[dict[str, str]] = field(default_factory=list)


def load_inputs(workdir: str | Path, *, oof: str | Path | None = None,
                class_names: dict[str, str] | None = None) -> ReportInputs:
    """Read every file the report uses from ``workdir``.

    Probabilities come from ``oof`` when given (any format ``labelclean noise`` reads), else
    ``oof_scored.csv`` (what ``labelclean noise`` scored, whatever OOF files it was given),
    else ``oof.csv``.

    Raises :class:`~labelclean.errors.MissingStageError` when ``index.csv`` is missing and
    a :class:`~labelclean.errors.LabelcleanError` subclass when a present file is malformed.
    """
    root = Path(workdir)
    inputs = ReportInputs(index=read_index(root), class_names=dict(class_names or {}))
    inputs.manifest = read_manifest(root, required=False)
    if inputs.manifest is None:
        inputs.missing.append(_note(MANIFEST, "no label issues, review gallery or CSV "
                                    "export", "labelclean noise --oof oof.csv"))
    inputs.duplicates = read_duplicates(root, required=False)
    if inputs.duplicates is None:
        inputs.missing.append(_note(DUPLICATES, "no duplicate groups", "labelclean dedupe"))
    # the probabilities 'labelclean noise' scored match the manifest; oof.csv may be older
    path = next((p for p in (root / OOF_SCORED, root / OOF) if p.exists()), None)
    if oof is not None:
        inputs.oof = _any_oof(Path(oof), inputs.index)
    elif path is not None:  # probabilities as numbers: N x K strings would cost gigabytes
        inputs.oof = read_oof_table(path)
    else:
        inputs.missing.append(_note(OOF, "no top-3 predicted probabilities",
                                    "labelclean oof"))
    inputs.summary = read_summary(root, required=False)
    if inputs.summary is None:
        inputs.missing.append(_note(SUMMARY, "no estimated noise rate per class or noise "
                                    "matrix", "labelclean noise --oof oof.csv"))
    return inputs


def _any_oof(path: Path, index: pd.DataFrame) -> pd.DataFrame:
    """An OOF file in any format ``labelclean noise`` reads, as an ``oof.csv`` table.

    Class columns are matched to the classes of ``index.csv``; a ``.npy`` has one row per
    labeled image in labels-file order (the order of ``index.csv``).
    """
    from labelclean.io.dataset import sort_classes
    from labelclean.oof.files import read_oof

    labeled = index[labeled_mask(index)]
    classes = sort_classes(labeled["label"])
    table = read_oof(path, classes)
    ids = table.ids
    if ids is None:
        if len(table.probs) != len(labeled):
            raise OOFError(f"{path}: has {len(table.probs):,} rows but the dataset has "
                           f"{len(labeled):,} labeled images; a .npy must hold one row per "
                           "labeled image, in labels-file order")
        ids = labeled["image_id"].to_numpy(object)
    return oof_table(ids, [""] * len(ids), None, table.probs, classes, decimals=None)


def _note(file: str, adds: str, command: str) -> dict[str, str]:
    return {"file": file, "adds": adds, "command": command}


# -- shaping the data for the page -------------------------------------------------------

def encode_columns(table: pd.DataFrame) -> dict[str, Any]:
    """A table of strings in a compact column form the page decodes.

    Columns with few distinct values are stored as ``{"dict": [...], "codes": [...]}``,
    the others as ``{"values": [...]}``; every value is kept as the exact CSV text.
    """
    encoded: dict[str, Any] = {}
    for col in table.columns:
        values = table[col].astype(str)
        codes, uniques = pd.factorize(values, sort=False)
        if len(uniques) <= max(16, len(values) // 4):
            encoded[col] = {"dict": [str(u) for u in uniques], "codes": codes.tolist()}
        else:
            encoded[col] = {"values": values.tolist()}
    return {"columns": [str(c) for c in table.columns], "n": len(table), "cols": encoded}


def quality_values(manifest: pd.DataFrame) -> np.ndarray:
    """``label_quality`` as floats, shape (N,); NaN where empty (lower is worse)."""
    return pd.to_numeric(manifest["label_quality"].replace("", None),
                         errors="coerce").to_numpy(dtype=float)


def flagged_order(manifest: pd.DataFrame) -> np.ndarray:
    """Row numbers of the flagged images, worst label quality first, shape (F,).

    Flagged: any action but ``keep``, or ``is_label_issue`` true. Rows without a quality
    come last; ties keep manifest order.
    """
    issue = as_bool(manifest["is_label_issue"])
    flagged = np.flatnonzero((manifest["action"] != "keep").to_numpy() | issue)
    quality = quality_values(manifest)[flagged]
    order = np.lexsort((flagged, np.nan_to_num(quality, nan=2.0)))
    return flagged[order]


#: :func:`top_probabilities` looks at this many probabilities (rows x classes) at a time.
TOP_CHUNK_VALUES = 4_000_000


def top_probabilities(oof: pd.DataFrame, image_ids: list[str], k: int = 3) -> list[list]:
    """The ``k`` most probable classes of each image: ``[[class, p, class, p, ...], ...]``.

    ``oof`` has ``image_id, label, fold`` and one probability column per class; images
    it does not cover get an empty list. Probabilities are rounded to 3 decimals.
    """
    classes = [c for c in oof.columns if c not in OOF_META]
    if not classes:
        raise OOFError("out-of-fold file has no probability columns (expected one column "
                       "per class after image_id, label, fold)")
    row_of = pd.Series(np.arange(len(oof)), index=oof["image_id"].to_numpy())
    row_of = row_of[~row_of.index.duplicated()]
    rows = row_of.reindex(image_ids).to_numpy()
    k = min(k, len(classes))
    found = np.flatnonzero(~np.isnan(rows))
    columns = [oof.columns.get_loc(c) for c in classes]
    out: list[list] = [[] for _ in image_ids]
    step = max(1, TOP_CHUNK_VALUES // len(classes))  # N x K at once would cost gigabytes
    for start in range(0, len(found), step):
        asked = found[start:start + step]
        picked = oof.iloc[rows[asked].astype(int), columns]
        if not all(pd.api.types.is_float_dtype(t) for t in picked.dtypes):
            picked = picked.apply(pd.to_numeric, errors="coerce")
        p = np.nan_to_num(picked.to_numpy(dtype=float), nan=-1.0)
        best = np.argsort(-p, axis=1, kind="stable")[:, :k]
        top_p = np.take_along_axis(p, best, axis=1).round(3)
        for i, cls, pp in zip(asked, best.tolist(), top_p.tolist()):
            out[i] = [v for c, q in zip(cls, pp) for v in (classes[c], q)]
    return out


def duplicate_groups(duplicates: pd.DataFrame) -> list[dict[str, Any]]:
    """Duplicate groups, conflicting ones first, each with its members' rows."""
    groups = []
    for group_id, rows in duplicates.groupby("group_id", sort=False):
        keep = as_bool(rows["keep"]).tolist()
        groups.append({
            "id": str(group_id), "conflict": bool(as_bool(rows["label_conflict"]).any()),
            "method": ", ".join(sorted(set(rows["method"]) - {""})),
            "members": [[r.image_id, r.label, k, r.score]
                        for r, k in zip(rows.itertuples(index=False), keep)],
        })
    groups.sort(key=lambda g: not g["conflict"])
    return groups


def unreadable_rows(index: pd.DataFrame) -> list[list[str]]:
    """``[image_id, path, reason]`` of every file that could not be read."""
    bad = index[~index["readable"]]
    return [[str(r.image_id), str(r.path), str(r.error)] for r in bad.itertuples(index=False)]


def counts(manifest: pd.DataFrame | None, summary: dict | None) -> dict[str, dict[str, int]]:
    """Counts per action and per reason: from ``summary.json``, else from the manifest."""
    found = (summary or {}).get("counts") or {}
    if found.get("action") or manifest is None:
        return {"action": dict(found.get("action", {})), "reason": dict(found.get("reason", {}))}
    counted = manifest_counts(manifest)  # actions the manifest lacks are not listed
    return {"action": {a: n for a, n in counted["action"].items() if n},
            "reason": counted["reason"]}
