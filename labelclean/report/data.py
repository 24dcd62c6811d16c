"""What the report shows: the work directory's files read, checked and turned into plain data.

Only ``index.csv`` is required; ``manifest.csv``, ``duplicates.csv``, ``oof.csv`` and
``summary.json`` are each optional, and every one that is missing becomes a note saying
what it would add and which command writes it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from labelclean.errors import ManifestError, OOFError, WorkdirFileError
from labelclean.io.workdir import DUPLICATES, MANIFEST, OOF, OOF_SCORED, SUMMARY
from labelclean.scan.stage import read_index

MANIFEST_COLUMNS = ["image_id", "path", "given_label", "suggested_label", "action", "reason",
                    "label_quality", "is_label_issue", "duplicate_group"]
DUPLICATE_COLUMNS = ["group_id", "image_id", "label", "keep", "method", "score",
                     "label_conflict"]
ACTIONS = ["keep", "relabel", "drop", "review"]
OOF_META = ["image_id", "label", "fold"]


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


def _read_table(path: Path, required: list[str], error: type, fix: str) -> pd.DataFrame:
    """A CSV as a table of strings, checked for the ``required`` columns."""
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise error(f"{path} cannot be read as CSV ({exc}); {fix}") from None
    absent = [c for c in required if c not in table.columns]
    if absent:
        raise error(f"{path} has no column {', '.join(repr(c) for c in absent)} "
                    f"(expected {', '.join(required)}; found {', '.join(table.columns)}); "
                    f"{fix}")
    return table


def _check_manifest(table: pd.DataFrame, path: Path) -> pd.DataFrame:
    bad = sorted(set(table["action"]) - set(ACTIONS))
    if bad:
        raise ManifestError(f"{path}: unknown action {', '.join(repr(b) for b in bad[:5])} "
                            f"(expected one of {', '.join(ACTIONS)}); fix the file or run "
                            "'labelclean noise' again")
    quality = pd.to_numeric(table["label_quality"].replace("", None), errors="coerce")
    if ((quality < 0) | (quality > 1)).any():
        raise ManifestError(f"{path}: label_quality must lie in [0, 1], found "
                            f"{quality.min():g}..{quality.max():g}; run 'labelclean noise' "
                            "again")
    return table


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
    path = root / MANIFEST
    if path.exists():
        fix = "run 'labelclean noise' again"
        inputs.manifest = _check_manifest(_read_table(path, MANIFEST_COLUMNS, ManifestError,
                                                      fix), path)
    else:
        inputs.missing.append(_note(MANIFEST, "no label issues, review gallery or CSV "
                                    "export", "labelclean noise --oof oof.csv"))
    path = root / DUPLICATES
    if path.exists():
        inputs.duplicates = _read_table(path, DUPLICATE_COLUMNS, WorkdirFileError,
                                        "run 'labelclean dedupe' again")
    else:
        inputs.missing.append(_note(DUPLICATES, "no duplicate groups", "labelclean dedupe"))
    # the probabilities 'labelclean noise' scored match the manifest; oof.csv may be older
    path = next((p for p in (root / OOF_SCORED, root / OOF) if p.exists()), None)
    if oof is not None:
        inputs.oof = _any_oof(Path(oof), inputs.index)
    elif path is not None:
        inputs.oof = _read_table(path, OOF_META, OOFError, "pass an out-of-fold file with "
                                 "columns image_id, label, fold and one column per class")
    else:
        inputs.missing.append(_note(OOF, "no top-3 predicted probabilities",
                                    "labelclean oof"))
    path = root / SUMMARY
    if path.exists():
        inputs.summary = _read_summary(path)
    else:
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
    from labelclean.oof.stage import oof_table

    labeled = index[index["label"].map(lambda v: v is not None and v != "")]
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


def _read_summary(path: Path) -> dict:
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise WorkdirFileError(f"{path} is not JSON ({exc}); run 'labelclean noise' "
                               "again") from None
    if not isinstance(summary, dict):
        raise WorkdirFileError(f"{path} must hold a JSON object with 'counts' and "
                               "'noise_rate_per_class'; run 'labelclean noise' again")
    return summary


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
    issue = manifest["is_label_issue"].str.strip().str.lower().isin(["true", "1", "yes"])
    flagged = np.flatnonzero(((manifest["action"] != "keep") | issue).to_numpy())
    quality = quality_values(manifest)[flagged]
    order = np.lexsort((flagged, np.nan_to_num(quality, nan=2.0)))
    return flagged[order]


def top_probabilities(oof: pd.DataFrame, image_ids: list[str], k: int = 3) -> list[list]:
    """The ``k`` most probable classes of each image: ``[[class, p, class, p, ...], ...]``.

    ``oof`` has ``image_id, label, fold`` and one probability column per class; images
    it does not cover get an empty list. Probabilities are rounded to 3 decimals.
    """
    classes = [c for c in oof.columns if c not in OOF_META]
    if not classes:
        raise OOFError("out-of-fold file has no probability columns (expected one column "
                       "per class after image_id, label, fold)")
    probs = oof[classes].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
    row_of = pd.Series(np.arange(len(oof)), index=oof["image_id"].to_numpy())
    row_of = row_of[~row_of.index.duplicated()]
    rows = row_of.reindex(image_ids).to_numpy()
    k = min(k, len(classes))
    found = ~np.isnan(rows)
    p = np.nan_to_num(probs[rows[found].astype(int)], nan=-1.0)
    best = np.argsort(-p, axis=1, kind="stable")[:, :k]
    top_p = np.take_along_axis(p, best, axis=1).round(3)
    out: list[list] = [[] for _ in image_ids]
    for i, cls, pp in zip(np.flatnonzero(found), best.tolist(), top_p.tolist()):
        out[i] = [v for c, q in zip(cls, pp) for v in (classes[c], q)]
    return out


def duplicate_groups(duplicates: pd.DataFrame) -> list[dict[str, Any]]:
    """Duplicate groups, conflicting ones first, each with its members' rows."""
    groups = []
    for group_id, rows in duplicates.groupby("group_id", sort=False):
        conflict = rows["label_conflict"].str.lower().isin(["true", "1"]).any()
        groups.append({
            "id": str(group_id), "conflict": bool(conflict),
            "method": ", ".join(sorted(set(rows["method"]) - {""})),
            "members": [[r.image_id, r.label, r.keep.lower() in ("true", "1"), r.score]
                        for r in rows.itertuples(index=False)],
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
    reasons = manifest["reason"].str.split(";").explode().str.strip()
    return {"action": {str(k): int(v) for k, v in manifest["action"].value_counts().items()},
            "reason": {str(k): int(v) for k, v in reasons[reasons != ""].value_counts().items()}}
