"""Out-of-fold (OOF) probabilities made by labelclean: each image scored by a model that never
saw it (nor any copy of it).

Two ways:

* from embeddings (fast): a classifier on the embedding of each image (logistic regression,
  or k nearest neighbours), calibrated by temperature scaling: inside each fold, a
  temperature is fitted on a held-out quarter of the fold's training groups;
* by training (full): k-fold training of an image classifier (:mod:`labelclean.train.loop`),
  with per-fold checkpoints so an interrupted run resumes at the fold it stopped.

Folds are stratified by label and grouped by duplicate group (:mod:`labelclean.oof.folds`).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from labelclean.errors import ConfigError, RegistryError
from labelclean.io.workdir import atomic_path, fingerprint
from labelclean.oof.folds import make_folds
from labelclean.progress import ProgressFn, report

SOURCES = ("embeddings", "train")


# -- learners on features -----------------------------------------------------------------

def _logreg(seed: int):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(C=0.01, tol=1e-3, max_iter=200,
                                                              random_state=seed))


def _knn(seed: int):
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import Normalizer

    return make_pipeline(Normalizer(), KNeighborsClassifier(n_neighbors=15, weights="distance"))


#: OOF learners on features: name -> factory(seed) of a scikit-learn classifier.
LEARNERS: dict[str, Callable[[int], Any]] = {"logreg": _logreg, "knn": _knn}


def list_learners() -> list[str]:
    """Names of the classifiers fast mode can fit on embeddings."""
    return sorted(LEARNERS)


def make_learner(name: str, seed: int = 0):
    if name not in LEARNERS:
        raise RegistryError("OOF learner", name, list_learners())
    return LEARNERS[name](seed)


# -- results ----------------------------------------------------------------------------

@dataclass
class OOFResult:
    """Out-of-fold probabilities and how they were made.

    ``probs`` (N, K): row i comes from the model of fold ``folds[i]``, trained on
    ``train_rows[folds[i]]``, which never holds i. ``fold_scores``: one dict per fold
    (``fold, n_train, n_val, val_accuracy, seconds, resumed``); accuracy is against the
    given (possibly wrong) labels.
    """

    probs: np.ndarray
    folds: np.ndarray
    train_rows: list[np.ndarray]
    fold_scores: list[dict[str, Any]] = field(default_factory=list)
    mode: str = "embeddings"

    @property
    def accuracy(self) -> float:
        """Agreement of the OOF argmax with the given labels (set by the caller's labels)."""
        return float(np.mean([s["val_accuracy"] for s in self.fold_scores])) if (
            self.fold_scores) else float("nan")


def _spread(probs: np.ndarray, seen: np.ndarray, n_classes: int) -> np.ndarray:
    """Probabilities over the ``seen`` classes as (n, n_classes), zeros for the unseen."""
    full = np.zeros((len(probs), n_classes))
    full[:, seen] = probs
    return full


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
        a :class:`labelclean.train.loop.ImageRows`; a model is trained per fold).
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
        return _from_features(features_or_dataset, labels, groups, folds, n_classes,
                              learner=learner, calibrate=calibrate, seed=seed,
                              progress=progress)
    from labelclean.train.loop import TrainConfig

    return _from_training(features_or_dataset, labels, folds, n_classes,
                          (train_config or TrainConfig()).resolved(), seed=seed,
                          checkpoint_dir=checkpoint_dir, data_key=data_key, progress=progress)


# -- fast mode --------------------------------------------------------------------------

def class_logits(model, x: np.ndarray) -> np.ndarray:
    """(n, len(model.classes_)) scores whose softmax is the model's belief."""
    if hasattr(model, "decision_function"):
        scores = model.decision_function(x)
        return np.column_stack([np.zeros(len(x)), scores]) if scores.ndim == 1 else scores
    return np.log(np.clip(model.predict_proba(x), 1e-6, None))


