"""Verifying photo copies: align a copy to a window of the other image, then compare.

A near copy of a photograph is the original (or a window of it: a crop of up to about 10 %
per side, or, for a shifted or padded copy, a window reaching a little past its edge) put
through a monotone brightness curve (brightness, contrast and gamma changes, clipping
included), resampled to another size (aspect ratio included: thumbnails are square) and
re-encoded; optionally mirrored or rotated by 90 degrees. Verification looks for the window
and the transform that make the two thumbnails agree:

* the window search starts from a hint (the candidate search's window, or the whole image)
  and moves each edge of the window by 5 % of the side, then 2.5 % and 1.25 % (and, for
  the second look, finer still), one axis at a time;
* the comparison drops a ring of the copy's border (a black border, or pixels the window
  takes from outside the image) and matches the brightness histograms (a monotone curve
  cancels; two different pictures stay different), then measures the correlation and the
  remaining difference.

Thumbnails are the scan's (N, 32, 32) uint8 greyscale arrays; everything here is vectorised
over pairs. Two different pictures of one kind of thing (two handwritten 3s, two crops of
one sky) agree in their overall shape but not pixel by pixel; pictures with almost no
structure (flat sky, a blank wall) are never near copies (only exact or same-pixel ones).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

#: Side of the compared windows, as a fraction of the images' side (32 -> 16, 64 -> 32).
SCALE = 2
#: Ring of the copy's border left out of the comparison, as a fraction of the side.
RING = 1 / 16
#: Windows of every image indexed for the candidate search: per axis (start, stop).
AXIS_WINDOWS = ((0.0, 1.0), (0.05, 0.95), (0.1, 0.9))
#: A thumbnail whose standard deviation is below this (grey levels) has no structure. At 3
#: the copies of a faint photo (a moon's surface, haze) were never compared; at 2 they are,
#: and no more faint crops that are not copies pass for copies (those that do vary by 4-7
#: levels: this limit never kept them apart; see reports/dedupe.md).
LOW_INFORMATION = 2.0
#: Windows are kept within these bounds and at least this wide (fractions of the side).
BOUNDS = (-0.055, 1.055)
MIN_WIDTH = 0.74
_CHUNK = 1024

#: Transforms of a copy: name -> function of an (M, S, S) array.
TRANSFORMS = {
    "none": lambda t: t,
    "flip_lr": lambda t: t[:, :, ::-1],
    "flip_ud": lambda t: t[:, ::-1, :],
    "rot90": lambda t: np.rot90(t, 1, axes=(1, 2)),
    "rot180": lambda t: t[:, ::-1, ::-1],
    "rot270": lambda t: np.rot90(t, 3, axes=(1, 2)),
    "transpose": lambda t: np.swapaxes(t, 1, 2),
    "antitranspose": lambda t: np.rot90(t, 2, axes=(1, 2)).swapaxes(1, 2),
}
#: The transform that undoes each one.
INVERSE = {"none": "none", "flip_lr": "flip_lr", "flip_ud": "flip_ud", "rot90": "rot270",
           "rot180": "rot180", "rot270": "rot90", "transpose": "transpose",
           "antitranspose": "antitranspose"}
#: Coarse, then fine and finest steps of the window search's rounds (the last two rounds
#: fine, then finest).
COARSE_STEPS = (-0.05, 0.0, 0.05)
FINE_STEPS = (-0.025, 0.0, 0.025)
FINEST_STEPS = (-0.0125, 0.0, 0.0125)
#: Steps of the second look's last two rounds: half and a quarter of the finest (0.4 and
#: 0.2 px of a 64 px image), so a copy moved by less than one finest step (a shift of a
#: few pixels of the photo) is aligned too: a sharp edge 0.3 px off costs a correlation
#: of about 0.02, as much as tells two look-alikes apart.
SUB_STEPS = ((-0.00625, 0.0, 0.00625), (-0.003125, 0.0, 0.003125))


def transform_names(flips: bool, rotations: bool) -> tuple[str, ...]:
    """The transforms a copy may have gone through, ``none`` first."""
    names = ["none"]
    if flips:
        names += ["flip_lr", "flip_ud"]
    if rotations:
        names += ["rot90", "rot180", "rot270"]
    if flips and rotations:
        names += ["transpose", "antitranspose"]
    return tuple(names)


def resample_taps(start: np.ndarray, stop: np.ndarray, size: int, out: int
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Bilinear taps sampling the windows ``[start, stop]`` (fractions of the side, (M,)
    each) of a ``size`` axis at ``out`` cells: ``(low, high, w_low, w_high)``, each (M, out);
    cell k of window m is ``w_low * x[low] + w_high * x[high]`` (samples outside the image
    repeat its edge). Edges within 1e-4 of the :data:`GRID` are put on it."""
    start, stop = _on_grid(start), _on_grid(stop)
    cells = (np.arange(out, dtype=np.float32) + 0.5) / out
    pos = (start[:, None] + cells[None, :] * (stop - start)[:, None]) * size - 0.5
    pos = np.clip(pos, 0, size - 1)
    low = np.floor(pos).astype(np.int64)
    frac = pos - low
    return (low, np.minimum(low + 1, size - 1), (1 - frac).astype(np.float32),
            frac.astype(np.float32))


