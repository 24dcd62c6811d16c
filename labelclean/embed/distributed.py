"""The embed stage on the Ray backend: decode in Ray tasks, the model in an actor pool.

The pieces are the local backend's: :class:`~labelclean.models.inputs.ImageRows` decodes
and applies the model's resize and crop (a bad file is a zero row with its reason), the
:class:`~labelclean.models.backbones.Encoder` runs the uint8 batches. Batches come back
in any order with their row numbers and are written into the same memmap. Which rows are
finished is kept as a bit mask in the work directory's Ray scratch (named in the json as
``rows_done``), so an interrupted run computes only the rows it lacks, not only those
after a finished prefix; the mask goes once every row is done.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from labelclean.arrays import l2_normalize
from labelclean.backends.ray import map_listing, remove_scratch, scratch_folder
from labelclean.io.workdir import atomic_path
from labelclean.models.embeddings import read_meta
from labelclean.progress import ProgressFn, report

#: rows between checkpoints of the mask and the json (also every CHECKPOINT_SECONDS)
CHECKPOINT_ROWS = 4096
CHECKPOINT_SECONDS = 10.0


def decode_batch(batch: dict[str, np.ndarray], transform: Any, max_side: int | None,
                 blank: tuple[int, int, int]) -> dict[str, np.ndarray]:
    """Decode a Ray batch (``row``, ``path`` ("" = known unreadable), ``error``) into
    ``row``, ``image`` (B, 3, H, W) uint8 and ``error`` ("" for a decoded file)."""
    from labelclean.models.inputs import ImageRows

    paths = [str(p) or None for p in batch["path"]]
    rows = ImageRows(paths, transform=transform, max_side=max_side, blank=blank,
                     errors=[str(e) for e in batch["error"]])
    images, errors = [], []
    for i in range(len(rows)):
        image, error = rows.array(i)
        images.append(image)
        errors.append(error)
    return {"row": np.asarray(batch["row"], dtype=np.int64),
            "image": np.stack(images) if images else np.zeros((0, *blank), np.uint8),
            "error": np.array(errors, dtype=object)}


class EncoderActor:
    """A Ray actor's model: built once, then ``(row, image, error)`` batches -> ``row``,
    ``features`` (B, D) float32 (zero rows for errors) and ``error``."""

    def __init__(self, build: dict[str, Any], threads: int | None) -> None:
        import torch

        from labelclean.models.backbones import build_encoder

        self.encoder = build_encoder(**build)
        if self.encoder.device.type == "cpu":  # Ray gives an actor one thread by default
            torch.set_num_threads(threads or os.cpu_count() or 1)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        import torch

        with torch.inference_mode():
            features = self.encoder(torch.from_numpy(np.ascontiguousarray(batch["image"])))
        features = features.numpy()
        features[[i for i, e in enumerate(batch["error"]) if e]] = 0.0
        return {"row": batch["row"], "features": features, "error": batch["error"]}


def fill_with_ray(job: Any, build: dict[str, Any], address: str | None,
                  progress: ProgressFn | None, *, checkpoint: Callable, batch_size: int
                  ) -> int:
    """Compute the rows of ``job`` (an :class:`~labelclean.embed.stage.EmbedJob`) that are
    not done yet with Ray; ``build``: :func:`~labelclean.models.backbones.build_encoder`'s
    arguments for the actors, ``batch_size`` the model's. ``checkpoint(array, meta,
    meta_path, completed)`` flushes the rows and writes the json as rows complete. Returns
    how many rows it computed (not the rows an interrupted run had done)."""
    n, meta = len(job.ids), job.meta
    scratch = f"embed/{job.npy.stem}"
    mask_path = scratch_folder(job.workdir.root, scratch) / "done.npy"
    done = _done_rows(job, mask_path)
    todo = np.flatnonzero(~done)
    report(progress, 0, len(todo), "embed")
    state = {"saved": 0, "at": time.monotonic(), "count": 0}

    def save() -> None:
        if job.array.size and isinstance(job.array, np.memmap):
            job.array.flush()  # rows first, then the record of them (never the other order)
        mask_path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(mask_path, now=True) as tmp:
            with open(tmp, "wb") as fh:
                np.save(fh, np.packbits(done))
        meta["rows_done"] = str(mask_path.relative_to(job.workdir.root))
        checkpoint(job.array, meta, job.meta_path, _prefix(done))
        state["saved"], state["at"] = state["count"], time.monotonic()

    def take(batch: dict[str, np.ndarray]) -> None:
        rows, feats = batch["row"], batch["features"]
        job.array[rows] = l2_normalize(feats) if job.normalize else feats
        meta["unreadable"].extend({"row": int(r), "image_id": job.ids[r], "error": str(e)}
                                  for r, e in zip(rows, batch["error"]) if e)
        done[rows] = True
        state["count"] += len(rows)
        if (state["count"] - state["saved"] >= CHECKPOINT_ROWS
                or time.monotonic() - state["at"] > CHECKPOINT_SECONDS):
            save()
        report(progress, state["count"], len(todo), "embed")

    try:
        for batch in map_listing(
                _listing(job, todo), decode_batch, fn_kwargs={
                    "transform": job.encoder.decode_transform, "blank": job.encoder.input_size,
                    "max_side": job.encoder.resize_side},
                concurrency=job.workers or None, model=EncoderActor,
                model_kwargs={"build": build, "threads": job.threads},
                model_batch_size=batch_size,
                address=address) if len(todo) else ():
            take(batch)
    finally:
        meta["unreadable"].sort(key=lambda u: u["row"])
        if done.all():
            meta.pop("rows_done", None)
            checkpoint(job.array, meta, job.meta_path, n)
            remove_scratch(job.workdir.root, scratch)
        else:
            save()
    return len(todo)


def _listing(job: Any, todo: np.ndarray) -> dict[str, np.ndarray]:
    """The Ray listing of rows ``todo``: ``row``, ``path`` ("" = known unreadable), ``error``."""
    return {"row": todo.astype(np.int64),
            "path": np.array([job.paths[i] or "" for i in todo], dtype=object),
            "error": np.array(["" if job.paths[i] else job.errors[i] or "" for i in todo],
                              dtype=object)}


def _done_rows(job: Any, mask_path: Path) -> np.ndarray:
    """(N,) bool: the rows already computed (the resumed prefix, and the rows an interrupted
    Ray run recorded in its mask); the json's unreadable rows are kept for exactly those."""
    n = len(job.ids)
    done = np.zeros(n, dtype=bool)
    done[:job.start] = True
    old = read_meta(job.meta_path) or {}
    if job.start < n and old.get("rows_done") and mask_path.exists():
        try:
            done |= np.unpackbits(np.load(mask_path))[:n].astype(bool)
        except (OSError, ValueError):
            pass
        job.meta["unreadable"] = [u for u in old.get("unreadable", []) if done[u["row"]]]
    return done


def _prefix(done: np.ndarray) -> int:
    """How many leading rows are done."""
    missing = np.flatnonzero(~done)
    return int(missing[0]) if len(missing) else len(done)
