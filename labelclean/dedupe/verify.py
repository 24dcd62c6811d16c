"""Verifying near-duplicate candidates with the scan's small greyscale thumbnails.

Cheap signals (a perceptual hash, an embedding) propose candidate pairs; a pair is
confirmed only when its thumbnails agree pixel by pixel, allowing for what a re-encoded
copy may have gone through and nothing more:

* brightness and contrast: the correlation is invariant to them, the difference is taken
  after dividing each thumbnail by its mean brightness (a gain change cancels);
* a small shift: the best of all offsets up to ``max_shift`` thumbnail pixels, in half-pixel
  steps (1 thumbnail pixel is about 3 % of the image side);
* resizing and JPEG re-compression: they blur the thumbnails only slightly.

Two different images of the same kind of thing (two handwritten 3s) correlate highly too,
but their shapes, shading and contrast differ by more than a re-encoding changes them.
Two full decodes settle whether a pair holds exactly the same pixels.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from labelclean.dedupe.neighbors import Pairs
from labelclean.dedupe.options import MAX_DIFFERENCE, MAX_SHIFT, MIN_CORRELATION
from labelclean.io.imageio import UnreadableImage, load_rgb

#: How much less correlation is needed per percent point less difference.
CORRELATION_SLACK = 0.02
#: A pair earns that slack in full when both thumbnails' contrast (:func:`contrast`)
#: reaches this many percent of their brightness, and in proportion below: a faint picture
#: (a sky) differs little from any other faint one, so its small difference says little.
FULL_SLACK_CONTRAST = 10.0
_FLAT = 1.0  # a thumbnail with a standard deviation below this (grey levels) is flat
_BATCH = 1024


def _offsets(max_shift: float) -> list[tuple[float, float]]:
    steps = np.arange(-int(2 * max_shift), int(2 * max_shift) + 1) / 2
    return [(float(sy), float(sx)) for sy in steps for sx in steps]


def _shifted(thumbs: np.ndarray, sy: float, sx: float, margin: int) -> np.ndarray:
    """The centre of (M, S, S) ``thumbs`` moved by (sy, sx) pixels (bilinear half steps)."""
    side = thumbs.shape[1]

    def view(dy: int, dx: int) -> np.ndarray:
        return thumbs[:, margin + dy:side - margin + dy, margin + dx:side - margin + dx]

    y0, x0 = int(np.floor(sy)), int(np.floor(sx))
    fy, fx = sy - y0, sx - x0
    out = view(y0, x0)
    if fy:
        out = (1 - fy) * out + fy * view(y0 + 1, x0)
    if fx:
        right = view(y0, x0 + 1)
        if fy:
            right = (1 - fy) * right + fy * view(y0 + 1, x0 + 1)
        out = (1 - fx) * out + fx * right
    return out


def _moments(a: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean, centred L2 norm and flatness of each (M, H, W) image."""
    count = a.shape[1] * a.shape[2]
    mean = a.mean(axis=(1, 2))
    norm = np.sqrt(np.maximum(np.einsum("mij,mij->m", a, a) - count * mean ** 2, 0))
    return mean, norm, norm / np.sqrt(count) < _FLAT


def thumbnail_similarity(a: np.ndarray, b: np.ndarray,
                         max_shift: float = MAX_SHIFT) -> tuple[np.ndarray, np.ndarray]:
    """Compare thumbnails pairwise: ``(correlation, difference)``, best over small shifts.

    Parameters
    ----------
    a, b : (M, S, S) greyscale thumbnails (uint8 or float), compared row by row.
    max_shift : largest offset tried, in thumbnail pixels (half-pixel steps).

    Returns
    -------
    correlation : (M,) float32 in [-1, 1]; 1 = same picture up to brightness and contrast
        (higher is more similar). Two flat thumbnails correlate 1, a flat and a textured 0.
    difference : (M,) float32 >= 0; mean absolute difference, at the best shift, after
        dividing each by its mean brightness, in percent of it (lower is more similar).
        For two flat thumbnails, the difference of their mean brightness in percent of the
        brighter (blank images of different shades are not copies).
    """
    corr = np.empty(len(a), np.float32)
    diff = np.empty(len(a), np.float32)
    for start in range(0, len(a), _BATCH):
        sl = slice(start, start + _BATCH)
        corr[sl], diff[sl] = _compare(np.asarray(a[sl], np.float32),
                                      np.asarray(b[sl], np.float32), max_shift)
    return corr, diff


