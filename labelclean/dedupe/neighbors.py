"""Sub-quadratic neighbour search: Hamming radius on binary hashes, cosine kNN on vectors.

Both searches go through faiss and return :class:`Pairs` (row ``i < j``, with a score), never
an N x N matrix. Hash search is an exact k-nearest-neighbour search over packed 64-bit codes
in batches of queries (faiss ``IndexBinaryFlat``: SIMD popcounts), keeping each row's
:data:`MAX_HASH_NEIGHBOURS` nearest within the radius, so a cluster of identical hashes
cannot fill memory with the square of its size. Vector search is exact (``IndexFlatIP``) up
to :data:`EXACT_LIMIT` rows; above it an inverted-file index trained on a sample and filled a
batch at a time (``IVFFlat``, candidates with their exact inner product), and above
:data:`PQ_LIMIT` rows an IVF-PQ index (compressed codes) whose candidates are re-scored
exactly from the original vectors, so memory stays bounded by the codes and a few batches.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from labelclean.arrays import l2_normalize
from labelclean.progress import ProgressFn, report

#: Above this many rows, cosine search uses an IVF index instead of exact search.
EXACT_LIMIT = 20_000
#: Above this many rows, the inverted file stores product-quantised codes (IVF-PQ, 4-bit
#: fast-scan codes: D/16 bytes a row instead of 4 D; 1M x 512 is 32 MB instead of 2 GB) and
#: its candidates are re-scored exactly from the original vectors.
PQ_LIMIT = 500_000
#: Rows per query batch (bounds the memory of a search to a few batches of vectors).
BATCH = 8192
#: IVF indexes are trained on a random sample of this many rows per cell (k-means).
TRAIN_PER_CELL = 40
#: IVF-PQ: candidates per row re-scored exactly, in multiples of ``k + 1``.
RERANK = 4
#: IVF-PQ: at most this many candidate vectors are read back for one batch of queries.
RECHECK_ROWS = 65_536
#: Queries per hash search batch (each gets its MAX_HASH_NEIGHBOURS + 1 nearest codes).
HASH_BATCH = 4096


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
    ``max_neighbours`` nearest at most (ties: the lower row first).

    Memory is O(N x max_neighbours) whatever the data: each batch of :data:`HASH_BATCH`
    queries asks for its ``max_neighbours + 1`` nearest codes (a k-nearest search, not a
    range search), so a cluster of C near-identical hashes (near-blank images) gives
    ``HASH_BATCH x (max_neighbours + 1)`` candidates per batch, not ``HASH_BATCH x C``.

    Parameters
    ----------
    codes : (N, 8) uint8 array, one packed 64-bit hash per row.
    radius : largest Hamming distance reported (0 = identical hashes only).
    max_neighbours : nearest codes looked at per row.

    Returns
    -------
    Pairs whose ``score`` is the Hamming distance (lower = more similar).
    """
    parts = [(rows, found, dist) for rows, found, dist in
             hash_candidates(codes, radius, max_neighbours)]
    if not parts:
        return Pairs.empty()
    return _ordered_unique(*(np.concatenate(p) for p in zip(*parts)))


def hash_candidates(codes: np.ndarray, radius: int, max_neighbours: int = MAX_HASH_NEIGHBOURS,
                    base: np.ndarray | None = None):
    """Yield ``(rows, neighbours, distances)`` per batch of :data:`HASH_BATCH` query rows:
    each row's ``max_neighbours`` nearest other rows within ``radius`` bits (arrays of at
    most ``HASH_BATCH x max_neighbours``; int64, int64, float32). ``codes`` (N, 8) uint8;
    with ``base`` (M, 8) the neighbours are rows of ``base`` (another set) instead."""
    import faiss

    codes = np.ascontiguousarray(codes, dtype=np.uint8)
    searched = codes if base is None else np.ascontiguousarray(base, dtype=np.uint8)
    for name, x in (("codes", codes), ("base", searched)):
        if x.ndim != 2 or x.shape[1] != 8:
            raise ValueError(f"{name} must be (N, 8) uint8, got {x.shape}")
    if (len(codes) < 2) if base is None else (not len(codes) or not len(searched)):
        return
    index = faiss.IndexBinaryFlat(64)
    index.add(searched)
    # + 1 within one set: the row itself is usually found
    k = min(int(max_neighbours) + (base is None), len(searched))
    for start in range(0, len(codes), HASH_BATCH):
        dist, found = index.search(codes[start:start + HASH_BATCH], k)
        rows = np.repeat(np.arange(start, start + len(dist), dtype=np.int64), k)
        dist, found = dist.ravel(), found.ravel().astype(np.int64)
        ok = (found >= 0) & (dist <= radius) & ((found != rows) if base is None else True)
        rows, found, dist = rows[ok], found[ok], dist[ok]
        keep = _nearest_per_row(rows, dist, int(max_neighbours), found)
        yield rows[keep], found[keep], dist[keep].astype(np.float32)


def _nearest_per_row(rows: np.ndarray, dist: np.ndarray, k: int,
                     other: np.ndarray | None = None) -> np.ndarray:
    """Positions of the ``k`` smallest ``dist`` of each row (ties: smaller ``other``)."""
    keys = (dist, rows) if other is None else (other, dist, rows)
    order = np.lexsort(keys)
    first = np.searchsorted(rows[order], rows[order], side="left")
    return order[np.arange(len(order)) - first < k]


def _rows_of(x: np.ndarray, rows: np.ndarray | None, start: int, stop: int) -> np.ndarray:
    """Rows ``start:stop`` of the searched set (``x``, or ``x[rows]``) as float32."""
    part = x[start:stop] if rows is None else x[rows[start:stop]]
    return np.asarray(part, dtype=np.float32)


