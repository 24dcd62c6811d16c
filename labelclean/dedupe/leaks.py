"""Leaks across sets: this dataset's images that copy an image of another set.

``labelclean dedupe --against DIR`` scans each other set with the scan's own single decode
(:func:`labelclean.scan.stage.scan_dataset`) into its own index inside the work directory
(``against/<name>-<hash>/``: ``index.csv``, ``hashes.csv``, ``thumbs.npy``, reused while the
folder is unchanged); the other set's files are only read. Candidates are cross-set pairs
only: the same bytes, hashes within the radius (each image's nearest in the other set),
thumbnail neighbours, and the window search both ways round (a crop of a test image in
the training set, or the other way); they are verified like the dedupe stage's own
(:func:`labelclean.dedupe.confirm.confirm`) on the two sets' thumbnails side by side.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd

from labelclean.dedupe.confirm import confirm, hints_frame, pair_frame, with_plain_hints
from labelclean.dedupe.neighbors import Pairs, hash_candidates
from labelclean.dedupe.options import DedupeOptions
from labelclean.dedupe.photo import DetailImages, window_candidates
from labelclean.io.dedupe_files import AGAINST_DIR, LEAKS_COLUMNS
from labelclean.io.locations import as_location, image_location, is_uri, root_text
from labelclean.scan.hashing import HASH_BITS, hex_to_bytes


def other_workdir(root: Path, folder: str | Path) -> Path:
    """Where the other set ``folder`` (a folder or a URI) is scanned:
    ``<workdir>/against/<name>-<hash>``."""
    where = root_text(folder)
    tag = hashlib.sha256(where.encode()).hexdigest()[:10]
    name = where.rsplit("/", 1)[-1] if is_uri(where) else Path(where).name
    return Path(root) / AGAINST_DIR / f"{name or 'set'}-{tag}"


def scan_other(root: Path, folder: str | Path, hash_method: str):
    """Scan the other set ``folder`` into its own index (reused when unchanged)."""
    from labelclean.errors import ConfigError
    from labelclean.io.dataset import load_dataset
    from labelclean.scan.stage import scan_dataset

    if not is_uri(folder) and not Path(folder).is_dir():
        raise ConfigError(f"`against` {folder} is not a folder; pass the other set's images "
                          "folder")
    return scan_dataset(load_dataset(as_location(folder)), other_workdir(root, folder),
                        hash_methods=(hash_method,))


def _cross_hash(ours: np.ndarray, theirs: np.ndarray, radius: int, k: int) -> Pairs:
    """(our row, their row, Hamming distance) of each of our codes' ``k`` nearest codes of
    theirs within ``radius`` (:func:`~labelclean.dedupe.neighbors.hash_candidates`)."""
    parts = list(hash_candidates(ours, radius, k, base=theirs))
    if not parts:
        return Pairs.empty()
    rows, found, dist = (np.concatenate(p) for p in zip(*parts))
    return Pairs(rows, found, dist)


def _cross_candidates(ours, theirs, n: int, opts: DedupeOptions
                      ) -> tuple[pd.DataFrame, np.ndarray]:
    """(candidate pairs over the two sets stacked, their rows offset by ``n``; the stacked
    thumbnails)."""
    from labelclean.dedupe.align import transform_names

    mine = np.flatnonzero(ours.index["readable"].to_numpy(bool))
    other = np.flatnonzero(theirs.index["readable"].to_numpy(bool))
    frames = []
    codes_a = ours.hashes[opts.hash_method].to_numpy()[mine]
    codes_b = theirs.hashes[opts.hash_method].to_numpy()[other]
    has_a, has_b = codes_a != "", codes_b != ""
    found = _cross_hash(hex_to_bytes(list(codes_a[has_a])), hex_to_bytes(list(codes_b[has_b])),
                        opts.radius, 8)
    frames.append(with_plain_hints(pair_frame(Pairs(
        mine[has_a][found.i], n + other[has_b][found.j], 1 - found.score / HASH_BITS),
        opts.hash_method)))
    both = np.concatenate([ours.thumbs, theirs.thumbs])
    names = transform_names(opts.flips, opts.rotations)
    searches = ((mine, other, n), (n + other, mine, 0)) if len(mine) and len(other) else ()
    for rows, pool, base in searches:  # nothing readable on one side: no window to search
        hints = window_candidates(both, rows, names, other=both[base + pool])
        frames.append(hints_frame(hints, base + pool[hints.a]))
    frames[0] = frames[0].assign(source="plain")
    out = pd.concat(frames, ignore_index=True).drop_duplicates(["i", "j"])
    return out.reset_index(drop=True), both


def leaks_against(root: Path, index: pd.DataFrame, hashes: pd.DataFrame,
                  thumbs: np.ndarray, images_root: Path, opts: DedupeOptions) -> pd.DataFrame:
    """``leaks.csv`` for every set of ``opts.against`` (empty when none)."""
    from types import SimpleNamespace

    ours = SimpleNamespace(index=index, hashes=hashes, thumbs=np.asarray(thumbs))
    tables = [pd.DataFrame(columns=LEAKS_COLUMNS)]
    for folder in opts.against or ():
        theirs = scan_other(root, folder, opts.hash_method)
        tables.append(find_leaks(ours, theirs, images_root, as_location(folder), str(folder),
                                 opts))
    return pd.concat(tables, ignore_index=True)


def against_fingerprint(folders) -> list:
    """The other sets' files (sizes, times): a change re-runs the leak search."""
    from labelclean.io.dataset import load_dataset
    from labelclean.scan.stage import dataset_fingerprint

    return [dataset_fingerprint(load_dataset(as_location(f))) for f in folders or ()
            if is_uri(f) or Path(f).is_dir()]


def find_leaks(ours, theirs, our_root: Path, their_root: Path, other_set: str,
               opts: DedupeOptions) -> pd.DataFrame:
    """``leaks.csv`` rows for one other set: our images that copy one of ``theirs``.

    ``ours`` / ``theirs`` are scan results (``index``, ``hashes``, ``thumbs``); exact copies
    are the same bytes; near ones verified. One row per (our image, their image) pair.
    """
    n = len(ours.index)
    sha_a = ours.index["sha256"].fillna("").astype(str)
    sha_b = theirs.index["sha256"].fillna("").astype(str)
    their_by_sha: dict[str, int] = {}
    for row, digest in enumerate(sha_b):
        if digest:
            their_by_sha.setdefault(digest, row)
    exact = [(r, their_by_sha[d]) for r, d in enumerate(sha_a) if d and d in their_by_sha]
    candidates, both = _cross_candidates(ours, theirs, n, opts)
    paths = ([image_location(our_root, p) for p in ours.index["path"]]
             + [image_location(their_root, p) for p in theirs.index["path"]])
    ok, score, _ = confirm(both, candidates, opts, DetailImages(paths)) if len(candidates) else (
        np.zeros(0, bool), np.zeros(0), None)
    near = candidates[ok].assign(score=score[ok])
    rows = [(r, t, "exact", 1.0) for r, t in exact]
    seen = {(r, t) for r, t in exact}
    for i, j, method, value in zip(near["i"], near["j"], near["method"], near["score"]):
        pair = (int(i), int(j) - n)
        if pair not in seen:
            seen.add(pair)
            rows.append((*pair, method, round(float(value), 4)))
    ids, other_paths = ours.index["image_id"].to_numpy(), theirs.index["path"].to_numpy()
    return pd.DataFrame([(ids[r], other_set, other_paths[t], m, s) for r, t, m, s in rows],
                        columns=LEAKS_COLUMNS)
