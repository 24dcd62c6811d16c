"""The scan stage: one row per image file, readable or not, with hashes from the same decode.

Each file is read once: its bytes give the SHA-256 content hash, a single (JPEG draft-mode)
decode gives the size, mode and format, the perceptual hashes, and a small greyscale
thumbnail that later stages use to verify near-duplicates without decoding again.
"""

from __future__ import annotations

import hashlib
import pickle
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image

from labelclean.backends.local import one_blas_thread, pool_map
from labelclean.backends.ray import check_backend, remove_scratch
from labelclean.io.dataset import Dataset
from labelclean.io.formats import (
    labeled_mask,
    read_hashes,
    read_index,
    read_thumbs,
    write_hashes,
    write_index,
)
from labelclean.io.guard import check_workdir
from labelclean.io.imageio import DEFAULT_MAX_PIXELS, UnreadableImage, open_image
from labelclean.io.locations import read_error, read_image_bytes, root_text, stat_many
from labelclean.io.qualityfile import read_quality, write_quality
from labelclean.io.workdir import (
    HASHES,
    INDEX,
    QUALITY,
    THUMBS,
    Workdir,
    atomic_path,
    check_free_space,
    file_fingerprint,
    fingerprint,
    remove_file,
)
from labelclean.progress import ProgressFn, report
from labelclean.scan.assembly import ScanColumns
from labelclean.scan.hashing import check_hash_methods, hash_hex
from labelclean.scan.quality import (
    MEASURES,
    QUALITY_SIDE,
    issue_counts,
    measure,
    quality_table,
    reflag,
    working_images,
)

#: Side of the greyscale thumbnails kept for near-duplicate verification.
THUMB_SIDE = 32
#: JPEGs are decoded at the smallest DCT scale that keeps at least this many pixels a side.
DRAFT_SIDE = 32


@dataclass
class ScanResult:
    """What the scan found: the index table, hashes, thumbnails and a summary."""

    index: pd.DataFrame
    hashes: pd.DataFrame
    thumbs: np.ndarray  # (N, THUMB_SIDE, THUMB_SIDE) uint8, zeros for unreadable rows
    quality: pd.DataFrame | None = None  # quality.csv's table, index order
    summary: dict[str, Any] = field(default_factory=dict)
    reused: bool = False


def scan_file(path: str, hash_methods: tuple[str, ...] = ("phash",),
              max_pixels: int = DEFAULT_MAX_PIXELS, quality: bool = True
              ) -> tuple[dict, dict, np.ndarray | None]:
    """Read one file (a local path or a URI): (index fields, {method: hex hash},
    thumbnail or None).

    With ``quality``, the index fields include the raw image-quality figures of
    :data:`labelclean.scan.quality.MEASURES` (from the same decode). Never raises for a bad
    file: the reason goes in the ``error`` field.
    """
    row: dict[str, Any] = {"readable": False, "error": "", "width": None, "height": None,
                           "mode": "", "format": "", "bytes": None, "sha256": ""}
    try:
        data = read_image_bytes(path)
    except OSError as exc:
        row["error"] = read_error(exc)
        return row, {}, None
    row["bytes"] = len(data)
    row["sha256"] = hashlib.sha256(data).hexdigest()
    try:
        side, mode = (QUALITY_SIDE, "YCbCr") if quality else (DRAFT_SIDE, "L")
        img, info = open_image(data, max_pixels=max_pixels, draft_size=(side, side),
                               draft_mode=mode)
        row.update(info)
        if quality:
            fine, luma, hashed = working_images(img, (info["width"], info["height"]),
                                                DRAFT_SIDE)
            grey = _to_grey(hashed)
            halved = grey if grey.width * 2 - fine.width in (0, 1) else None
            row.update(zip(MEASURES, measure(fine, luma, halved)))
        else:
            grey = _to_grey(img)
        hashes = {m: hash_hex(m, grey) for m in hash_methods}
        thumb = np.asarray(grey.resize((THUMB_SIDE, THUMB_SIDE), Image.Resampling.BOX))
    except UnreadableImage as exc:
        row["error"] = str(exc)
        return row, {}, None
    row["readable"] = True
    return row, hashes, thumb


def _to_grey(img: Image.Image) -> Image.Image:
    if img.mode == "L":
        return img
    if img.mode == "YCbCr":  # a JPEG's luma, as its greyscale draft decode gives it
        return img.getchannel(0)
    from labelclean.io.imageio import to_rgb

    return to_rgb(img).convert("L")


def _scan_task(args: tuple) -> tuple[dict, dict, np.ndarray | None]:
    return scan_file(*args)