#: Window edges are multiples of this (the search steps and indexed windows are).
GRID = 0.003125


def _on_grid(edge: np.ndarray) -> np.ndarray:
    edge = np.asarray(edge, np.float32)
    snapped = (np.rint(edge / GRID).astype(np.int64) * GRID).astype(np.float32)
    return np.where(np.abs(snapped - edge) < 1e-4, snapped, edge)


def resample_rows(x: np.ndarray, taps, cells: slice = slice(None)) -> np.ndarray:
    """(M, A, B) float32 ``x`` resampled along its rows by ``taps`` (:func:`resample_taps`
    for an axis of A): (M, out, B), only the output rows ``cells``."""
    low, high, w_low, w_high = (t[:, cells] for t in taps)
    m, a, b = x.shape
    flat = x.reshape(m * a, b)
    base = (np.arange(m) * a)[:, None]
    out = np.take(flat, low + base, axis=0)  # whole rows (np.take beats fancy indexing)
    out *= w_low[:, :, None]
    upper = np.take(flat, high + base, axis=0)
    upper *= w_high[:, :, None]
    out += upper
    return out


def window_views(thumbs: np.ndarray, windows: np.ndarray, out: int) -> np.ndarray:
    """(M, out, out) float32: window ``windows[m] = (y0, y1, x0, x1)`` of ``thumbs[m]``."""
    t = np.asarray(thumbs, np.float32)
    rows = resample_rows(t, resample_taps(windows[:, 0], windows[:, 1], t.shape[1], out))
    cols = np.ascontiguousarray(rows.transpose(0, 2, 1))
    views = resample_rows(cols, resample_taps(windows[:, 2], windows[:, 3], t.shape[2], out))
    return views.transpose(0, 2, 1)


def shrink(thumbs: np.ndarray, out: int) -> np.ndarray:
    """(M, S, S) -> (M, out, out) float32, by block averaging when S is a multiple of
    ``out``, else by bilinear resampling."""
    t = np.asarray(thumbs, np.float32)
    if t.shape[1] % out:
        whole = np.tile(np.array([0, 1, 0, 1], np.float32), (len(t), 1))
        return window_views(t, whole, out)
    f = t.shape[1] // out
    if f == 2:  # the same sums as the mean below, without its slow strided reduction
        return (t[:, 0::2, 0::2] + t[:, 1::2, 0::2] + t[:, 0::2, 1::2] + t[:, 1::2, 1::2]) / 4
    return t.reshape(len(t), out, f, out, f).mean(axis=(2, 4))


def _inner(a: np.ndarray) -> np.ndarray:
    ring = _ring(a.shape[1])
    return a[:, ring:a.shape[1] - ring, ring:a.shape[2] - ring].reshape(len(a), -1)


