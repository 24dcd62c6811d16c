"""The embed stage's options (one declaration: CLI flags, project-file keys, defaults)."""

from __future__ import annotations

from dataclasses import dataclass

from labelclean.backends.options import BackendOptions
from labelclean.config.options import BOOL, INT, PATH, TEXT, option
from labelclean.models.backbones import DEFAULT_BACKBONE


@dataclass(frozen=True)
class EmbedOptions(BackendOptions):
    """``[embed]``: the backbone, its weights, and how the images are fed to it."""

    model: str = option(DEFAULT_BACKBONE, TEXT,
                        "Backbone: a name from --list-models or any timm model name "
                        "(default: convnext_nano).")
    weights: str | None = option(
        None, PATH, "Weights file (.safetensors or a PyTorch state dict) instead of the "
                    "Hugging Face cache/hub.")
    no_pretrained: bool = option(False, BOOL, "Random weights (for tests; the features are "
                                              "weak).")
    batch_size: int | None = option(None, INT, "Images per batch (default: 256 on CUDA, else "
                                               "32).", low=1)
    device: str = option("auto", TEXT, "auto, cpu, cuda or mps (default: auto).")
    image_size: int | None = option(None, INT, "Square input size (default: the model's "
                                               "own).", low=16)
    normalize: bool = option(True, BOOL, "L2-normalise each vector (default: normalise).",
                             flag="--normalize/--no-normalize")
    dtype: str = option("float16", TEXT, "float16 or float32 (default: float16).")
    workers: int | None = option(
        None, INT, "Decode processes (default: every core with a GPU, a quarter of them on a "
                   "CPU).", low=0)
