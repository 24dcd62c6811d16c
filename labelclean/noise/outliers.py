"""Outliers: images far from every other image in embedding space.

An image's outlier distance is its mean Euclidean distance to its ``k`` nearest other
images, found through faiss on L2-normalised embeddings (exact search up to
:data:`EXACT_UP_TO` images, an HNSW graph beyond), over its median in the images searched
together. As cleanlab's Datalab does, an image is an outlier when that distance lies above
``Q3 + iqr * (Q3 - Q1)`` of all images' distances (Tukey's fence, ``iqr`` 1.5 by default).

The fold models' features of different folds come from different models, so each fold's
images are searched among themselves (each its own feature space), and the distances are
divided by their fold's median to be comparable. ``k`` defaults to a tenth of the images
searched together (at least 10, at most 100): foreign images often come in groups (a few
dozen photos of hands among leaves), and with Datalab's fixed ``k`` of 10 such images are
each other's nearest neighbours and look ordinary. ``outlier_score`` is ``2 ** (-distance /
threshold)``, in (0, 1], **lower is worse**: 0.5 exactly at the threshold, so an image is
flagged when its score is below 0.5.

The embeddings: the fold models' pooled features of ``oof --from train``
(``oof_features.npy``, :mod:`labelclean.oof.features`) when present, else the pretrained
embeddings of ``labelclean embed`` (:func:`choose_embeddings`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from labelclean.noise.options import DEFAULT_IQR

#: Up to this many images the neighbours are searched exactly (IndexFlatL2).
EXACT_UP_TO = 50_000
#: where the outlier features come from; ``[noise] outlier_iqr``'s default is
#: :data:`~labelclean.noise.options.DEFAULT_IQR`, ``outlier_k``'s :func:`auto_k`.
SOURCES = ("auto", "oof", "embeddings", "none")


@dataclass
class Outliers:
    """Per-image outlier figures, all (N,) in the embeddings' row order (NaN / False for
    rows without an embedding): ``distance`` (mean distance to the ``k`` nearest others),
    ``score`` (lower is worse), ``flagged``; the ``threshold`` distance and which
    embeddings were used (``source``)."""

    distance: np.ndarray
    score: np.ndarray
    flagged: np.ndarray
    threshold: float
    source: str


def auto_k(n: int) -> int:
    """The default ``k`` for ``n`` images searched together: n/10, in [10, 100]."""
    return int(min(100, max(10, n // 10)))


def knn_mean_distance(vectors: np.ndarray, k: int = 10) -> np.ndarray:
    """(N,) mean Euclidean distance of each row of ``vectors`` (N, D) to its ``k`` nearest
    other rows (fewer when N <= k; NaN when N < 2)."""
    import faiss

    x = np.ascontiguousarray(vectors, dtype=np.float32)
    n = len(x)
    if n < 2:
        return np.full(n, np.nan)
    k = min(k, n - 1)
    if n <= EXACT_UP_TO:
        index = faiss.IndexFlatL2(x.shape[1])
    else:
        index = faiss.IndexHNSWFlat(x.shape[1], 32)
        index.hnsw.efSearch = max(64, 2 * k)
    index.add(x)
    squared, ids = index.search(x, k + 1)
    own = ids == np.arange(n)[:, None]
    # drop each row's own hit (or, where the search missed it, the farthest one)
    drop = np.where(own.any(axis=1), own.argmax(axis=1), k)
    keep = np.ones_like(own)
    keep[np.arange(n), drop] = False
    dist = np.sqrt(np.clip(squared[keep].reshape(n, k), 0, None))
    return dist.mean(axis=1)


def score_outliers(distance: np.ndarray, iqr: float = DEFAULT_IQR, source: str = ""
                   ) -> Outliers:
    """Tukey's fence over the finite ``distance`` values (N,): flagged above
    ``Q3 + iqr * (Q3 - Q1)``; ``score = 2 ** (-distance / threshold)``."""
    d = np.asarray(distance, dtype=np.float64)
    ok = np.isfinite(d)
    if ok.sum() < 4:
        n = len(d)
        return Outliers(d, np.full(n, np.nan), np.zeros(n, bool), float("nan"), source)
    q1, q3 = np.percentile(d[ok], [25, 75])
    threshold = float(q3 + iqr * (q3 - q1))
    score = np.where(ok, np.exp2(-d / max(threshold, 1e-12)), np.nan)
    return Outliers(d, score, ok & (d > threshold), threshold, source)


def choose_embeddings(workdir: str | Path, source: str = "auto"
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray, str] | None:
    """``(vectors (M, D), their index rows (M,), their groups (M,), source name)`` to score
    outliers from, or None when ``source`` is "none" or the work directory has none.

    ``auto`` takes the fold models' features (``oof_features.npy``; groups: the folds of
    ``oof.csv``) when present, else the newest pretrained embeddings (one group); ``oof``
    and ``embeddings`` take only that one. Rows with an all-zero vector (no features:
    unreadable, or no out-of-fold model) are left out.
    """
    if source == "none":
        return None
    found = None
    if source in ("auto", "oof"):
        from labelclean.oof.features import read_features

        got = read_features(workdir)
        if got is not None:
            found = (got[0], f"fold models' features ({got[1].get('model', '')})",
                     _folds(workdir, len(got[0])))
    if found is None and source in ("auto", "embeddings"):
        found = _pretrained(workdir)
    if found is None:
        return None
    vectors = np.asarray(found[0], dtype=np.float32)
    rows = np.flatnonzero(np.abs(vectors).sum(axis=1) > 0)
    groups = found[2][rows] if found[2] is not None else np.zeros(len(rows), dtype=int)
    return vectors[rows], rows, groups, found[1]


def _folds(workdir: str | Path, n: int) -> np.ndarray | None:
    """(N,) each index row's fold in ``oof.csv`` (-1 for rows it lacks); None without it."""
    import pandas as pd

    from labelclean.io.formats import index_ids, read_oof_table

    oof = read_oof_table(workdir, required=False)
    ids = index_ids(workdir)
    if oof is None or ids is None or len(ids) != n:
        return None
    fold = pd.Series(pd.to_numeric(oof["fold"], errors="coerce").to_numpy(),
                     index=oof["image_id"].astype(str))
    return fold[~fold.index.duplicated()].reindex(ids).fillna(-1).to_numpy(dtype=int)