def softmax_t(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    z = logits / temperature
    z = np.exp(z - z.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def fit_temperature(logits: np.ndarray, targets: np.ndarray) -> float:
    """The temperature T minimising the log loss of ``softmax(logits / T)`` on ``targets``
    (column positions, -1 for rows whose class the model does not know, ignored)."""
    from scipy.optimize import minimize_scalar

    known = targets >= 0
    if not known.any():
        return 1.0
    logits, targets = logits[known], targets[known]

    def nll(log_t: float) -> float:
        p = softmax_t(logits, float(np.exp(log_t)))[np.arange(len(targets)), targets]
        return float(-np.log(np.clip(p, 1e-12, None)).mean())

    return float(np.exp(minimize_scalar(nll, bounds=(-4, 4), method="bounded").x))


def _calibrated_fold(x: np.ndarray, y: np.ndarray, groups: np.ndarray, learner: str,
                     calibrate: bool, seed: int):
    """(model fitted on all of x, temperature fitted on a held-out quarter of x's groups)."""
    temperature = 1.0
    if calibrate and len(np.unique(groups)) >= 4:
        import warnings

        from sklearn.model_selection import StratifiedGroupKFold

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            fit, held = next(StratifiedGroupKFold(4, shuffle=True, random_state=seed).split(
                x, y, groups))
        inner = make_learner(learner, seed).fit(x[fit], y[fit])
        position = {c: i for i, c in enumerate(inner.classes_)}
        targets = np.array([position.get(c, -1) for c in y[held]])
        temperature = fit_temperature(class_logits(inner, x[held]), targets)
    return make_learner(learner, seed).fit(x, y), temperature


def _from_features(features: np.ndarray, labels: np.ndarray, groups: np.ndarray,
                   folds: np.ndarray, n_classes: int, *, learner: str, calibrate: bool,
                   seed: int, progress: ProgressFn | None) -> OOFResult:
    make_learner(learner)  # unknown names fail before any work
    n_folds = int(folds.max()) + 1
    probs = np.zeros((len(labels), n_classes))
    train_rows, scores = [], []
    for k in range(n_folds):
        start = time.perf_counter()
        train, val = np.flatnonzero(folds != k), np.flatnonzero(folds == k)
        model, temperature = _calibrated_fold(np.asarray(features[train], dtype=np.float32),
                                              labels[train], groups[train], learner,
                                              calibrate, seed)
        x_val = np.asarray(features[val], dtype=np.float32)
        fold_probs = (softmax_t(class_logits(model, x_val), temperature) if calibrate
                      else model.predict_proba(x_val))
        probs[val] = _spread(fold_probs, np.asarray(model.classes_), n_classes)
        train_rows.append(train)
        scores.append(_score(k, train, val, probs, labels, start))
        report(progress, k + 1, n_folds, f"fold {k + 1}/{n_folds}")
    return OOFResult(probs=probs, folds=folds, train_rows=train_rows, fold_scores=scores,
                     mode="embeddings")


def _score(k: int, train: np.ndarray, val: np.ndarray, probs: np.ndarray, labels: np.ndarray,
           start: float, resumed: bool = False) -> dict[str, Any]:
    correct = probs[val].argmax(axis=1) == labels[val]
    return {"fold": k, "n_train": int(len(train)), "n_val": int(len(val)),
            "val_accuracy": float(correct.mean()) if len(val) else float("nan"),
            "seconds": round(time.perf_counter() - start, 3), "resumed": resumed}


# -- full mode --------------------------------------------------------------------------

def _array_key(*arrays: np.ndarray) -> str:
    digest = hashlib.sha256()
    for a in arrays:
        digest.update(np.ascontiguousarray(a).tobytes())
    return digest.hexdigest()[:16]


def _load_checkpoint(path: Path, key: str) -> dict | None:
    import torch

    if not path.exists():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception:  # a torn or foreign file: train the fold again
        return None
    return state if state.get("run_key") == key else None


def _from_training(images, labels: np.ndarray, folds: np.ndarray, n_classes: int, config,
                   *, seed: int, checkpoint_dir: str | Path | None, data_key: str,
                   progress: ProgressFn | None) -> OOFResult:
    import torch

    from labelclean.train.loop import predict_probs, train_fold

    n_folds = int(folds.max()) + 1
    run_key = fingerprint(asdict(config), seed, n_classes, data_key, _array_key(labels, folds))
    ckpt_dir = Path(checkpoint_dir) if checkpoint_dir is not None else None
    per_epoch = [-(-int((folds != k).sum()) // config.batch_size) for k in range(n_folds)]
    total = sum(per_epoch) * config.epochs
    done = 0
    probs = np.zeros((len(labels), n_classes))
    train_rows, scores = [], []
    for k in range(n_folds):
        start = time.perf_counter()
        train, val = np.flatnonzero(folds != k), np.flatnonzero(folds == k)
        path = ckpt_dir / f"fold{k}.pt" if ckpt_dir is not None else None
        saved = _load_checkpoint(path, run_key) if path is not None else None
        resumed = saved is not None
        if saved is None:
            def step(epoch: int, epochs: int, k: int = k) -> None:
                nonlocal done
                done += 1
                report(progress, done, total, f"fold {k + 1}/{n_folds} epoch {epoch + 1}/{epochs}")

            net = train_fold(images, labels, train, n_classes, config, seed=seed * 1000 + k,
                             step=step)
            fold_probs = predict_probs(net, images, val, config)
            saved = {"run_key": run_key, "fold": k, "train_rows": train, "val_rows": val,
                     "val_probs": fold_probs, "config": asdict(config),
                     "state_dict": {n: t.cpu() for n, t in net.state_dict().items()}}
            if path is not None:
                with atomic_path(path) as tmp:
                    torch.save(saved, tmp)
        else:
            done += per_epoch[k] * config.epochs
            report(progress, done, total, f"fold {k + 1}/{n_folds} (checkpoint)")
        probs[val] = saved["val_probs"]
        train_rows.append(np.asarray(saved["train_rows"]))
        scores.append(_score(k, train, val, probs, labels, start, resumed=resumed))
    return OOFResult(probs=probs, folds=folds, train_rows=train_rows, fold_scores=scores,
                     mode="train")


# -- the stage ----------------------------------------------------------------------------

OOF_FOLDS = "oof_folds.json"
CHECKPOINTS = "oof_checkpoints"


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
        raise ConfigError(f"--from must be auto, embeddings or train, not '{source}'")
    if source != "auto":
        return source, ""
    from labelclean.embed.stage import load_embeddings

    try:
        _, meta = load_embeddings(workdir, embeddings_model)
    except MissingStageError:
        if embeddings_model is not None:
            raise
        return "train", ""
    if embeddings_model is None and str(meta.get("weights", "")).startswith("random-init"):
        return "train", (f"the embeddings of {meta.get('model')} have random weights, which "
                         "classify poorly; trained a model instead (pass --from embeddings "
                         "to use them anyway)")
    return "embeddings", ""


def _labeled_rows(workdir: Path):
    from labelclean.errors import NoLabelsError
    from labelclean.io.dataset import sort_classes
    from labelclean.scan.stage import read_index

    index = read_index(workdir)
    labeled = index["label"].map(lambda v: v is not None and v != "").to_numpy(bool)
    mask = labeled & index["readable"].to_numpy(bool)
    if not mask.any():
        raise NoLabelsError(f"{workdir / 'index.csv'} has no readable, labeled image; "
                            "out-of-fold probabilities need labels (pass --labels FILE)")
    record = workdir / "stages" / "scan.json"
    import json

    meta = json.loads(record.read_text()).get("dataset", {}) if record.exists() else {}
    classes = meta.get("classes") or sort_classes(index.loc[labeled, "label"])
    return index, np.flatnonzero(mask), list(classes), meta.get("root")


def oof_table(image_ids, labels, folds: np.ndarray | None, probs: np.ndarray, classes: list,
              decimals: int | None = 6):
    """The ``oof.csv`` table: ``image_id, label, fold``, then one column per class value.

    ``probs`` (N, K) is rounded to ``decimals`` (None: as given); ``fold`` is empty when
    ``folds`` is None (probabilities that came from elsewhere).
    """
    import pandas as pd

    table = pd.DataFrame({"image_id": list(image_ids), "label": list(labels),
                          "fold": "" if folds is None else np.asarray(folds, dtype=np.int64)})
    values = probs if decimals is None else np.round(probs, decimals)
    columns = pd.DataFrame(values, columns=[str(c) for c in classes])
    return pd.concat([table, columns], axis=1)


def run_oof(workdir: str | Path, *, source: str = "auto", n_folds: int = 5, seed: int = 0,
            learner: str = "logreg", calibrate: bool = True, embeddings_model: str | None = None,
            train_config=None, force: bool = False,
            progress: ProgressFn | None = None) -> OOFRun:
    """Write ``oof.csv`` (and ``oof_folds.json``) for the readable, labeled images of a scan.

    Reuses the previous result when the index, duplicates, embeddings and settings are
    unchanged (``force=True`` recomputes and discards fold checkpoints).
    """
    from labelclean.embed.stage import SETTINGS as EMBEDDING_SETTINGS
    from labelclean.io.workdir import DUPLICATES, INDEX, OOF, Workdir, write_csv, write_json
    from labelclean.oof.folds import duplicate_groups, read_duplicate_table

    wd = Workdir(workdir)
    index, rows, classes, images_root = _labeled_rows(wd.root)
    mode, note = choose_source(wd.root, source, embeddings_model)
    config = None
    if mode == "train":
        from labelclean.train.loop import TrainConfig, check_input_size

        config = (train_config or TrainConfig()).resolved()
        if train_config is not None and train_config.image_size:
            check_input_size(config, len(classes))
    params = {"source": mode, "folds": n_folds, "seed": seed,
              **({"learner": learner, "calibrate": calibrate, "embeddings": embeddings_model}
                 if mode == "embeddings" else {"train": asdict(config)})}
    features, emb_meta = (_features(wd.root, embeddings_model, rows) if mode == "embeddings"
                          else (None, {}))
    inputs = fingerprint(wd.output_fingerprint(INDEX), wd.output_fingerprint(DUPLICATES),
                         {k: emb_meta.get(k) for k in EMBEDDING_SETTINGS})
    if not force and wd.is_fresh("oof", params, inputs):
        return _reuse(wd)
    picked = index.iloc[rows]
    groups = duplicate_groups(picked["image_id"], picked["sha256"],
                              read_duplicate_table(wd.root))
    codes = _codes(picked["label"], classes)
    start = time.perf_counter()
    if mode == "embeddings":
        result = out_of_fold_probs(features, codes, groups, n_classes=len(classes),
                                   n_folds=n_folds, seed=seed, learner=learner,
                                   calibrate=calibrate, progress=progress)
    else:
        images = _images(images_root, picked["path"], config.image_size, progress)
        if force:
            for old in wd.path(CHECKPOINTS).glob("fold*.pt"):
                old.unlink()
        result = out_of_fold_probs(images, codes, groups, n_classes=len(classes),
                                   n_folds=n_folds, seed=seed, train_config=config,
                                   checkpoint_dir=wd.path(CHECKPOINTS),
                                   data_key=fingerprint(picked["image_id"].tolist(),
                                                        picked["sha256"].tolist()),
                                   progress=progress)
    table = oof_table(picked["image_id"], picked["label"], result.folds, result.probs, classes)
    summary = {"source": mode, "rows": int(len(rows)), "classes": len(classes),
               "folds": n_folds, "seed": seed,
               "accuracy": float((result.probs.argmax(1) == codes).mean()),
               "seconds": round(time.perf_counter() - start, 2),
               "fold_scores": result.fold_scores, "params": params,
               "embeddings": {k: emb_meta.get(k) for k in ("model", "weights")} if emb_meta
               else None, "note": note}
    write_csv(table, wd.path(OOF))
    write_json(summary, wd.path(OOF_FOLDS))
    wd.write_record("oof", params, inputs, [OOF, OOF_FOLDS], extra={"summary": summary})
    return OOFRun(table=table, summary=summary, path=wd.path(OOF), result=result)


def _codes(labels, classes: list) -> np.ndarray:
    position = {c: i for i, c in enumerate(classes)}
    return np.array([position[v] for v in labels], dtype=np.int64)


def _features(workdir: Path, model: str | None, rows: np.ndarray):
    from labelclean.embed.stage import load_embeddings

    array, meta = load_embeddings(workdir, model)
    return np.asarray(array[rows], dtype=np.float32), meta


def _images(root: str | None, paths, size: int, progress: ProgressFn | None):
    from labelclean.errors import MissingStageError
    from labelclean.train.loop import ImageRows, preload

    if not root or not Path(root).is_dir():
        raise MissingStageError(f"the scan record names no existing images folder ({root}); "
                                "run 'labelclean scan' again")
    rows = ImageRows([str(Path(root) / p) for p in paths], size)
    return preload(rows, lambda d, t: report(progress, d, t, "load images"))


def _reuse(wd) -> OOFRun:
    import json

    import pandas as pd

    from labelclean.io.workdir import OOF

    summary = json.loads(wd.path(OOF_FOLDS).read_text())
    table = pd.read_csv(wd.path(OOF), dtype={"image_id": str}, keep_default_na=False)
    return OOFRun(table=table, summary=summary, path=wd.path(OOF), reused=True)


#: options only one source uses (an ``[oof]`` key or CLI long name)
TRAIN_OPTIONS = {"model", "image_size", "epochs", "batch_size", "lr", "loss", "augment",
                 "no_tta", "pretrained", "weights", "device", "workers"}
EMBEDDINGS_OPTIONS = {"learner", "embeddings", "no_calibrate"}


def run_oof_with_settings(workdir: str | Path, settings: dict[str, Any], *, force: bool = False,
                          progress: ProgressFn | None = None) -> OOFRun:
    """:func:`run_oof` from an ``[oof]`` table whose keys are the CLI's long option names
    (``from``, ``folds``, ``learner``, ``model``, ``epochs``, ``no_tta``, ...)."""
    from labelclean.train.loop import TrainConfig

    s = {k.replace("-", "_"): v for k, v in settings.items() if v is not None}
    train = TrainConfig(
        model=s.get("model", "small_cnn"), image_size=s.get("image_size"),
        epochs=s.get("epochs", 10), batch_size=s.get("batch_size", 64), lr=s.get("lr", 3e-3),
        loss=s.get("loss", "label_smoothing"), augment=s.get("augment", "light"),
        tta=not s.get("no_tta", False), pretrained=bool(s.get("pretrained", False)),
        weights=str(s["weights"]) if s.get("weights") else None,
        device=s.get("device", "auto"), workers=s.get("workers", 0))
    run = run_oof(workdir, source=s.get("from", "auto"), n_folds=s.get("folds", 5),
                  seed=s.get("seed", 0), learner=s.get("learner", "logreg"),
                  calibrate=not s.get("no_calibrate", False),
                  embeddings_model=s.get("embeddings"), train_config=train, force=force,
                  progress=progress)
    unused = sorted(TRAIN_OPTIONS & set(s)) if run.summary["source"] == "embeddings" else (
        sorted(EMBEDDINGS_OPTIONS & set(s)))
    if unused:
        other = "train" if run.summary["source"] == "embeddings" else "embeddings"
        ignored = (f"options for --from {other} ignored, as this OOF came from "
                   f"{run.summary['source']}: {', '.join(unused)}")
        run.summary["note"] = "; ".join(n for n in (run.summary.get("note"), ignored) if n)
    return run
