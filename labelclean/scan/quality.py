"""Image-quality checks, measured in the scan's single decode.

Each check gives a score in [0, 1], **lower is worse** (as CleanVision's), and flags an
image whose score is below the check's threshold (:data:`DEFAULT_THRESHOLDS`, each settable
as ``[scan] <check>_threshold``):

==================  =========================================================================
check               score (default threshold)
==================  =========================================================================
dark                the 99th percentile of the luma over 184: flagged below 0.5, when even
                    the brightest part of the image stays under 92 of 255
light               ``1 - share of clipped luma (>= 250) / 0.08``: flagged below 0.5, when
                    more than 4% of the image is blown out to white
blurry              the blur ratio (below) mapped by ``(ratio - 0.5) / 0.25``: flagged below
                    0.5, a ratio under 0.625
low_information     the larger of the relative luma range ``(p98 - p02) / (p98 + 16)`` over
                    0.7 (clipped pixels left out) and the Cb/Cr 2nd-98th percentile range
                    over 32 levels: flagged below 0.5, nearly blank in brightness and colour
grayscale           the share of pixels more than 6 levels of Cb or Cr off grey, over 0.04:
                    flagged below 0.25 (under 1% coloured), in a colour dataset only (fewer
                    than half of the images grey), and not for a dark or nearly blank image
odd_aspect_ratio    ``exp(-|ln(aspect / median aspect)|)``: flagged below 0.5, twice as wide
                    or as tall as the dataset's median shape
odd_size            ``exp(-|ln(sqrt(w h) / median sqrt(w h))|)``: flagged below 0.5, half or
                    twice the dataset's median side
==================  =========================================================================

The blur ratio is the RMS luma gradient at the working resolution over the RMS gradient
of the same image halved (2x2 means): about 1 for sharp edges, about 0.5 for a blurred
image whose edges are smooth ramps; NaN (not judged) when the image is too small or flat.

:func:`measure` takes the decoded (JPEG draft-mode) image and returns the raw figures, a
few floats; :func:`quality_table` turns all rows' figures into the scores and flags at once,
after the per-image pass, since the odd shape and size are relative to the whole dataset.

The working resolution: JPEGs are decoded (JPEG draft mode, in YCbCr) at the smallest DCT
scale that keeps :data:`QUALITY_SIDE` pixels on the short side, other formats reduced by
box means to the same scale, so an image is judged at 96 to 192 pixels on its short side
whatever its size; the DCT-scaled decode also leaves JPEG's 8x8 block noise out. The
perceptual hashes and thumbnails are taken from the luma reduced to the scale the scan
always hashed at (:func:`working_images`).
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Mapping
from itertools import accumulate

import numpy as np
import pandas as pd
from PIL import Image

from labelclean.io.qualityfile import QUALITY_ISSUES
from labelclean.scan.options import QUALITY_THRESHOLDS

#: Every issue ``quality.csv`` may list: the image checks, then ``outlier`` (from embeddings).
ISSUES = QUALITY_ISSUES
#: The image-quality checks, in the order ``quality.csv`` lists them.
CHECKS = tuple(name for name in ISSUES if name != "outlier")
#: Flag a check when its score is below this (lower is worse); ``[scan] <check>_threshold``.
DEFAULT_THRESHOLDS = QUALITY_THRESHOLDS
#: JPEGs are decoded at the smallest DCT scale keeping this many pixels on the short side.
QUALITY_SIDE = 96
#: The raw figures :func:`measure` returns, in order (luma and chroma levels of 0..255):
#: the 99th luma percentile, the share of clipped luma (>= 250), the 2nd-98th percentile
#: range of the unclipped luma (relative), the share of coloured pixels, the larger
#: 2nd-98th percentile range of Cb and Cr (levels), and the blur ratio.
MEASURES = ("p99", "clipped", "spread", "chroma", "chroma_range", "blur_ratio")
#: Images whose luma varies this little (RMS step, levels) have no edges to judge blur by.
_FLAT_GRADIENT = 1.0
#: Chroma (Cb or Cr) this many levels or fewer from 128 counts as grey (JPEG noise).
_GREY = 6
#: The histograms are taken from every other pixel when that keeps this many a side.
_SAMPLE_SIDE = 64


def measure(fine: Image.Image, luma: Image.Image | None = None,
            coarse: Image.Image | None = None) -> tuple[float, ...]:
    """The raw figures of :data:`MEASURES` for one decoded image.

    ``fine`` is the image at the working resolution (any PIL mode; YCbCr or L from a JPEG
    draft decode), ``luma`` its luma (L, made when not given) and ``coarse`` that halved
    (``reduce(2)``, made when not given). The luma and chroma histograms come from
    ``fine`` (every other pixel of it, :func:`_sample`) and the blur ratio from ``luma``
    and ``coarse``. ``blur_ratio`` is NaN for an
    image too small or too flat to judge.
    """
    fine = as_ycbcr(fine)
    if luma is None:
        luma = fine.getchannel(0) if fine.mode == "YCbCr" else fine
    if coarse is None:
        coarse = luma.reduce(2) if min(luma.size) >= 16 else luma
    hist = _sample(fine).histogram()  # Y, then Cb and Cr for a YCbCr image
    cum = list(accumulate(hist[:256]))
    n = max(cum[-1], 1)
    p99 = bisect_left(cum, 0.99 * n)
    unclipped = cum[249]
    spread = float("nan")  # mostly clipped: the light check's finding, not this one's
    if unclipped > 0.05 * n:
        low, high = bisect_left(cum, 0.02 * unclipped), bisect_left(cum, 0.98 * unclipped)
        spread = (high - low) / (high + 16.0)
    chroma, chroma_range = 0.0, 0
    if len(hist) >= 768:  # the share of pixels more than _GREY levels off grey, Cb + Cr
        low, high = 128 - _GREY, 129 + _GREY
        far = sum(hist[256:256 + low]) + sum(hist[256 + high:512]) + sum(
            hist[512:512 + low]) + sum(hist[512 + high:768])
        chroma = min(1.0, far / n)
        chroma_range = max(_range(hist[256:512], n), _range(hist[512:768], n))
    blur = (blur_ratio(_pixels(luma), _pixels(coarse)) if coarse is not luma
            else float("nan"))
    return float(p99), 1.0 - unclipped / n, spread, chroma, float(chroma_range), blur


def _sample(img: Image.Image) -> Image.Image:
    """``img``, or every other pixel of every other row of it when that still leaves
    :data:`_SAMPLE_SIDE` pixels a side: the histograms' figures are shares and percentiles,
    which a quarter of the pixels give as well, for a quarter of the work."""
    if min(img.size) < 2 * _SAMPLE_SIDE:
        return img
    return img.resize((img.width // 2, img.height // 2), Image.Resampling.NEAREST)


def _range(channel_hist: list[int], n: int) -> int:
    """The 2nd-98th percentile range of one channel's histogram (levels)."""
    cum = list(accumulate(channel_hist))
    return bisect_left(cum, 0.98 * n) - bisect_left(cum, 0.02 * n)


