"""One training run of the train stage: a method on a :class:`~labelclean.train.data.TrainData`,
evaluated on its held-out images after every epoch, resumable from ``last.pt``.

Writes in its output folder ``model.pt`` and ``last.pt`` (:mod:`labelclean.train.checkpoint`),
``metrics.csv`` (one row per epoch: the method's mean losses, ``heldout_accuracy``, ``lr``,
``seconds``, then the method's own ``epoch_metrics()``) and ``summary.json``.
Import this module lazily: it needs torch.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch

from labelclean.io.trainfiles import METRICS as METRICS_FILE
from labelclean.io.workdir import fingerprint, write_csv, write_json
from labelclean.progress import ProgressFn, report
from labelclean.train.checkpoint import (
    LAST_FILE,
    MODEL_FILE,
    load_resume,
    restore,
    save_model,
    save_resume,
)
from labelclean.train.data import TrainData, check_method
from labelclean.train.loop import TrainConfig, check_input_size, predict_probs, run_epochs
from labelclean.train.options import DEFAULT_EPOCHS, METHOD_SETTINGS, METHODS, TrainOptions
from labelclean.train.runtime import setup_runtime

SUMMARY_FILE = "summary.json"
OUTPUTS = (MODEL_FILE, LAST_FILE, METRICS_FILE, SUMMARY_FILE)


def train_config(options: TrainOptions, method: str) -> TrainConfig:
    """The resolved :class:`TrainConfig` of ``options`` for ``method``."""
    from labelclean.errors import ConfigError

    if method not in METHODS:
        raise ConfigError(f"`method` must be one of {', '.join(METHODS)}, not '{method}'")
    return TrainConfig(
        model=options.model, image_size=options.image_size,
        epochs=options.epochs or DEFAULT_EPOCHS[method], batch_size=options.batch_size,
        lr=options.lr, loss=options.loss, augment=options.augment, tta=not options.no_tta,
        pretrained=options.pretrained, weights=str(options.weights) if options.weights else None,
        device=options.device, workers=options.workers).resolved()


def method_settings(method: str, options: TrainOptions) -> tuple[Any, list[str]]:
    """(the method's settings dataclass with the options of the same name applied (None for
    ce), the names of the given settings the method does not take)."""
    given = {n: getattr(options, n) for n in METHOD_SETTINGS  # 0 is a setting; False: unset
             if getattr(options, n) is not None and getattr(options, n) is not False}
    if method == "ce":
        return None, sorted(given)
    from labelclean.errors import ConfigError

    try:
        if method == "dividemix":
            from labelclean.train.dividemix import DivideMixSettings as Settings
        else:
            from labelclean.train.fixmatch import FixMatchSettings as Settings
    except ModuleNotFoundError as exc:
        if exc.name != f"labelclean.train.{method}":
            raise
        raise ConfigError(f"`method` {method} is not available in this version of "
                          "labelclean; use `method` ce") from None
    names = {f.name for f in fields(Settings)}
    return Settings(**{k: v for k, v in given.items() if k in names}), sorted(set(given) - names)


def make_step(method: str, config: TrainConfig, settings: Any, images, data: TrainData,
              runtime, options: TrainOptions):
    """The :class:`~labelclean.train.loop.TrainStep` of ``method`` (builds its nets)."""
    k = len(data.classes)
    if method == "ce":
        from labelclean.train.ce import CEStep

        return CEStep(config, images, data.train_rows, k, runtime, ema=options.ema,
                      swa=options.swa)
    if method == "dividemix":
        from labelclean.train.dividemix import DivideMixStep

        return DivideMixStep(config, settings, images, data.labels, data.train_rows, k, runtime)
    from labelclean.train.fixmatch import FixMatchStep

    return FixMatchStep(config, settings, images, data.labels, data.train_rows,
                        data.unlabeled_rows, k, runtime)


def current_lr(step: Any) -> float:
    """The learning rate a step's (first) optimiser is at (NaN when it shows none)."""
    if hasattr(step, "current_lr"):
        return float(step.current_lr())
    for name in ("optimizer", "optimizer1", "optimizers"):
        opt = getattr(step, name, None)
        opt = opt[0] if isinstance(opt, (list, tuple)) and opt else opt
        if opt is not None and hasattr(opt, "param_groups"):
            return float(opt.param_groups[0]["lr"])
    return math.nan


def evaluate(net, images, data: TrainData, config: TrainConfig) -> dict[str, Any]:
    """Held-out accuracy and per-class recall of ``net`` (empty without held-out rows)."""
    rows = data.val_rows
    if not len(rows):
        return {}
    was = net.training
    probs = predict_probs(net.eval(), images, rows, config)
    net.train(was)
    truth, guess = data.labels[rows], probs.argmax(1)
    recall = {str(c): (float((guess[truth == i] == i).mean()) if (truth == i).any() else None)
              for i, c in enumerate(data.classes)}
    return {"heldout_accuracy": float((guess == truth).mean()), "recall": recall}


