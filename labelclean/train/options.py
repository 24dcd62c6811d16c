"""The train stage's options (one declaration: CLI flags, project-file keys, defaults).

The method settings (``p_threshold``, ``lambda_u``, ``warmup_epochs``, ``asymmetric``,
``threshold``, ``mu``) are mapped by name onto the fields of the method's own settings
dataclass (``DivideMixSettings`` / ``FixMatchSettings``); unset (None) keeps its default.
"""

from __future__ import annotations

from dataclasses import dataclass

from labelclean.config.options import BOOL, INT, NUMBER, PATH, TEXT, option

METHODS = ("ce", "dividemix", "fixmatch")
#: epochs of each method when `epochs` is not given
DEFAULT_EPOCHS = {"ce": 30, "dividemix": 30, "fixmatch": 30}
LOSS_NAMES = ("bi_tempered, cross_entropy, focal_cosine, label_smoothing, "
              "symmetric_cross_entropy, taylor_cross_entropy")
#: options mapped by name onto a method's settings dataclass
METHOD_SETTINGS = ("p_threshold", "lambda_u", "warmup_epochs", "asymmetric", "threshold", "mu",
                   "alpha", "temperature")


@dataclass(frozen=True)
class TrainOptions:
    """``[train]``: which method trains on which labels, the model and its budget, the
    held-out data, and where the model goes."""

    method: str = option("ce", TEXT, "ce (one net, a noise-robust loss), dividemix (two nets, "
                                     "co-divide, MixMatch) or fixmatch (the cleaned split + "
                                     "the flagged images as unlabeled) (default: ce).")
    labels_from: str = option("auto", TEXT, "clean (clean.csv) or given (the labels file as "
                                            "it is) (default: clean when clean.csv exists).")
    compare: bool = option(False, BOOL, "Train the standard set (ce on given and on clean "
                                        "labels, dividemix on given, fixmatch on clean + "
                                        "flagged) on one held-out split; write "
                                        "train/comparison.csv.")
    model: str = option("small_cnn", TEXT, "Model: small_cnn, small_cnn_wide or any timm name "
                                           "(default: small_cnn).")
    weights: str | None = option(None, PATH, "Start a timm model from this weights file.")
    pretrained: bool = option(False, BOOL, "Start a timm model from pretrained weights (HF "
                                           "cache or hub).")
    epochs: int | None = option(None, INT, "Epochs (default: 30).", low=1)
    batch_size: int = option(64, INT, "Batch size (default: 64).", low=1)
    lr: float = option(3e-3, NUMBER, "Peak learning rate of AdamW, above 0 (default: 0.003).",
                       low=0, high=10)
    image_size: int | None = option(None, INT, "Training image side in pixels (default: the "
                                               "model's).")
    val_labels: str | None = option(None, PATH, "Trusted held-out labels (a CSV with the "
                                                "labels file's columns; images in the same "
                                                "folder); default: a `holdout` fraction.")
    holdout: float = option(0.1, NUMBER, "Fraction of the training labels held out, "
                                         "stratified and grouped by duplicate group; 0: none "
                                         "(default: 0.1).", low=0, high=0.5)
    unlabeled: str | None = option(None, PATH, "fixmatch: a folder of extra unlabeled images.")
    out: str | None = option(None, PATH, "Output folder (default: <workdir>/train/<method>).")
    resume: bool = option(False, BOOL, "Continue an interrupted run from its last.pt.")
    device: str = option("auto", TEXT, "auto, cpu, cuda or mps (default: auto).")
    seed: int = option(0, INT, "Seed of the split and of training (default: 0).")
    workers: int = option(0, INT, "Image-loading processes when images do not fit in memory "
                                  "(default: 0).", low=0)
    loss: str = option("label_smoothing", TEXT,
                       f"ce: training loss: {LOSS_NAMES} (default: label_smoothing).")
    augment: str = option("light", TEXT, "Augmentation preset: none, light, flips, strong "
                                         "(default: light).")
    no_tta: bool = option(False, BOOL, "Predict without averaging the flips trained on.")
    ema: float = option(0.0, NUMBER, "ce: evaluate an exponential moving average of the "
                                     "weights with this decay, e.g. 0.999 (default: 0, off).",
                        low=0, high=0.99999)
    swa: int = option(0, INT, "ce: average the weights of the last N epochs (SWA, batch norm "
                              "recomputed) (default: 0, off).", low=0)
    warmup_epochs: int | None = option(None, INT, "dividemix: epochs of plain CE before the "
                                                  "first co-divide (default: the method's).",
                                       low=0)
    p_threshold: float | None = option(None, NUMBER, "dividemix: clean probability above "
                                                     "which an image counts as labeled "
                                                     "(default: 0.5).", low=0, high=1)
    lambda_u: float | None = option(None, NUMBER, "dividemix / fixmatch: weight of the "
                                                  "unlabeled loss (default: the method's).",
                                    low=0)
    asymmetric: bool = option(False, BOOL, "dividemix: asymmetric noise: add the "
                                           "negative-entropy penalty during warm-up.")
    alpha: float | None = option(None, NUMBER, "dividemix: MixMatch Beta(alpha, alpha) "
                                               "(default: 4).", low=0)
    temperature: float | None = option(None, NUMBER, "dividemix: sharpening temperature "
                                                     "(default: 0.5).", low=0, high=1)
    threshold: float | None = option(None, NUMBER, "fixmatch: pseudo-label confidence "
                                                   "threshold (default: 0.95).", low=0, high=1)
    mu: int | None = option(None, INT, "fixmatch: unlabeled images per labeled one in a batch "
                                       "(default: 2).", low=1)
