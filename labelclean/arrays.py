"""Row-wise array maths shared by the stages (numpy only, cheap to import)."""

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
