"""Sub-quadratic neighbour search: Hamming radius on binary hashes, cosine kNN on vectors.

Both searches go through faiss and return :class:`Pairs` (row ``i < j``, with a score), never
an N x N matrix. Hash search is an exact nearest-neighbour search over packed 64-bit codes in
batches of queries (faiss ``IndexBinaryFlat``: SIMD popcounts), keeping each row's
:data:`MAX_HASH_NEIGHBOURS` nearest within the radius, so a cluster of identical hashes
cannot fill memory with the square of its size. Vector search is exact
(``IndexFlatIP``) up to ``exact_limit`` rows and an inverted-file index above it, whose
candidates carry their exact inner product.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from labelclean.arrays import l2_normalize
from labelclean.progress import ProgressFn, report

#: Above this many rows, cosine search uses an IVF index instead of exact search.
EXACT_LIMIT = 20_000
#: Rows per query batch (bounds the memory of a search to a few batches of vectors).
BATCH = 8192
#: Queries per hash range search: a cluster of C identical hashes gives HASH_BATCH x C
#: results per batch before each row's nearest are kept.
HASH_BATCH = 512


@dataclass
class Pairs:
    """Candidate pairs: rows ``i[k] < j[k]`` with similarity or distance ``score[k]``."""

    i: np.ndarray  # (M,) int64
    j: np.ndarray  # (M,) int64
    score: np.ndarray  # (M,) float32

    def __len__(self) -> int:
        return len(self.i)

    @classmethod
    def empty(cls) -> Pairs:
        return cls(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32))

    def subset(self, mask: np.ndarray) -> Pairs:
        return Pairs(self.i[mask], self.j[mask], self.score[mask])

    def mapped(self, rows: np.ndarray) -> Pairs:
        """The same pairs with positions replaced by ``rows[position]`` (kept ordered)."""
        a, b = rows[self.i], rows[self.j]
        return Pairs(np.minimum(a, b), np.maximum(a, b), self.score)


def _ordered_unique(i: np.ndarray, j: np.ndarray, score: np.ndarray) -> Pairs:
    keep = i != j
    i, j, score = i[keep], j[keep], score[keep]
    a, b = np.minimum(i, j).astype(np.int64), np.maximum(i, j).astype(np.int64)
    _, first = np.unique(a * (int(b.max(initial=0)) + 1) + b, return_index=True)
    return Pairs(a[first], b[first], score[first].astype(np.float32))


#: Most hash neighbours kept per image: a cluster of near-identical hashes (near-blank
#: images) gives at most this many pairs per image, not the square of its size.
MAX_HASH_NEIGHBOURS = 32


def hamming_pairs(codes: np.ndarray, radius: int, max_neighbours: int = MAX_HASH_NEIGHBOURS
                  ) -> Pairs:
    """The pairs of rows whose 64-bit codes are at most ``radius`` bits apart, each row's
    ``max_neighbours`` nearest at most (memory O(N x max_neighbours)).

    Parameters
    ----------
    codes : (N, 8) uint8 array, one packed 64-bit hash per row.
    radius : largest Hamming distance reported (0 = identical hashes only).
    max_neighbours : nearest codes looked at per row.

    Returns
    -------
    Pairs whose ``score`` is the Hamming distance (lower = more similar).
    """
    import faiss

    codes = np.ascontiguousarray(codes, dtype=np.uint8)
    if codes.ndim != 2 or codes.shape[1] != 8:
        raise ValueError(f"codes must be (N, 8) uint8, got {codes.shape}")
    if len(codes) < 2:
        return Pairs.empty()
    index = faiss.IndexBinaryFlat(64)
    index.add(codes)
    parts = []
    for start in range(0, len(codes), HASH_BATCH):
        lims, dist, found = index.range_search(codes[start:start + HASH_BATCH], int(radius) + 1)
        rows = np.repeat(np.arange(start, start + len(lims) - 1), np.diff(lims).astype(np.int64))
        keep = _nearest_per_row(rows, dist, int(max_neighbours) + 1)
        parts.append((rows[keep], found[keep].astype(np.int64), dist[keep].astype(np.float32)))
    return _ordered_unique(*(np.concatenate(p) for p in zip(*parts)))


def _nearest_per_row(rows: np.ndarray, dist: np.ndarray, k: int) -> np.ndarray:
    """Positions of the ``k`` smallest ``dist`` of each row (``rows`` ascending)."""
    order = np.lexsort((dist, rows))
    first = np.searchsorted(rows[order], rows[order], side="left")
    return order[np.arange(len(order)) - first < k]


def _build_index(x: np.ndarray, exact_limit: int, nprobe: int, seed: int):
    import faiss

    n, dim = x.shape
    if n <= exact_limit:
        index = faiss.IndexFlatIP(dim)
    else:
        nlist = int(min(max(64, 4 * np.sqrt(n)), n // 39))
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT)
        rng = np.random.default_rng(seed)
        sample = np.sort(rng.choice(n, size=min(n, 40 * nlist), replace=False))
        index.cp.niter = 10
        index.train(l2_normalize(x[sample]))
        index.nprobe = min(nprobe, nlist)
    for start in range(0, n, BATCH):
        index.add(l2_normalize(x[start:start + BATCH]))
    return index


def cosine_pairs(x: np.ndarray, threshold: float, k: int = 10, *,
                 exact_limit: int = EXACT_LIMIT, nprobe: int = 16, seed: int = 0,
                 progress: ProgressFn | None = None) -> Pairs:
    """Pairs among each row's ``k`` nearest neighbours with cosine similarity >= ``threshold``.

    Parameters
    ----------
    x : (N, D) array (float16 or float32, a memmap is fine); rows are L2-normalised here,
        a batch at a time. All-zero rows (unreadable images) never pair.
    threshold : smallest cosine similarity reported, in [-1, 1] (1 = same direction).
    k : neighbours looked at per row; groups larger than ``k + 1`` still join through
        shared neighbours.
    exact_limit : exact search up to this many rows, an IVF index (``nprobe`` cells
        visited per query) above it.

    Returns
    -------
    Pairs whose ``score`` is the cosine similarity (higher = more similar).
    """
    n = len(x)
    if n < 2:
        return Pairs.empty()
    index = _build_index(x, exact_limit, nprobe, seed)
    k = min(k + 1, n)
    parts = []
    for start in range(0, n, BATCH):
        query = l2_normalize(x[start:start + BATCH])
        sims, found = index.search(query, k)
        rows = np.repeat(np.arange(start, start + len(query)), k)
        sims, found = sims.ravel(), found.ravel()
        ok = (found >= 0) & (sims >= threshold) & (np.linalg.norm(query, axis=1) > 0).repeat(k)
        parts.append((rows[ok], found[ok].astype(np.int64), sims[ok]))
        report(progress, min(start + BATCH, n), n, "neighbours")
    return _ordered_unique(*(np.concatenate(p) for p in zip(*parts)))


def dbscan_labels(x: np.ndarray, threshold: float) -> np.ndarray:
    """scikit-learn DBSCAN (cosine distance, ``eps = 1 - threshold``, ``min_samples=1``).

    With ``min_samples=1`` every row is a core point, so clusters are the connected
    components of the "cosine >= threshold" graph. Exact, but its time grows with N^2
    (memory stays bounded): prefer :func:`cosine_pairs` beyond a few tens of thousands.

    Returns
    -------
    (N,) int64 cluster label per row; all-zero rows get -1 (never clustered).
    """
    from sklearn.cluster import DBSCAN

    x = l2_normalize(np.asarray(x))
    labels = np.full(len(x), -1, dtype=np.int64)
    live = np.flatnonzero(np.linalg.norm(x, axis=1) > 0)
    if len(live):
        fit = DBSCAN(eps=max(1.0 - threshold, 1e-6), min_samples=1, metric="cosine",
                     algorithm="brute").fit(x[live])
        labels[live] = fit.labels_
    return labels


def cluster_pairs(labels: np.ndarray, x: np.ndarray, k: int = 10) -> Pairs:
    """Pairs inside each cluster of ``labels`` (label -1 = no cluster), scored by cosine.

    Small clusters give every pair; a cluster larger than ``k + 1`` gives each member's
    ``k`` nearest fellow members, so the number of pairs stays linear in N.
    """
    order = np.argsort(labels, kind="stable")
    sorted_labels = labels[order]
    bounds = np.flatnonzero(np.diff(sorted_labels)) + 1
    parts = []
    for members in np.split(order, bounds):
        if len(members) < 2 or labels[members[0]] < 0:
            continue
        if len(members) <= k + 1:
            a, b = np.triu_indices(len(members), 1)
            v = l2_normalize(np.asarray(x[members]))
            parts.append((members[a], members[b], (v[a] * v[b]).sum(axis=1)))
        else:
            sub = cosine_pairs(np.asarray(x[members]), -1.0, k).mapped(members)
            parts.append((sub.i, sub.j, sub.score))
    if not parts:
        return Pairs.empty()
    return _ordered_unique(*(np.concatenate(p) for p in zip(*parts)))