def scan_batch(batch: dict[str, np.ndarray], hash_methods: tuple[str, ...],
               max_pixels: int, quality: bool) -> dict[str, np.ndarray]:
    """:func:`scan_file` over a Ray batch (``row``, ``path``): ``row`` and ``result``, each
    file's ``(index fields, hashes, thumbnail)`` pickled (a bad file is a row, never an
    exception)."""
    with one_blas_thread():
        results = [pickle.dumps(scan_file(str(p), hash_methods, max_pixels, quality))
                   for p in batch["path"]]
    return {"row": np.asarray(batch["row"], dtype=np.int64),
            "result": np.array(results, dtype=object)}


def _local_results(todo: list[tuple[int, str]], hash_methods: tuple[str, ...],
                   max_pixels: int, quality: bool, workers: int | None,
                   progress: ProgressFn | None) -> Iterator[tuple]:
    """``(row, scan_file's result)`` of every ``todo`` row, in order, from a process pool."""
    tasks = [(path, hash_methods, max_pixels, quality) for _, path in todo]
    with one_blas_thread():  # forked workers keep the limit
        results = pool_map(_scan_task, tasks, workers,
                           before_fork=lambda: _warm_up(hash_methods))
        for done, ((i, _), result) in enumerate(zip(todo, results), start=1):
            yield i, result
            report(progress, done, len(todo), "scan")


def _ray_results(wd: Workdir, todo: list[tuple[int, str]], hash_methods: tuple[str, ...],
                 max_pixels: int, quality: bool, key: str, workers: int | None,
                 address: str | None, progress: ProgressFn | None) -> Iterator[tuple]:
    """``(row, scan_file's result)`` of every ``todo`` row (in no particular order),
    computed by Ray tasks; rows an interrupted run of the same ``key`` finished are read
    back, not redone. The results are read back one Parquet part at a time."""
    from labelclean.backends.ray import RowParts, collect, map_listing, scratch_folder

    parts = RowParts(scratch_folder(wd.root, "scan"), key)
    done = set(parts.done_rows().tolist())
    missing = [(i, p) for i, p in todo if i not in done]
    counted = [len(todo) - len(missing)]

    def tick(k: int) -> None:
        counted[0] += k
        report(progress, counted[0], len(todo), "scan")

    if missing:
        columns = {"row": np.array([i for i, _ in missing], dtype=np.int64),
                   "path": np.array([p for _, p in missing], dtype=object)}
        collect(map_listing(columns, scan_batch,
                            fn_kwargs={"hash_methods": hash_methods, "max_pixels": max_pixels,
                                       "quality": quality}, concurrency=workers,
                            address=address), parts, on_rows=tick)
    for found in parts.each(["result"]):
        for i, blob in zip(found["row"].tolist(), found["result"]):
            yield i, pickle.loads(blob)


def dataset_fingerprint(dataset: Dataset) -> str:
    """Fingerprint of the dataset: every file's size and mtime (from the store's listing
    when it gave them, else asked for, in one call per filesystem), and the labels file."""
    known = dataset.listed_stats
    found: list[tuple[int, int] | None] = [
        known.get(rec.path) if rec.problem is None else None for rec in dataset.records]
    wanted = [i for i, rec in enumerate(dataset.records)
              if rec.problem is None and found[i] is None]
    for i, st in zip(wanted, stat_many([dataset.location(dataset.records[i])
                                        for i in wanted])):
        found[i] = st
    stats = [(rec.image_id, rec.path, *(st or (-1, -1)))
             for rec, st in zip(dataset.records, found)]
    return fingerprint(root_text(dataset.root), file_fingerprint(dataset.labels_file),
                       dataset.id_col, dataset.label_col, dataset.path_col, stats)


