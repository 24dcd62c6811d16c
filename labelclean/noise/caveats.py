"""What the noise stage warns about its own verdicts: predictions no better than chance,
classes too small for cleanlab, images no out-of-fold model could predict.

Each function returns one line (or None), however many classes or images it is about.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from labelclean.oof.files import preview


def needs_no_prediction(given: np.ndarray, readable: np.ndarray) -> np.ndarray:
    """(N,) bool: readable images that are the only readable one of their class (class
    codes ``given``); no out-of-fold model could predict them, so an OOF file may leave
    them out (they are then kept, unjudged)."""
    from labelclean.oof.folds import lone_class_rows

    out = np.zeros(len(given), dtype=bool)
    out[readable] = lone_class_rows(given[readable])
    return out


def unpredicted_line(image_ids: np.ndarray, lone: np.ndarray, probs: np.ndarray) -> str | None:
    """A line on the ``lone`` images (:func:`needs_no_prediction`) the OOF left out."""
    missing = lone & np.isnan(probs).all(axis=1)
    n = int(missing.sum())
    if not n:
        return None
    many = n != 1
    return (f"{n:,} image{'s are each' if many else ' is'} the only labeled image of "
            f"{'their' if many else 'its'} class and {'have' if many else 'has'} no "
            f"out-of-fold prediction (first: {preview(image_ids[missing])}): kept, unjudged")


def few_examples_line(few: np.ndarray, classes: Sequence[Any]) -> str | None:
    """cleanlab's per-class "too few examples" warnings (``few``: class indices) as one line."""
    n = len(few)
    if not n:
        return None
    names = preview([classes[i] for i in few]) + (", ..." if n > 3 else "")
    return (f"cleanlab cannot flag a wrong label in the {n:,} class{'es' if n != 1 else ''} "
            f"with at most one scored image ({names}); labels there are only sent to review "
            "by `review_threshold`")


def chance_line(best: np.ndarray, given: np.ndarray, actions: np.ndarray,
                n_classes: int) -> str | None:
    """A line when the predictions (``best`` (M,) class of each scored image) agree with
    the ``given`` labels no better than chance; ``actions`` (M,) their decisions."""
    from labelclean.oof.result import chance_level, chance_text

    if not len(given):
        return None
    if len(np.unique(given)) == 1:
        return ("every scored image has the same given label: no prediction can tell a "
                "wrong label from a right one, so none was found; label images of the other "
                "classes too")
    agreement = float((best == given).mean())
    chance = chance_level(agreement, np.bincount(given, minlength=n_classes))
    if chance is None:
        return None
    relabel, drop = int((actions == "relabel").sum()), int((actions == "drop").sum())
    rest = (f"{relabel:,} relabel and {drop:,} drop decisions rest on them" if relabel + drop
            else "no label was changed on their word")
    return (f"{chance_text(agreement, chance, len(given))}; {rest}: make better predictions "
            "('labelclean oof' with more epochs, a smaller lr or pretrained weights) before "
            "applying the manifest")


def batched_line(scores: Any, filter_by: str) -> str | None:
    """A line when cleanlab's batched finder replaced ``filter_by`` (very large OOF sets,
    :data:`labelclean.noise.scoring.BATCHED_LIMIT`)."""
    if scores is None or not scores.batched or filter_by == "low_self_confidence":
        return None
    return (f"{len(scores.is_issue):,} scored images: label issues come from cleanlab's "
            "batched finder (the lowest label qualities, as many as it estimates are wrong; "
            f"a batch of rows at a time), not filter_by={filter_by}")
