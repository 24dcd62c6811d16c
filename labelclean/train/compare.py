"""The train stage on a work directory: one method (:func:`train_one`), or the standard set
of recipes on one held-out split (:func:`compare`, ``train/comparison.csv``).

The recipes of a comparison share the model, the budget, the seed and the held-out images
(and their labels), so their held-out accuracies answer "what did cleaning buy":

* ``ce_given``: ce on the labels as given;
* ``ce_clean``: ce on ``clean.csv``;
* ``dividemix_given``: DivideMix on the labels as given (it finds the noise itself);
* ``fixmatch_clean``: FixMatch on ``clean.csv``, the images labelclean flagged unlabeled.

A recipe that cannot run (no ``clean.csv``, no unlabeled image, ...) gets a row with its
reason in ``note``. Import this module lazily: it needs torch.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from labelclean.errors import ConfigError, LabelcleanError
from labelclean.io.trainfiles import TRAIN_DIR, comparison_table, write_comparison
from labelclean.progress import ProgressFn, report
from labelclean.train.data import TrainData, check_method, load_train_data
from labelclean.train.options import METHODS, TrainOptions
from labelclean.train.stage import OUTPUTS, TrainRun, train_config, train_run

RECIPES = (("ce_given", "ce", "given"), ("ce_clean", "ce", "clean"),
           ("dividemix_given", "dividemix", "given"), ("fixmatch_clean", "fixmatch", "clean"))


class _Store:
    """Decoded images by path, shared by the recipes of one comparison."""

    def __init__(self) -> None:
        self.cache: dict[tuple[str, int], Any] = {}

    def images(self, data: TrainData, size: int, progress: ProgressFn | None):
        """The store of ``data``: a uint8 tensor (N, 3, size, size) (or ``ImageRows`` when
        too large to keep)."""
        import torch

        from labelclean.models.inputs import ImageRows
        from labelclean.train.loop import CACHE_BYTES, preload

        todo = [p for p in data.paths if (p, size) not in self.cache]
        if len(data.paths) * 3 * size * size > CACHE_BYTES:
            return ImageRows(data.paths, size)
        if todo:
            loaded = preload(ImageRows(todo, size),
                             lambda d, t: report(progress, d, t, "load images"))
            self.cache.update({(p, size): loaded[i] for i, p in enumerate(todo)})
        return torch.stack([self.cache[(p, size)] for p in data.paths])


def output_folder(workdir: Path, options: TrainOptions, name: str) -> Path:
    """Where a run writes: ``out``, else ``<workdir>/train/<name>``; checked to be off the
    user's files."""
    from labelclean.io.formats import images_root
    from labelclean.io.guard import check_output_dir

    out = Path(options.out) if options.out else Path(workdir) / TRAIN_DIR / name
    return check_output_dir(out, images_root=images_root(workdir), writes=OUTPUTS,
                            workdir=workdir, own=TRAIN_DIR)


def _data(workdir: Path, options: TrainOptions, method: str, labels_from: str,
          group_col: str | None) -> TrainData:
    return load_train_data(workdir, method=method, labels_from=labels_from,
                           val_labels=str(options.val_labels) if options.val_labels else None,
                           holdout=options.holdout, seed=options.seed,
                           unlabeled=str(options.unlabeled) if options.unlabeled else None,
                           group_col=group_col)


def train_one(workdir: str | Path, options: TrainOptions, progress: ProgressFn | None = None,
              *, group_col: str | None = None) -> TrainRun:
    """Train ``options.method`` on ``options.labels_from`` labels; write its folder
    (``group_col``: the project's user groups, kept on one side of the held-out split)."""
    if options.method not in METHODS:
        raise ConfigError(f"`method` must be one of {', '.join(METHODS)}, not "
                          f"'{options.method}'")
    wd = Path(workdir)
    data = _data(wd, options, options.method, options.labels_from, group_col)
    check_method(data, options.method)  # before any image is decoded
    out = output_folder(wd, options, options.method)
    size = train_config(options, options.method).image_size
    images = _Store().images(data, size, progress)
    return train_run(data, images, options, options.method, out, progress=progress)


def compare(workdir: str | Path, options: TrainOptions, progress: ProgressFn | None = None,
            *, group_col: str | None = None) -> tuple[Any, list[TrainRun]]:
    """Train every recipe of :data:`RECIPES` and write ``train/comparison.csv``.

    Returns (the comparison table, the runs that finished).
    """
    if options.out:
        raise ConfigError("`out` cannot be used with `compare`: each recipe writes "
                          "<workdir>/train/<recipe>/ and the table goes to "
                          "<workdir>/train/comparison.csv")
    wd, store = Path(workdir), _Store()
    rows, runs, classes, errors = [], [], [], []
    for name, method, labels_from in RECIPES:
        try:
            data = _data(wd, options, method, labels_from, group_col)
            classes = classes or data.classes
            check_method(data, method)
            size = train_config(options, method).image_size
            run = train_run(data, store.images(data, size, progress), options, method,
                            output_folder(wd, replace(options, out=None), name), name=name,
                            progress=progress)
        except LabelcleanError as exc:
            errors.append(exc)
            rows.append({"recipe": name, "method": method, "labels_from": labels_from,
                         "note": str(exc)})
            continue
        runs.append(run)
        rows.append({**run.summary, "note": "; ".join(run.summary.get("notes", []))})
    if not runs:
        raise errors[0]
    table = comparison_table(rows, classes)
    write_comparison(table, wd)
    return table, runs
