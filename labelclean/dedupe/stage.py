"""The dedupe stage on a work directory: read the scan (and embeddings), write duplicates.csv.

Inputs: ``index.csv``, ``hashes.csv`` and ``thumbs.npy`` from the scan, and optionally
``embeddings/<model>.npy``. Output: ``duplicates.csv`` (columns
:data:`labelclean.dedupe.find.COLUMNS`) and the stage record ``stages/dedupe.json``; a run
whose inputs and options are unchanged reuses them.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from labelclean.dedupe.find import (
    COLUMNS,
    DedupeOptions,
    DuplicatesResult,
    find_duplicates,
    options_dict,
)
from labelclean.errors import MissingStageError, WorkdirFileError
from labelclean.io.dataset import parse_labels
from labelclean.io.workdir import (
    DUPLICATES,
    EMBEDDINGS_DIR,
    HASHES,
    INDEX,
    Workdir,
    file_fingerprint,
    fingerprint,
    write_csv,
)
from labelclean.progress import ProgressFn
from labelclean.scan.stage import THUMBS, read_hashes, read_index


def dedupe_workdir(workdir: str | Path, *, options: DedupeOptions | None = None,
                   embeddings_model: str | None = None, force: bool = False,
                   progress: ProgressFn | None = None) -> DuplicatesResult:
    """Run the dedupe stage on ``workdir`` and write ``duplicates.csv``.

    ``embeddings_model`` picks ``embeddings/<model>.npy``; by default the newest finished
    embeddings file is used when the methods need one (or, with the default methods, when
    one exists). Reuses the previous result when nothing changed (``force=True`` recomputes).
    """
    wd = Workdir(workdir)
    opts = options or DedupeOptions()
    index = read_index(wd.root)
    thumbs = _read_thumbs(wd)
    wants_embeddings = opts.methods is None or bool({"embedding", "dbscan"} & set(opts.methods))
    embeddings, meta = _read_embeddings(wd, embeddings_model, opts) if wants_embeddings else (
        None, {})
    methods = opts.resolved_methods(embeddings is not None)
    opts = replace(opts, methods=methods)
    hashes = _read_hashes(wd, opts) if "hash" in methods else None
    params = {**options_dict(opts), "embeddings": meta.get("model")}
    emb_file = meta.get("_path")
    inputs = fingerprint(wd.output_fingerprint(INDEX), wd.output_fingerprint(HASHES),
                         wd.output_fingerprint(THUMBS),
                         file_fingerprint(emb_file))
    if not force and wd.is_fresh("dedupe", params, inputs):
        record = wd.read_record("dedupe") or {}
        return DuplicatesResult(table=read_duplicates_table(wd.root), pairs=pd.DataFrame(),
                                summary=record.get("summary", {}), reused=True)
    result = find_duplicates(index, thumbs, hashes=hashes, embeddings=embeddings,
                             images_root=_images_root(wd), options=opts, progress=progress)
    write_csv(result.table, wd.path(DUPLICATES))
    wd.write_record("dedupe", params, inputs, [DUPLICATES], extra={"summary": result.summary})
    return result


def _read_thumbs(wd: Workdir) -> np.ndarray:
    path = wd.path(THUMBS)
    if not path.exists():
        raise MissingStageError(f"{path} does not exist; run 'labelclean scan' first")
    thumbs = np.load(path, mmap_mode="r")
    if thumbs.ndim != 3 or thumbs.dtype != np.uint8:
        raise WorkdirFileError(f"{path} holds a {thumbs.dtype} array of shape {thumbs.shape}; "
                               "expected (N, 32, 32) uint8; run 'labelclean scan --force'")
    return np.asarray(thumbs)


def _read_hashes(wd: Workdir, opts: DedupeOptions) -> pd.DataFrame:
    from labelclean.scan.hashing import check_hash_methods

    check_hash_methods([opts.hash_method])
    hashes = read_hashes(wd.root)
    if opts.hash_method not in hashes.columns:
        found = [c for c in hashes.columns if c != "image_id"]
        methods = ",".join(found + [opts.hash_method])
        raise MissingStageError(
            f"{wd.path(HASHES)} has no '{opts.hash_method}' column (found: "
            f"{', '.join(found) or 'none'}); run 'labelclean scan --hash {methods}' "
            f"or pass --hash {found[0] if found else 'phash'}")
    return hashes


def _read_embeddings(wd: Workdir, model: str | None,
                     opts: DedupeOptions) -> tuple[np.ndarray | None, dict[str, Any]]:
    folder = wd.path(EMBEDDINGS_DIR)
    optional = opts.methods is None and model is None
    if optional and not any(folder.glob("*.npy")):
        return None, {}
    from labelclean.embed.stage import load_embeddings

    try:
        array, meta = load_embeddings(wd.root, model)
    except MissingStageError as exc:
        if optional:
            return None, {}
        raise MissingStageError(f"{exc} (the embedding and dbscan methods need them)") from None
    from labelclean.embed.stage import embeddings_paths

    meta = dict(meta)
    meta["_path"] = embeddings_paths(wd.root, meta["model"])[0]
    return array, meta


def _images_root(wd: Workdir) -> Path | None:
    root = ((wd.read_record("scan") or {}).get("dataset") or {}).get("root")
    return Path(root) if root and Path(root).is_dir() else None


def read_duplicates_table(workdir: str | Path) -> pd.DataFrame:
    """Read ``duplicates.csv`` back with its types (bool keep/label_conflict, float score)."""
    path = Path(workdir) / DUPLICATES
    if not path.exists():
        raise MissingStageError(f"{path} does not exist; run 'labelclean dedupe' first")
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    absent = [c for c in COLUMNS if c not in table.columns]
    if absent:
        raise WorkdirFileError(f"{path} has no column {', '.join(absent)}; run "
                               "'labelclean dedupe --force'")
    table["group_id"] = table["group_id"].astype(int)
    table["label"] = pd.Series(parse_labels(table["label"]), dtype=object)
    for col in ("keep", "label_conflict"):
        table[col] = table[col].str.lower() == "true"
    table["score"] = table["score"].astype(float)
    return table[COLUMNS]


def dedupe_dataset(dataset, workdir: str | Path, *, options: DedupeOptions | None = None,
                   embeddings_model: str | None = None, force: bool = False,
                   progress: ProgressFn | None = None) -> DuplicatesResult:
    """Scan ``dataset`` (reusing a fresh scan) with the hash the options need, then dedupe.

    The scan keeps the hash methods it had and adds ``options.hash_method``, so asking
    for another hash computes it in the same single decode per image. ``force`` recomputes
    the duplicates, not the scan (which is redone only when its inputs changed).
    """
    from labelclean.scan.stage import scan_dataset

    opts = options or DedupeOptions()
    record = Workdir(workdir).read_record("scan") or {}
    methods = list((record.get("params") or {}).get("hash_methods") or ["phash"])
    if opts.hash_method not in methods:
        methods.append(opts.hash_method)
    scan_dataset(dataset, workdir, hash_methods=tuple(methods), progress=progress)
    return dedupe_workdir(workdir, options=opts, embeddings_model=embeddings_model,
                          force=force, progress=progress)