def as_ycbcr(img: Image.Image) -> Image.Image:
    """``img`` as YCbCr (an L image stays L: its chroma is grey by definition)."""
    if img.mode in ("YCbCr", "L"):
        return img
    from labelclean.io.imageio import to_rgb

    return to_rgb(img).convert("YCbCr")


def _gradient(a: np.ndarray) -> float:
    """Root-mean-square luma difference of neighbouring pixels of ``a`` (H, W)."""
    h, w = a.shape
    x = a.astype(np.float32).ravel()
    d = x[1:] - x[:-1]  # the horizontal steps, and one across each row's end (taken out)
    ends = d[w - 1::w]
    sx = float(np.dot(d, d)) - float(np.dot(ends, ends))
    d = x[w:] - x[:-w]
    return math.sqrt(sx / (h * (w - 1)) + float(np.dot(d, d)) / ((h - 1) * w))


def _pixels(img: Image.Image) -> np.ndarray:
    """An L image's pixels, (H, W) uint8 (read-only)."""
    return np.frombuffer(img.tobytes(), dtype=np.uint8).reshape(img.height, img.width)


def blur_ratio(fine: np.ndarray, coarse: np.ndarray) -> float:
    """RMS luma gradient of ``fine`` (H, W) over that of ``coarse`` (``fine`` halved by
    2x2 means).

    About 1 for sharp edges, about 0.5 for smooth ramps (a blurred image); NaN when
    ``coarse`` is smaller than 8 pixels a side or has (almost) no gradient.
    """
    if min(coarse.shape) < 8:
        return float("nan")
    low = _gradient(coarse)
    return float("nan") if low < _FLAT_GRADIENT else _gradient(fine) / low


