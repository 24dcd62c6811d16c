"""The scan stage's options (one declaration: CLI flags, project-file keys, defaults)."""

from __future__ import annotations

from dataclasses import dataclass

from labelclean.backends.options import BackendOptions
from labelclean.config.options import BOOL, INT, NAMES, NUMBER, PATH, option

#: Flag an image-quality check when its score (in [0, 1], lower is worse) is below this;
#: what each score measures: :mod:`labelclean.scan.quality`.
QUALITY_THRESHOLDS = {"dark": 0.5, "light": 0.5, "blurry": 0.5, "low_information": 0.5,
                      "grayscale": 0.25, "odd_aspect_ratio": 0.5, "odd_size": 0.5}
_SAYS = {"dark": "too dark", "light": "overexposed", "blurry": "blurred",
         "low_information": "nearly blank", "grayscale": "grey in a colour dataset",
         "odd_aspect_ratio": "of an odd shape for the dataset",
         "odd_size": "of an odd size for the dataset"}


def _threshold(check: str) -> float:
    default = QUALITY_THRESHOLDS[check]
    return option(default, NUMBER, f"Flag an image as {_SAYS[check]} when its {check}_score "
                                   f"is below this (0 turns the check off; default "
                                   f"{default:g}).", low=0, high=1)


@dataclass(frozen=True)
class ScanOptions(BackendOptions):
    """``[scan]``: which perceptual hashes the single decode computes, how many processes
    decode (and where: ``backend``), the thresholds of the image-quality checks
    (``<check>_threshold``), and an optional Parquet ``listing`` of the images."""

    hash: tuple[str, ...] = option(
        ("phash",), NAMES, "Perceptual hashes to compute, comma-separated (phash, dhash, "
                           "ahash, whash); default phash.")
    workers: int | None = option(None, INT, "Processes (default: all cores; with --backend "
                                            "ray, the most Ray tasks at once).", low=1)
    listing: str | None = option(
        None, PATH, "Parquet file whose 'path' column lists the images (relative to the "
                    "images folder), read instead of walking the folder (millions of files).")
    quality: bool = option(True, BOOL, "Check image quality (dark, light, blurry, ...) in the "
                                       "same decode, into quality.csv; --no-quality skips "
                                       "it for a faster scan.", flag="--quality/--no-quality")
    dark_threshold: float = _threshold("dark")
    light_threshold: float = _threshold("light")
    blurry_threshold: float = _threshold("blurry")
    low_information_threshold: float = _threshold("low_information")
    grayscale_threshold: float = _threshold("grayscale")
    odd_aspect_ratio_threshold: float = _threshold("odd_aspect_ratio")
    odd_size_threshold: float = _threshold("odd_size")

    def thresholds(self) -> dict[str, float]:
        """check -> threshold, for :func:`labelclean.scan.quality.flags`."""
        return {check: getattr(self, f"{check}_threshold") for check in QUALITY_THRESHOLDS}
