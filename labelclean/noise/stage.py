"""The noise stage: cleanlab's scores and the other stages' findings, one action per image.

:func:`find_noise` scores the labels (:func:`~labelclean.noise.scoring.score_labels`),
builds the findings of every labeled image (unreadable file, duplicate copy, conflicting
duplicate group, cleanlab's flag, low label quality) and applies the precedence table of
:mod:`labelclean.noise.decide` (which finding beats which, and why): ``drop``, ``relabel``,
``review`` or ``keep``. :func:`run_noise` does it from the work directory's files.

Each row's ``reason`` lists every finding as ``;``-separated tokens
(:data:`labelclean.noise.decide.REASONS`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from labelclean.io.checks import as_bool
from labelclean.io.formats import (
    ACTIONS,
    MANIFEST_COLUMNS,
    labeled_mask,
    manifest_counts,
    read_duplicates,
)
from labelclean.noise.caveats import (
    batched_line,
    chance_line,
    few_examples_line,
    needs_no_prediction,
    unpredicted_line,
)
from labelclean.noise.decide import decide, label_rejected, reasons, suggested_class
from labelclean.noise.inputs import images_frame, no_oof_message, versions, write_scored_oof
from labelclean.noise.options import DEFAULTS
from labelclean.noise.scoring import (
    ImageScores,
    LabelScores,
    check_methods,
    score_images,
)


@dataclass
class NoiseResult:
    """One decision per labeled image, plus cleanlab's class-level estimates.

    ``table`` has the :data:`~labelclean.io.formats.MANIFEST_COLUMNS` and, for evaluation,
    ``label_wrong`` (bool: the decision rejects the given label: cleanlab's flag, or
    disagreement with a confident duplicate-group consensus) and ``scored`` (bool: the image
    had a prediction and a readable file).
    """

    table: pd.DataFrame
    classes: list[Any]
    scores: LabelScores | None
    parameters: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def manifest(self) -> pd.DataFrame:
        return self.table[MANIFEST_COLUMNS]

    @property
    def n_label_issues(self) -> int:
        return int(self.table["is_label_issue"].sum())

    def counts(self) -> dict[str, dict[str, int]]:
        """Images per action (every action listed) and per reason token."""
        return manifest_counts(self.table)

    def per_class(self) -> pd.DataFrame:
        """One row per class: images given it, label issues, each action, noise rate."""
        t = self.table
        by = pd.crosstab(t["given_label"], t["action"]).reindex(
            index=self.classes, columns=list(ACTIONS), fill_value=0)
        by.insert(0, "images", t["given_label"].value_counts().reindex(self.classes,
                                                                      fill_value=0))
        by.insert(1, "label_issues", t.groupby("given_label")["is_label_issue"].sum()
                  .reindex(self.classes, fill_value=0).astype(int))
        by["noise_rate"] = self.scores.noise_rate if self.scores is not None else np.nan
        by.index.name = "class"
        return by

    def worst(self, n: int = 10) -> pd.DataFrame:
        """The ``n`` images with the lowest label quality (worst first)."""
        scored = self.table[self.table["scored"]]
        return scored.sort_values("label_quality", kind="stable").head(n)[MANIFEST_COLUMNS]

    def summary(self, versions: dict[str, str] | None = None) -> dict[str, Any]:
        """The ``summary.json`` document."""
        from labelclean.noise.matrices import matrix_document, noise_matrix_cells

        s = self.scores
        classes = [_plain(c) for c in self.classes]
        whole = s is not None and s.noise_matrix is not None  # else: the largest cells
        joint = None if s is None or whole else np.nonzero(s.confident_joint)
        return {
            "counts": self.counts(),
            "noise_rate_per_class": ({str(c): round(float(r), 6) for c, r in
                                      zip(self.classes, s.noise_rate)} if s else {}),
            "noise_matrix": matrix_document(
                classes, None if joint is None else noise_matrix_cells(s.confident_joint),
                s.noise_matrix if whole else None, 6),
            "confident_joint": matrix_document(
                classes, None if joint is None else (*joint, s.confident_joint[joint]),
                s.confident_joint if whole else None, 3),
            "n_label_issues": self.n_label_issues,
            "parameters": self.parameters,
            "versions": versions or {},
        }


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


# -- the decisions ----------------------------------------------------------------------------

def find_noise(index: pd.DataFrame, oof_probs: np.ndarray, classes: Sequence[Any],
               duplicates: pd.DataFrame | None = None, *,
               filter_by: str = DEFAULTS["filter_by"], rank_by: str = DEFAULTS["rank_by"],
               relabel_threshold: float = DEFAULTS["relabel_threshold"],
               review_threshold: float = DEFAULTS["review_threshold"],
               n_jobs: int | None = None,
               quality: dict[str, np.ndarray] | None = None) -> NoiseResult:
    """Decide keep / relabel / drop / review for every labeled image.

    Scores the labels, builds each image's findings and applies the precedence table
    :data:`labelclean.noise.decide.RULES` (first matching rule wins).

    Parameters
    ----------
    index : one row per image with ``image_id, path, label, readable, error`` (as from
        :func:`labelclean.io.formats.read_index`); rows without a label are left out.
    oof_probs : (len(index), K) out-of-fold probabilities aligned with ``index``; NaN rows
        for images without a prediction. Columns in ``classes`` order.
    classes : the K class values, as in the labels file.
    duplicates : optional ``group_id, image_id, label, keep, method, score, label_conflict``
        table (duplicates.csv): copies with ``keep`` false are dropped; a group whose labels
        conflict gets its OOF consensus (mean of its members' probabilities) when the
        consensus is at least ``relabel_threshold``, else goes to review.
    filter_by, rank_by : cleanlab methods (:func:`~labelclean.noise.scoring.list_filters`,
        :func:`~labelclean.noise.scoring.list_rankers`).
    relabel_threshold : a wrong label is relabelled when the best class has at least this
        probability, else dropped.
    review_threshold : unflagged images with ``label_quality`` below this go to review.
    quality : optional image-quality findings of the labeled rows (name -> (M,) bool, in
        the labeled rows' order; :func:`labelclean.noise.quality.quality_findings`).
    """
    check_methods(filter_by, rank_by)
    _check_thresholds(relabel_threshold, review_threshold)
    rows, probs, given = _labeled(index, oof_probs, classes)
    readable = rows["readable"].to_numpy(bool)
    image = score_images(probs, given, readable, filter_by=filter_by, rank_by=rank_by,
                         n_jobs=n_jobs)
    groups = _groups(rows, probs, image.scored, given, duplicates, relabel_threshold)
    findings = _findings(readable, image, groups, given, relabel_threshold, review_threshold)
    findings.update(quality or {})
    table = _table(rows, classes, image, groups, findings)
    notes = [few_examples_line(image.scores.few_examples, classes) if image.scores else None,
             chance_line(image.best[image.scored], given[image.scored],
                         table["action"].to_numpy()[image.scored], len(classes)),
             batched_line(image.scores, filter_by)]
    params = {"filter_by": filter_by, "rank_by": rank_by,
              "relabel_threshold": relabel_threshold, "review_threshold": review_threshold,
              "n_images": len(rows), "n_scored": int(image.scored.sum()),
              "n_classes": len(classes),
              "batched": bool(image.scores is not None and image.scores.batched)}
    return NoiseResult(table=table, classes=list(classes), scores=image.scores,
                       parameters=params, warnings=[n for n in notes if n])


def _check_thresholds(relabel: float, review: float) -> None:
    from labelclean.errors import ConfigError

    for name, value in (("relabel_threshold", relabel), ("review_threshold", review)):
        if not 0.0 <= value <= 1.0:
            raise ConfigError(f"`{name}` must lie in [0, 1], got {value:g}")


def _labeled(index: pd.DataFrame, oof_probs: np.ndarray, classes: Sequence[Any]
             ) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """The labeled rows of ``index``, their probabilities (M, K) and given class indices (M,)."""
    labeled = labeled_mask(index)
    rows = index.loc[labeled].reset_index(drop=True)
    probs = np.asarray(oof_probs, dtype=np.float64)
    probs = probs if labeled.all() else probs[labeled]  # no N x K copy when all labeled
    position = {c: i for i, c in enumerate(classes)}
    given = rows["label"].map(position)
    if given.isna().any():
        unknown = rows.loc[given.isna(), "label"].iloc[0]
        raise ValueError(f"label {unknown!r} is not one of the classes")
    return rows, probs, given.to_numpy(np.int64)


def _findings(readable: np.ndarray, image: ImageScores, groups: _Groups, given: np.ndarray,
              relabel_threshold: float, review_threshold: float) -> dict[str, np.ndarray]:
    """The named (N,) bool arrays of :data:`labelclean.noise.decide.FINDINGS`."""
    return {
        "unreadable": ~readable,
        "duplicate_copy": groups.copy,
        "label_conflict": groups.conflict,
        "group_confident": groups.confident,
        "consensus_is_given": groups.consensus == given,
        "label_issue": image.is_issue,
        "best_is_given": image.best == given,
        "best_confident": image.p_best >= relabel_threshold,
        "low_confidence": image.scored & ~image.is_issue & (image.quality < review_threshold),
    }


def _table(rows: pd.DataFrame, classes: Sequence[Any], image: ImageScores, groups: _Groups,
           findings: dict[str, np.ndarray]) -> pd.DataFrame:
    """:data:`MANIFEST_COLUMNS`, then ``label_wrong`` and ``scored``."""
    target = suggested_class(findings, image.best, groups.consensus)
    labels_of = np.asarray(list(classes) + [""], dtype=object)
    return pd.DataFrame({
        "image_id": rows["image_id"].astype(str), "path": rows["path"].astype(str),
        "given_label": rows["label"],
        "suggested_label": labels_of[np.where(image.scored, target, -1)],
        "action": decide(findings), "reason": reasons(rows["error"], findings),
        "label_quality": np.round(image.quality, 6),
        "is_label_issue": image.is_issue, "duplicate_group": groups.group_id,
        "label_wrong": label_rejected(findings), "scored": image.scored,
    })


@dataclass
class _Groups:
    group_id: np.ndarray  # (N,) object, "" outside groups
    copy: np.ndarray  # (N,) bool: a redundant copy (keep is false)
    conflict: np.ndarray  # (N,) bool: member of a group whose labels conflict
    confident: np.ndarray  # (N,) bool: the group's consensus is confident
    consensus: np.ndarray  # (N,) int: the group's consensus class (-1 when none)


def _groups(rows: pd.DataFrame, probs: np.ndarray, scored: np.ndarray, given: np.ndarray,
            duplicates: pd.DataFrame | None, threshold: float) -> _Groups:
    n = len(rows)
    out = _Groups(np.full(n, "", dtype=object), np.zeros(n, bool), np.zeros(n, bool),
                  np.zeros(n, bool), np.full(n, -1))
    if duplicates is None or duplicates.empty:
        return out
    pos = pd.Index(rows["image_id"].astype(str)).get_indexer(duplicates["image_id"].astype(str))
    dup = duplicates.loc[pos >= 0].assign(row=pos[pos >= 0])
    if dup.empty:
        return out
    member = dup["row"].to_numpy()
    gid = dup["group_id"].astype(str).to_numpy()
    out.group_id[member] = gid
    out.copy[member] = ~as_bool(dup["keep"])
    codes, _ = pd.factorize(gid)
    flagged = pd.Series(as_bool(dup["label_conflict"])).groupby(codes).transform("any")
    n_labels = pd.Series(given[member]).groupby(codes).transform("nunique")
    conflict = flagged.to_numpy() | (n_labels.to_numpy() > 1)
    out.conflict[member] = conflict
    ok = scored[member]
    if ok.any():
        sums = np.zeros((codes.max() + 1, probs.shape[1]))
        np.add.at(sums, codes[ok], probs[member[ok]])
        counts = np.bincount(codes[ok], minlength=len(sums))
        mean = sums / np.clip(counts, 1, None)[:, None]
        has = counts[codes] > 0
        out.consensus[member] = np.where(has, mean.argmax(axis=1)[codes], -1)
        out.confident[member] = has & (mean.max(axis=1)[codes] >= threshold)
    return out


# -- the stage: files in, files out ---------------------------------------------------------------

@dataclass
class NoiseRun:
    """What :func:`run_noise` wrote, and the result it wrote from."""

    result: NoiseResult
    manifest: Any
    clean: Any
    summary: Any
    oof_sources: list[str]
    warnings: list[str] = field(default_factory=list)


def run_noise(workdir: Any, dataset: Any, oof_paths: Sequence[Any] | None = None, *,
              logits: bool = False, ensemble: str = "mean", oof_id_col: str | None = None,
              use_duplicates: bool = True, n_jobs: int | None = None,
              quality: dict[str, Any] | None = None, **decide: Any) -> NoiseRun:
    """The noise stage: read the OOF file(s), decide, write manifest, clean split, summary.

    ``oof_paths`` default to ``oof.csv`` in ``workdir``. ``decide`` takes the options of
    :func:`find_noise` (``filter_by``, ``rank_by``, ``relabel_threshold``,
    ``review_threshold``). Uses ``index.csv`` (unreadable files) and ``duplicates.csv``
    when present. Writes ``manifest.csv``, ``clean.csv``, ``summary.json`` and
    ``oof_scored.csv`` (the probabilities it scored, which the report shows); with the
    scan's ``quality.csv``, also that with the outliers added (``quality``: the options of
    :func:`labelclean.noise.quality.quality_findings`).
    """
    from pathlib import Path

    from labelclean.errors import MissingStageError
    from labelclean.io.formats import write_manifest, write_summary
    from labelclean.io.workdir import CLEAN, MANIFEST, OOF, OOF_SCORED, SUMMARY, Workdir, write_csv
    from labelclean.noise.leaks import dedupe_summary
    from labelclean.noise.manifest import as_text, clean_table, labels_table_of

    wd = Workdir(workdir)
    labels = labels_table_of(dataset)  # raises for an unlabeled dataset
    paths = [Path(p) for p in (oof_paths or [])]
    if not paths:
        if not wd.path(OOF).exists():
            raise MissingStageError(no_oof_message(wd.root))
        paths = [wd.path(OOF)]
    result, frame, oof, found = _decide_from_files(
        wd.root, dataset, paths, logits=logits, ensemble=ensemble, oof_id_col=oof_id_col,
        use_duplicates=use_duplicates, n_jobs=n_jobs, quality=quality or {}, **decide)
    text, summary = as_text(result.manifest), result.summary(versions())
    summary["quality"] = {"issues": found.counts, **found.parameters()}
    summary.update(dedupe_summary(wd.root))
    clean = clean_table(labels, text)  # all made before anything is written
    wd.ensure()
    written = (write_manifest(text, wd.root), write_csv(clean, wd.path(CLEAN)),
               write_summary(summary, wd.root))
    write_scored_oof(frame, oof.probs, dataset.classes, wd.path(OOF_SCORED))
    quality_file = _write_quality(found, wd.root)
    wd.write_record("noise", result.parameters, "",
                    [MANIFEST, CLEAN, SUMMARY, OOF_SCORED, *quality_file])
    return NoiseRun(result, *written, oof_sources=oof.sources, warnings=result.warnings)


def _decide_from_files(root: Any, dataset: Any, paths: list[Any], *, logits: bool,
                       ensemble: str, oof_id_col: str | None, use_duplicates: bool,
                       n_jobs: int | None, quality: dict[str, Any], **decide: Any
                       ) -> tuple[NoiseResult, pd.DataFrame, Any, Any]:
    """:func:`find_noise` on the work directory's files: (result, images frame, OOF input,
    quality findings)."""
    from labelclean.noise.leaks import leak_findings
    from labelclean.noise.quality import quality_findings
    from labelclean.oof.align import load_oof

    frame, warnings = images_frame(dataset, root)
    position = {c: i for i, c in enumerate(dataset.classes)}
    given = frame["label"].map(position).to_numpy(np.int64)
    readable, ids = frame["readable"].to_numpy(bool), frame["image_id"].to_numpy(object)
    lone = needs_no_prediction(given, readable)
    oof = load_oof(paths, dataset.classes, ids, given, readable & ~lone, id_col=oof_id_col,
                   label_col=dataset.label_col, logits=logits, ensemble=ensemble)
    warnings.append(unpredicted_line(ids, lone, oof.probs))
    duplicates = read_duplicates(root, required=False) if use_duplicates else None
    found = quality_findings(root, frame.loc[labeled_mask(frame), "image_id"].astype(str),
                             **quality)
    leaks = leak_findings(root, frame.loc[labeled_mask(frame), "image_id"].astype(str))
    result = find_noise(frame, oof.probs, dataset.classes, duplicates, n_jobs=n_jobs,
                        quality={**found.findings, **leaks}, **decide)
    result.warnings = oof.warnings + [w for w in warnings if w] + result.warnings
    result.parameters.update({
        "oof": [p.name for p in paths], "logits": logits, "ensemble": ensemble,
        "ensemble_weights": [round(w, 6) for w in oof.weights],
        "duplicates": duplicates is not None, **found.parameters()})
    return result, frame, oof, found


def _write_quality(found: Any, root: Any) -> list[str]:
    """``quality.csv`` with the outliers added, when the scan wrote one."""
    if found.table is None:
        return []
    from labelclean.io.qualityfile import write_quality
    from labelclean.io.workdir import QUALITY

    write_quality(found.table, root)
    return [QUALITY]
