"""cleanlab's three questions about the given labels, asked once.

:func:`score_labels` asks which labels are wrong (``cleanlab.filter``), how good each label
is (``cleanlab.rank``) and how noisy each class is (``cleanlab.count``). The methods are
registries: :func:`list_filters` and :func:`list_rankers` name the valid values.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from labelclean.errors import RegistryError
from labelclean.noise.options import DEFAULTS

FILTERS = ("prune_by_noise_rate", "prune_by_class", "both", "confident_learning",
           "predicted_neq_given", "low_normalized_margin", "low_self_confidence")
RANKERS = ("self_confidence", "normalized_margin", "confidence_weighted_entropy")
DEFAULT_FILTER = DEFAULTS["filter_by"]
DEFAULT_RANKER = DEFAULTS["rank_by"]
_CONFIDENT_JOINT_FILTERS = ("prune_by_noise_rate", "prune_by_class", "both")


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
    (K, K) P(given = i | true = j); ``noise_rate`` (K,) estimated fraction of the images
    given each label whose label is wrong, 1 - P(true = c | given = c).
    """

    is_issue: np.ndarray
    quality: np.ndarray
    confident_joint: np.ndarray
    noise_matrix: np.ndarray
    noise_rate: np.ndarray


def score_labels(labels: np.ndarray, probs: np.ndarray, *, filter_by: str = DEFAULT_FILTER,
                 rank_by: str = DEFAULT_RANKER, n_jobs: int | None = None) -> LabelScores:
    """Score given ``labels`` (N,) class indices against OOF ``probs`` (N, K) with cleanlab.

    ``is_issue`` is exactly ``cleanlab.filter.find_label_issues(labels, probs,
    filter_by=filter_by)``; ``quality`` is ``cleanlab.rank.get_label_quality_scores`` with
    ``method=rank_by``.
    """
    from cleanlab.count import compute_confident_joint, estimate_latent
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    check_methods(filter_by, rank_by)
    labels = np.asarray(labels, dtype=np.int64)
    if n_jobs is None:
        import os

        n_jobs = 1 if len(labels) < 100_000 else (os.cpu_count() or 1)
    joint = compute_confident_joint(labels, probs)
    extra = {"confident_joint": joint} if filter_by in _CONFIDENT_JOINT_FILTERS else {}
    is_issue = find_label_issues(labels, probs, filter_by=filter_by, n_jobs=n_jobs, **extra)
    quality = np.clip(get_label_quality_scores(labels, probs, method=rank_by), 0.0, 1.0)
    _, noise_matrix, _ = estimate_latent(joint, labels)
    given_counts = np.clip(joint.sum(axis=1), 1e-12, None)
    noise_rate = 1.0 - np.diag(joint) / given_counts
    return LabelScores(is_issue=np.asarray(is_issue, dtype=bool), quality=quality,
                       confident_joint=joint, noise_matrix=noise_matrix,
                       noise_rate=np.clip(noise_rate, 0.0, 1.0))


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
    :func:`score_labels` (``filter_by``, ``rank_by``, ``n_jobs``).
    """
    n = len(given)
    scored = readable & np.isfinite(probs).all(axis=1)
    out = ImageScores(scored, np.zeros(n, bool), np.full(n, np.nan), np.full(n, -1),
                      np.zeros(n))
    if scored.any():
        out.scores = score_labels(given[scored], probs[scored], **methods)
        out.is_issue[scored] = out.scores.is_issue
        out.quality[scored] = out.scores.quality
        out.best[scored] = probs[scored].argmax(axis=1)
        out.p_best[scored] = probs[scored].max(axis=1)
    return out