def draft_scale(size: tuple[int, int], side: int) -> int:
    """The DCT scale (8, 4, 2 or 1) PIL's JPEG draft mode picks to keep ``side`` pixels a
    side of an image of ``size``."""
    scale = min(size[0] // side, size[1] // side)
    return next((s for s in (8, 4, 2) if scale >= s), 1)


def working_images(img: Image.Image, size: tuple[int, int], hash_side: int
                   ) -> tuple[Image.Image, Image.Image, Image.Image]:
    """(the image at the working resolution as YCbCr or L, its luma, the image the hashes
    are taken from).

    ``img`` is the decode of a file of ``size`` (w, h): for a JPEG, draft-decoded at about
    :data:`QUALITY_SIDE` (a smaller image than ``size``); for other formats, at full size.
    The hash image is what a draft decode at ``hash_side`` gave (a JPEG's luma reduced by
    box means to that scale, or the full image), so the hashes do not depend on the
    working resolution.
    """
    if img.size != size and img.size != size[::-1]:  # a JPEG draft decode
        fine = as_ycbcr(img)
        luma = fine.getchannel(0) if fine.mode == "YCbCr" else fine
        factor = draft_scale(size, hash_side) // draft_scale(size, QUALITY_SIDE)
        return fine, luma, luma.reduce(factor) if factor > 1 else luma
    fine = as_ycbcr(img)
    scale = draft_scale(fine.size, QUALITY_SIDE)
    fine = fine.reduce(scale) if scale > 1 else fine
    return fine, fine.getchannel(0) if fine.mode == "YCbCr" else fine, img


# -- scores over the whole dataset ---------------------------------------------------------------

def _unit(x: np.ndarray) -> np.ndarray:
    return np.clip(np.nan_to_num(x, nan=1.0), 0.0, 1.0)


def image_scores(raw: pd.DataFrame) -> pd.DataFrame:
    """Per-image scores (``<check>_score``, lower is worse) from :data:`MEASURES` columns."""
    r = {m: raw[m].to_numpy(dtype=np.float64) for m in MEASURES}
    blur = np.where(np.isnan(r["blur_ratio"]), 1.0, (r["blur_ratio"] - 0.5) / 0.25)
    return pd.DataFrame({
        "dark_score": _unit(r["p99"] / 184.0),
        "light_score": _unit(1.0 - r["clipped"] / 0.08),
        "blurry_score": _unit(blur),
        "low_information_score": _unit(np.where(np.isnan(r["spread"]), 1.0, np.fmax(
            r["spread"] / 0.7, r["chroma_range"] / 32.0))),
        "grayscale_score": _unit(r["chroma"] / 0.04),
    }, index=raw.index)


def shape_scores(width: np.ndarray, height: np.ndarray) -> pd.DataFrame:
    """``odd_aspect_ratio_score`` and ``odd_size_score`` of images (N,) against the median
    of those given (NaN sizes score 1)."""
    w = np.asarray(width, dtype=np.float64)
    h = np.asarray(height, dtype=np.float64)
    ok = (w > 0) & (h > 0)
    aspect = np.log(np.where(ok, w, 1.0) / np.where(ok, h, 1.0))
    size = 0.5 * np.log(np.where(ok, w * h, 1.0))
    out = {}
    for name, x in (("odd_aspect_ratio_score", aspect), ("odd_size_score", size)):
        centre = np.median(x[ok]) if ok.any() else 0.0
        out[name] = np.where(ok, np.exp(-np.abs(x - centre)), 1.0)
    return pd.DataFrame(out)


def flags(scores: pd.DataFrame, thresholds: Mapping[str, float],
          colour_dataset: bool = True) -> pd.DataFrame:
    """(N, checks) bool: each check's score below its threshold (``grayscale`` only in a
    colour dataset)."""
    out = {}
    for check in CHECKS:
        col = f"{check}_score"
        if col in scores:
            out[check] = scores[col].to_numpy() < thresholds.get(
                check, DEFAULT_THRESHOLDS[check])
    if "grayscale" in out:  # not judged on a dark or nearly blank image, nor in a grey set
        out["grayscale"] &= colour_dataset & ~out.get("dark", False) & ~out.get(
            "low_information", False)
    return pd.DataFrame(out, index=scores.index)


def issues_text(flagged: pd.DataFrame) -> np.ndarray:
    """(N,) object: the flagged issue names of each row, ``;``-separated in
    :data:`ISSUES` order (``""`` when none)."""
    names = [c for c in ISSUES if c in flagged]
    joined = pd.Series("", index=flagged.index, dtype=object)
    for name in names:
        hit = flagged[name].to_numpy(bool)
        sep = np.where((joined != "") & hit, ";", "")
        joined = joined + sep + np.where(hit, name, "")
    return joined.to_numpy(dtype=object)


def quality_table(index: pd.DataFrame, raw: pd.DataFrame,
                  thresholds: Mapping[str, float] | None = None) -> pd.DataFrame:
    """``quality.csv``'s table (:data:`~labelclean.io.qualityfile.QUALITY_COLUMNS`).

    ``index`` (N rows: ``image_id``, ``readable``, ``width``, ``height``) and ``raw`` (N
    rows of :data:`MEASURES`, NaN for unreadable files) in the same order. Unreadable files
    get empty scores and no issues; ``outlier_score`` is left empty (the noise stage fills
    it).
    """
    thresholds = {**DEFAULT_THRESHOLDS, **(thresholds or {})}
    readable = index["readable"].to_numpy(bool)
    scores = image_scores(raw.reset_index(drop=True))
    shapes = shape_scores(np.where(readable, index["width"].to_numpy(float, na_value=0), 0),
                          np.where(readable, index["height"].to_numpy(float, na_value=0), 0))
    scores = pd.concat([scores, shapes], axis=1)
    table = pd.DataFrame({"image_id": index["image_id"].astype(str).to_numpy()})
    for check in CHECKS:
        table[f"{check}_score"] = np.where(readable, scores[f"{check}_score"], np.nan)
    table["outlier_score"] = np.nan
    table["issues"] = reflag(table, thresholds)
    return table


def reflag(table: pd.DataFrame, thresholds: Mapping[str, float],
           outlier: np.ndarray | None = None) -> np.ndarray:
    """(N,) ``issues`` of a ``quality.csv`` table from its scores at ``thresholds``, plus
    ``outlier`` where given ((N,) bool; else kept from the table's ``issues``).

    ``grayscale`` is flagged only in a colour dataset: fewer than half of the scored images
    grey.
    """
    thresholds = {**DEFAULT_THRESHOLDS, **thresholds}
    scores = table[[f"{c}_score" for c in CHECKS]]
    grey = scores["grayscale_score"].dropna()
    colour = bool(len(grey)) and (grey < thresholds["grayscale"]).mean() < 0.5
    flagged = flags(scores.fillna(1.0), thresholds, colour_dataset=colour)
    if outlier is None and "issues" in table:
        outlier = table["issues"].fillna("").astype(str).str.split(";").map(
            lambda names: "outlier" in names).to_numpy(bool)
    flagged["outlier"] = np.zeros(len(table), bool) if outlier is None else outlier
    return issues_text(flagged)


def issue_counts(table: pd.DataFrame) -> dict[str, int]:
    """Images per issue of a ``quality.csv`` table, every issue of :data:`ISSUES` listed."""
    names = table["issues"].fillna("").astype(str).str.split(";").explode()
    counts = names[names != ""].value_counts()
    return {name: int(counts.get(name, 0)) for name in ISSUES}


def with_outliers(table: pd.DataFrame, score: np.ndarray, flagged: np.ndarray
                  ) -> pd.DataFrame:
    """A copy of a ``quality.csv`` table with ``outlier_score`` set to ``score`` (N,) and
    ``outlier`` in ``issues`` exactly where ``flagged`` (N,) is true."""
    out = table.copy()
    out["outlier_score"] = np.asarray(score, dtype=float)
    names = out["issues"].fillna("").astype(str).str.split(";").map(
        lambda n: [x for x in n if x and x != "outlier"])
    hit = np.asarray(flagged, dtype=bool)
    out["issues"] = [";".join(n + (["outlier"] if h else [])) for n, h in zip(names, hit)]
    return out
