"""Near copies of photographs: window candidates and two-stage verification.

Candidates (:func:`window_candidates`): every image's whole thumbnail (mirrored or rotated
too, with ``flips`` / ``rotations``) is searched among the windows of every other image's
thumbnail (:data:`~labelclean.dedupe.align.AXIS_WINDOWS`: the whole image and crops of 5 and
10 % a side), so a crop of a photo finds the photo; each candidate carries the window and the
transform that matched, a hint for the verification.

Verification (:func:`verify_photo_pairs`), for candidates the thumbnail check of
:mod:`labelclean.dedupe.verify` did not already confirm:

1. on the scan's 32x32 thumbnails: align (:func:`~labelclean.dedupe.align.align`, both
   ways round) and compare; pairs far from alike stop here;
2. the survivors' files are decoded again at :data:`DETAIL_SIDE` pixels (JPEG draft mode),
   aligned again from the first window and compared: confirmed when the histogram-matched
   correlation reaches :data:`MIN_PHOTO_CORRELATION` and correlation + detail correlation
   reach :data:`MIN_PHOTO_SCORE`.

Images without structure (:func:`~labelclean.dedupe.align.structured_pairs`) are never near
copies.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from itertools import product
from pathlib import Path

import numpy as np

from labelclean.dedupe import align
from labelclean.dedupe.borders import bordered, give_up, overreach, plausible

#: Side of the second look's greyscale images.
DETAIL_SIDE = 64
#: Histogram-matched correlation a photo copy needs (1 = same picture; higher is stricter).
MIN_PHOTO_CORRELATION = 0.85
#: Histogram-matched correlation (of the pixels, or of the smoothed pictures) a copy
#: aligned at the whole image needs.
MIN_WHOLE_CORRELATION = 0.97
#: Correlation + detail correlation a photo copy needs (2 = same picture).
MIN_PHOTO_SCORE = 1.55
#: Correlation at the hint below which a pair is not looked at further.
ROUGH = 0.6
#: Moves of the hint (fractions of the side, each axis) tried when the hint itself is not
#: roughly alike: half the candidate search's 5 % step either way, the hint first.
HINT_MOVES = (0.0, -0.025, 0.025)
#: First-look thresholds on the thumbnails (correlation, correlation + detail).
SCREEN = (0.75, 1.0)
#: Smallest cosine of two amplitude spectra (:func:`spectrum_vectors`) for a candidate.
SPECTRUM_THRESHOLD = 0.75
#: Smallest cosine of two 8x8 window descriptors for a window candidate; only the
#: :data:`WINDOW_NEIGHBOURS` best other images of each query are kept.
WINDOW_THRESHOLD = 0.3
WINDOW_NEIGHBOURS = 3
#: Below this cosine only each query's best other image is a window candidate.
CLOSE_WINDOW = 0.85
#: A shifted window is the image's size to within this on both axes (one step of the
#: window search's grid, :data:`~labelclean.dedupe.align.GRID`).
TRANSLATION = align.FINEST_STEPS[-1] + 1e-3
_IDENTITY = np.array([0.0, 1.0, 0.0, 1.0], np.float32)


@dataclass
class Hints:
    """Candidate pairs with what matched: ``window`` (M, 4) of ``a`` matched the whole of
    ``b`` put through ``transform`` (M,) (positions in ``names``)."""

    a: np.ndarray
    b: np.ndarray
    window: np.ndarray
    transform: np.ndarray
    names: tuple[str, ...] = ("none",)

    def __len__(self) -> int:
        return len(self.a)

    def subset(self, mask: np.ndarray) -> Hints:
        return Hints(self.a[mask], self.b[mask], self.window[mask], self.transform[mask],
                     self.names)


def window_candidates(thumbs: np.ndarray, rows: np.ndarray, names: tuple[str, ...],
                      k: int = 10, threshold: float = WINDOW_THRESHOLD,
                      other: np.ndarray | None = None) -> Hints:
    """Candidates whose whole thumbnail matches a window of another's.

    ``thumbs`` (N, S, S); ``rows`` the rows taking part. Without ``other``, rows are searched
    among themselves; with ``other`` ((N2, S, S) thumbnails of another set), ``b`` indexes
    ``thumbs`` and ``a`` indexes ``other`` — and the other way round is not searched.
    Memory: (len(rows) x 9) 64-float descriptors; at most ``k`` hints per query and transform.
    A pair has one hint, or two when its best is transformed (its best untransformed one
    is among the hints too).
    """
    from labelclean.dedupe.neighbors import EXACT_LIMIT, _build_index

    windows = align.window_table()
    base = thumbs[rows] if other is None else other
    desc = align.descriptors(base, windows)
    index = _build_index(desc, EXACT_LIMIT * len(windows), 16, 0)
    depth = min(WINDOW_NEIGHBOURS + (len(windows) if other is None else 0), len(desc))
    parts = []
    for t, name in enumerate(names):
        query = align.descriptors(align.TRANSFORMS[name](thumbs[rows]), windows[:1])
        sims, found = index.search(query, depth)
        qrow = np.repeat(np.arange(len(rows)), depth)
        sims, found = sims.ravel(), found.ravel()
        owner, win = found // len(windows), found % len(windows)
        ok = (found >= 0) & (sims >= threshold)
        if other is None:
            ok &= owner != qrow
        rank = _rank_in_row(qrow, owner, ok)
        ok &= (rank == 0) | ((rank < WINDOW_NEIGHBOURS) & (sims >= CLOSE_WINDOW))
        parts.append((owner[ok], qrow[ok], win[ok], np.full(int(ok.sum()), t), sims[ok]))
    owner, qrow, win, tr, sims = (np.concatenate(p) for p in zip(*parts))
    a = owner if other is not None else rows[owner]
    b = rows[qrow]
    key = (np.minimum(a, b) * (int(max(a.max(initial=0), b.max(initial=0))) + 1)
           + np.maximum(a, b)) if other is None else a * (len(thumbs) + 1) + b
    # one hint per pair, the best match; a pair whose best is a flip or a rotation keeps
    # its best untransformed match too (a texture's 8x8 descriptors may match a mirror
    # image a little better than the copy itself), so the check can try both
    first = _best_per_key(key, sims)
    untransformed = np.flatnonzero(tr == 0)
    plain = untransformed[_best_per_key(key[untransformed], sims[untransformed])]
    first = np.r_[first, plain[np.isin(key[plain], key[first][tr[first] != 0])]]
    return Hints(a[first], b[first], windows[win[first]], tr[first], names)


def _best_per_key(key: np.ndarray, sims: np.ndarray) -> np.ndarray:
    """Positions of the highest ``sims`` of each distinct ``key`` (one each)."""
    order = np.lexsort((-sims, key))
    return order[np.r_[True, key[order][1:] != key[order][:-1]]] if len(order) else order


def spectrum_vectors(thumbs: np.ndarray, side: int = 8) -> np.ndarray:
    """(N, side * side) float32 unit vectors: the low-frequency amplitude spectrum of each
    (mean-removed) thumbnail. Shifts and small crops barely change it, so textures (grass,
    gravel) whose copies are shifted still find each other; flat thumbnails give zeros."""
    t = np.asarray(thumbs, np.float32)
    t = t - t.mean(axis=(1, 2), keepdims=True)
    amp = np.abs(np.fft.rfft2(t))[:, :side, :side].reshape(len(t), -1).astype(np.float32)
    amp = np.log1p(amp)
    amp -= amp.mean(axis=1, keepdims=True)
    norms = np.linalg.norm(amp, axis=1, keepdims=True)
    return np.divide(amp, norms, out=np.zeros_like(amp), where=norms > 1e-3)


def _rank_in_row(qrow: np.ndarray, owner: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """Per hit, how many better hits (other images, ``ok``) its query had before it (hits
    of a query are in order, best first); an image's other windows do not count twice."""
    rank = np.full(len(qrow), 1 << 30, np.int64)
    hits = np.flatnonzero(ok)
    if not len(hits):
        return rank
    key = qrow[hits] * (int(owner.max()) + 1) + owner[hits]
    _, first = np.unique(key, return_index=True)
    first = hits[np.sort(first)]  # each (query, image) once, in hit order
    starts = np.searchsorted(qrow[first], qrow[first], side="left")
    rank[first] = np.arange(len(first)) - starts
    return rank