def _pq_codes(dim: int) -> int:
    """Sub-quantisers of the IVF-PQ index (4 bits each, faiss fast scan): about 8
    dimensions each, dividing ``dim`` (D / 16 bytes a row)."""
    return max(m for m in range(1, max(1, dim // 8) + 1) if dim % m == 0)


def _build_index(x: np.ndarray, exact_limit: int, nprobe: int, seed: int, *,
                 rows: np.ndarray | None = None, pq_limit: int | None = None):
    """The faiss index of the searched rows (``x``, or ``x[rows]``), trained on a sample and
    filled a batch at a time (memory: the index plus one batch). IVF-PQ above ``pq_limit``
    rows only (its scores are estimates: the caller re-checks them); None: never."""
    import faiss

    n, dim = (len(x) if rows is None else len(rows)), x.shape[1]
    pq_limit = n if pq_limit is None else pq_limit
    if n <= exact_limit:
        index = faiss.IndexFlatIP(dim)
    else:
        # cost ~ N x nlist x D (assigning rows to cells, at add and at search) plus
        # N x nprobe x N / nlist codes scanned; PQ codes scan fast, so fewer cells
        cells = np.sqrt(n) if n > pq_limit else 4 * np.sqrt(n)
        nlist = int(min(max(64, cells), n // 39))
        if n > pq_limit:
            index = faiss.index_factory(dim, f"IVF{nlist},PQ{_pq_codes(dim)}x4fs",
                                        faiss.METRIC_INNER_PRODUCT)
            index.pq.cp.niter = 10
        else:
            index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist,
                                       faiss.METRIC_INNER_PRODUCT)
        rng = np.random.default_rng(seed)
        sample = np.sort(rng.choice(n, size=min(n, TRAIN_PER_CELL * nlist), replace=False))
        faiss.extract_index_ivf(index).cp.niter = 10
        index.train(l2_normalize(x[sample] if rows is None else x[rows[sample]]))
        faiss.extract_index_ivf(index).nprobe = min(nprobe, nlist)
    for start in range(0, n, BATCH):
        index.add(l2_normalize(_rows_of(x, rows, start, start + BATCH)))
    return index


def cosine_pairs(x: np.ndarray, threshold: float, k: int = 10, *,
                 rows: np.ndarray | None = None, exact_limit: int = EXACT_LIMIT,
                 pq_limit: int = PQ_LIMIT, nprobe: int = 16, seed: int = 0,
                 progress: ProgressFn | None = None) -> Pairs:
    """Pairs among each row's ``k`` nearest neighbours with cosine similarity >= ``threshold``.

    Parameters
    ----------
    x : (N, D) array (float16 or float32, a memmap is fine: it is read a batch at a time);
        rows are L2-normalised here. All-zero rows (unreadable images) never pair.
    threshold : smallest cosine similarity reported, in [-1, 1] (1 = same direction).
    k : neighbours looked at per row; groups larger than ``k + 1`` still join through
        shared neighbours.
    rows : search only ``x[rows]`` (ascending row numbers); the pairs then hold positions
        in ``rows``. Saves copying a memmap's subset into memory.
    exact_limit : exact search up to this many rows, an inverted-file index (``nprobe``
        cells visited per query) above it.
    pq_limit : above this many rows the inverted file holds product-quantised codes
        (IVF-PQ, ~D/16 bytes a row instead of 4 D): its ``RERANK x (k + 1)`` candidates per
        row are re-scored with their exact cosine from ``x``, so every reported score is
        exact (no false pair above ``threshold``).

    Returns
    -------
    Pairs whose ``score`` is the cosine similarity (higher = more similar).
    """
    n = len(x) if rows is None else len(rows)
    if n < 2:
        return Pairs.empty()
    index = _build_index(x, exact_limit, nprobe, seed, rows=rows, pq_limit=pq_limit)
    approximate = n > pq_limit and n > exact_limit
    k = min(k + 1, n)
    wanted = min(RERANK * k, n) if approximate else k
    batch = max(1, min(BATCH, RECHECK_ROWS // wanted)) if approximate else BATCH
    parts = []
    for start in range(0, n, batch):
        query = l2_normalize(_rows_of(x, rows, start, start + batch))
        sims, found = index.search(query, wanted)
        if approximate:
            sims, found = _exact_top(x, rows, query, found, k)
        rows_q = np.repeat(np.arange(start, start + len(query)), k)
        sims, found = sims.ravel(), found.ravel()
        ok = (found >= 0) & (sims >= threshold) & (np.linalg.norm(query, axis=1) > 0).repeat(k)
        parts.append((rows_q[ok], found[ok].astype(np.int64), sims[ok]))
        report(progress, min(start + batch, n), n, "neighbours")
    return _ordered_unique(*(np.concatenate(p) for p in zip(*parts)))


def _exact_top(x: np.ndarray, rows: np.ndarray | None, query: np.ndarray, found: np.ndarray,
               k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact cosine of each query's candidates ``found`` (B, C) read back from ``x``; the
    ``k`` best per query, (B, k) similarities and positions (-1 where fewer)."""
    valid = found >= 0
    wanted, where = np.unique(found[valid], return_inverse=True)
    vectors = l2_normalize(np.asarray(x[wanted if rows is None else rows[wanted]],
                                      dtype=np.float32))
    sims = np.full(found.shape, -np.inf, dtype=np.float32)
    q_of = np.nonzero(valid)[0]
    sims[valid] = np.einsum("ij,ij->i", query[q_of], vectors[where])
    best = np.argsort(-sims, axis=1, kind="stable")[:, :k]
    top_sims = np.take_along_axis(sims, best, axis=1)
    top = np.where(np.isfinite(top_sims), np.take_along_axis(found, best, axis=1), -1)
    return top_sims, top


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
