"""The dedupe stage on a work directory: read the scan (and embeddings), write duplicates.csv.

Inputs: ``index.csv``, ``hashes.csv`` and ``thumbs.npy`` from the scan, and optionally
``embeddings/<model>.npy`` and the other sets of ``--against`` (scanned into
``against/<name>-<hash>/``, never written to). Output: ``duplicates.csv`` (columns
:data:`labelclean.io.formats.DUPLICATES_COLUMNS`), ``related.csv`` and ``leaks.csv``
(:mod:`labelclean.io.dedupe_files`), then the stage record ``stages/dedupe.json``; a run
whose inputs and options are unchanged reuses them.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from labelclean.dedupe.find import (
    DedupeOptions,
    DuplicatesResult,
    find_duplicates,
    options_dict,
)
from labelclean.dedupe.leaks import against_fingerprint, leaks_against
from labelclean.errors import MissingStageError
from labelclean.io.dedupe_files import LEAKS, RELATED, write_leaks, write_related
from labelclean.io.formats import (
    images_root,
    read_duplicates,
    read_hashes,
    read_index,
    read_thumbs,
    write_duplicates,
)
from labelclean.io.workdir import (
    DUPLICATES,
    EMBEDDINGS_DIR,
    HASHES,
    INDEX,
    THUMBS,
    Workdir,
    fingerprint,
)
from labelclean.progress import ProgressFn


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
    thumbs = np.asarray(read_thumbs(wd.root))
    wants_embeddings = opts.methods is None or bool({"embedding", "dbscan"} & set(opts.methods))
    embeddings, meta = _read_embeddings(wd, embeddings_model, opts) if wants_embeddings else (
        None, {})
    methods = opts.resolved_methods(embeddings is not None)
    opts = replace(opts, methods=methods)
    hashes = _read_hashes(wd, opts) if "hash" in methods else None
    params = {**options_dict(opts), "embeddings": meta.get("model")}
    emb_file = meta.get("_path")  # work-directory names: a moved work directory is reused
    inputs = fingerprint(wd.output_fingerprint(INDEX), wd.output_fingerprint(HASHES),
                         wd.output_fingerprint(THUMBS),
                         wd.output_fingerprint(emb_file.relative_to(wd.root))
                         if emb_file is not None else None, against_fingerprint(opts.against))
    if not force and wd.is_fresh("dedupe", params, inputs):
        record = wd.read_record("dedupe") or {}
        return DuplicatesResult(table=read_duplicates(wd.root, typed=True), pairs=pd.DataFrame(),
                                summary=record.get("summary", {}), reused=True)
    result = find_duplicates(index, thumbs, hashes=hashes, embeddings=embeddings,
                             images_root=images_root(wd.root), options=opts,
                             progress=progress)
    leaks = leaks_against(wd.root, index, hashes if hashes is not None else (
        _read_hashes(wd, opts) if opts.against else None), thumbs, images_root(wd.root), opts)
    result.summary.update(leaks=len(leaks), leaked_images=int(leaks["image_id"].nunique()),
                          against_sets=len(opts.against or ()))
    write_duplicates(result.table, wd.root)
    write_related(result.related, wd.root)
    write_leaks(leaks, wd.root)
    wd.write_record("dedupe", params, inputs, [DUPLICATES, RELATED, LEAKS],
                    extra={"summary": result.summary})
    return result


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
            f"or set `hash` to {found[0] if found else 'phash'}")
    return hashes


def _read_embeddings(wd: Workdir, model: str | None,
                     opts: DedupeOptions) -> tuple[np.ndarray | None, dict[str, Any]]:
    folder = wd.path(EMBEDDINGS_DIR)
    optional = opts.methods is None and model is None
    if optional and not any(folder.glob("*.npy")):
        return None, {}
    from labelclean.models.embeddings import load_embeddings

    try:
        array, meta = load_embeddings(wd.root, model)
    except MissingStageError as exc:
        if optional:
            return None, {}
        raise MissingStageError(f"{exc} (the embedding and dbscan methods need them)") from None
    from labelclean.models.embeddings import embeddings_paths

    meta = dict(meta)
    meta["_path"] = embeddings_paths(wd.root, meta["model"])[0]
    return array, meta