def _detail_task(args: tuple[str, int]) -> np.ndarray | None:
    from PIL import Image

    from labelclean.io.imageio import UnreadableImage, open_image, to_rgb
    from labelclean.io.locations import read_image_bytes

    path, side = args
    try:
        img, _ = open_image(read_image_bytes(path), draft_size=(2 * side, 2 * side),
                            draft_mode="L")
    except (OSError, UnreadableImage):
        return None
    grey = img if img.mode == "L" else to_rgb(img).convert("L")
    return np.asarray(grey.resize((side, side), Image.Resampling.BOX))


class DetailImages:
    """Second-look greyscale images, decoded on demand (in worker processes) and cached.

    ``paths[row]`` is the file of each row; a file that no longer decodes gives a flat
    image (which confirms nothing)."""

    def __init__(self, paths: list[str | Path], side: int = DETAIL_SIDE,
                 workers: int | None = None) -> None:
        self.paths, self.side, self.workers = [str(p) for p in paths], side, workers
        self.cache: dict[int, np.ndarray] = {}

    def load(self, rows: np.ndarray) -> None:
        """Decode (in worker processes) the images of ``rows`` not cached yet, into the
        cache."""
        from labelclean.backends.local import pool_map

        todo = [int(r) for r in np.unique(np.asarray(rows, np.int64))
                if int(r) not in self.cache]
        tasks = [(self.paths[r], self.side) for r in todo]
        for r, img in zip(todo, pool_map(_detail_task, tasks, self.workers)):
            self.cache[r] = img if img is not None else np.zeros((self.side,) * 2, np.uint8)

    def get(self, rows: np.ndarray) -> np.ndarray:
        """The images of ``rows`` (M,): (M, side, side) uint8."""
        rows = np.asarray(rows, np.int64)
        self.load(rows)
        if not len(rows):
            return np.zeros((0, self.side, self.side), np.uint8)
        return np.stack([self.cache[int(r)] for r in rows])


