"""cleanlab's answers a batch of rows at a time, for OOF arrays too big to copy.

:func:`score_labels_batched` gives what :func:`~labelclean.noise.scoring.score_labels` puts
in its :class:`~labelclean.noise.scoring.LabelScores`, reading ``probs`` (a memmap is fine)
in slices of :data:`BATCH` rows:

* ``is_issue``: cleanlab's batched finder
  (``cleanlab.experimental.label_issues_batched.find_label_issues_batched``), which
  approximates ``find_label_issues(filter_by="low_self_confidence")`` (or
  ``"low_normalized_margin"`` when ranking by ``normalized_margin``): the estimated number
  of wrong labels, taken from the lowest label qualities. Other ``filter_by`` methods have
  no batched form in cleanlab; above the size limit this one replaces them.
* ``quality``: ``cleanlab.rank.get_label_quality_scores`` per batch (a row's score depends
  on its own probabilities only, so batching changes nothing).
* ``confident_joint``: ``cleanlab.count.compute_confident_joint`` per batch with the
  per-class thresholds of the whole set (cleanlab's ``LabelInspector``), uncalibrated
  counts summed over the batches and calibrated once
  (``cleanlab.count.calibrate_confident_joint``) -- the in-memory joint, a batch at a time.

Memory: the (N,) outputs, one batch, and cleanlab's own final step of the batched finder,
which copies ``probs`` once (N x K in its dtype).
"""

from __future__ import annotations

import warnings

import numpy as np

#: Rows read from the probabilities at a time.
BATCH = 500_000


def _batches(n: int, batch: int):
    for start in range(0, n, batch):
        yield slice(start, min(n, start + batch))


def score_labels_batched(labels: np.ndarray, probs: np.ndarray, *,
                         rank_by: str = "self_confidence", n_jobs: int | None = None,
                         batch: int = BATCH):
    """Score ``labels`` (N,) class indices against ``probs`` (N, K) a batch at a time.

    Returns ``(is_issue, quality, confident_joint, noise_matrix)``: (N,) bool from
    cleanlab's batched finder (see the module docstring), (N,) label quality in [0, 1]
    (lower is worse), the (K, K) calibrated confident joint (rows = given label), and
    P(given = i | true = j) (K, K), or None above ``DENSE_CLASSES`` classes.
    """
    from cleanlab.count import calibrate_confident_joint, compute_confident_joint, estimate_latent
    from cleanlab.experimental.label_issues_batched import (
        LabelInspector,
        find_label_issues_batched,
    )
    from cleanlab.rank import get_label_quality_scores

    from labelclean.noise.matrices import DENSE_CLASSES

    labels = np.asarray(labels, dtype=np.int64)
    n, k = probs.shape
    kwargs = {"method": rank_by}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        is_issue = find_label_issues_batched(labels, probs, batch_size=batch, n_jobs=n_jobs,
                                             verbose=False, quality_score_kwargs=kwargs,
                                             return_mask=True)
        inspector = LabelInspector(num_class=k, verbose=False, store_results=False, n_jobs=1)
        for part in _batches(n, batch):
            inspector.update_confident_thresholds(labels[part], np.asarray(probs[part]))
        thresholds = inspector.get_confident_thresholds(silent=True)
        quality = np.empty(n, dtype=np.float64)
        joint = np.zeros((k, k), dtype=np.int64)
        for part in _batches(n, batch):
            p = np.asarray(probs[part])
            quality[part] = get_label_quality_scores(labels[part], p, method=rank_by)
            joint += compute_confident_joint(labels[part], p, thresholds=thresholds,
                                             calibrate=False)
        joint = calibrate_confident_joint(joint, labels)
        noise_matrix = estimate_latent(joint, labels)[1] if k <= DENSE_CLASSES else None
    return np.asarray(is_issue, dtype=bool), np.clip(quality, 0.0, 1.0), joint, noise_matrix