def _pretrained(workdir: str | Path) -> tuple[np.ndarray, str, None] | None:
    from labelclean.errors import MissingStageError
    from labelclean.io.workdir import EMBEDDINGS_DIR

    if not any((Path(workdir) / EMBEDDINGS_DIR).glob("*.npy")):
        return None
    from labelclean.models.embeddings import load_embeddings

    try:
        array, meta = load_embeddings(workdir)
    except MissingStageError:
        return None
    return array, f"embeddings ({meta.get('model', '')})", None


def grouped_distance(vectors: np.ndarray, groups: np.ndarray, k: int | None = None
                     ) -> np.ndarray:
    """(M,) each row's mean distance to its ``k`` nearest rows of its own group, over the
    group's median (``k`` None: :func:`auto_k` of the group's size)."""
    out = np.full(len(vectors), np.nan)
    for group in np.unique(groups):
        rows = np.flatnonzero(groups == group)
        d = knn_mean_distance(vectors[rows], k or auto_k(len(rows)))
        median = np.nanmedian(d) if np.isfinite(d).any() else np.nan
        out[rows] = d / median if median and np.isfinite(median) else d
    return out


def find_outliers(workdir: str | Path, n_rows: int, *, source: str = "auto",
                  k: int | None = None, iqr: float = DEFAULT_IQR) -> Outliers | None:
    """Outliers of the work directory's images (``n_rows``: rows of ``index.csv``), or None
    without embeddings (:func:`choose_embeddings`)."""
    chosen = choose_embeddings(workdir, source)
    if chosen is None:
        return None
    vectors, rows, groups, name = chosen
    full = np.full(n_rows, np.nan)
    full[rows] = grouped_distance(vectors, groups, k)
    return score_outliers(full, iqr, name)