def _pose(first, second, hints, t, flipped):
    """(original, copy) of the pairs ``hints.transform == t`` seen one way round: a's window
    vs transformed b, or (flipped) b's window vs a transformed back."""
    name = hints.names[t]
    if flipped:
        return second, align.TRANSFORMS[align.INVERSE[name]](first)
    return first, align.TRANSFORMS[name](second)


def _best_both_ways(first: np.ndarray, second: np.ndarray, hints: Hints
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Align and compare both ways round: ``(correlation, score, window, flipped)`` of the
    better, ``ways`` (2, M, 4) the window found each way round (not flipped, flipped) and
    ``screened`` (2, M) bool whether that way passed :data:`SCREEN`; ``first[m]`` and
    ``second[m]`` are the images of ``hints.a[m]`` and ``hints.b[m]``; score = correlation
    + detail correlation."""
    m = len(hints)
    best = (np.full(m, -2.0, np.float32), np.full(m, -4.0, np.float32),
            hints.window.copy(), np.zeros(m, bool))
    ways = np.stack([hints.window, np.tile(_IDENTITY, (m, 1))]).astype(np.float32)
    screened = np.zeros((2, m), bool)
    for t in np.unique(hints.transform):
        rows = np.flatnonzero(hints.transform == t)
        for flipped in (False, True):
            orig, copy = _pose(first[rows], second[rows], hints, t, flipped)
            window = align.align(orig, copy, ways[int(flipped), rows])
            ways[int(flipped), rows] = window
            corr, detail, _ = align.compare(orig, copy, window)
            screened[int(flipped), rows] = (corr >= SCREEN[0]) & (corr + detail >= SCREEN[1])
            better = corr + detail > best[1][rows]
            idx = rows[better]
            best[0][idx], best[1][idx] = corr[better], (corr + detail)[better]
            best[2][idx], best[3][idx] = window[better], flipped
    return (*best, ways, screened)


def _roughly_alike(first: np.ndarray, second: np.ndarray, hints: Hints) -> np.ndarray:
    """(M,) bool: the pair correlates at least :data:`ROUGH` at its hint, one way round or
    the other (whole images), before any window search (which costs far more). A pair that
    does not is tried again at the hint moved by :data:`HINT_MOVES` on each axis: the hint
    is only as close as the candidate search's windows (5 % steps), and a fine texture
    (bricks, a star field) a few per cent off correlates neither pixel by pixel nor once
    smoothed (its light is even)."""
    alike = np.zeros(len(hints), bool)
    for dy, dx in product(HINT_MOVES, repeat=2):  # the hint itself first
        todo = np.flatnonzero(~alike)
        move = np.array([dy, dy, dx, dx], np.float32)
        for t in np.unique(hints.transform[todo]):
            rows = todo[hints.transform[todo] == t]
            for flipped in (False, True):
                orig, copy = _pose(first[rows], second[rows], hints, t, flipped)
                hint = np.tile(_IDENTITY, (len(rows), 1)) if flipped else hints.window[rows]
                alike[rows] |= align.rough_correlation(orig, copy, hint + move) >= ROUGH
    return alike


def _second_look(first, second, hints, ways, screened, flipped):
    """``(correlation, score, window, bordered, outline, good)`` on the second-look images
    (outline: see :func:`~labelclean.dedupe.align.compare`; good: :func:`_decide`), each way
    round refining the first look's window of that way (``ways`` (2, M, 4)): first the way
    the first look found better (``flipped`` (M,)), then, for pairs it did not confirm, the
    other way if it passed the first look's screen too (``screened`` (2, M)). The first look
    may pick the wrong way round for a smooth picture (a crop asked to cover its photo:
    edges repeated), and its 32 px cannot tell. A plausible way round is preferred (see
    :func:`_decide`); the score of an implausible one is -4. A way whose window can no
    longer end plausible (:func:`~labelclean.dedupe.borders.give_up`) stops being searched
    and is left out: it could not be confirmed, nor win over a plausible way.
    """
    m = len(hints)
    corr = np.full(m, -2.0, np.float32)
    score = np.full(m, -4.0, np.float32)
    key = np.full(m, -np.inf, np.float32)
    window = ways[0].copy()
    border = np.zeros(m, bool)
    outline = np.full(m, -2.0, np.float32)
    good = np.zeros(m, bool)
    for second_pass in (False, True):
        way_of = flipped ^ second_pass
        todo = screened[way_of.astype(int), np.arange(m)] & ~good
        for t in np.unique(hints.transform):
            for way in (False, True):
                rows = np.flatnonzero(todo & (hints.transform == t) & (way_of == way))
                if not len(rows):
                    continue
                orig, copy = _pose(first[rows], second[rows], hints, t, way)
                fine, lost = align.align(orig, copy, ways[int(way), rows], rounds=2,
                                         sub_steps=True, give_up=give_up(copy))
                rows, orig, copy, fine = rows[~lost], orig[~lost], copy[~lost], fine[~lost]
                if not len(rows):
                    continue
                c, d, o = align.compare(orig, copy, fine)
                bd = bordered(copy, fine) & (overreach(fine) > 1e-3)
                k = np.where(plausible(copy, fine), c + d, -4.0 + c + d)
                better = k > key[rows]
                idx = rows[better]
                corr[idx], window[idx], key[idx] = c[better], fine[better], k[better]
                score[idx] = np.where(k[better] > -2.0, (c + d)[better], -4.0)
                border[idx], outline[idx] = bd[better], o[better]
        good = _decide(corr, score, outline, window, border, hints.transform)
    return corr, score, window, border, outline, good


def _decide(corr, score, outline, window, border, transform) -> np.ndarray:
    """(M,) bool: confirmed, from the second look's (M,) correlation, score, outline, (M, 4)
    window, border and transform.

    At the whole-image window the thumbnail check has already judged the shapes: what is
    left for this one is a brightness curve, so it asks for a closer outline: of the
    pixels, or of the smoothed pictures (a texture's grain changes with each re-encoding,
    its shapes do not; two handwritten 3s differ in their shapes).
    """
    moved = translated(window, border)
    whole = (np.abs(window - _IDENTITY).max(axis=1) <= 0.03) & (transform == 0) & ~moved
    close = np.maximum(corr, outline) >= MIN_WHOLE_CORRELATION
    return (corr >= MIN_PHOTO_CORRELATION) & (score >= MIN_PHOTO_SCORE) & (close | ~whole)


def translated(window: np.ndarray, border: np.ndarray) -> np.ndarray:
    """(M,) bool: the (M, 4) windows are the image moved, not cropped: the size of the
    image on both axes to within :data:`TRANSLATION` (one finest step of the search), off
    the whole image by more than half that (closer, the sub-step search cannot tell a move
    from its own error, and a flat background would pass for a border), and ``border``
    (M,) says a flat strip of the copy matches what the window takes from past the edge (a
    shifted copy's black border)."""
    size = np.abs(window[:, [1, 3]] - window[:, [0, 2]] - 1)
    off = np.abs(window - _IDENTITY).max(axis=1) > TRANSLATION / 2
    return (size < TRANSLATION).all(axis=1) & off & np.asarray(border, bool)


def verify_photo_pairs(thumbs: np.ndarray, hints: Hints,
                       detail: DetailImages | Callable | None = None,
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Which ``hints`` are copies: ``(confirmed (M,) bool, score (M,) in [0, 1])``.

    ``thumbs`` (N, 32, 32); ``detail`` gives the second-look images of rows (without it the
    thumbnails decide, at the second look's thresholds). The score is the confirmed
    correlation (higher is more alike). For a cross-set search, ``thumbs`` may be a pair
    ``(thumbs of a's set, thumbs of b's set)`` and ``detail`` a pair of loaders.
    """
    m = len(hints)
    if not m:
        return np.zeros(0, bool), np.zeros(0, np.float32)
    ta, tb = thumbs if isinstance(thumbs, tuple) else (thumbs, thumbs)
    ok = np.zeros(m, bool)
    out = np.zeros(m, np.float32)
    live = align.structured_pairs(align.spread(ta[hints.a]), align.spread(tb[hints.b]))
    live[live] = _roughly_alike(ta[hints.a[live]], tb[hints.b[live]], hints.subset(live))
    corr = np.full(m, -2.0, np.float32)
    score = np.full(m, -4.0, np.float32)
    window = hints.window.copy()
    flipped = np.zeros(m, bool)
    ways = np.stack([hints.window, np.tile(_IDENTITY, (m, 1))]).astype(np.float32)
    screened = np.zeros((2, m), bool)
    idx = np.flatnonzero(live)
    corr[idx], score[idx], window[idx], flipped[idx], ways[:, idx], screened[:, idx] = \
        _best_both_ways(ta[hints.a[idx]], tb[hints.b[idx]], hints.subset(idx))
    live &= (corr >= SCREEN[0]) & (score >= SCREEN[1])
    rows = np.flatnonzero(live)
    if not len(rows):
        return ok, out
    sub = hints.subset(rows)
    if detail is None:
        corr2 = corr[rows]
        good = _decide(corr2, score[rows], corr2, window[rows], np.zeros(len(rows), bool),
                       sub.transform)
    else:
        da, db = detail if isinstance(detail, tuple) else (detail, detail)
        corr2, _, _, _, _, good = _second_look(da.get(sub.a), db.get(sub.b), sub,
                                               ways[:, rows], screened[:, rows], flipped[rows])
    ok[rows] = good
    out[rows] = np.clip(corr2, 0, 1)
    return ok, out