class _Recorder:
    """Wraps a step: sums its losses over an epoch (on the device) and reports progress
    per batch, the description naming the epoch and the last epoch's loss and accuracy."""

    def __init__(self, step, name: str, config: TrainConfig, n_train: int,
                 progress: ProgressFn | None) -> None:
        self.step, self.name, self.config, self.n_train = step, name, config, n_train
        self.progress, self.last = progress, ""
        self.sums: dict[str, torch.Tensor] = {}
        self.count, self.n_batches, self.epoch, self.start = 0, 1, 0, time.perf_counter()

    def begin_epoch(self, epoch: int):
        rows = self.step.begin_epoch(epoch)
        n = self.n_train if rows is None else len(rows)
        self.epoch, self.n_batches = epoch, max(1, math.ceil(n / self.config.batch_size))
        self.sums, self.count, self.start = {}, 0, time.perf_counter()
        return rows

    def __call__(self, batch):
        losses = self.step(batch)
        if losses is not None:
            for key, value in losses.items():
                value = torch.as_tensor(value).detach().float().mean()
                self.sums[key] = self.sums[key] + value if key in self.sums else value
            self.count += 1
        report(self.progress, self.count, self.n_batches,
               f"{self.name} epoch {self.epoch + 1}/{self.config.epochs}{self.last}")
        return losses

    def model(self):
        return self.step.model()

    def means(self) -> dict[str, float]:
        return {k: float(v) / max(1, self.count) for k, v in self.sums.items()}


@dataclass
class TrainRun:
    """One finished run: its output folder, ``summary.json``'s content and the metrics."""

    out: Path
    summary: dict[str, Any]
    metrics: list[dict[str, Any]]
    net: Any = None


def train_run(data: TrainData, images, options: TrainOptions, method: str, out: Path, *,
              name: str | None = None, progress: ProgressFn | None = None) -> TrainRun:
    """Train ``method`` on ``data`` (``images``: its store, preloaded or not) and write the
    run's files in ``out`` (see the module); ``options.resume`` continues from ``last.pt``.
    """
    name = name or method
    check_method(data, method)
    config = train_config(options, method)
    if options.image_size:
        check_input_size(config, len(data.classes))
    settings, ignored = method_settings(method, options)
    runtime = setup_runtime(config.device, options.seed)
    step = make_step(method, config, settings, images, data, runtime, options)
    run_key = fingerprint(asdict(config), method, asdict(settings) if settings else None,
                          options.ema, options.swa, options.seed, data.key())
    saved = load_resume(out / LAST_FILE, run_key) if options.resume else None
    start = restore(saved, step, runtime) if saved is not None else 0
    metrics: list[dict[str, Any]] = list(saved["metrics"]) if saved is not None else []
    recorder = _Recorder(step, name, config, len(data.train_rows), progress)
    began = time.perf_counter()

    def on_epoch_end(epoch: int) -> None:
        if hasattr(step, "end_epoch"):
            step.end_epoch(epoch)
        row = {"epoch": epoch + 1, **recorder.means()}
        scores = evaluate(step.model(), images, data, config)
        row["heldout_accuracy"] = scores.get("heldout_accuracy", math.nan)
        row["lr"] = current_lr(step)
        row["seconds"] = round(time.perf_counter() - recorder.start, 3)
        row.update(step.epoch_metrics() if hasattr(step, "epoch_metrics") else {})
        metrics.append(row)
        losses = recorder.means()
        loss = losses.get("loss", next(iter(losses.values()), math.nan))
        held = (f", held-out accuracy {row['heldout_accuracy']:.3f}" if len(data.val_rows)
                else "")
        recorder.last = f" (epoch {epoch + 1}: loss {loss:.3f}{held})"
        save_resume(out / LAST_FILE, run_key=run_key, epoch=epoch, step=step, runtime=runtime,
                    metrics=metrics)

    run_epochs(recorder, images, data.labels, data.train_rows, config, runtime.rng,
               start_epoch=start, on_epoch_end=on_epoch_end)
    return _finish(step, images, data, config, method, name, out, metrics,
                   {"resumed_at_epoch": start + 1 if saved is not None else None,
                    "ignored_settings": ignored, "settings": asdict(settings) if settings
                    else {"ema": options.ema, "swa": options.swa},
                    "seconds": round(time.perf_counter() - began, 2)})


def metrics_table(metrics: list[dict]):
    """The ``metrics.csv`` table: ``epoch``, the losses, ``heldout_accuracy``, ``lr``,
    ``seconds``, then the method's own columns; numbers to 6 decimals."""
    import pandas as pd

    table = pd.DataFrame(metrics)
    fixed = ["epoch", "heldout_accuracy", "lr", "seconds"]
    losses = [c for c in table.columns if c.startswith("loss")]
    rest = [c for c in table.columns if c not in fixed and c not in losses]
    return table[["epoch", *losses, *fixed[1:], *rest]].round(6)


def _finish(step, images, data: TrainData, config: TrainConfig, method: str, name: str,
            out: Path, metrics: list[dict], extra: dict) -> TrainRun:
    net = step.model().eval()
    scores = evaluate(net, images, data, config)
    counts = np.bincount(data.labels[data.train_rows], minlength=len(data.classes))
    summary = {"recipe": name, "method": method, "labels_from": data.labels_from,
               "held_out": data.held_out, "n_train": int(len(data.train_rows)),
               "n_heldout": int(len(data.val_rows)),
               "n_unlabeled": int(len(data.unlabeled_rows)),
               "train_per_class": {str(c): int(n) for c, n in zip(data.classes, counts)},
               "heldout_accuracy": scores.get("heldout_accuracy"),
               "recall": scores.get("recall", {}), "epochs": config.epochs,
               "config": asdict(config), "notes": data.notes, **extra}
    save_model(net, out / MODEL_FILE, config=config, classes=data.classes, method=method)
    write_csv(metrics_table(metrics), out / METRICS_FILE)
    write_json(summary, out / SUMMARY_FILE)
    return TrainRun(out=out, summary=summary, metrics=metrics, net=net)
