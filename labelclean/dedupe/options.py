"""The dedupe stage's options (one declaration: CLI flags, project-file keys, defaults)."""

from __future__ import annotations

from dataclasses import dataclass

from labelclean.config.options import BOOL, INT, NAMES, NUMBER, PATHS, TEXT, option

#: Candidate sources for near copies; the default is hash + thumbnail, + embedding if present.
METHODS = ("hash", "thumbnail", "embedding", "dbscan")
DEFAULT_METHODS = ("hash", "thumbnail")
#: Thumbnail correlation (best shift, 1 = identical) needed to confirm a near copy whose
#: difference is the largest allowed; see :func:`labelclean.dedupe.verify.verify_pairs`.
MIN_CORRELATION = 0.96
#: Largest mean absolute difference of brightness-normalised thumbnails, in percent of the
#: mean brightness, that confirms a near copy (0 = identical).
MAX_DIFFERENCE = 3.0
#: Largest shift looked at, in thumbnail pixels.
MAX_SHIFT = 1.0


@dataclass
class DedupeOptions:
    """``[dedupe]``: near-copy candidate sources, their thresholds (each one's direction is
    stated) and the verification of candidates on thumbnails."""

    methods: tuple[str, ...] | None = option(
        None, NAMES, "Near-copy signals, comma-separated: hash, thumbnail, embedding, dbscan "
                     "(default: hash,thumbnail, plus embedding when the work directory has "
                     "embeddings). Exact and same-pixel copies are always found.", key="method")
    hash_method: str = option("phash", TEXT, "Perceptual hash of the hash signal: phash, "
                                             "dhash, ahash or whash (default: phash).",
                              key="hash")
    radius: int = option(10, INT, "Largest Hamming distance (of 64 bits) between the hashes "
                                  "of a candidate pair (default: 10).", low=0, high=32)
    embeddings: str | None = option(None, TEXT, "Model whose embeddings to use (default: the "
                                                "newest in the work directory).")
    threshold: float = option(0.9, NUMBER, "Smallest embedding cosine similarity of a "
                                           "candidate pair; 1 = identical (default: 0.9).",
                              low=-1.0, high=1.0)
    k: int = option(10, INT, "Neighbours looked at per image by the thumbnail, embedding and "
                             "dbscan signals (default: 10).", low=1)
    thumbnail_threshold: float = option(
        0.85, NUMBER, "Smallest cosine of 16x16 mean-centred thumbnails of a candidate pair.",
        low=-1.0, high=1.0, cli=False)
    verify: bool = option(True, BOOL, "Confirm near candidates by comparing thumbnails "
                                      "(default: verify).", flag="--verify/--no-verify")
    min_correlation: float = option(
        MIN_CORRELATION, NUMBER,
        "Thumbnail correlation (best small shift; 1 = identical) needed to confirm a near copy "
        "that differs by --max-difference; each % less difference lowers it by 0.02 "
        "(default: 0.96).", low=-1.0, high=1.0)
    max_difference: float = option(
        MAX_DIFFERENCE, NUMBER,
        "Largest mean absolute difference of brightness-normalised thumbnails, in % of the "
        "mean brightness, that confirms a near copy (default: 3.0).", low=0.0)
    max_shift: float = option(MAX_SHIFT, NUMBER, "Largest shift tried when comparing "
                                                 "thumbnails, in thumbnail pixels.", low=0.0,
                              cli=False)

    flips: bool = option(False, BOOL, "Also count mirror images (left-right, up-down) as "
                                      "copies (default: off).", flag="--flips/--no-flips")
    rotations: bool = option(False, BOOL, "Also count 90, 180 and 270 degree rotations as "
                                          "copies (default: off).",
                             flag="--rotations/--no-rotations")

    against: tuple[str, ...] | None = option(
        None, PATHS, "Another set's images folder (a test set, extra data); repeat for more. "
                     "This dataset's copies of its images go to leaks.csv; the other set is "
                     "scanned into the work directory and never modified.")
    drop_leaks: bool = option(False, BOOL, "Drop the images that copy another set's (default: "
                                           "send them to review).",
                              flag="--drop-leaks/--review-leaks")

    def resolved_methods(self, has_embeddings: bool) -> tuple[str, ...]:
        if self.methods is None:
            return DEFAULT_METHODS + (("embedding",) if has_embeddings else ())
        return tuple(self.methods)
