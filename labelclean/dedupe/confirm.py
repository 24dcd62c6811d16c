"""Verifying the dedupe stage's candidate pairs and grouping the confirmed ones.

A candidate frame has one row per pair: ``i < j`` (rows of the index), ``method``,
``score``, and the verification hints of :class:`~labelclean.dedupe.photo.Hints` (``a``,
``b``, window ``w0..w3``, transform ``t``) and its ``source`` (``plain``: hash or thumbnail
neighbours; ``window``/``spectrum``: the photo searches).
"""

from __future__ import annotations

from contextlib import nullcontext

import numpy as np
import pandas as pd

from labelclean.dedupe.align import spread, structured_pairs, transform_names
from labelclean.dedupe.checkpool import PhotoChecks
from labelclean.dedupe.neighbors import Pairs
from labelclean.dedupe.options import DedupeOptions
from labelclean.dedupe.photo import DetailImages, Hints, window_candidates
from labelclean.dedupe.stars import Stars, star_groups
from labelclean.dedupe.verify import verify_pairs
from labelclean.progress import ProgressFn, report


def pair_frame(pairs: Pairs, method: str) -> pd.DataFrame:
    return pd.DataFrame({"i": pairs.i, "j": pairs.j, "method": method,
                         "score": pairs.score.astype(np.float64)})


def as_pairs(frame: pd.DataFrame) -> Pairs:
    return Pairs(frame["i"].to_numpy(np.int64), frame["j"].to_numpy(np.int64),
                 frame["score"].to_numpy(np.float32))


def with_plain_hints(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with hint columns (a = i, b = j, the whole window, no transform)."""
    return frame.assign(a=frame["i"].to_numpy(np.int64), b=frame["j"].to_numpy(np.int64),
                        w0=0.0, w1=1.0, w2=0.0, w3=1.0, t=0)


def window_frame(thumbs: np.ndarray, reps: np.ndarray, opts: DedupeOptions) -> pd.DataFrame:
    """Window candidates (a crop finds its photo) as a frame with their hints."""
    return hints_frame(window_candidates(thumbs, reps,
                                         transform_names(opts.flips, opts.rotations), opts.k))


def hints_frame(hints, a: np.ndarray | None = None) -> pd.DataFrame:
    """The window search's ``hints`` as candidate rows (``i < j``, ``a`` the image whose
    window is hinted: ``hints.a``, or the rows given in its place, ``b``, the window
    ``w0..w3``, the transform ``t``, ``source`` "window")."""
    a = hints.a if a is None else a
    b = hints.b
    frame = pd.DataFrame({"i": np.minimum(a, b), "j": np.maximum(a, b), "method": "thumbnail",
                          "score": 0.0, "a": a, "b": b})
    for k in range(4):
        frame[f"w{k}"] = hints.window[:, k].astype(np.float64)
    frame["t"] = hints.transform
    frame["source"] = "window"
    return frame


def confirm(thumbs: np.ndarray, candidates: pd.DataFrame, opts: DedupeOptions,
            detail: DetailImages | None = None, progress: ProgressFn | None = None,
            checks: PhotoChecks | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Verify candidate pairs (a frame with ``i, j, score`` and hint columns ``a, b, w0..w3,
    t``): ``(confirmed (M,) bool, score (M,), likeness (M,))``. ``likeness`` ranks
    confirmed pairs on one scale, the correlation that confirmed them (higher is more
    alike): the thumbnail check's, or the photo check's for the pairs only it confirmed.
    The candidates' scores are on several (a hash's similarity, a cosine of smaller
    thumbnails). A pair passes the thumbnail check of
    :func:`verify_pairs` (as it is, or both flat), or the photo check of
    :func:`~labelclean.dedupe.photo.verify_photo_pairs`; images with some but too little
    structure (a sky, a wall) are never near copies. ``progress`` hears of each chunk of
    photo checks done (stage ``verify``); ``checks`` runs them (a pool of its own when not
    given)."""
    i, j = candidates["i"].to_numpy(np.int64), candidates["j"].to_numpy(np.int64)
    plain = (candidates["source"] == "plain").to_numpy() if "source" in candidates else \
        np.ones(len(i), bool)
    ok = np.zeros(len(i), bool)
    likeness = np.full(len(i), -np.inf)
    ok[plain], likeness[plain] = verify_pairs(thumbs, as_pairs(candidates[plain]),
                                min_correlation=opts.min_correlation,
                                max_difference=opts.max_difference, max_shift=opts.max_shift)
    std = np.zeros(len(thumbs), np.float32)
    used = np.unique(np.concatenate([i, j]))
    std[used] = spread(thumbs[used])
    flat = std < 1.0
    rich = structured_pairs(std[i], std[j])
    ok &= rich | (flat[i] & flat[j])
    score = candidates["score"].to_numpy(np.float64).copy()
    rest = np.flatnonzero(~ok & rich)
    whole = ok.copy()
    with PhotoChecks(thumbs, detail) if checks is None else nullcontext(checks) as checks:
        ok, score = _photo_checked(ok, score, rest, candidates, opts, checks, progress)
    by_photo = ok & ~whole
    likeness[by_photo] = score[by_photo]
    return ok, score, likeness


def _photo_checked(ok, score, rest, candidates, opts, checks, progress):
    """``(ok, score)`` with the photo check's verdicts on the rows ``rest`` filled in."""
    parts = checks.chunks(rest)
    hints = [photo_hints(candidates.iloc[part], opts) for part in parts]
    for done, (part, (good, value)) in enumerate(zip(parts, checks.run(hints)), start=1):
        ok[part[good]] = True
        score[part[good]] = value[good]
        report(progress, done, len(parts), "verify")
    return ok, score


def photo_hints(frame: pd.DataFrame, opts: DedupeOptions) -> Hints:
    return Hints(frame["a"].to_numpy(np.int64), frame["b"].to_numpy(np.int64),
                 frame[["w0", "w1", "w2", "w3"]].to_numpy(np.float32),
                 frame["t"].to_numpy(np.int64), transform_names(opts.flips, opts.rotations))


def star_groups_of(index, confirmed, thumbs, opts, detail, checks=None) -> Stars:
    """Star groups of the confirmed pairs; extra pairs inside a group are verified here
    (by ``checks``, when given)."""
    area = (index["width"].fillna(0).astype(np.int64) * index["height"].fillna(0)
            .astype(np.int64)).to_numpy()
    nbytes = index["bytes"].fillna(0).astype(np.int64).to_numpy()
    n = len(index)
    priority = np.empty(n, np.int64)
    priority[np.lexsort((np.arange(n), -nbytes, -area))] = np.arange(n)

    def check(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        frame = pair_frame(Pairs(a, b, np.zeros(len(a), np.float32)), "thumbnail")
        frame = with_plain_hints(frame)
        if not opts.verify:
            return np.ones(len(a), bool)
        return confirm(thumbs, frame, opts, detail, checks=checks)[0]

    twin = confirmed["method"].isin(["exact", "pixels"]).to_numpy()
    alike = confirmed["score"].to_numpy(np.float64)
    if "likeness" in confirmed:  # verified pairs: their likeness (twins: their score, 1)
        alike = confirmed["likeness"].fillna(confirmed["score"]).to_numpy(np.float64)
    return star_groups(n, confirmed["i"].to_numpy(np.int64), confirmed["j"].to_numpy(np.int64),
                       alike, priority, twin, check)
