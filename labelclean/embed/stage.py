"""The embed stage: one pooled feature vector per image, streamed to a resumable memmap.

Worker processes decode JPEGs (in draft mode when the model's input is much smaller than
the photo) and apply the model's resize and crop; the main process normalises whole
uint8 batches on the device and runs the model under ``torch.inference_mode``. Rows go to
``embeddings/<model>.npy`` (a memmap) in index order, and ``embeddings/<model>.json``
records the settings and how many rows are done, so an interrupted run resumes where it
stopped. Unreadable images get a zero row and are listed in the json; they never stop a run.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from labelclean.arrays import l2_normalize
from labelclean.errors import ConfigError
from labelclean.io.formats import images_root as scanned_images_root
from labelclean.io.formats import read_index
from labelclean.io.locations import as_location, image_location
from labelclean.io.workdir import (
    Workdir,
    check_free_space,
    new_temporary,
    publish,
    reserve_space,
    write_json,
)
from labelclean.models.backbones import DEFAULT_BACKBONE, Encoder, build_encoder
from labelclean.models.embeddings import embeddings_paths, ids_sha256, read_meta
from labelclean.progress import ProgressFn, report

DTYPES = ("float16", "float32")
#: Rows between checkpoints of the json (also written every CHECKPOINT_SECONDS and on exit).
CHECKPOINT_ROWS = 4096
CHECKPOINT_SECONDS = 10.0
#: Settings that must be equal for an existing file to be resumed or reused.
SETTINGS = ("model", "weights", "input_size", "interpolation", "crop_pct", "mean", "std",
            "l2_normalized", "dtype", "n", "dim", "ids_sha256")


@dataclass
class EmbedResult:
    """What :func:`embed_dataset` did: the file, its metadata, and how much it computed."""

    path: Path
    meta: dict[str, Any]
    computed: int = 0
    resumed_from: int = 0
    seconds: float = 0.0
    reused: bool = False
    unreadable: list[dict] = field(default_factory=list)


def default_workers(device_type: str) -> int:
    """Decode processes: every core on an accelerator; on a CPU, few enough to leave the
    cores to the model (one per four cores, at least one)."""
    cores = os.cpu_count() or 1
    return min(cores, 16) if device_type != "cpu" else max(1, cores // 4)


def default_batch_size(device_type: str) -> int:
    return 256 if device_type == "cuda" else 32


@contextmanager
def _cpu_threads(encoder: Encoder, threads: int | None) -> Iterator[None]:
    """Run torch with ``threads`` CPU threads (None: torch's default, one per core), then
    restore. Decoding needs few cores (about 3 ms per 512x384 JPEG against tens of ms of
    model compute per image on a CPU), so the model keeps them all."""
    import torch

    before = torch.get_num_threads()
    if encoder.device.type == "cpu" and threads:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def iter_features(encoder: Encoder, paths: Sequence[str | None], *, start: int = 0,
                  batch_size: int | None = None, workers: int | None = None,
                  draft: bool = True, errors: Sequence[str] | None = None,
                  ) -> Iterator[tuple[int, np.ndarray, list[str]]]:
    """Yield ``(first row, float32 (B, D) features, per-row error or "")`` in row order.

    ``paths[i] is None`` marks a row known to be unreadable (reason in ``errors[i]``); such
    rows, and files that fail to decode now, get zero features.
    """
    import torch
    from torch.utils.data import DataLoader, Subset

    from labelclean.models.inputs import ImageRows

    dev = encoder.device.type
    batch_size = batch_size or default_batch_size(dev)
    workers = default_workers(dev) if workers is None else workers
    rows = ImageRows(paths, transform=encoder.decode_transform,
                     max_side=encoder.resize_side if draft else None,
                     blank=encoder.input_size, errors=errors)
    loader = DataLoader(Subset(rows, range(start, len(rows))), batch_size=batch_size,
                        num_workers=workers, pin_memory=dev == "cuda",
                        prefetch_factor=4 if workers else None, persistent_workers=False)
    first = start
    with torch.inference_mode():
        for images, batch_errors in loader:
            features = encoder(images).numpy()
            bad = [i for i, e in enumerate(batch_errors) if e]
            features[bad] = 0.0
            yield first, features, list(batch_errors)
            first += len(images)


def embed_images(paths: Sequence[str | os.PathLike], model: str = DEFAULT_BACKBONE, *,
                 weights: str | os.PathLike | None = None, pretrained: bool = True,
                 batch_size: int | None = None, device: str = "auto",
                 image_size: int | None = None, normalize: bool = True,
                 workers: int | None = None, encoder: Encoder | None = None,
                 progress: ProgressFn | None = None) -> np.ndarray:
    """Embed image files in memory (for small sets; use :func:`embed_dataset` for big ones).

    Returns
    -------
    np.ndarray, float32, shape (N, D)
        Row ``i`` is the pooled feature vector of ``paths[i]`` (L2-normalised when
        ``normalize``); rows of files that cannot be decoded are all zeros.
    """
    encoder = encoder or build_encoder(model, weights=weights, pretrained=pretrained,
                                       device=device, image_size=image_size)
    paths = [str(p) for p in paths]
    out = np.zeros((len(paths), encoder.dim), dtype=np.float32)
    with _cpu_threads(encoder, None):
        for first, feats, _ in iter_features(encoder, paths, batch_size=batch_size,
                                             workers=workers):
            out[first:first + len(feats)] = l2_normalize(feats) if normalize else feats
            report(progress, first + len(feats), len(paths), "embed")
    return out


def embed_dataset(workdir: str | Path, *, images_root: str | Path | None = None,
                  model: str = DEFAULT_BACKBONE, weights: str | os.PathLike | None = None,
                  pretrained: bool = True, batch_size: int | None = None,
                  device: str = "auto", image_size: int | None = None, normalize: bool = True,
                  dtype: str = "float16", workers: int | None = None,
                  threads: int | None = None, force: bool = False,
                  encoder: Encoder | None = None,
                  progress: ProgressFn | None = None) -> EmbedResult:
    """Embed every row of ``index.csv`` into ``embeddings/<model>.npy`` + ``.json``.

    Rows are in index order; unreadable rows (in the index, or failing to decode now) are
    zero vectors listed under ``unreadable`` in the json. A finished file with the same
    settings is reused (``force=True`` recomputes); an unfinished one is resumed at its
    first missing row. ``images_root`` defaults to the dataset the scan recorded.
    ``threads`` sets torch's CPU threads (default: torch's, one per core). Same as
    ``prepare_embedding(...).run(progress)``.

    The array is float16 or float32 of shape (N, D); see :func:`load_embeddings`.
    """
    return prepare_embedding(
        workdir, images_root=images_root, model=model, weights=weights, pretrained=pretrained,
        batch_size=batch_size, device=device, image_size=image_size, normalize=normalize,
        dtype=dtype, workers=workers, threads=threads, force=force, encoder=encoder,
    ).run(progress)


@dataclass
class EmbedJob:
    """An embedding run with every input checked and the output file open; :meth:`run` it."""

    workdir: Workdir
    encoder: Encoder
    ids: list[str]
    paths: list[str | None]
    errors: list[str]
    array: np.ndarray
    meta: dict[str, Any]
    npy: Path
    meta_path: Path
    start: int
    normalize: bool = True
    batch_size: int | None = None
    workers: int | None = None
    threads: int | None = None
    backend: str = "local"
    ray_address: str | None = None
    build: dict[str, Any] = field(default_factory=dict)  # build_encoder's, for Ray actors

    def run(self, progress: ProgressFn | None = None) -> EmbedResult:
        """Compute the missing rows (none if the file is finished)."""
        result = EmbedResult(path=self.npy, meta=self.meta, resumed_from=self.start,
                             reused=self.start >= len(self.ids))
        if not result.reused:
            began = time.perf_counter()
            if self.backend == "ray":
                from labelclean.embed.distributed import fill_with_ray

                batch = self.batch_size or default_batch_size(self.encoder.device.type)
                result.computed = fill_with_ray(self, self.build, self.ray_address, progress,
                                                checkpoint=_checkpoint, batch_size=batch)
            else:
                with _cpu_threads(self.encoder, self.threads):
                    _fill(self, progress)
                result.computed = len(self.ids) - self.start
            result.seconds = time.perf_counter() - began
            wd = self.workdir
            wd.write_record("embed", {k: self.meta[k] for k in SETTINGS},
                            self.meta["ids_sha256"], [str(p.relative_to(wd.root))
                                                      for p in (self.npy, self.meta_path)])
        result.unreadable = self.meta["unreadable"]
        return result


def prepare_embedding(workdir: str | Path, *, images_root: str | Path | None = None,
                      model: str = DEFAULT_BACKBONE, weights: str | os.PathLike | None = None,
                      pretrained: bool = True, batch_size: int | None = None,
                      device: str = "auto", image_size: int | None = None,
                      normalize: bool = True, dtype: str = "float16",
                      workers: int | None = None, threads: int | None = None,
                      force: bool = False, encoder: Encoder | None = None,
                      backend: str = "local", ray_address: str | None = None) -> EmbedJob:
    """Check the inputs, build the encoder and open (or resume) the output file.

    Every user mistake (no index, unknown model, missing weights, bad option) is raised
    here, before any image is read. Arguments as in :func:`embed_dataset`; ``backend="ray"``
    decodes in Ray tasks and runs the model in Ray actors (a local Ray, or the cluster at
    ``ray_address``; see :mod:`labelclean.embed.distributed`), into the same files.
    """
    from labelclean.backends.ray import check_backend

    check_backend(backend)  # missing Ray is a mistake too: said before any work
    if dtype not in DTYPES:
        raise ConfigError(f"`dtype` must be one of {', '.join(DTYPES)}, not '{dtype}'")
    wd = Workdir(workdir)
    index = read_index(wd.root)
    root = (as_location(images_root) if images_root is not None
            else scanned_images_root(wd.root, required=True))
    encoder = encoder or build_encoder(model, weights=weights, pretrained=pretrained,
                                       device=device, image_size=image_size)
    ids = index["image_id"].tolist()
    paths = [image_location(root, p) if ok else None
             for p, ok in zip(index["path"], index["readable"])]
    npy, meta_path = embeddings_paths(wd.root, encoder.name)
    array, meta, start = _open_store(npy, meta_path, _settings(encoder, ids, normalize, dtype),
                                     force)
    return EmbedJob(workdir=wd, encoder=encoder, ids=ids, paths=paths,
                    errors=index["error"].tolist(), array=array, meta=meta, npy=npy,
                    meta_path=meta_path, start=start, normalize=normalize,
                    batch_size=batch_size, workers=workers, threads=threads, backend=backend,
                    ray_address=ray_address,
                    build={"model": model, "weights": None if weights is None else str(weights),
                           "pretrained": pretrained, "device": device,
                           "image_size": image_size})


def _fill(job: EmbedJob, progress: ProgressFn | None) -> None:
    """Compute rows ``job.start:`` into the array; the json is checkpointed as rows complete."""
    array, meta, ids, start = job.array, job.meta, job.ids, job.start
    done, saved, saved_at = start, start, time.monotonic()
    report(progress, 0, len(ids) - start, "embed")
    try:
        for first, feats, batch_errors in iter_features(
                job.encoder, job.paths, start=start, batch_size=job.batch_size,
                workers=job.workers, errors=job.errors):
            array[first:first + len(feats)] = l2_normalize(feats) if job.normalize else feats
            meta["unreadable"].extend({"row": first + j, "image_id": ids[first + j], "error": e}
                                      for j, e in enumerate(batch_errors) if e)
            done = first + len(feats)
            if done - saved >= CHECKPOINT_ROWS or time.monotonic() - saved_at > CHECKPOINT_SECONDS:
                _checkpoint(array, meta, job.meta_path, done)
                saved, saved_at = done, time.monotonic()
            report(progress, done - start, len(ids) - start, "embed")
    finally:
        _checkpoint(array, meta, job.meta_path, done)


def _checkpoint(array: np.ndarray, meta: dict, meta_path: Path, completed: int) -> None:
    """Flush the rows to disk, then record how many are complete (never the other order)."""
    if isinstance(array, np.memmap):
        array.flush()
    meta["completed"] = int(completed)
    meta["updated_at"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    write_json(meta, meta_path, now=True)  # progress of the resumable memmap: at once


def _settings(encoder: Encoder, ids: list, normalize: bool, dtype: str) -> dict[str, Any]:
    from labelclean import __version__

    config = encoder.data_config
    return {
        "model": encoder.name, "weights": encoder.weights,
        "input_size": [int(v) for v in config["input_size"]],
        "interpolation": config.get("interpolation", ""),
        "crop_pct": float(config.get("crop_pct") or 1.0),
        "mean": [float(v) for v in config["mean"]], "std": [float(v) for v in config["std"]],
        "l2_normalized": bool(normalize), "dtype": dtype, "n": len(ids), "dim": encoder.dim,
        "ids_sha256": ids_sha256(ids), "completed": 0, "unreadable": [],
        "device": str(encoder.device), "labelclean": __version__,
    }


def _open_store(npy: Path, meta_path: Path, meta: dict,
                force: bool) -> tuple[np.ndarray, dict, int]:
    """(array to write into, metadata, first row to compute): resume a matching file, or
    start a new one."""
    old = read_meta(meta_path)
    shape, dtype = (meta["n"], meta["dim"]), np.dtype(meta["dtype"])
    if not force and old and all(old.get(k) == meta[k] for k in SETTINGS) and npy.exists():
        try:
            array = np.load(npy, mmap_mode="r+") if meta["n"] else np.load(npy)
        except (OSError, ValueError):
            array = None
        if array is not None and array.shape == shape and array.dtype == dtype:
            if meta["n"]:
                reserve_space(npy, npy)  # a file an older version left sparse
            completed = min(int(old.get("completed", 0)), meta["n"])
            meta["completed"] = completed
            meta["unreadable"] = [u for u in old.get("unreadable", []) if u["row"] < completed]
            return array, meta, completed
    _check_room(npy, shape, dtype)
    tmp, array = _new_store(npy, shape, dtype)
    meta_path.unlink(missing_ok=True)  # never leave a json describing other rows
    if tmp is None:
        np.save(npy, array)
    else:
        publish(tmp, npy, now=True)  # the memmap follows its file
    _checkpoint(array, meta, meta_path, 0)
    return array, meta, 0


def _new_store(npy: Path, shape: tuple[int, int], dtype: np.dtype
               ) -> tuple[Path | None, np.ndarray]:
    """(temporary file, memmap of it) for a new ``npy`` with every block reserved, so
    that a disk that fills while it is written cannot kill the process ("Bus error"); a
    disk too full for it leaves the old file as it was. No rows: (None, an array)."""
    if not shape[0]:
        return None, np.zeros(shape, dtype=dtype)
    tmp = new_temporary(npy)
    try:
        array = np.lib.format.open_memmap(tmp, mode="w+", dtype=dtype, shape=shape)
        reserve_space(tmp, npy)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp, array


def _check_room(npy: Path, shape: tuple[int, int], dtype: np.dtype) -> None:
    """The disk must hold the new file beside the old one (replaced once it is made)."""
    check_free_space(npy, int(np.prod(shape)) * dtype.itemsize + 128)


