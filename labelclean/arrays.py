"""Array maths shared by the stages (numpy only, cheap to import): row-wise soft-max and
normalisation, and groups from pairs (a vectorised union-find in O((N + M) log N) time and
O(N + M) memory)."""

from __future__ import annotations

import numpy as np


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Row-wise soft-max of ``logits / temperature``: (N, K) -> (N, K), rows sum to 1.

    Computed in the logits' own float dtype (float32 stays float32; integers become
    float64). A higher ``temperature`` flattens the rows (less confident); the input is not
    modified.
    """
    z = np.asarray(logits) / temperature
    z -= z.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    return z


def l2_normalize(x: np.ndarray) -> np.ndarray:
    """Rows of ``x`` as float32 with unit L2 norm; zero rows stay zero. (N, D) -> (N, D).

    After it, the inner product of two rows is their cosine similarity (1 = same direction).
    """
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)


def _roots(i: np.ndarray, j: np.ndarray, n: int) -> np.ndarray:
    """Union-find, vectorised: hook each edge's larger root under its smaller one, then
    compress paths (pointer jumping), until both ends of every edge share a root."""
    parent = np.arange(n, dtype=np.int64)
    while True:
        low = np.minimum(parent[i], parent[j])
        np.minimum.at(parent, parent[i], low)
        np.minimum.at(parent, parent[j], low)
        while True:
            grand = parent[parent]
            if np.array_equal(grand, parent):
                break
            parent = grand
        if np.array_equal(parent[i], parent[j]):
            return parent


def group_labels(n: int, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Union-find over ``n`` items joined by the edges ``(i[k], j[k])``.

    Returns
    -------
    (n,) int64 group label per item; items in no edge get -1, groups are numbered
    0, 1, ... in the order of their first (lowest-numbered) member.
    """
    labels = np.full(n, -1, dtype=np.int64)
    if n == 0 or len(i) == 0:
        return labels
    i, j = np.asarray(i, np.int64), np.asarray(j, np.int64)
    roots = _roots(i, j, n)
    members = np.zeros(n, dtype=bool)
    members[i] = members[j] = True
    # roots are the smallest member of each group, so their order is first-member order
    _, dense = np.unique(roots[members], return_inverse=True)
    labels[members] = dense
    return labels