def _compare(a: np.ndarray, b: np.ndarray, max_shift: float) -> tuple[np.ndarray, np.ndarray]:
    margin = int(np.ceil(max_shift))
    side = a.shape[1]
    centre = a[:, margin:side - margin, margin:side - margin]
    mean_a, norm_a, flat_a = _moments(centre)
    za = (centre - mean_a[:, None, None]) / np.where(flat_a, 1.0, norm_a)[:, None, None]
    best_corr = np.full(len(a), -np.inf, np.float32)
    best_offset = np.zeros(len(a), np.int64)
    offsets = _offsets(max_shift)
    for k, (sy, sx) in enumerate(offsets):
        view = _shifted(b, sy, sx, margin)
        _, norm_b, flat_b = _moments(view)
        corr = np.einsum("mij,mij->m", za, view) / np.where(flat_b, 1.0, norm_b)
        corr = np.where(flat_a | flat_b, (flat_a & flat_b).astype(np.float32), corr)
        better = corr > best_corr
        best_corr[better], best_offset[better] = corr[better], k
    diff = np.empty(len(a), np.float32)
    gain_a = centre / np.maximum(mean_a, 1.0)[:, None, None]
    for k in np.unique(best_offset):
        rows = best_offset == k
        view = _shifted(b[rows], *offsets[k], margin)
        gain_b = view / np.maximum(view.mean(axis=(1, 2)), 1.0)[:, None, None]
        diff[rows] = np.abs(gain_a[rows] - gain_b).mean(axis=(1, 2)) * 100
    # a flat picture has nothing but its brightness: two flat ones differ by their raw
    # means (else every blank image of any shade would be a copy of every other)
    mean_b, _, flat_b = _moments(b[:, margin:side - margin, margin:side - margin])
    both = flat_a & flat_b
    diff[both] = (np.abs(mean_a - mean_b) / np.maximum(np.maximum(mean_a, mean_b), 1.0)
                  * 100)[both]
    return np.clip(best_corr, -1, 1), diff


def verify_pairs(thumbs: np.ndarray, pairs: Pairs, *, min_correlation: float = MIN_CORRELATION,
                 max_difference: float = MAX_DIFFERENCE, max_shift: float = MAX_SHIFT,
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Which candidate ``pairs`` the thumbnails confirm: ``(confirmed mask, correlation)``.

    ``thumbs`` is the (N, S, S) uint8 array of the scan (``thumbs.npy``), indexed by row.
    A pair is confirmed when its difference is at most ``max_difference`` and its
    correlation at least ``min_correlation - CORRELATION_SLACK * (max_difference -
    difference)``: the closer the brightness-normalised pixels, the less the shapes need to
    correlate (JPEG blocking lowers the correlation of true copies, while two different
    images of one kind of thing can correlate highly but differ in their pixels). That
    slack shrinks with the fainter thumbnail's contrast below :data:`FULL_SLACK_CONTRAST`.
    """
    if not len(pairs):
        return np.zeros(0, bool), np.zeros(0, np.float32)
    corr, diff = thumbnail_similarity(thumbs[pairs.i], thumbs[pairs.j], max_shift)
    used = np.unique(np.concatenate([pairs.i, pairs.j]))
    level = np.zeros(len(thumbs), np.float32)  # each thumbnail once, not once per pair
    level[used] = contrast(thumbs[used])
    earned = np.minimum(level[pairs.i], level[pairs.j]) / FULL_SLACK_CONTRAST
    slack = CORRELATION_SLACK * (max_difference - diff) * np.minimum(earned, 1.0)
    return (diff <= max_difference) & (corr >= min_correlation - slack), corr


def contrast(thumbs: np.ndarray) -> np.ndarray:
    """(M,) float32: each (M, S, S) thumbnail's standard deviation in percent of its mean
    brightness, the unit of :func:`thumbnail_similarity`'s difference (0 = flat)."""
    out = np.empty(len(thumbs), np.float32)
    for start in range(0, len(thumbs), _BATCH):  # bounded memory, as the comparison
        t = np.asarray(thumbs[start:start + _BATCH], np.float32).reshape(-1, thumbs[0].size)
        out[start:start + len(t)] = t.std(axis=1) / np.maximum(t.mean(axis=1), 1.0) * 100
    return out


def pixel_digest(path: str | Path) -> str | None:
    """SHA-256 of an image's fully decoded RGB pixels and size (None if unreadable).

    Equal digests mean equal pixels, whatever the file format or encoding.
    """
    try:
        img = load_rgb(path)
    except UnreadableImage:
        return None
    data = np.ascontiguousarray(np.asarray(img, dtype=np.uint8))
    return hashlib.sha256(f"{data.shape}".encode() + data.tobytes()).hexdigest()
