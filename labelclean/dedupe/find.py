"""The dedupe stage: exact copies, same pixels in another file, and near copies.

How a group is found, strongest signal first (the ``method`` column of ``duplicates.csv``):

``exact``
    Same bytes (equal SHA-256 from ``index.csv``).
``pixels``
    Same decoded pixels in a different file or encoding (a JPEG and a PNG of its pixels):
    candidate pairs of the same size with near-identical thumbnails, confirmed by two full
    decodes.
``phash`` (or ``dhash``, ``ahash``, ``whash``)
    Perceptual hashes at most ``radius`` bits apart (faiss multi-index hashing).
``thumbnail``
    Nearest neighbours of the scan's greyscale thumbnails (robust to small shifts, which
    move hash bits).
``embedding`` / ``dbscan``
    Nearest neighbours (or scikit-learn DBSCAN) of the embed stage's vectors with cosine
    similarity >= ``threshold``.

Near candidates are confirmed by the thumbnails (:mod:`labelclean.dedupe.verify`) unless
``verify=False``; confirmed pairs become star groups, a keeper and its copies, never
joined through a third image (:mod:`labelclean.dedupe.stars`). Only one copy of
each set of byte-identical files takes part in the searches. Unreadable files are skipped
and counted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from labelclean.dedupe.checkpool import PhotoChecks
from labelclean.dedupe.confirm import (
    as_pairs,
    confirm,
    pair_frame,
    star_groups_of,
    window_frame,
    with_plain_hints,
)
from labelclean.dedupe.grouping import group_labels, groups_of
from labelclean.dedupe.neighbors import (
    Pairs,
    cluster_pairs,
    cosine_pairs,
    dbscan_labels,
    hamming_pairs,
)
from labelclean.dedupe.options import METHODS, DedupeOptions
from labelclean.dedupe.photo import (
    SPECTRUM_THRESHOLD,
    DetailImages,
    spectrum_vectors,
)
from labelclean.dedupe.stars import LARGE_GROUP, Stars
from labelclean.dedupe.table import group_table, related_table
from labelclean.dedupe.verify import pixel_digest, verify_pairs
from labelclean.io.locations import image_location
from labelclean.progress import ProgressFn, report
from labelclean.scan.hashing import HASH_BITS, check_hash_methods, hex_to_bytes

#: The ``method`` values of duplicates.csv by strength, strongest first; the names of one
#: tuple are equally strong (the four hashes; embedding and dbscan).
STRENGTH = (("exact",), ("pixels",), ("phash", "dhash", "ahash", "whash"), ("thumbnail",),
            ("embedding", "dbscan"))
#: Every method, strongest first, equal strengths in a fixed order.
METHOD_ORDER = tuple(m for tier in STRENGTH for m in tier)
_RANK = {m: r for r, tier in enumerate(STRENGTH) for m in tier}
#: Thumbnail pairs this alike (and of the same size) are decoded to compare their pixels.
_PIXEL_CANDIDATE = (0.99, 1.0)  # (min correlation, max difference)
_TOP_GROUPS = 10


def method_order(method: str) -> int:
    """Position of ``method`` in :data:`METHOD_ORDER`: higher is weaker; unknown names are
    weakest."""
    return METHOD_ORDER.index(method) if method in METHOD_ORDER else len(METHOD_ORDER)


@dataclass
class DuplicatesResult:
    """Groups found by :func:`find_duplicates`.

    ``table`` has the columns of ``duplicates.csv``
    (:data:`~labelclean.io.formats.DUPLICATES_COLUMNS`), one row per member of each group,
    the kept copy first. ``pairs`` holds the confirmed pairs (row numbers
    ``i < j``, ``method``, ``score``); ``related`` the confirmed pairs not inside one group
    (``related.csv``); ``summary`` the counts for the terminal.
    """

    table: pd.DataFrame
    pairs: pd.DataFrame
    summary: dict[str, Any] = field(default_factory=dict)
    reused: bool = False
    related: pd.DataFrame | None = None


# -- the three building blocks, usable on their own ----------------------------------------

def exact_groups(digests: Sequence[str]) -> list[list[int]]:
    """Groups of rows with equal digests (e.g. SHA-256 of the bytes); empty ones are skipped.

    Returns the row numbers of every group of two or more, each ascending.
    """
    rows: dict[str, list[int]] = {}
    for row, digest in enumerate(digests):
        if digest:
            rows.setdefault(str(digest), []).append(row)
    return [members for members in rows.values() if len(members) > 1]


def near_groups_from_hashes(hashes: Sequence[str], radius: int = 10,
                            thumbs: np.ndarray | None = None,
                            **verify: float) -> list[list[int]]:
    """Groups of rows whose 64-bit hex hashes are at most ``radius`` bits apart.

    With ``thumbs`` ((N, S, S) greyscale thumbnails), candidates are confirmed by them
    (``min_correlation``, ``max_difference``, ``max_shift``: see :class:`DedupeOptions`).
    Empty hashes never pair.
    """
    rows = np.array([i for i, h in enumerate(hashes) if h], dtype=np.int64)
    pairs = hamming_pairs(hex_to_bytes([hashes[i] for i in rows]), radius).mapped(rows)
    return _groups_from(len(hashes), _confirmed(pairs, thumbs, verify))


def near_groups_from_embeddings(x: np.ndarray, threshold: float = 0.9, k: int = 10, *,
                                method: str = "knn", thumbs: np.ndarray | None = None,
                                **verify: float) -> list[list[int]]:
    """Groups of rows of the (N, D) array ``x`` with cosine similarity >= ``threshold``.

    ``method`` is ``knn`` (faiss, each row's ``k`` nearest neighbours) or ``dbscan``
    (scikit-learn, exact, quadratic time). With ``thumbs``, candidates are confirmed by
    them as in :func:`near_groups_from_hashes`. All-zero rows never pair.
    """
    if method == "knn":
        pairs = cosine_pairs(x, threshold, k)
    elif method == "dbscan":
        pairs = cluster_pairs(dbscan_labels(x, threshold), x, k)
    else:
        raise ValueError(f"method must be 'knn' or 'dbscan', not {method!r}")
    return _groups_from(len(x), _confirmed(pairs, thumbs, verify))


def _confirmed(pairs: Pairs, thumbs: np.ndarray | None, verify: dict) -> Pairs:
    if thumbs is None or not len(pairs):
        return pairs
    ok, _ = verify_pairs(np.asarray(thumbs), pairs, **verify)
    return pairs.subset(ok)


def _groups_from(n: int, pairs: Pairs) -> list[list[int]]:
    return [g.tolist() for g in groups_of(group_labels(n, pairs.i, pairs.j))]


# -- the whole stage on plain data ----------------------------------------------------------

def find_duplicates(index: pd.DataFrame, thumbs: np.ndarray, *,
                    hashes: pd.DataFrame | None = None, embeddings: np.ndarray | None = None,
                    images_root: str | Path | None = None,
                    options: DedupeOptions | None = None,
                    progress: ProgressFn | None = None) -> DuplicatesResult:
    """Find duplicate groups among the rows of ``index``.

    Parameters
    ----------
    index : ``index.csv`` as read by :func:`labelclean.io.formats.read_index` (image_id, path,
        label, readable, width, height, bytes, sha256).
    thumbs : (N, S, S) uint8 greyscale thumbnails in index order (``thumbs.npy``).
    hashes : ``hashes.csv`` (image_id + one hex column per method), needed by ``hash``.
    embeddings : (N, D) vectors in index order, needed by ``embedding`` and ``dbscan``.
    images_root : folder the index paths are relative to; without it, same-pixel copies
        in different files are not looked for.
    """
    opts = options or DedupeOptions()
    methods = opts.resolved_methods(embeddings is not None)
    _check_inputs(index, thumbs, hashes, embeddings, methods, opts)
    n = len(index)
    readable = index["readable"].to_numpy(bool)
    sha = index["sha256"].fillna("").astype(str).to_numpy()
    reps, rep_of = _representatives(sha, readable)
    exact = _exact_pairs(rep_of, readable)
    candidates = _candidates(methods, reps, thumbs, hashes, embeddings, opts, progress)
    digests: dict[int, str | None] = {}
    pixels, candidates = _pixel_pairs(candidates, index, thumbs, images_root, digests, opts)
    rejected = 0
    detail = (DetailImages([image_location(images_root, p) for p in index["path"]])
              if images_root is not None else None)
    with PhotoChecks(thumbs, detail) as checks:  # one pool of workers for the whole run
        if opts.verify and len(candidates):
            report(progress, 0, 1, "verify")
            ok, score, likeness = confirm(thumbs, candidates, opts, detail, progress, checks)
            candidates = candidates.assign(score=score, likeness=likeness, ok=ok)
            rejected = _rejected_pairs(candidates)
            candidates = candidates[ok].sort_values("likeness", ascending=False, kind="stable")
        candidates = candidates.drop_duplicates(["i", "j"]).sort_index()  # a pair's best hint
        report(progress, 1, 1, "groups")
        confirmed = pd.concat([exact, pixels, candidates.reindex(
            columns=["i", "j", "method", "score", "likeness"])], ignore_index=True)
        stars = star_groups_of(index, confirmed, thumbs, opts, detail, checks)
        confirmed = confirmed.drop(columns="likeness")
    table = group_table(index, confirmed, stars, digests, _RANK)
    related = related_table(index, confirmed, stars, table.attrs.pop("group_of_label"))
    summary = summarize(table, n_images=n, unreadable=int((~readable).sum()),
                        rejected=rejected, methods=methods)
    summary.update(related_pairs=len(related), large_groups=_large(stars, table, index),
                   group_limit=LARGE_GROUP)
    return DuplicatesResult(table=table, pairs=confirmed, summary=summary, related=related)


def _rejected_pairs(candidates: pd.DataFrame) -> int:
    """How many candidate pairs no hint of confirmed (a pair may have two rows)."""
    return int((~candidates.groupby(["i", "j"], sort=False)["ok"].any()).sum())


def _large(stars: Stars, table: pd.DataFrame, index: pd.DataFrame) -> list[int]:
    """duplicates.csv group ids of the groups that reached the size limit."""
    keepers = table[table["keep"].astype(bool)]
    by_keeper = dict(zip(keepers["image_id"], keepers["group_id"]))
    ids = index["image_id"].to_numpy()[stars.keepers[stars.large]]
    return sorted(int(by_keeper[k]) for k in ids)


def _check_inputs(index, thumbs, hashes, embeddings, methods, opts) -> None:
    from labelclean.errors import ConfigError, WorkdirFileError

    for m in methods:
        if m not in METHODS:
            raise ConfigError(f"unknown dedupe method '{m}'; choose from {', '.join(METHODS)}")
    if len(thumbs) != len(index):
        raise WorkdirFileError(f"thumbnails have {len(thumbs)} rows but the index has "
                               f"{len(index)}; run 'labelclean scan --force'")
    if "hash" in methods:
        check_hash_methods([opts.hash_method])
        if hashes is None or opts.hash_method not in hashes.columns:
            raise ValueError(f"hashes with a '{opts.hash_method}' column are needed")
    if {"embedding", "dbscan"} & set(methods):
        if embeddings is None:
            raise ValueError("embeddings are needed by the embedding and dbscan methods")
        if len(embeddings) != len(index):
            raise WorkdirFileError(f"embeddings have {len(embeddings)} rows but the index has "
                                   f"{len(index)}; run 'labelclean embed --force'")


def _representatives(sha: np.ndarray, readable: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One readable row per distinct content hash, and each readable row's representative."""
    rows = np.flatnonzero(readable)
    _, first, inverse = np.unique(sha[rows], return_index=True, return_inverse=True)
    rep_of = np.full(len(sha), -1, dtype=np.int64)
    rep_of[rows] = rows[first][inverse]
    return np.sort(rows[first]), rep_of


def _exact_pairs(rep_of: np.ndarray, readable: np.ndarray) -> pd.DataFrame:
    rows = np.flatnonzero(readable & (rep_of != np.arange(len(rep_of))))
    return pair_frame(Pairs(rep_of[rows], rows, np.ones(len(rows), np.float32)), "exact")


def thumbnail_vectors(thumbs: np.ndarray) -> np.ndarray:
    """(N, S, S) thumbnails -> (N, (S/2)^2) float32: 2x2-averaged, mean-centred, unit norm
    (flat thumbnails give zero vectors). Their inner product is a correlation."""
    t = np.asarray(thumbs, np.float32)
    side = t.shape[1] // 2
    small = t[:, :2 * side, :2 * side].reshape(len(t), side, 2, side, 2).mean(axis=(2, 4))
    small = small.reshape(len(t), -1)
    small -= small.mean(axis=1, keepdims=True)
    norms = np.linalg.norm(small, axis=1, keepdims=True)
    return np.divide(small, norms, out=np.zeros_like(small), where=norms > 1.0)


def _candidates(methods, reps, thumbs, hashes, embeddings, opts, progress) -> pd.DataFrame:
    """Candidate pairs (``i < j``, method, score) with verification hints (see
    :func:`_with_plain_hints`), one row per pair, the strongest method naming it."""
    frames, windows, spectra = [], None, None
    for method in methods if len(reps) >= 2 else ():  # fewer than two images: no pairs
        report(progress, 0, 1, f"candidates: {method}")
        if method == "hash":
            codes = hashes[opts.hash_method].to_numpy()[reps]
            has = np.array([bool(c) for c in codes], dtype=bool)
            found = hamming_pairs(hex_to_bytes(list(codes[has])), opts.radius)
            found = Pairs(found.i, found.j, 1 - found.score / HASH_BITS).mapped(reps[has])
            frames.append(pair_frame(found, opts.hash_method))
        elif method == "thumbnail":
            vectors = thumbnail_vectors(thumbs[reps])
            found = cosine_pairs(vectors, opts.thumbnail_threshold, opts.k).mapped(reps)
            frames.append(pair_frame(found, "thumbnail"))
            found = cosine_pairs(spectrum_vectors(thumbs[reps]), SPECTRUM_THRESHOLD,
                                 1).mapped(reps)
            spectra = pair_frame(found, "thumbnail")
            windows = window_frame(thumbs, reps, opts)
        elif method == "embedding":
            found = cosine_pairs(embeddings, opts.threshold, opts.k, rows=reps,
                                 progress=progress).mapped(reps)
            frames.append(pair_frame(found, "embedding"))
        else:  # dbscan
            vectors = np.asarray(embeddings[reps])
            found = cluster_pairs(dbscan_labels(vectors, opts.threshold), vectors, opts.k)
            frames.append(pair_frame(found.mapped(reps), "dbscan"))
    if not frames:
        return with_plain_hints(pair_frame(Pairs.empty(), ""))
    both = pd.concat(frames, ignore_index=True)
    both = both.assign(rank=both["method"].map(_RANK)).sort_values(["rank", "i", "j"],
                                                                   kind="stable")
    both = with_plain_hints(both.drop_duplicates(["i", "j"]).drop(columns="rank"))
    if windows is None:
        return both.assign(source="plain").reset_index(drop=True)
    # a pair the window search found carries its window and transform (the strongest
    # method still names it); pairs only the window search found join as thumbnail pairs
    hinted = both.merge(windows.drop(columns=["method", "score", "source"]), on=["i", "j"],
                        how="left", suffixes=("_plain", ""))
    for col in ("a", "b", "w0", "w1", "w2", "w3", "t"):
        hinted[col] = hinted[col].fillna(hinted[f"{col}_plain"])
    hinted = hinted.drop(columns=[c for c in hinted.columns if c.endswith("_plain")])
    spectra = spectra.merge(windows[["i", "j"]].drop_duplicates(), on=["i", "j"], how="left",
                            indicator=True)
    spectra = spectra[spectra["_merge"] == "left_only"].drop(columns="_merge")
    windows = pd.concat([windows, with_plain_hints(spectra).assign(source="spectrum")],
                        ignore_index=True)  # a pair may have two window hints
    extra = windows.merge(both[["i", "j"]], on=["i", "j"], how="left", indicator=True)
    extra = extra[extra["_merge"] == "left_only"].drop(columns="_merge")
    out = pd.concat([hinted.assign(source="plain"), extra], ignore_index=True)
    out[["a", "b", "t"]] = out[["a", "b", "t"]].astype(np.int64)
    return out.reset_index(drop=True)


def _pixel_pairs(candidates, index, thumbs, images_root, digests, opts):
    """Split off candidates holding the same decoded pixels: (pixel pairs, the rest)."""
    if images_root is None or not len(candidates):
        return pair_frame(Pairs.empty(), "pixels"), candidates
    i, j = candidates["i"].to_numpy(), candidates["j"].to_numpy()
    width, height = index["width"].to_numpy(), index["height"].to_numpy()
    same_size = (width[i] == width[j]) & (height[i] == height[j])
    if "source" in candidates:  # pairs of the same pixels are hash neighbours already
        same_size &= (candidates["source"] == "plain").to_numpy()
    ok, _ = verify_pairs(thumbs, as_pairs(candidates).subset(same_size),
                            min_correlation=_PIXEL_CANDIDATE[0],
                            max_difference=_PIXEL_CANDIDATE[1], max_shift=0.0)
    maybe = np.flatnonzero(same_size)[ok]
    # Two JPEGs with the same pixels have the same draft-decoded thumbnail, bit for bit:
    # only pairs of other formats, or with identical thumbnails, are worth a full decode.
    fmt = index["format"].astype(str).to_numpy()
    both_jpeg = (fmt[i[maybe]] == "JPEG") & (fmt[j[maybe]] == "JPEG")
    same_thumb = np.array([np.array_equal(thumbs[a], thumbs[b])
                           for a, b in zip(i[maybe], j[maybe])], dtype=bool)
    maybe = maybe[~both_jpeg | same_thumb]
    paths = index["path"].to_numpy()
    for row in np.unique(np.concatenate([i[maybe], j[maybe]])):
        digests[int(row)] = pixel_digest(image_location(images_root, paths[row]))
    equal = np.zeros(len(candidates), bool)
    equal[maybe] = [digests[int(a)] is not None and digests[int(a)] == digests[int(b)]
                    for a, b in zip(i[maybe], j[maybe])]
    pixels = candidates[equal].assign(method="pixels", score=1.0).drop_duplicates(["i", "j"])
    return pixels.reset_index(drop=True), candidates[~equal].reset_index(drop=True)


# -- the summary ------------------------------------------------------------------------------

def summarize(table: pd.DataFrame, *, n_images: int, unreadable: int, rejected: int = 0,
              methods: Sequence[str] = ()) -> dict[str, Any]:
    """Counts for the terminal: groups, images to drop, label conflicts, the top groups."""
    groups = table.groupby("group_id", sort=False)
    conflicts = groups["label_conflict"].first()
    sizes = groups.size()
    top = sorted(sizes.index, key=lambda g: (not conflicts[g], -sizes[g], g))[:_TOP_GROUPS]
    return {
        "images": n_images, "unreadable_skipped": unreadable, "methods": list(methods),
        "groups": len(sizes), "images_in_groups": len(table),
        "to_drop": int((~table["keep"].astype(bool)).sum()),
        "label_conflicts": int(conflicts.sum()),
        "by_method": {str(k): int(v) for k, v in
                      table.loc[~table["keep"].astype(bool), "method"].value_counts().items()},
        "rejected_candidates": rejected,
        "top_groups": [{"group_id": int(g), "size": int(sizes[g]),
                        "conflict": bool(conflicts[g]),
                        "image_ids": table.loc[table["group_id"] == g, "image_id"].tolist(),
                        "labels": table.loc[table["group_id"] == g, "label"].tolist()}
                       for g in top],
    }


def options_dict(options: DedupeOptions) -> dict[str, Any]:
    data = asdict(options)
    data["methods"] = list(options.methods) if options.methods is not None else None
    data["against"] = [str(p) for p in options.against] if options.against else None
    return data
