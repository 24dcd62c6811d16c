"""The oof stage: out-of-fold (OOF) probabilities made by labelclean, each image scored by
a model that never saw it (nor any copy of it).

Two sources:

* from embeddings (fast): a classifier on the embedding of each image, calibrated by
  temperature scaling (:mod:`labelclean.oof.learners`);
* by training (full): k-fold training of an image classifier, with per-fold checkpoints so
  an interrupted run resumes at the fold it stopped (:mod:`labelclean.oof.training`).

Folds are stratified by label and grouped by duplicate group (:mod:`labelclean.oof.folds`).
:func:`out_of_fold_probs` works on arrays; the stage on a work directory is
:func:`plan_oof` (what to do, and whether the last result can be reused), then
:func:`compute_oof` and :func:`write_oof_run`; :func:`run_oof_with_settings` does all three.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from labelclean.errors import ConfigError, TrainingError
from labelclean.io.formats import oof_table
from labelclean.io.workdir import fingerprint
from labelclean.oof.features import write_plan_features
from labelclean.oof.folds import (
    group_counts,
    group_param,
    make_folds,
    predictable_rows,
    usable_folds,
    user_group_values,
    user_groups_of,
)
from labelclean.oof.learners import oof_from_features
from labelclean.oof.result import OOFResult
from labelclean.oof.training import oof_from_training
from labelclean.progress import ProgressFn, report

SOURCES = ("embeddings", "train")
OOF_FOLDS = "oof_folds.json"
CHECKPOINTS = "oof_checkpoints"
#: options only one source uses (an ``[oof]`` key or CLI long name)
TRAIN_OPTIONS = {"model", "image_size", "epochs", "batch_size", "lr", "loss", "augment",
                 "no_tta", "pretrained", "weights", "device", "workers"}
EMBEDDINGS_OPTIONS = {"learner", "embeddings", "no_calibrate"}


def _check_inputs(n: int, labels: np.ndarray, groups: np.ndarray, n_classes: int) -> None:
    if len(labels) != n or len(groups) != n:
        raise ConfigError(f"out_of_fold_probs needs one label and one group per row: got {n} "
                          f"rows, {len(labels)} labels and {len(groups)} groups")
    if n and (labels.min() < 0 or labels.max() >= n_classes):
        raise ConfigError(f"labels must be class codes 0..{n_classes - 1}, found "
                          f"{labels.min()}..{labels.max()}")


def out_of_fold_probs(features_or_dataset, labels, groups, *, n_classes: int | None = None,
                      n_folds: int = 5, seed: int = 0, learner: str = "logreg",
                      calibrate: bool = True, train_config=None,
                      checkpoint_dir: str | Path | None = None, data_key: str = "",
                      progress: ProgressFn | None = None) -> OOFResult:
    """Out-of-fold class probabilities for every row.

    Parameters
    ----------
    features_or_dataset : (N, D) float array of features (fast mode: ``learner`` is fitted
        on each fold's other rows), or N images (full mode: a uint8 tensor (N, 3, S, S) or
        a :class:`labelclean.models.inputs.ImageRows`; a model is trained per fold).
    labels : (N,) int class codes ``0..K-1`` (the given labels, possibly wrong).
    groups : (N,) group numbers; rows of a group share a fold (copies of one image).
    n_classes : K (default ``labels.max() + 1``).
    train_config : :class:`labelclean.train.loop.TrainConfig` for full mode.
    checkpoint_dir : full mode: where ``fold<k>.pt`` checkpoints go; a finished fold whose
        checkpoint matches this run (settings, seed, folds, labels, ``data_key``) is loaded
        instead of retrained.
    progress : ``progress(done, total, description)``.

    Returns
    -------
    :class:`OOFResult` with ``probs`` (N, K), rows summing to 1; a low probability of the
    given label is the sign of a wrong label.
    """
    labels = np.asarray(labels, dtype=np.int64)
    groups = np.asarray(groups)
    n_classes = int(n_classes if n_classes is not None else labels.max(initial=-1) + 1)
    _check_inputs(len(features_or_dataset), labels, groups, n_classes)
    folds = make_folds(labels, groups, n_folds=n_folds, seed=seed)
    if isinstance(features_or_dataset, np.ndarray):
        return oof_from_features(features_or_dataset, labels, groups, folds, n_classes,
                                 learner=learner, calibrate=calibrate, seed=seed,
                                 progress=progress)
    from labelclean.train.loop import TrainConfig

    return oof_from_training(features_or_dataset, labels, folds, n_classes,
                             (train_config or TrainConfig()).resolved(), seed=seed,
                             checkpoint_dir=checkpoint_dir, data_key=data_key,
                             progress=progress)


# -- the stage ----------------------------------------------------------------------------

@dataclass
class OOFRun:
    """What ``labelclean oof`` wrote: the ``oof.csv`` table and the per-fold summary."""

    table: Any  # pandas DataFrame: image_id, label, fold, one column per class
    summary: dict[str, Any]
    path: Path
    result: OOFResult | None = None
    reused: bool = False


def choose_source(workdir: str | Path, source: str = "auto",
                  embeddings_model: str | None = None) -> tuple[str, str]:
    """Where the OOF comes from, and a note when ``auto`` had to pass embeddings over.

    ``auto`` takes finished embeddings made with pretrained weights (or the ones named by
    ``embeddings_model``, which must exist); random-weight embeddings classify poorly, so
    ``auto`` trains instead and says so. Returns ``(source, note)``.
    """
    from labelclean.errors import MissingStageError

    if source not in ("auto", *SOURCES):
        raise ConfigError(f"`from` must be auto, embeddings or train, not '{source}'")
    if source != "auto":
        return source, ""
    from labelclean.models.embeddings import load_embeddings

    try:
        _, meta = load_embeddings(workdir, embeddings_model)
    except MissingStageError:
        if embeddings_model is not None:
            raise
        return "train", ""
    if embeddings_model is None and str(meta.get("weights", "")).startswith("random-init"):
        return "train", (f"the embeddings of {meta.get('model')} have random weights, which "
                         "classify poorly; trained a model instead (set `from` to embeddings "
                         "to use them anyway)")
    return "embeddings", ""


def _labeled_rows(workdir: Path):
    """(index, (M,) rows that are readable and labeled, the classes, the images folder or
    None)."""
    from labelclean.errors import NoLabelsError
    from labelclean.io.dataset import sort_classes
    from labelclean.io.formats import images_root, labeled_mask, read_index
    from labelclean.io.workdir import INDEX, Workdir

    index = read_index(workdir)
    labeled = labeled_mask(index)
    mask = labeled & index["readable"].to_numpy(bool)
    if not mask.any():
        raise NoLabelsError(f"{Path(workdir) / INDEX} has no readable, labeled image; "
                            "out-of-fold probabilities need labels (pass `labels` FILE)")
    meta = (Workdir(workdir).read_record("scan") or {}).get("dataset") or {}
    classes = meta.get("classes") or sort_classes(index.loc[labeled, "label"])
    return index, np.flatnonzero(mask), list(classes), images_root(workdir)


@dataclass(frozen=True)
class OOFPlan:
    """What one oof run will do, decided before any work (:func:`plan_oof`).

    ``source`` is ``embeddings`` or ``train`` (``note``: why ``auto`` trained instead;
    ``ignored``: the options the other source would have used); ``params`` and ``inputs``
    (a fingerprint of index, duplicates and embeddings) go into the stage record, and
    ``reusable`` says the last ``oof.csv`` was made from both. ``labeled`` holds the index
    rows of the readable, labeled images (``rows`` of the index, ``codes`` their class codes
    in ``classes``); ``features`` their embeddings (embeddings source only).
    """

    workdir: Path
    source: str
    note: str
    ignored: str
    n_folds: int
    seed: int
    learner: str
    calibrate: bool
    embeddings_model: str | None
    train_config: Any  # a resolved TrainConfig (train source), else None
    params: dict[str, Any]
    inputs: str
    embeddings_meta: dict[str, Any]
    reusable: bool
    discard_checkpoints: bool
    labeled: Any  # pandas DataFrame: the index rows of ``rows``
    rows: np.ndarray
    codes: np.ndarray
    classes: list
    images_root: Path | None
    features: np.ndarray | None


def _train_config(s: dict[str, Any]):
    """The fold models' :class:`TrainConfig`: the settings given, TrainConfig's defaults."""
    from dataclasses import fields

    from labelclean.train.loop import TrainConfig

    given = {f.name: s[f.name] for f in fields(TrainConfig) if f.name in s}
    given.update(tta=not s.get("no_tta", False), pretrained=bool(s.get("pretrained", False)),
                 weights=str(s["weights"]) if s.get("weights") else None)
    return TrainConfig(**given)


def _resolved_train_config(train, n_classes: int):
    """``train`` resolved; an image size it names is tried on the model now."""
    from labelclean.train.loop import check_input_size

    config = train.resolved()
    if train.image_size:
        check_input_size(config, n_classes)
    return config


def _ignored_note(source: str, s: dict[str, Any]) -> str:
    """A note naming the options given for the source that was not used."""
    unused = sorted(TRAIN_OPTIONS & set(s)) if source == "embeddings" else (
        sorted(EMBEDDINGS_OPTIONS & set(s)))
    if not unused:
        return ""
    other = "train" if source == "embeddings" else "embeddings"
    return (f"options for `from` {other} ignored, as this OOF came from {source}: "
            f"{', '.join(unused)}")


def plan_oof(workdir: str | Path, settings: dict[str, Any], *, force: bool = False) -> OOFPlan:
    """Decide an oof run from an ``[oof]`` table (keys: the project file's, ``from``,
    ``folds``, ``learner``, ``model``, ``epochs``, ``no_tta``, ...; None values are unset).

    Reads the scan and, for the embeddings source, the embeddings; raises the user's
    mistakes (no labels, an unknown source, model, loss or size) before any work. With
    ``force`` the plan is never ``reusable`` and discards the fold checkpoints.
    """
    from labelclean.embed.stage import SETTINGS as EMBEDDING_SETTINGS
    from labelclean.io.workdir import DUPLICATES, INDEX, Workdir

    s = {k.replace("-", "_"): v for k, v in settings.items() if v is not None}
    train, embeddings_model = _train_config(s), s.get("embeddings")
    wd = Workdir(workdir)
    index, rows, classes, images_root = _labeled_rows(wd.root)
    rows, codes, lone = _predictable(wd.root, index, rows, classes)
    n_folds, fewer = usable_folds(codes, s.get("folds", 5))
    source, note = choose_source(wd.root, s.get("from", "auto"), embeddings_model)
    config = _resolved_train_config(train, len(classes)) if source == "train" else None
    learner, calibrate = s.get("learner", "logreg"), not s.get("no_calibrate", False)
    params = {"source": source, "folds": s.get("folds", 5), "seed": s.get("seed", 0),
              **({"learner": learner, "calibrate": calibrate, "embeddings": embeddings_model}
                 if source == "embeddings" else {"train": asdict(config)}), **group_param(s)}
    features, emb_meta = (_features(wd.root, embeddings_model, rows)
                          if source == "embeddings" else (None, {}))
    labeled = index.iloc[rows]
    inputs = fingerprint(wd.output_fingerprint(INDEX), wd.output_fingerprint(DUPLICATES),
                         {k: emb_meta.get(k) for k in EMBEDDING_SETTINGS},
                         *user_group_values(wd.root, s.get("group_col"), labeled["image_id"]))
    return OOFPlan(
        workdir=wd.root, source=source, note="; ".join(n for n in (note, lone, fewer) if n),
        ignored=_ignored_note(source, s), n_folds=n_folds, seed=params["seed"],
        learner=learner, calibrate=calibrate,
        embeddings_model=embeddings_model, train_config=config, params=params, inputs=inputs,
        embeddings_meta=emb_meta, reusable=not force and wd.is_fresh("oof", params, inputs),
        discard_checkpoints=force, labeled=labeled, rows=rows, codes=codes, classes=classes,
        images_root=images_root, features=features)


def _predictable(workdir: Path, index, rows: np.ndarray, classes: list
                 ) -> tuple[np.ndarray, np.ndarray, str]:
    """(the ``rows`` an out-of-fold model can predict, their class codes, a note on the
    others): an image alone in its class is left out (:func:`predictable_rows`)."""
    from labelclean.io.workdir import INDEX

    codes = _codes(index["label"].to_numpy(object)[rows], classes)
    keep, note = predictable_rows(codes, classes, Path(workdir) / INDEX)
    return rows[keep], codes[keep], note


def compute_oof(plan: OOFPlan, progress: ProgressFn | None = None) -> OOFResult:
    """The out-of-fold probabilities ``plan`` asks for (``result.seconds``: how long)."""
    from labelclean.io.groups import workdir_groups

    picked = plan.labeled
    groups = workdir_groups(plan.workdir, picked["image_id"], picked["sha256"],
                            user_groups_of(plan))
    start = time.perf_counter()
    if plan.source == "embeddings":
        result = out_of_fold_probs(plan.features, plan.codes, groups,
                                   n_classes=len(plan.classes), n_folds=plan.n_folds,
                                   seed=plan.seed, learner=plan.learner,
                                   calibrate=plan.calibrate, progress=progress)
    else:
        result = _trained_oof(plan, groups, progress)
    bad = int((~np.isfinite(result.probs).all(axis=1)).sum())
    if bad:  # never an oof.csv of empty rows
        raise TrainingError(f"{bad:,} of {len(result.probs):,} out-of-fold predictions are "
                            "not finite (NaN), so nothing was written; try a smaller `lr`, "
                            "or recompute the embeddings ('labelclean embed --force')")
    result.seconds = round(time.perf_counter() - start, 2)
    return result


def _trained_oof(plan: OOFPlan, groups: np.ndarray, progress: ProgressFn | None) -> OOFResult:
    picked, config = plan.labeled, plan.train_config
    checkpoints = plan.workdir / CHECKPOINTS
    images = _images(plan.images_root, picked["path"], config.image_size, progress)
    if plan.discard_checkpoints:
        for old in checkpoints.glob("fold*.pt"):
            old.unlink()
    return out_of_fold_probs(images, plan.codes, groups, n_classes=len(plan.classes),
                             n_folds=plan.n_folds, seed=plan.seed, train_config=config,
                             checkpoint_dir=checkpoints,
                             data_key=fingerprint(picked["image_id"].tolist(),
                                                  picked["sha256"].tolist()),
                             progress=progress)


def write_oof_run(plan: OOFPlan, result: OOFResult) -> OOFRun:
    """Write ``oof.csv``, ``oof_folds.json`` and the stage record of a computed ``plan``."""
    from labelclean.io.formats import write_oof
    from labelclean.io.workdir import OOF, Workdir, write_json

    wd, meta = Workdir(plan.workdir), plan.embeddings_meta
    table = oof_table(plan.labeled["image_id"], plan.labeled["label"], result.folds,
                      result.probs, plan.classes)
    summary = {"source": plan.source, "rows": int(len(plan.rows)),
               "classes": len(plan.classes), "folds": plan.n_folds, "seed": plan.seed,
               "accuracy": float((result.probs.argmax(1) == plan.codes).mean()),
               "seconds": result.seconds, "fold_scores": result.fold_scores,
               "params": plan.params,
               "embeddings": {k: meta.get(k) for k in ("model", "weights")} if meta else None,
               "note": plan.note, **group_counts(user_groups_of(plan))}
    write_oof(table, wd.root)
    write_json(summary, wd.path(OOF_FOLDS))
    kept = write_plan_features(plan, result)  # the fold models' features (from train)
    wd.write_record("oof", plan.params, plan.inputs, [OOF, OOF_FOLDS, *kept],
                    extra={"summary": summary})
    return OOFRun(table=table, summary=summary, path=wd.path(OOF), result=result)


def run_oof_with_settings(workdir: str | Path, settings: dict[str, Any], *, force: bool = False,
                          progress: ProgressFn | None = None) -> OOFRun:
    """Write ``oof.csv`` (and ``oof_folds.json``) for the readable, labeled images of a scan,
    from an ``[oof]`` table (see :func:`plan_oof`).

    Reuses the previous result when the index, duplicates, embeddings and settings are
    unchanged (``force=True`` recomputes and discards fold checkpoints). The returned
    summary's ``note`` also names the given options the chosen source does not use.
    """
    plan = plan_oof(workdir, settings, force=force)
    run = _reuse(plan) if plan.reusable else write_oof_run(plan, compute_oof(plan, progress))
    if plan.ignored:
        run.summary["note"] = "; ".join(n for n in (run.summary.get("note"), plan.ignored) if n)
    return run


def _codes(labels, classes: list) -> np.ndarray:
    position = {c: i for i, c in enumerate(classes)}
    return np.array([position[v] for v in labels], dtype=np.int64)


def _features(workdir: Path, model: str | None, rows: np.ndarray):
    from labelclean.models.embeddings import load_embeddings

    array, meta = load_embeddings(workdir, model)
    features = np.asarray(array[rows], dtype=np.float32)
    bad = int((~np.isfinite(features).all(axis=1)).sum())
    if bad:
        raise TrainingError(f"the embeddings of {meta.get('model')} hold NaN or infinite "
                            f"values in {bad:,} rows; recompute them ('labelclean embed --force')")
    return features, meta


def _images(root: Path | None, paths, size: int, progress: ProgressFn | None):
    from labelclean.io.formats import missing_images_root
    from labelclean.io.locations import image_location
    from labelclean.models.inputs import ImageRows
    from labelclean.train.loop import preload

    if root is None:
        raise missing_images_root()
    rows = ImageRows([image_location(root, p) for p in paths], size)
    return preload(rows, lambda d, t: report(progress, d, t, "load images"))


def _reuse(plan: OOFPlan) -> OOFRun:
    import json

    from labelclean.io.formats import read_oof_table
    from labelclean.io.workdir import OOF, Workdir

    wd = Workdir(plan.workdir)
    summary = json.loads(wd.path(OOF_FOLDS).read_text())
    table = read_oof_table(wd.root)
    return OOFRun(table=table, summary=summary, path=wd.path(OOF), reused=True)
