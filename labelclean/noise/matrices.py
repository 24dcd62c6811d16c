"""cleanlab's K x K class matrices (confident joint, noise matrix) kept small for many classes.

Up to :data:`DENSE_CLASSES` classes, ``summary.json`` holds each matrix whole
(``{"classes": [...], "matrix": [[...], ...]}``). Above it a matrix is a list of cells
(``{"classes", "shape", "cells": [[row, column, value], ...], "row_sums", "cells_total"}``):
the diagonal and the :data:`MAX_CELLS` largest other cells, so 10,000 classes cost kilobytes,
not the gigabytes of 10^8 numbers. :func:`dense_block` turns either form into the
block of the classes worth drawing.
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: Up to this many classes the matrices are stored whole; above it, as their largest cells.
DENSE_CLASSES = 100
#: Off-diagonal cells kept per matrix above :data:`DENSE_CLASSES` classes.
MAX_CELLS = 10_000
#: cleanlab's floor for the sums it divides by.
_TINY = 1e-100


def noise_matrix_cells(joint: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """cleanlab's noise matrix P(given = i | true = j) at the nonzero cells of ``joint``.

    ``joint`` (K, K): the confident joint (rows given, columns true). Returns (rows,
    columns, values) of the cells that are nonzero; every other cell of
    ``cleanlab.count.estimate_latent``'s noise matrix is 0. Same arithmetic (columns
    normalised, off-diagonal cells clipped below 1, columns normalised again), without
    making K x K copies.
    """
    rows, cols = np.nonzero(joint)
    values = joint[rows, cols].astype(float)
    col_sums = np.bincount(cols, weights=values, minlength=len(joint))
    values = values / np.clip(col_sums[cols], _TINY, None)
    off = rows != cols
    values[off] = np.clip(values[off], 0, 0.9999)
    col_sums = np.bincount(cols, weights=values, minlength=len(joint))
    return rows, cols, values / np.clip(col_sums[cols], _TINY, None)


def matrix_document(classes: list, cells: tuple[np.ndarray, np.ndarray, np.ndarray] | None,
                    dense: np.ndarray | None, decimals: int) -> dict[str, Any]:
    """A matrix as ``summary.json`` holds it: ``dense`` (K, K) whole, else ``cells`` (rows,
    columns, values of the nonzero cells) as the diagonal and the largest other cells."""
    if dense is not None:
        return {"classes": classes, "matrix": np.round(dense, decimals).tolist()}
    if cells is None:
        return {"classes": classes, "matrix": []}
    rows, cols, values = cells
    off = np.flatnonzero(rows != cols)
    top = off[np.argsort(-values[off], kind="stable")[:MAX_CELLS]]
    keep = np.sort(np.concatenate([np.flatnonzero(rows == cols), top]))
    k = len(classes)
    return {"classes": classes, "shape": [k, k],
            "cells": [[int(i), int(j), round(float(v), decimals)] for i, j, v in
                      zip(rows[keep], cols[keep], values[keep])],
            "row_sums": np.round(np.bincount(rows, weights=values, minlength=k),
                                 decimals).tolist(),
            "cells_total": int(len(rows))}


def dense_block(doc: dict[str, Any], limit: int) -> tuple[np.ndarray, list, np.ndarray]:
    """The block of a :func:`matrix_document` worth drawing: (matrix (n, n), its classes,
    the full row sums (n,)), n <= ``limit``.

    With more than ``limit`` classes, the block holds the ``limit`` classes with the most
    off-diagonal mass (given or estimated true), in class order.
    """
    classes = list(doc.get("classes") or [])
    k = len(classes)
    if doc.get("cells") is not None:
        cells = np.asarray(doc["cells"], dtype=float).reshape(-1, 3)
        rows, cols, values = cells[:, 0].astype(int), cells[:, 1].astype(int), cells[:, 2]
        row_sums = np.asarray(doc.get("row_sums") or np.bincount(rows, values, k), float)
    else:
        full = np.asarray(doc.get("matrix") or np.zeros((0, 0)), dtype=float)
        rows, cols = np.nonzero(full)
        values, row_sums = full[rows, cols], full.sum(axis=1)
    off = rows != cols
    mass = (np.bincount(rows[off], values[off], k) + np.bincount(cols[off], values[off], k))
    picked = (np.arange(k) if k <= limit else
              np.sort(np.argsort(-mass, kind="stable")[:limit]))
    where = np.full(k, -1)
    where[picked] = np.arange(len(picked))
    inside = (where[rows] >= 0) & (where[cols] >= 0)
    block = np.zeros((len(picked), len(picked)))
    block[where[rows[inside]], where[cols[inside]]] = values[inside]
    return block, [classes[i] for i in picked], row_sums[picked]
