"""Where a photo copy's window may reach past the original's edge: only over a flat strip
of the copy (a shifted or padded copy's border), as :mod:`labelclean.dedupe.align` states
what a copy goes through; and the second look's early stop for windows that cannot end
plausible."""

from __future__ import annotations

import numpy as np

from labelclean.dedupe import align

#: How far past the original's edge a window may reach with no border in the copy there
#: (the accuracy of the window search: two finest steps, as a fraction of the side).
OVERREACH = 2 * align.FINEST_STEPS[-1] + 1e-3


def bordered(copy: np.ndarray, window: np.ndarray, beyond: float = 1e-3) -> np.ndarray:
    """(M,) bool: every edge where the window reaches more than ``beyond`` past the
    original's edge matches a flat strip (a black or padded border) of the copy on that
    side, as a shifted or padded copy has (vacuously true when no edge does). The strip is
    the reach less the search's accuracy (:data:`OVERREACH`) wide, at least one pixel: a
    window the search moved a step too far still finds the border, not the picture."""
    side = copy.shape[1]
    past = np.stack([-window[:, 0], window[:, 1] - 1, -window[:, 2], window[:, 3] - 1], 1)
    flat = np.ones(len(copy), bool)
    for edge in range(4):
        rows = np.flatnonzero(past[:, edge] > beyond)
        if len(rows):
            n = np.maximum(1, np.floor((past[rows, edge] - OVERREACH) * side)).astype(int)
            flat[rows] &= strip_spread(copy[rows], edge, n) < 6
    return flat


def strip_spread(copy: np.ndarray, edge: int, n: np.ndarray) -> np.ndarray:
    """(R,) standard deviation (grey levels) of the strip of ``n[r]`` rows or columns of
    each (R, S, S) ``copy`` along ``edge`` (0 top, 1 bottom, 2 left, 3 right)."""
    c = np.asarray(copy, np.float64)
    c = c.transpose(0, 2, 1) if edge >= 2 else c  # columns as rows
    c = c[:, ::-1] if edge % 2 else c  # from the far edge
    total = np.cumsum(c.sum(axis=2), axis=1)[np.arange(len(c)), n - 1]
    squares = np.cumsum((c * c).sum(axis=2), axis=1)[np.arange(len(c)), n - 1]
    count = n * c.shape[2]
    return np.sqrt(np.maximum(squares / count - (total / count) ** 2, 0))


def give_up(copy: np.ndarray):
    """The second look's early stop for the (M, S, S) copies of one call: a pair whose
    window reaches past the original's edge by more than :data:`OVERREACH` even after the
    rounds left move it back as far as they can, on an edge where the copy has no flat
    strip, ends implausible (:func:`plausible`) whatever the rounds left do: it cannot be
    confirmed, and is not searched further (most candidate pairs of overlapping crops of
    one photo end so)."""
    side = copy.shape[1]
    most = max(-align.BOUNDS[0], align.BOUNDS[1] - 1)  # the search's bounds

    def stop(rows: np.ndarray, window: np.ndarray, reach: float) -> np.ndarray:
        past = np.stack([-window[:, 0], window[:, 1] - 1, -window[:, 2], window[:, 3] - 1], 1)
        low = past - reach - 1e-4
        strip = np.maximum(1, np.floor((low - OVERREACH) * side)).astype(int)
        widest = max(1, int(np.floor((most - OVERREACH) * side)))
        lost = np.zeros(len(rows), bool)
        for edge in range(4):
            # the strip the end test would read is one width over the whole range left
            sure = np.flatnonzero((low[:, edge] > OVERREACH) & (strip[:, edge] == widest))
            if len(sure):
                lost[sure] |= strip_spread(copy[rows[sure]], edge, strip[sure, edge]) >= 6
        return lost

    return stop


def plausible(copy: np.ndarray, window: np.ndarray) -> np.ndarray:
    """(M,) bool: the (M, 4) windows are what a copy goes through: past the original's edge
    only where the copy has a border there (:func:`bordered`, beyond :data:`OVERREACH`),
    and not stopped by the search's narrowest window on either axis (a crop of up to about
    10 % a side leaves at least 0.8 of the side; a window pressed against the limit of
    0.74 matched something the search could not reach: another part of a texture)."""
    width = np.minimum(window[:, 1] - window[:, 0], window[:, 3] - window[:, 2])
    return bordered(copy, window, OVERREACH) & (width > align.MIN_WIDTH + align.GRID)


def overreach(window: np.ndarray) -> np.ndarray:
    """(M,) how far the (M, 4) windows reach past the image's edge, at most (0 = inside)."""
    past = np.stack([-window[:, 0], window[:, 1] - 1, -window[:, 2], window[:, 3] - 1], 1)
    return np.maximum(past.max(axis=1), 0)
