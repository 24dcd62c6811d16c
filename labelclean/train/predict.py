"""``labelclean predict``: class probabilities of a folder of images from a trained model.

The table has one row per image: ``image_id`` (the labels file's id, or the path relative
to the folder), ``label`` when a labels file was given, then one probability column per
class named by the class value: ``oof.csv``'s format without ``fold``, so
``labelclean noise --oof predictions.csv`` reads it. An image that cannot be decoded gets
an empty row (no prediction) and is counted in the notes.
Import this module lazily: it needs torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from labelclean.errors import ConfigError
from labelclean.progress import ProgressFn, report
from labelclean.results import plural

#: images decoded and predicted at a time
CHUNK = 1024


@dataclass
class Predictions:
    """What :func:`predict_folder` made: the table (see the module) and what to know."""

    table: Any  # pandas DataFrame
    classes: list
    unreadable: int = 0
    notes: list[str] = field(default_factory=list)


def _images(folder: Path, labels: str | Path | None):
    """(ids, relative paths or None for a missing file, labels or None) of the images."""
    from labelclean.io.dataset import list_image_files, load_dataset

    if labels is None:
        files = list_image_files(folder)
        return files, files, None
    ds = load_dataset(folder, labels)
    listed = [r for r in ds.records if r.label is not None]
    return ([r.image_id for r in listed], [r.path if r.problem is None else None
                                           for r in listed], [r.label for r in listed])


def predict_folder(checkpoint: str | Path, images: str | Path, *,
                   labels: str | Path | None = None, tta: bool | None = None,
                   device: str = "auto",
                   progress: ProgressFn | None = None) -> Predictions:
    """Probabilities (one row per image, see the module) of the images in ``images``.

    Parameters
    ----------
    checkpoint : a ``model.pt`` written by ``labelclean train``, or its folder.
    images : the folder of images (every image file in it, nested folders too), or with
        ``labels`` the images that file lists (its ``image_id, label`` columns).
    tta : average the flips the model trained with (none for the ``light`` preset); None:
        as train's held-out accuracy did (on), with no note when there is no flip.
    """
    from labelclean.models.backbones import resolve_device
    from labelclean.models.inputs import ImageRows, Normalise
    from labelclean.train.checkpoint import load_model
    from labelclean.train.loop import TrainConfig, predict_probs

    folder = Path(images)
    if not folder.is_dir():
        raise ConfigError(f"`images` {folder} is not a folder; pass the folder of images")
    dev = resolve_device(device)
    net, info = load_model(checkpoint, dev)
    config = replace(TrainConfig(**info["config"]), tta=tta is not False, workers=0)
    norm = Normalise(info["mean"], info["std"], dev)
    ids, paths, given = _images(folder, labels)
    size = int(info["image_size"])
    rows = ImageRows([str(folder / p) if p else None for p in paths], size,
                     blank=(3, size, size), errors=["missing file"] * len(paths))
    probs = np.full((len(ids), len(info["classes"])), np.nan)
    bad = np.zeros(len(ids), dtype=bool)
    for start in range(0, len(ids), CHUNK):
        items = [rows[i] for i in range(start, min(len(ids), start + CHUNK))]
        batch = np.array([err == "" for _, err in items])
        bad[start:start + len(items)] = ~batch
        if batch.any():
            import torch

            stack = torch.stack([t for (t, _), ok in zip(items, batch) if ok])
            probs[start + np.flatnonzero(batch)] = predict_probs(
                net, stack, np.arange(len(stack)), config, norm=norm)
        report(progress, min(len(ids), start + CHUNK), len(ids), "predict")
    return _result(ids, given, probs, info, bad, tta)


def _result(ids, given, probs, info: dict, bad: np.ndarray, tta: bool | None) -> Predictions:
    from labelclean.io.formats import oof_table
    from labelclean.train.augment import get_augmentation

    table = oof_table(ids, given if given is not None else [""] * len(ids), None, probs,
                      info["classes"]).drop(columns=["fold"])
    if given is None:
        table = table.drop(columns=["label"])
    notes = []
    if bad.any():
        notes.append(f"{plural(int(bad.sum()), 'image')} could not be read (missing or not "
                     "decodable): their rows are empty")
    if tta is True and len(get_augmentation(info["augment"]).tta_views()) == 1:
        notes.append(f"the model trained without flips (`augment` {info['augment']}), so "
                     "`tta` has no view to average")
    return Predictions(table=table, classes=list(info["classes"]),
                       unreadable=int(bad.sum()), notes=notes)


def write_predictions(result: Predictions, out: str | Path) -> Path:
    """Write the table to ``out`` (a CSV file), atomically, with the oof-file writer."""
    from labelclean.io.formats import write_oof

    return write_oof(result.table, Path(out))
