"""Label issues from out-of-fold probabilities: cleanlab's scores, then one action per image.

:func:`score_labels` asks cleanlab three questions (which labels are wrong, how good each
label is, how noisy each class is); :func:`find_noise` joins the answers with the other
stages' findings (unreadable files, duplicate groups) into one row per labeled image:

* ``drop`` an unreadable file, a redundant duplicate copy, or a wrong label for which no
  class is confident (best class below ``relabel_threshold``);
* ``relabel`` a wrong label when the model is confident in another class, or a duplicate
  group with conflicting labels whose OOF consensus is confident;
* ``review`` a conflicting group without a confident consensus, a flagged label the model
  still prefers, and unflagged labels of low quality (below ``review_threshold``);
* ``keep`` the rest.

Each row's ``reason`` lists every finding as ``;``-separated tokens (:data:`REASONS`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from labelclean.errors import RegistryError

FILTERS = ("prune_by_noise_rate", "prune_by_class", "both", "confident_learning",
           "predicted_neq_given", "low_normalized_margin", "low_self_confidence")
RANKERS = ("self_confidence", "normalized_margin", "confidence_weighted_entropy")
ACTIONS = ("keep", "relabel", "drop", "review")
#: Reason tokens; unreadable files get ``unreadable:<why>`` (``empty_file``,
#: ``truncated_image_data``, ``not_an_image``, ``missing_file``, ...).
REASONS = ("unreadable", "duplicate_copy", "label_conflict", "label_issue", "low_confidence")
MANIFEST_COLUMNS = ["image_id", "path", "given_label", "suggested_label", "action", "reason",
                    "label_quality", "is_label_issue", "duplicate_group"]
DEFAULTS = {"filter_by": "prune_by_noise_rate", "rank_by": "self_confidence",
            "relabel_threshold": 0.7, "review_threshold": 0.1}
_CONFIDENT_JOINT_FILTERS = ("prune_by_noise_rate", "prune_by_class", "both")


def list_filters() -> list[str]:
    """Values of ``filter_by`` (cleanlab's ``find_label_issues`` methods)."""
    return list(FILTERS)


def list_rankers() -> list[str]:
    """Values of ``rank_by`` (cleanlab's label quality scores)."""
    return list(RANKERS)


@dataclass
class LabelScores:
    """cleanlab's answers for N scored images and K classes.

    ``is_issue`` (N,) bool; ``quality`` (N,) in [0, 1], lower is worse; ``confident_joint``
    (K, K) calibrated counts, rows = given label, columns = true label; ``noise_matrix``
    (K, K) P(given = i | true = j); ``noise_rate`` (K,) estimated fraction of the images
    given each label whose label is wrong, 1 - P(true = c | given = c).
    """

    is_issue: np.ndarray
    quality: np.ndarray
    confident_joint: np.ndarray
    noise_matrix: np.ndarray
    noise_rate: np.ndarray


def score_labels(labels: np.ndarray, probs: np.ndarray, *, filter_by: str = DEFAULTS[
        "filter_by"], rank_by: str = DEFAULTS["rank_by"], n_jobs: int | None = None
                 ) -> LabelScores:
    """Score given ``labels`` (N,) class indices against OOF ``probs`` (N, K) with cleanlab.

    ``is_issue`` is exactly ``cleanlab.filter.find_label_issues(labels, probs,
    filter_by=filter_by)``; ``quality`` is ``cleanlab.rank.get_label_quality_scores`` with
    ``method=rank_by``.
    """
    from cleanlab.count import compute_confident_joint, estimate_latent
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    check_methods(filter_by, rank_by)
    labels = np.asarray(labels, dtype=np.int64)
    if n_jobs is None:
        import os

        n_jobs = 1 if len(labels) < 100_000 else (os.cpu_count() or 1)
    joint = compute_confident_joint(labels, probs)
    extra = {"confident_joint": joint} if filter_by in _CONFIDENT_JOINT_FILTERS else {}
    is_issue = find_label_issues(labels, probs, filter_by=filter_by, n_jobs=n_jobs, **extra)
    quality = np.clip(get_label_quality_scores(labels, probs, method=rank_by), 0.0, 1.0)
    _, noise_matrix, _ = estimate_latent(joint, labels)
    given_counts = np.clip(joint.sum(axis=1), 1e-12, None)
    noise_rate = 1.0 - np.diag(joint) / given_counts
    return LabelScores(is_issue=np.asarray(is_issue, dtype=bool), quality=quality,
                       confident_joint=joint, noise_matrix=noise_matrix,
                       noise_rate=np.clip(noise_rate, 0.0, 1.0))


def check_methods(filter_by: str, rank_by: str) -> None:
    if filter_by not in FILTERS:
        raise RegistryError("--filter-by method", filter_by, list_filters())
    if rank_by not in RANKERS:
        raise RegistryError("--rank-by method", rank_by, list_rankers())


@dataclass
class NoiseResult:
    """One decision per labeled image, plus cleanlab's class-level estimates.

    ``table`` has the :data:`MANIFEST_COLUMNS` and, for evaluation, ``label_wrong`` (bool:
    the decision rejects the given label: cleanlab's flag, or disagreement with a confident
    duplicate-group consensus) and ``scored`` (bool: the image had a prediction and a
    readable file).
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
        actions = self.table["action"].value_counts()
        tokens = self.table["reason"].str.split(";").explode()
        tokens = tokens[tokens.notna() & (tokens != "")].value_counts()
        return {"action": {a: int(actions.get(a, 0)) for a in ACTIONS},
                "reason": {str(k): int(v) for k, v in tokens.items()}}

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
        s = self.scores
        classes = [_plain(c) for c in self.classes]
        return {
            "counts": self.counts(),
            "noise_rate_per_class": ({str(c): round(float(r), 6) for c, r in
                                      zip(self.classes, s.noise_rate)} if s else {}),
            "noise_matrix": {"classes": classes,
                             "matrix": np.round(s.noise_matrix, 6).tolist() if s else []},
            "confident_joint": {"classes": classes,
                                "matrix": np.round(s.confident_joint, 3).tolist() if s else []},
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
               n_jobs: int | None = None) -> NoiseResult:
    """Decide keep / relabel / drop / review for every labeled image.

    Parameters
    ----------
    index : one row per image with ``image_id, path, label, readable, error`` (as from
        ``scan.read_index``); rows without a label are left out.
    oof_probs : (len(index), K) out-of-fold probabilities aligned with ``index``; NaN rows
        for images without a prediction. Columns in ``classes`` order.
    classes : the K class values, as in the labels file.
    duplicates : optional ``group_id, image_id, label, keep, method, score, label_conflict``
        table (duplicates.csv): copies with ``keep`` false are dropped; a group whose labels
        conflict gets its OOF consensus (mean of its members' probabilities) when the
        consensus is at least ``relabel_threshold``, else goes to review.
    filter_by, rank_by : cleanlab methods (:func:`list_filters`, :func:`list_rankers`).
    relabel_threshold : a wrong label is relabelled when the best class has at least this
        probability, else dropped.
    review_threshold : unflagged images with ``label_quality`` below this go to review.
    """
    check_methods(filter_by, rank_by)
    _check_thresholds(relabel_threshold, review_threshold)
    labeled = (index["label"].notna() & (index["label"] != "")).to_numpy(bool)
    rows = index.loc[labeled].reset_index(drop=True)
    probs = np.asarray(oof_probs, dtype=np.float64)[labeled]
    position = {c: i for i, c in enumerate(classes)}
    given = rows["label"].map(position)
    if given.isna().any():
        unknown = rows.loc[given.isna(), "label"].iloc[0]
        raise ValueError(f"label {unknown!r} is not one of the classes")
    given = given.to_numpy(np.int64)
    readable = rows["readable"].to_numpy(bool)
    scored = readable & np.isfinite(probs).all(axis=1)

    n = len(rows)
    is_issue = np.zeros(n, bool)
    quality = np.full(n, np.nan)
    best = np.full(n, -1)
    p_best = np.zeros(n)
    scores = None
    if scored.any():
        scores = score_labels(given[scored], probs[scored], filter_by=filter_by,
                              rank_by=rank_by, n_jobs=n_jobs)
        is_issue[scored] = scores.is_issue
        quality[scored] = scores.quality
        best[scored] = probs[scored].argmax(axis=1)
        p_best[scored] = probs[scored].max(axis=1)

    groups = _groups(rows, probs, scored, given, duplicates, relabel_threshold)
    action = np.full(n, "keep", dtype=object)
    target = best.copy()
    low_conf = scored & ~is_issue & (quality < review_threshold)
    action[low_conf] = "review"
    relabel = is_issue & (best != given) & (p_best >= relabel_threshold)
    action[is_issue & ~relabel] = "drop"
    action[is_issue & (best == given)] = "review"
    action[relabel] = "relabel"
    resolved = groups.conflict & groups.confident
    action[resolved] = np.where(groups.consensus[resolved] != given[resolved], "relabel", "keep")
    target[resolved] = np.where(action[resolved] == "relabel", groups.consensus[resolved],
                                best[resolved])
    action[groups.conflict & ~groups.confident] = "review"
    action[groups.copy] = "drop"
    action[~readable] = "drop"

    label_wrong = np.where(resolved, groups.consensus != given, is_issue)
    reason = _reasons(rows, readable, groups, is_issue, low_conf)
    labels_of = np.asarray(list(classes) + [""], dtype=object)
    table = pd.DataFrame({
        "image_id": rows["image_id"].astype(str), "path": rows["path"].astype(str),
        "given_label": rows["label"],
        "suggested_label": labels_of[np.where(scored, target, -1)],
        "action": action, "reason": reason, "label_quality": np.round(quality, 6),
        "is_label_issue": is_issue, "duplicate_group": groups.group_id,
        "label_wrong": label_wrong, "scored": scored,
    })
    params = {"filter_by": filter_by, "rank_by": rank_by,
              "relabel_threshold": relabel_threshold, "review_threshold": review_threshold,
              "n_images": n, "n_scored": int(scored.sum()), "n_classes": len(classes)}
    return NoiseResult(table=table, classes=list(classes), scores=scores, parameters=params)


def _check_thresholds(relabel: float, review: float) -> None:
    from labelclean.errors import ConfigError

    for name, value in (("--relabel-threshold", relabel), ("--review-threshold", review)):
        if not 0.0 <= value <= 1.0:
            raise ConfigError(f"{name} must lie in [0, 1], got {value:g}")


@dataclass
class _Groups:
    group_id: np.ndarray  # (N,) object, "" outside groups
    copy: np.ndarray  # (N,) bool: a redundant copy (keep is false)
    conflict: np.ndarray  # (N,) bool: member of a group whose labels conflict
    confident: np.ndarray  # (N,) bool: the group's consensus is confident
    consensus: np.ndarray  # (N,) int: the group's consensus class (-1 when none)


def _truthy(values: pd.Series) -> np.ndarray:
    if values.dtype == bool:
        return values.to_numpy()
    return values.astype(str).str.strip().str.lower().isin(["true", "1", "yes"]).to_numpy()


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
    out.copy[member] = ~_truthy(dup["keep"])
    codes, _ = pd.factorize(gid)
    flagged = pd.Series(_truthy(dup["label_conflict"])).groupby(codes).transform("any")
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


def _reasons(rows: pd.DataFrame, readable: np.ndarray, groups: _Groups, is_issue: np.ndarray,
             low_conf: np.ndarray) -> np.ndarray:
    why = (rows["error"].astype(str).str.split(":").str[0].str.split("(").str[0].str.strip()
           .str.lower().str.replace(r"[^a-z0-9]+", "_", regex=True).str.strip("_"))
    why = np.where(why == "", "unknown", why)
    parts = [
        np.where(~readable, np.char.add("unreadable:", why.astype(str)).astype(object), ""),
        np.where(groups.copy, "duplicate_copy", ""),
        np.where(groups.conflict, "label_conflict", ""),
        np.where(is_issue, "label_issue", ""),
        np.where(low_conf, "low_confidence", ""),
    ]
    joined = pd.Series(parts[0], dtype=object)
    for part in parts[1:]:
        joined = joined + np.where((joined != "") & (part != ""), ";", "") + part
    return joined.to_numpy(dtype=object)


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


def no_oof_message(workdir: Any) -> str:
    return (f"no out-of-fold predictions: {workdir}/oof.csv does not exist; make one with "
            "'labelclean oof', or bring your own with --oof FILE (CSV or Parquet with "
            "image_id and one probability column per class, or a .npy (N, K) in "
            "labels-file order)")


def scored_oof_table(frame: pd.DataFrame, probs: np.ndarray,
                     classes: Sequence[Any]) -> pd.DataFrame:
    """The probabilities the noise stage scored, as an ``oof.csv`` table.

    ``frame`` holds the labeled images (``image_id, label, readable``), ``probs`` (M, K)
    their probabilities in the same order. Rows of unreadable images, or without finite
    probabilities, are left out; ``fold`` is empty (the files read need not have one).
    """
    from labelclean.oof.stage import oof_table

    keep = frame["readable"].to_numpy(bool) & np.isfinite(probs).all(axis=1)
    return oof_table(frame["image_id"].to_numpy(object)[keep],
                     frame["label"].to_numpy(object)[keep], None, probs[keep], list(classes))


def images_frame(dataset: Any, workdir: Any) -> tuple[pd.DataFrame, list[str]]:
    """The labeled images, labels-file order: ``image_id, path, label, readable, error``.

    Readability comes from ``index.csv`` when the scan has run; without it every file that
    exists counts as readable (and a warning says so).
    """
    from labelclean.io.workdir import INDEX

    recs = [r for r in dataset.records if r.label is not None]
    frame = pd.DataFrame({"image_id": [r.image_id for r in recs],
                          "path": [r.path for r in recs],
                          "label": pd.Series([r.label for r in recs], dtype=object),
                          "readable": [r.problem is None for r in recs],
                          "error": [r.problem or "" for r in recs]})
    path = workdir / INDEX
    if not path.exists():
        return frame, [(f"{path} does not exist: unreadable files were not checked; run "
                        "'labelclean scan' first to drop them")]
    from labelclean.scan.stage import read_index

    index = read_index(workdir).drop_duplicates("image_id").set_index("image_id")
    known = frame["image_id"].isin(index.index).to_numpy()
    ids = frame.loc[known, "image_id"]
    frame.loc[known, "readable"] = index["readable"].reindex(ids).to_numpy(bool)
    frame.loc[known, "error"] = index["error"].reindex(ids).to_numpy(object)
    return frame, []


def read_duplicates(workdir: Any) -> pd.DataFrame | None:
    """``duplicates.csv`` as text, or None when the dedupe stage has not run."""
    from labelclean.errors import WorkdirFileError
    from labelclean.io.workdir import DUPLICATES

    path = workdir / DUPLICATES
    if not path.exists():
        return None
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    need = ["group_id", "image_id", "keep", "label_conflict"]
    absent = [c for c in need if c not in table.columns]
    if absent:
        raise WorkdirFileError(f"{path} has no column {', '.join(absent)} (found: "
                               f"{', '.join(table.columns)}); run 'labelclean dedupe' again")
    return table


def versions() -> dict[str, str]:
    import cleanlab
    import numpy

    from labelclean import __version__

    return {"labelclean": __version__, "cleanlab": cleanlab.__version__,
            "numpy": numpy.__version__, "pandas": pd.__version__}


def run_noise(workdir: Any, dataset: Any, oof_paths: Sequence[Any] | None = None, *,
              logits: bool = False, ensemble: str = "mean", oof_id_col: str | None = None,
              use_duplicates: bool = True, n_jobs: int | None = None, **decide: Any
              ) -> NoiseRun:
    """The noise stage: read the OOF file(s), decide, write manifest, clean split, summary.

    ``oof_paths`` default to ``oof.csv`` in ``workdir``. ``decide`` takes the options of
    :func:`find_noise` (``filter_by``, ``rank_by``, ``relabel_threshold``,
    ``review_threshold``). Uses ``index.csv`` (unreadable files) and ``duplicates.csv``
    when present. Writes ``manifest.csv``, ``clean.csv``, ``summary.json`` and
    ``oof_scored.csv`` (the probabilities it scored, which the report shows).
    """
    from pathlib import Path

    from labelclean.errors import MissingStageError
    from labelclean.io.workdir import (
        CLEAN,
        MANIFEST,
        OOF,
        OOF_SCORED,
        SUMMARY,
        Workdir,
        write_csv,
        write_csv_fast,
        write_json,
    )
    from labelclean.noise.manifest import (
        as_text,
        clean_table,
        labels_table_of,
        write_manifest,
    )
    from labelclean.oof.files import load_oof

    wd = Workdir(workdir)
    labels = labels_table_of(dataset)  # raises for an unlabeled dataset
    paths = [Path(p) for p in (oof_paths or [])]
    if not paths:
        if not wd.path(OOF).exists():
            raise MissingStageError(no_oof_message(wd.root))
        paths = [wd.path(OOF)]
    frame, warnings = images_frame(dataset, wd.root)
    position = {c: i for i, c in enumerate(dataset.classes)}
    given = frame["label"].map(position).to_numpy(np.int64)
    oof = load_oof(paths, dataset.classes, frame["image_id"].to_numpy(object), given,
                   frame["readable"].to_numpy(bool), id_col=oof_id_col,
                   label_col=dataset.label_col, logits=logits, ensemble=ensemble)
    duplicates = read_duplicates(wd.root) if use_duplicates else None
    result = find_noise(frame, oof.probs, dataset.classes, duplicates, n_jobs=n_jobs,
                        **decide)
    result.warnings = oof.warnings + warnings
    result.parameters.update({
        "oof": [p.name for p in paths], "logits": logits, "ensemble": ensemble,
        "ensemble_weights": [round(w, 6) for w in oof.weights],
        "duplicates": duplicates is not None})
    text = as_text(result.manifest)
    wd.ensure()
    written = (write_manifest(text, wd.path(MANIFEST)),
               write_csv(clean_table(labels, text), wd.path(CLEAN)),
               write_json(result.summary(versions()), wd.path(SUMMARY)))
    write_csv_fast(scored_oof_table(frame, oof.probs, dataset.classes), wd.path(OOF_SCORED))
    wd.write_record("noise", result.parameters, "", [MANIFEST, CLEAN, SUMMARY, OOF_SCORED])
    return NoiseRun(result, *written, oof_sources=oof.sources, warnings=result.warnings)
