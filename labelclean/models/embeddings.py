"""The embeddings files the embed stage writes, and their one reader.

``embeddings/<model>.npy`` holds one float16 or float32 row (N, D) per row of ``index.csv``,
in index order; ``embeddings/<model>.json`` its settings and how many rows are done. The
dedupe and oof stages read them through :func:`load_embeddings`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from labelclean.errors import MissingStageError
from labelclean.io.formats import index_ids
from labelclean.io.workdir import EMBEDDINGS_DIR
from labelclean.models.backbones import file_stem, timm_name_of


def ids_sha256(image_ids: Sequence[str]) -> str:
    """A hash of the row ids in order (to notice an index that changed under a file)."""
    digest = hashlib.sha256()
    for image_id in image_ids:
        digest.update(str(image_id).encode("utf-8") + b"\n")
    return digest.hexdigest()


def embeddings_paths(workdir: str | Path, model: str) -> tuple[Path, Path]:
    """(``.npy``, ``.json``) of ``model`` (registry or timm name) in ``workdir``."""
    stem = file_stem(timm_name_of(model))
    folder = Path(workdir) / EMBEDDINGS_DIR
    return folder / f"{stem}.npy", folder / f"{stem}.json"


def read_meta(meta_path: Path) -> dict | None:
    import json

    try:
        return json.loads(meta_path.read_text())
    except (OSError, ValueError):
        return None


def load_embeddings(workdir: str | Path,
                    model: str | None = None) -> tuple[np.ndarray, dict[str, Any]]:
    """Read finished embeddings: ``(array, meta)``.

    ``model`` is a registry or timm model name; ``None`` takes the newest finished file.
    The array (read-only memmap, float16 or float32, shape (N, D)) has one row per row of
    ``index.csv``, in the same order; rows listed in ``meta["unreadable"]`` are zeros.
    ``meta`` holds the settings: model, weights, input_size, mean, std, l2_normalized, dtype,
    n, dim, ids_sha256.
    """
    folder = Path(workdir) / EMBEDDINGS_DIR
    if model is not None:
        npy, meta_path = embeddings_paths(workdir, model)
        if not meta_path.exists() or not npy.exists():
            found = sorted(p.stem for p in folder.glob("*.json"))
            raise MissingStageError(
                f"no embeddings for model '{model}' in {folder} (found: "
                f"{', '.join(found) or 'none'}); run 'labelclean embed --model {model}'")
    else:
        npy, meta_path = _newest(folder)
    meta = read_meta(meta_path) or {}
    if meta.get("completed") != meta.get("n"):
        raise MissingStageError(
            f"embeddings {npy} are unfinished ({meta.get('completed', 0)} of "
            f"{meta.get('n', '?')} rows); run 'labelclean embed --model {meta.get('model')}' "
            "to finish them")
    _check_index(Path(workdir), meta, npy)
    return np.load(npy, mmap_mode="r") if meta["n"] else np.load(npy), meta


def _newest(folder: Path) -> tuple[Path, Path]:
    metas = [p for p in folder.glob("*.json") if p.with_suffix(".npy").exists()]
    if not metas:
        raise MissingStageError(f"no embeddings in {folder}; run 'labelclean embed' first")
    finished = [p for p in metas if (m := read_meta(p)) and m.get("completed") == m.get("n")]
    newest = max(finished or metas, key=lambda p: p.stat().st_mtime_ns)
    return newest.with_suffix(".npy"), newest


def _check_index(workdir: Path, meta: dict, npy: Path) -> None:
    """The file must still match ``index.csv`` row for row."""
    ids = index_ids(workdir)
    if ids is not None and ids_sha256(ids) != meta.get("ids_sha256"):
        raise MissingStageError(f"embeddings {npy} were computed for another index.csv (the "
                                "dataset was re-scanned since); run 'labelclean embed' again")
