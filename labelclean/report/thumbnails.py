"""Small JPEG thumbnails for the report, made in parallel and reused while up to date.

A thumbnail's file name is a hash of the image's relative path, so names are safe whatever
the image is called and stay stable between runs. A thumbnail is up to date when it is at
least as new as its image and was made with the same size and quality (recorded in
``thumbs.json`` beside the thumbnails); only stale or missing ones are made again.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from labelclean.backends.local import pool_map
from labelclean.errors import environment_error
from labelclean.io.imageio import UnreadableImage, load_rgb
from labelclean.io.locations import stat_many
from labelclean.io.workdir import (
    check_free_space,
    make_dirs,
    new_temporary,
    publish,
    remove_file,
    write_json,
)
from labelclean.progress import ProgressFn, report

PARAMS_FILE = "thumbs.json"
DEFAULT_SIZE = 160
DEFAULT_QUALITY = 80


@dataclass
class ThumbnailStats:
    """How many thumbnails were made, reused, or could not be made (unreadable image)."""

    made: int = 0
    reused: int = 0
    failed: int = 0
    removed: int = 0


def thumbnail_name(rel_path: str) -> str:
    """The thumbnail file name of the image at ``rel_path`` (relative to the images root)."""
    return hashlib.sha1(rel_path.encode("utf-8")).hexdigest()[:20] + ".jpg"


def _task(args: tuple[str, str, int, int]) -> str | None:
    """The thumbnail written to a temporary file beside its target (the caller puts it in
    place: inside the report's transaction, when the report is done); None: unreadable.
    Runs in a worker process."""
    src, dest, size, quality = args
    try:
        img = load_rgb(src, max_side=size)
    except UnreadableImage:
        return None
    img.thumbnail((size, size), Image.Resampling.BICUBIC)
    tmp = new_temporary(dest)
    try:
        img.save(tmp, format="JPEG", quality=quality, optimize=True)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise (environment_error(exc, dest) or exc) from None
    return str(tmp)


def _is_fresh(src: tuple[int, int] | None, dest: Path) -> bool:
    """Whether the thumbnail ``dest`` is newer than its image (``src``: its size and
    mtime, None when it cannot be stat'ed)."""
    if src is None:
        return False
    try:
        return dest.stat().st_mtime_ns >= src[1]
    except OSError:
        return False


def make_thumbnails(images: dict[str, Path], out_dir: str | os.PathLike, *,
                    size: int = DEFAULT_SIZE, quality: int = DEFAULT_QUALITY,
                    workers: int | None = None, force: bool = False, prune: bool = True,
                    progress: ProgressFn | None = None) -> tuple[dict[str, str], ThumbnailStats]:
    """Make the thumbnails of ``images`` ({relative path: absolute path}) in ``out_dir``.

    Returns ``{relative path: thumbnail file name}`` for every image that has a thumbnail,
    and counts. Thumbnails of images no longer asked for are removed when ``prune``.
    ``workers`` defaults to every core; the user's images are only ever read.
    """
    out = make_dirs(out_dir)
    params = {"size": size, "quality": quality}
    if _read_params(out) != params:
        force = True
    names = {rel: thumbnail_name(rel) for rel in images}
    stats = ThumbnailStats()
    todo = []
    stamps = dict(zip(images, stat_many([str(src) for src in images.values()])))
    for rel in images:
        if not force and _is_fresh(stamps[rel], out / names[rel]):
            stats.reused += 1
        else:
            todo.append(rel)
    check_free_space(out / "thumbnail.jpg", len(todo) * max(4096, size * size // 8),
                     f"{len(todo):,} thumbnails in {out}")
    tasks = [(str(images[rel]), str(out / names[rel]), size, quality) for rel in todo]
    for done, (rel, tmp) in enumerate(zip(todo, pool_map(_task, tasks, workers, min_tasks=32)),
                                      start=1):
        if tmp is not None:
            publish(tmp, out / names[rel])
            stats.made += 1
        else:
            stats.failed += 1
            names.pop(rel)
            remove_file(out / thumbnail_name(rel))
        if done % 256 == 0 or done == len(todo):
            report(progress, done, len(todo), "thumbnails")
    write_json(params, out / PARAMS_FILE)
    if prune:
        stats.removed = _prune(out, set(names.values()))
    return names, stats


def _read_params(out: Path) -> dict | None:
    try:
        return json.loads((out / PARAMS_FILE).read_text())
    except (OSError, json.JSONDecodeError):
        return None


def _prune(out: Path, keep: set[str]) -> int:
    removed = 0
    for entry in os.scandir(out):
        if entry.name.endswith(".jpg") and entry.name not in keep:
            remove_file(entry.path)
            removed += 1
    return removed
