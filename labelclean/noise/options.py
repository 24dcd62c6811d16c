"""The noise stage's options (one declaration: CLI flags, project-file keys, defaults)."""

from __future__ import annotations

from dataclasses import dataclass

from labelclean.config.options import BOOL, INT, NAMES, NUMBER, PATHS, TEXT, option

#: Tukey's fence of the outlier check: Q3 + this x (Q3 - Q1), as cleanlab's Datalab
DEFAULT_IQR = 1.5

#: defaults of the label-issue decisions (:func:`labelclean.noise.stage.find_noise`)
DEFAULTS = {"filter_by": "prune_by_noise_rate", "rank_by": "self_confidence",
            "relabel_threshold": 0.7, "review_threshold": 0.1}


@dataclass(frozen=True)
class NoiseOptions:
    """``[noise]``: which out-of-fold predictions, how to combine them, how to decide."""

    oof: tuple[str, ...] | None = option(
        None, PATHS, "Out-of-fold predictions: CSV/Parquet (id + one probability column per "
                     "class) or .npy (N, K) in labels-file order; repeat to ensemble "
                     "(default: WORKDIR/oof.csv).")
    logits: bool = option(False, BOOL, "The files hold logits: soft-max each row.")
    ensemble: str = option("mean", TEXT,
                           "Combine several --oof: mean, weighted (weights fitted on OOF "
                           "log-loss) or accuracy (then tuned on OOF accuracy); default mean.")
    oof_id_col: str | None = option(None, TEXT, "Id column of the OOF files (default: "
                                                "image_id, id, ...).")
    filter_by: str = option(DEFAULTS["filter_by"], TEXT,
                            "cleanlab find_label_issues method (default prune_by_noise_rate).")
    rank_by: str = option(DEFAULTS["rank_by"], TEXT,
                          "label_quality score: self_confidence, normalized_margin or "
                          "confidence_weighted_entropy (default self_confidence).")
    relabel_threshold: float = option(
        DEFAULTS["relabel_threshold"], NUMBER,
        "Relabel a wrong label when the best class has at least this probability, else drop "
        "it (default 0.7).")
    review_threshold: float = option(
        DEFAULTS["review_threshold"], NUMBER,
        "Send unflagged images whose label_quality is below this to review (default 0.1; 0 "
        "turns it off).")
    ignore_duplicates: bool = option(False, BOOL, "Do not use WORKDIR/duplicates.csv.")
    drop: tuple[str, ...] = option(
        (), NAMES, "Image-quality findings to drop rather than review, e.g. low_information "
                   "(dark, light, blurry, low_information, grayscale, odd_aspect_ratio, "
                   "odd_size, outlier); default none: every finding goes to review.")
    outliers_from: str = option(
        "auto", TEXT, "Embeddings to score outliers from: oof (the fold models' features of "
                      "'oof --from train'), embeddings (pretrained), auto (oof, else "
                      "embeddings) or none.")
    outlier_k: int | None = option(
        None, INT, "Neighbours an image's outlier distance is the mean distance to (default: "
                   "a tenth of the images searched together, 10 to 100).", low=1)
    outlier_iqr: float = option(
        DEFAULT_IQR, NUMBER, "An outlier's mean neighbour distance is above Q3 + this x (Q3 - Q1) "
                     "of all images' (default 1.5, as cleanlab's Datalab).", low=0)
