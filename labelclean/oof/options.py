"""The oof stage's options (one declaration: CLI flags, project-file keys, defaults)."""

from __future__ import annotations

from dataclasses import dataclass

from labelclean.config.options import BOOL, INT, NUMBER, PATH, TEXT, option

LOSS_NAMES = ("bi_tempered, cross_entropy, focal_cosine, label_smoothing, "
              "symmetric_cross_entropy, taylor_cross_entropy")
#: options only one source uses, by project-file key
TRAIN_OPTIONS = ("model", "image_size", "epochs", "batch_size", "lr", "loss", "augment",
                 "no_tta", "pretrained", "weights", "device", "workers")
EMBEDDINGS_OPTIONS = ("learner", "embeddings", "no_calibrate")


@dataclass(frozen=True)
class OOFOptions:
    """``[oof]``: folds, where the probabilities come from, and each source's settings."""

    folds: int = option(5, INT, "Number of folds (default: 5).")
    seed: int = option(0, INT, "Seed of folds and training (default: 0).")
    source: str = option(
        "auto", TEXT, "embeddings (a classifier on 'labelclean embed' output, seconds) or "
                      "train (k-fold training on the images) (default: embeddings if they "
                      "exist, else train).", key="from")
    learner: str = option("logreg", TEXT, "Classifier on embeddings: logreg or knn (default: "
                                          "logreg).")
    embeddings: str | None = option(None, TEXT, "Which embeddings to use (default: the "
                                                "newest).")
    no_calibrate: bool = option(False, BOOL, "Skip temperature scaling of the embedding "
                                             "classifier.")
    model: str = option("small_cnn", TEXT, "Model to train: small_cnn, small_cnn_wide or any "
                                           "timm name (default: small_cnn).")
    image_size: int | None = option(None, INT, "Training image side in pixels (default: the "
                                               "model's).")
    epochs: int = option(10, INT, "Epochs per fold (default: 10).", low=1)
    batch_size: int = option(64, INT, "Batch size (default: 64).", low=1)
    lr: float = option(3e-3, NUMBER, "Peak learning rate of AdamW, above 0 (default: "
                                      "0.003).", low=0, high=10)
    loss: str = option("label_smoothing", TEXT,
                       f"Training loss: {LOSS_NAMES} (default: label_smoothing).")
    augment: str = option(
        "light", TEXT, "Augmentation preset: none, light (crop + colour, keeps orientation), "
                       "flips (+ flips and transpose), strong (default: light).")
    no_tta: bool = option(False, BOOL, "Predict without averaging the flips the preset "
                                       "trained on.")
    pretrained: bool = option(False, BOOL, "Start a timm model from pretrained weights (HF "
                                           "cache or hub).")
    weights: str | None = option(None, PATH, "Start a timm model from this weights file.")
    device: str = option("auto", TEXT, "auto, cpu, cuda or mps (default: auto).")
    workers: int = option(0, INT, "Image-loading processes when images do not fit in memory "
                                  "(default: 0, in this process).", low=0)
