"""cleanlab's three questions about the given labels, asked once.

:func:`score_labels` asks which labels are wrong (``cleanlab.filter``), how good each label
is (``cleanlab.rank``) and how noisy each class is (``cleanlab.count``). The methods are
registries: :func:`list_filters` and :func:`list_rankers` name the valid values.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field

import numpy as np

from labelclean.errors import RegistryError
from labelclean.noise.matrices import DENSE_CLASSES
from labelclean.noise.options import DEFAULTS

FILTERS = ("prune_by_noise_rate", "prune_by_class", "both", "confident_learning",
           "predicted_neq_given", "low_normalized_margin", "low_self_confidence")
RANKERS = ("self_confidence", "normalized_margin", "confidence_weighted_entropy")
DEFAULT_FILTER = DEFAULTS["filter_by"]
DEFAULT_RANKER = DEFAULTS["rank_by"]
_CONFIDENT_JOINT_FILTERS = ("prune_by_noise_rate", "prune_by_class", "both")
#: Above this many scored rows, :func:`score_labels` reads the probabilities a batch at a
#: time with cleanlab's batched finder (:mod:`labelclean.noise.batched`) instead of
#: ``cleanlab.filter.find_label_issues``, whose copies of the (N, K) array would need
#: several times its size (10M x 10 float64 is 800 MB a copy).
BATCHED_LIMIT = 5_000_000


def list_filters() -> list[str]:
    """Values of ``filter_by`` (cleanlab's ``find_label_issues`` methods)."""
    return list(FILTERS)


def list_rankers() -> list[str]:
    """Values of ``rank_by`` (cleanlab's label quality scores)."""
    return list(RANKERS)


def check_methods(filter_by: str, rank_by: str) -> None:
    if filter_by not in FILTERS:
        raise RegistryError("`filter_by` method", filter_by, list_filters())
    if rank_by not in RANKERS:
        raise RegistryError("`rank_by` method", rank_by, list_rankers())


@dataclass
class LabelScores:
    """cleanlab's answers for N scored images and K classes.

    ``is_issue`` (N,) bool; ``quality`` (N,) in [0, 1], lower is worse; ``confident_joint``
    (K, K) calibrated counts, rows = given label, columns = true label; ``noise_matrix``
    (K, K) P(given = i | true = j), or None above
    :data:`~labelclean.noise.matrices.DENSE_CLASSES` classes (then
    :func:`~labelclean.noise.matrices.noise_matrix_cells` gives its nonzero cells);
    ``noise_rate`` (K,) estimated fraction of the images given each label whose label is
    wrong, 1 - P(true = c | given = c); ``few_examples``: the classes cleanlab warned have
    too few images to flag every wrong label in them (their labels are never flagged);
    ``batched``: the answers came from cleanlab's batched finder (above
    :data:`BATCHED_LIMIT` rows; ``is_issue`` then follows ``low_self_confidence``).
    """

    is_issue: np.ndarray
    quality: np.ndarray
    confident_joint: np.ndarray
    noise_matrix: np.ndarray | None
    noise_rate: np.ndarray
    few_examples: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    batched: bool = False


def score_labels(labels: np.ndarray, probs: np.ndarray, *, filter_by: str = DEFAULT_FILTER,
                 rank_by: str = DEFAULT_RANKER, n_jobs: int | None = None,
                 batched_limit: int | None = None) -> LabelScores:
    """Score given ``labels`` (N,) class indices against OOF ``probs`` (N, K) with cleanlab.

    Up to ``batched_limit`` rows (default :data:`BATCHED_LIMIT`), ``is_issue`` is exactly
    ``cleanlab.filter.find_label_issues(labels, probs, filter_by=filter_by)``; above it,
    cleanlab's batched finder reads ``probs`` (a memmap is fine) a batch at a time and
    ``filter_by`` is replaced by its rule (:mod:`labelclean.noise.batched`). ``quality`` is
    ``cleanlab.rank.get_label_quality_scores`` with ``method=rank_by``.
    """
    from cleanlab.count import compute_confident_joint, estimate_latent
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    check_methods(filter_by, rank_by)
    labels = np.asarray(labels, dtype=np.int64)
    if len(labels) > (BATCHED_LIMIT if batched_limit is None else batched_limit):
        from labelclean.noise.batched import score_labels_batched

        is_issue, quality, joint, noise_matrix = score_labels_batched(
            labels, probs, rank_by=rank_by, n_jobs=n_jobs)
        return LabelScores(is_issue=is_issue, quality=quality, confident_joint=joint,
                           noise_matrix=noise_matrix, noise_rate=noise_rates(joint),
                           batched=True)
    if n_jobs is None:
        import os

        n_jobs = 1 if len(labels) < 100_000 else (os.cpu_count() or 1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        joint = compute_confident_joint(labels, probs)
        extra = {"confident_joint": joint} if filter_by in _CONFIDENT_JOINT_FILTERS else {}
        is_issue = find_label_issues(labels, probs, filter_by=filter_by, n_jobs=n_jobs,
                                     **extra)
        _release_cleanlab_copies()
        quality = np.clip(get_label_quality_scores(labels, probs, method=rank_by), 0.0, 1.0)
        noise_matrix = (estimate_latent(joint, labels)[1] if len(joint) <= DENSE_CLASSES
                        else None)
    return LabelScores(is_issue=np.asarray(is_issue, dtype=bool), quality=quality,
                       confident_joint=joint, noise_matrix=noise_matrix,
                       noise_rate=noise_rates(joint), few_examples=_few_example_classes(caught))


def noise_rates(joint: np.ndarray) -> np.ndarray:
    """(K,) estimated fraction of wrong labels among the images given each class, from the
    (K, K) calibrated confident joint (0 for a class no image is given)."""
    given_counts = np.clip(joint.sum(axis=1), 1e-12, None)
    noise_rate = 1.0 - np.diag(joint) / given_counts
    noise_rate[joint.sum(axis=1) == 0] = 0.0  # a class no scored image is given: none wrong
    return np.clip(noise_rate, 0.0, 1.0)


#: Warnings of cleanlab's helpers that say nothing to a user (one class in a confusion matrix).
_QUIET = ("A single label was found in 'y_true' and 'y_pred'",)
_FEW_EXAMPLES = re.compile(r"May not flag all label issues in class: (\d+)")


def _few_example_classes(caught: list) -> np.ndarray:
    """The classes of cleanlab's per-class "too few examples" warnings (one for each of
    thousands of classes: gathered into one line by the caller); other warnings are
    passed on."""
    found = []
    for w in caught:
        match = _FEW_EXAMPLES.match(str(w.message))
        if match:
            found.append(int(match.group(1)))
        elif not str(w.message).startswith(_QUIET):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return np.unique(np.asarray(found, dtype=np.int64))


def _release_cleanlab_copies() -> None:
    """Drop the per-class copy of the probabilities (N x K in all) that
    ``cleanlab.filter.find_label_issues`` leaves in module globals."""
    import cleanlab.filter

    for name in ("pred_probs_by_class", "prune_count_matrix_cols"):
        if hasattr(cleanlab.filter, name):
            setattr(cleanlab.filter, name, None)


@dataclass
class ImageScores:
    """Per-image answers for N labeled images, (N,) each.

    ``scored``: the image went to cleanlab (readable, with a finite prediction);
    ``is_issue``: cleanlab flags its label (false when not scored); ``quality``: label
    quality (NaN when not scored); ``best``: the most probable class (-1 when not scored),
    ``p_best`` its probability (0 when not scored); ``scores``: cleanlab's answers for the
    scored images (None when there are none).
    """

    scored: np.ndarray
    is_issue: np.ndarray
    quality: np.ndarray
    best: np.ndarray
    p_best: np.ndarray
    scores: LabelScores | None = None


def score_images(probs: np.ndarray, given: np.ndarray, readable: np.ndarray,
                 **methods: object) -> ImageScores:
    """Score the readable images of ``probs`` (N, K) that have a finite prediction.

    ``given`` (N,) class indices, ``readable`` (N,) bool; ``methods`` go to
    :func:`score_labels` (``filter_by``, ``rank_by``, ``n_jobs``, ``batched_limit``).
    ``probs`` may be a memmap: it is read in slices when every row is scored.
    """
    n = len(given)
    scored = readable.copy()
    for start in range(0, n, _SLICE):
        scored[start:start + _SLICE] &= np.isfinite(probs[start:start + _SLICE]).all(axis=1)
    out = ImageScores(scored, np.zeros(n, bool), np.full(n, np.nan), np.full(n, -1),
                      np.zeros(n))
    if scored.any():
        picked = probs if scored.all() else probs[scored]  # no N x K copy when all scored
        out.scores = score_labels(given[scored], picked, **methods)
        out.is_issue[scored] = out.scores.is_issue
        out.quality[scored] = out.scores.quality
        for start in range(0, n, _SLICE):
            part = slice(start, start + _SLICE)
            p, ok = np.asarray(probs[part]), scored[part]
            out.best[part][ok] = p[ok].argmax(axis=1)
            out.p_best[part][ok] = p[ok].max(axis=1)
    return out


#: Rows of the probabilities read at a time by :func:`score_images`.
_SLICE = 1_000_000