def _correlation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise Pearson correlation of (M, D) arrays (0 when either row is flat)."""
    return _correlation_to(a, *_centred(b))


def _search_axis(fixed, target, windows, axis, steps, side):
    """Best (start, stop) of one axis (0 = rows, 1 = columns) over the edge moves ``steps``
    (fractions of the side). ``fixed`` (M, S, I): the original resampled on the other axis
    (its inner cells I), the searched axis first; ``target`` the copy's inner cells in that
    layout, centred, and their squared norms (:func:`_centred`); ``side`` cells a view."""
    inner = slice(_ring(side), side - _ring(side))
    best = np.full(len(windows), -2.0, np.float32)
    chosen = windows[:, 2 * axis:2 * axis + 2].copy()
    for ds in steps:
        for de in steps:
            start = windows[:, 2 * axis] + ds
            stop = windows[:, 2 * axis + 1] + de
            taps = resample_taps(start, stop, fixed.shape[1], side)
            view = resample_rows(fixed, taps, inner).reshape(len(fixed), -1)
            corr = _correlation_to(view, *target)
            ok = (stop - start >= MIN_WIDTH) & (start >= BOUNDS[0]) & (stop <= BOUNDS[1])
            better = ok & (corr > best)
            best[better] = corr[better]
            chosen[better] = np.stack([start, stop], axis=1)[better]
    out = windows.copy()
    out[:, 2 * axis:2 * axis + 2] = chosen
    return out


def _ring(side: int) -> int:
    """Cells of the border ring :func:`_inner` leaves out of an image of ``side`` cells."""
    return max(1, int(round(RING * side)))


def _centred(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(M, D) rows minus their means, and their squared norms (M,)."""
    a = a - a.mean(axis=1, keepdims=True)
    return a, np.einsum("md,md->m", a, a)


def _correlation_to(a: np.ndarray, b: np.ndarray, bb: np.ndarray) -> np.ndarray:
    """:func:`_correlation` of (M, D) ``a`` and rows ``b`` already centred, of squared norms
    ``bb``."""
    a = a - a.mean(axis=1, keepdims=True)
    den = np.sqrt(np.einsum("md,md->m", a, a) * bb)
    return np.divide(np.einsum("md,md->m", a, b), den, out=np.zeros(len(a), np.float32),
                     where=den > 1e-6)


class _Searched(NamedTuple):
    """The pairs :func:`align` still searches: their rows of its input ``live`` (R,), the
    originals (R, S, S) and the same by column, and the copies' centred targets by rows and
    by columns (each ``(values (R, D), squared norms (R,))``, :func:`_centred`)."""

    live: np.ndarray
    orig: np.ndarray
    by_column: np.ndarray
    by_rows: tuple[np.ndarray, np.ndarray]
    by_cols: tuple[np.ndarray, np.ndarray]

    def subset(self, keep: np.ndarray) -> _Searched:
        return _Searched(self.live[keep], self.orig[keep], self.by_column[keep],
                         (self.by_rows[0][keep], self.by_rows[1][keep]),
                         (self.by_cols[0][keep], self.by_cols[1][keep]))


def align(original: np.ndarray, copy: np.ndarray, hint: np.ndarray,
          rounds: int = 4, sub_steps: bool = False, give_up=None):
    """(M, 4) windows ``(y0, y1, x0, x1)`` of ``original`` that best match ``copy``.

    ``original`` and ``copy`` are (M, S, S) thumbnails (the copy already transformed),
    ``hint`` (M, 4) the starting windows; each round searches the rows, then the columns,
    moving each edge by :data:`COARSE_STEPS`, the last two rounds by :data:`FINE_STEPS` and
    :data:`FINEST_STEPS` (``rounds`` 2: fine, finest only); with ``sub_steps``, two more
    rounds by :data:`SUB_STEPS`. With ``give_up(rows, windows, reach)`` (rows of the pairs
    still searched, their (R, 4) windows, and how far the rounds left can still move an
    edge), pairs it marks (an (R,) bool) stop being searched; then ``(windows, stopped)``
    is returned, ``stopped`` (M,) bool.
    """
    t = np.asarray(original, np.float32)
    side = t.shape[1] // SCALE
    inner = slice(_ring(side), side - _ring(side))
    target = shrink(copy, side)[:, inner, inner]
    state = _Searched(np.arange(len(t)), t, np.ascontiguousarray(t.transpose(0, 2, 1)),
                      _centred(target.reshape(len(t), -1)),
                      _centred(target.transpose(0, 2, 1).reshape(len(t), -1)))
    windows = np.asarray(hint, np.float32).copy()
    stopped = np.zeros(len(t), bool)
    plan = [COARSE_STEPS] * max(0, rounds - 2) + [FINE_STEPS, FINEST_STEPS]
    plan = plan + list(SUB_STEPS) if sub_steps else plan
    for k, step in enumerate(plan):
        if not len(state.live):
            break
        win = windows[state.live]
        cols = resample_rows(state.by_column, resample_taps(
            win[:, 2], win[:, 3], state.orig.shape[2], side), inner)
        win = _search_axis(np.ascontiguousarray(cols.transpose(0, 2, 1)), state.by_rows, win,
                           0, step, side)
        rows = resample_rows(state.orig, resample_taps(
            win[:, 0], win[:, 1], state.orig.shape[1], side), inner)
        windows[state.live] = _search_axis(np.ascontiguousarray(rows.transpose(0, 2, 1)),
                                           state.by_cols, win, 1, step, side)
        if give_up is not None and k + 1 < len(plan):
            drop = np.asarray(give_up(state.live, windows[state.live],
                                      sum(max(s) for s in plan[k + 1:])), bool)
            stopped[state.live[drop]] = True
            state = state.subset(~drop)
    return (windows, stopped) if give_up is not None else windows