def scan_dataset(dataset: Dataset, workdir: str | Path, *, hash_methods: tuple[str, ...] = (
        "phash",), workers: int | None = None, max_pixels: int = DEFAULT_MAX_PIXELS,
                 force: bool = False, progress: ProgressFn | None = None,
                 thresholds: Mapping[str, float] | None = None,
                 quality: bool = True, backend: str = "local",
                 ray_address: str | None = None) -> ScanResult:
    """Scan every image of ``dataset`` and write ``index.csv``, ``hashes.csv``, thumbnails
    and ``quality.csv`` (the image-quality checks, flagged at ``thresholds``: check ->
    threshold, default :data:`labelclean.scan.quality.DEFAULT_THRESHOLDS`).

    Reuses the previous result when the files, labels file and parameters are unchanged
    (``force=True`` recomputes); new thresholds only re-flag the stored scores. Without
    ``quality`` the checks are skipped (the decode is the small greyscale one the hashes
    need) and no ``quality.csv`` is written.
    ``workers`` defaults to every core. The work directory may not share anything with
    the images folder (:func:`~labelclean.io.guard.check_workdir`).

    ``backend="ray"`` decodes in Ray tasks (a local Ray, or the cluster at
    ``ray_address``; ``workers`` caps the tasks at once) with the same per-file function,
    and writes the same files; an interrupted Ray scan resumes from the rows it finished.
    """
    check_backend(backend)  # a missing Ray is said before any file is read
    check_workdir(workdir, images=dataset.root, labels=dataset.labels_file)
    wd = Workdir(workdir)
    hash_methods = tuple(check_hash_methods(list(hash_methods)))
    params = {"hash_methods": list(hash_methods), "max_pixels": max_pixels,
              "quality": quality}
    inputs = dataset_fingerprint(dataset)
    if not force and wd.is_fresh("scan", params, inputs) and (
            not quality or wd.path(QUALITY).exists()):
        index = read_index(wd.root)
        table = refresh_quality(wd.root, thresholds or {}) if quality else None
        return ScanResult(index=index, hashes=read_hashes(wd.root),
                          thumbs=read_thumbs(wd.root), quality=table,
                          summary=summarize_index(index, table), reused=True)

    todo = [(i, dataset.location(r)) for i, r in enumerate(dataset.records)
            if r.problem is None]
    results = (_ray_results(wd, todo, hash_methods, max_pixels, quality,
                            fingerprint(params, inputs), workers, ray_address, progress)
               if backend == "ray" else _local_results(todo, hash_methods, max_pixels,
                                                       quality, workers, progress))
    wd.ensure()
    n = len(dataset.records)
    check_free_space(wd.path(THUMBS), n * THUMB_SIDE * THUMB_SIDE + 128)
    with atomic_path(wd.path(THUMBS)) as thumbs_tmp:  # filled as the results arrive
        found = ScanColumns(dataset.records, hash_methods, quality, thumbs_tmp, THUMB_SIDE)
        try:
            for i, (row, hashes, thumb) in results:
                found.put(i, row, hashes, thumb)
        finally:  # an interrupted run closes the file before its temporary goes
            found.close_thumbs()
        thumbs = np.load(thumbs_tmp, mmap_mode="r")  # still mapped once renamed
    index, hashes = found.index(), found.hash_table()
    table = quality_table(index, found.raw_measures(), thresholds) if quality else None
    del found
    write_index(index, wd.root)
    write_hashes(hashes, wd.root)
    if table is not None:  # not in the record: noise adds the outliers to it
        write_quality(table, wd.root)
    elif wd.path(QUALITY).exists():
        remove_file(wd.path(QUALITY))
    summary = summarize_index(index, table)
    wd.write_record("scan", params, inputs, [INDEX, HASHES, THUMBS],
                    extra={"dataset": _dataset_meta(dataset), "summary": summary})
    remove_scratch(wd.root, "scan")  # an interrupted Ray scan's rows: done with
    return ScanResult(index=index, hashes=hashes, thumbs=thumbs, quality=table,
                      summary=summary)


def refresh_quality(root: Path, thresholds: Mapping[str, float]) -> pd.DataFrame:
    """``quality.csv`` re-flagged at ``thresholds`` (rewritten only when that changes it)."""
    quality = read_quality(root)
    issues = reflag(quality, thresholds)
    if (issues != quality["issues"].fillna("").to_numpy(dtype=object)).any():
        quality["issues"] = issues
        write_quality(quality, root)
    return quality


def _warm_up(hash_methods: tuple[str, ...]) -> None:
    """Load PIL's plugins and each hash's lazy imports once, before the workers fork."""
    Image.init()
    blank = Image.new("L", (DRAFT_SIDE, DRAFT_SIDE))
    for method in hash_methods:
        hash_hex(method, blank)


def _dataset_meta(dataset: Dataset) -> dict:
    return {"root": root_text(dataset.root), "kind": dataset.kind,
            "labels_file": str(dataset.labels_file.resolve()) if dataset.labels_file else None,
            "id_col": dataset.id_col, "label_col": dataset.label_col,
            "path_col": dataset.path_col, "classes": dataset.classes}


def summarize_index(index: pd.DataFrame, quality: pd.DataFrame | None = None
                    ) -> dict[str, Any]:
    """Counts for the terminal: files, readable, unreadable by reason, labeled, missing,
    and images per quality issue (``quality``: quality.csv's table)."""
    unreadable = index[~index["readable"]]
    reasons = unreadable["error"].str.split(":").str[0].value_counts()
    labeled = labeled_mask(index)
    return {
        "files": int(len(index)),
        "readable": int(index["readable"].sum()),
        "unreadable": int(len(unreadable)),
        "unreadable_by_reason": {str(k): int(v) for k, v in reasons.items()},
        "labeled": int(labeled.sum()),
        "unlabeled": int((~labeled).sum()),
        "missing": int((index["error"] == "missing file").sum()),
        "classes": int(index.loc[labeled, "label"].nunique()),
        "quality": issue_counts(quality) if quality is not None else {},
    }