def _matched(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a``'s values replaced by ``b``'s of the same rank, row by row ((M, D) arrays):
    histogram matching, which undoes any monotone brightness curve from ``a`` to ``b``.

    Equal values of ``a`` (a region clipped to white or black by the curve) all get the
    mean of ``b``'s values of their ranks: the curve merged them, so their order carries
    nothing (ranking them by position would paint a ramp over the flat region)."""
    order = np.argsort(a, axis=1, kind="stable")
    sa = np.take_along_axis(a, order, axis=1)
    sb = np.sort(b, axis=1)
    m, d = a.shape
    starts = np.ones((m, d), bool)
    starts[:, 1:] = np.diff(sa, axis=1) > _TIE
    run = np.cumsum(starts.ravel()) - 1  # one id per run of equal values, across rows
    means = np.bincount(run, sb.ravel()) / np.bincount(run)
    out = np.empty_like(a)
    np.put_along_axis(out, order, means[run].reshape(m, d).astype(a.dtype), axis=1)
    return out


#: Values of a compared window closer than this (grey levels) count as equal.
_TIE = 1e-3


def _blur(x: np.ndarray) -> np.ndarray:
    """(M, H, W) smoothed twice by a [1, 2, 1] / 4 kernel along each axis (edges repeated)."""
    for _ in range(2):
        p = np.pad(x, ((0, 0), (1, 1), (0, 0)), mode="edge")
        x = (p[:, :-2] + 2 * p[:, 1:-1] + p[:, 2:]) / 4
        p = np.pad(x, ((0, 0), (0, 0), (1, 1)), mode="edge")
        x = (p[:, :, :-2] + 2 * p[:, :, 1:-1] + p[:, :, 2:]) / 4
    return x


def compare(original: np.ndarray, copy: np.ndarray, windows: np.ndarray
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(correlation, detail, outline)`` of ``copy`` and the ``windows`` of ``original``,
    all after histogram matching (a monotone brightness curve cancels), without the border
    ring.

    correlation : (M,) in [-1, 1] of the pixels (higher is more alike).
    detail : (M,) in [-1, 1], the rank correlation of the fine detail (each picture minus
        its smoothed self): pictures alike in outline (one dark corner, a horizon) but
        different in their detail score low (higher is more alike).
    outline : (M,) in [-1, 1], the correlation of the smoothed pictures: their shapes
        without the finest grain, which re-encoding a texture (grass, gravel) changes most
        (higher is more alike).
    """
    out = original.shape[1] // SCALE
    view = _inner(window_views(original, windows, out))
    target = _inner(shrink(copy, out))
    side = int(round(np.sqrt(target.shape[1])))
    matched = _matched(view, target)
    corr = _correlation(matched, target)
    m3 = matched.reshape(-1, side, side)
    t3 = target.reshape(-1, side, side)
    sm, st = _blur(m3), _blur(t3)
    detail = _correlation(_ranks((m3 - sm).reshape(len(m3), -1)),
                          _ranks((t3 - st).reshape(len(t3), -1)))
    outline = _correlation(sm.reshape(len(m3), -1), st.reshape(len(t3), -1))
    return corr, detail, outline


def _ranks(a: np.ndarray) -> np.ndarray:
    """Row-wise ranks of (M, D) values (a rank correlation is not ruled by one strong edge)."""
    order = np.argsort(a, axis=1)  # one sort, then scatter the positions (not two sorts)
    ranks = np.empty(a.shape, np.float32)
    np.put_along_axis(ranks, order, np.arange(a.shape[1], dtype=np.float32)[None, :], axis=1)
    return ranks


def structured(thumbs: np.ndarray) -> np.ndarray:
    """(N,) bool: thumbnails with enough structure to be compared as photos
    (standard deviation at least :data:`LOW_INFORMATION` grey levels)."""
    return spread(thumbs) >= LOW_INFORMATION


def spread(thumbs: np.ndarray) -> np.ndarray:
    """(N,) float32 standard deviation of each thumbnail, in grey levels (0 = flat)."""
    return np.asarray(thumbs, np.float32).reshape(len(thumbs), -1).std(axis=1)


def structured_pairs(spread_a: np.ndarray, spread_b: np.ndarray) -> np.ndarray:
    """(M,) bool: pairs with enough structure to be compared as photos, from the two
    thumbnails' standard deviations (:func:`spread`): the more contrasted reaches
    :data:`LOW_INFORMATION` and the other half of it. A brightness or contrast change
    scales the standard deviation, so a darkened copy of a faint picture may fall under
    the limit its original reaches; two faint pictures (a sky, a wall) stay apart."""
    high, low = np.maximum(spread_a, spread_b), np.minimum(spread_a, spread_b)
    return (high >= LOW_INFORMATION) & (low >= LOW_INFORMATION / 2)


def window_table() -> np.ndarray:
    """(W, 4) the indexed windows ``(y0, y1, x0, x1)``, the whole image first: each pair of
    :data:`AXIS_WINDOWS` crops alike on both axes, and the deepest crop on one axis only."""
    same = [(*w, *w) for w in AXIS_WINDOWS]
    whole, deep = AXIS_WINDOWS[0], AXIS_WINDOWS[-1]
    return np.array(same + [(*whole, *deep), (*deep, *whole)], np.float32)


def rough_correlation(original: np.ndarray, copy: np.ndarray, windows: np.ndarray
                      ) -> np.ndarray:
    """(M,) plain correlation of ``copy`` and the ``windows`` of ``original`` (a cheap first
    test before :func:`align`; higher is more alike), or of their smoothed versions when
    that is higher: the hint is only as close as the candidate search's windows (steps of
    5 % of the side), and a fine texture (grass, gravel) stops correlating a few per cent
    off, while its smoothed picture (the light across it) still does."""
    out = original.shape[1] // SCALE
    view = window_views(original, windows, out)
    target = shrink(copy, out)
    plain = _correlation(_inner(view), _inner(target))
    side = out - 2 * max(1, int(round(RING * out)))
    smooth = _correlation(_blur(_inner(view).reshape(-1, side, side)).reshape(len(view), -1),
                          _blur(_inner(target).reshape(-1, side, side)).reshape(len(view), -1))
    return np.maximum(plain, smooth)


def descriptors(thumbs: np.ndarray, windows: np.ndarray, side: int = 8) -> np.ndarray:
    """(N * W, side * side) float32, unit-norm mean-centred windows of every thumbnail:
    row ``n * W + w`` is window ``w`` of image ``n`` (flat windows give zero rows)."""
    n, w = len(thumbs), len(windows)
    flat = np.empty((n * w, side * side), np.float32)
    for start in range(0, n, _CHUNK):
        t = np.asarray(thumbs[start:start + _CHUNK], np.float32)
        views = window_views(np.repeat(t, w, axis=0), np.tile(windows, (len(t), 1)), side)
        flat[start * w:(start + len(t)) * w] = views.reshape(len(t) * w, -1)
    flat -= flat.mean(axis=1, keepdims=True)
    norms = np.linalg.norm(flat, axis=1, keepdims=True)
    return np.divide(flat, norms, out=np.zeros_like(flat), where=norms > 1.0)
