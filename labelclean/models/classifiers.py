"""Image classifiers to train: our own small CNNs, or any timm model with a new head.

``small_cnn`` (a four-block CNN that trains from scratch in seconds on a CPU at 32 px, for
offline use and the demo) and ``small_cnn_wide``; any timm model name starts from random
init, a weights file, or pretrained weights (:mod:`labelclean.models.weights`).
Import this module lazily: it needs torch.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from labelclean.errors import ConfigError, RegistryError


class SmallCNN(nn.Module):
    """Four conv-BN-ReLU blocks (widths w, 2w, 4w, 4w; max-pool between), average pool,
    linear head. About 50k parameters at ``width=16``."""

    def __init__(self, num_classes: int, width: int = 16) -> None:
        super().__init__()

        def block(c_in: int, c_out: int) -> nn.Sequential:
            return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
                                 nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))

        w = width
        self.features = nn.Sequential(block(3, w), nn.MaxPool2d(2), block(w, 2 * w),
                                      nn.MaxPool2d(2), block(2 * w, 4 * w), nn.MaxPool2d(2),
                                      block(4 * w, 4 * w), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(4 * w, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


#: Models of our own: name -> (builder(num_classes), default image size).
OWN_MODELS: dict[str, tuple[Callable[[int], nn.Module], int]] = {
    "small_cnn": (lambda k: SmallCNN(k, width=16), 32),
    "small_cnn_wide": (lambda k: SmallCNN(k, width=32), 48),
}


def list_models() -> list[str]:
    """Our own model names; any timm model name (``timm.list_models()``) works too."""
    return sorted(OWN_MODELS)


def check_model(name: str) -> None:
    import timm

    if name not in OWN_MODELS and not timm.is_model(name):
        raise RegistryError("model", name, list_models() + ["<any timm model name>"])


def default_image_size(name: str) -> int:
    """The side a model trains at unless told: ours from the registry, timm's from its config."""
    if name in OWN_MODELS:
        return OWN_MODELS[name][1]
    import timm

    cfg = timm.models.get_pretrained_cfg(name)
    return int(cfg.input_size[-1]) if cfg is not None else 224


def build_classifier(name: str, num_classes: int, *, image_size: int, weights=None,
                     pretrained: bool = False) -> tuple[nn.Module, str]:
    """(model with a ``num_classes`` head, description of its starting weights)."""
    check_model(name)
    if name in OWN_MODELS:
        if weights is not None or pretrained:
            raise ConfigError(f"model '{name}' trains from scratch; `weights` and `pretrained` "
                              "need a timm model as `model` (e.g. resnet18)")
        return OWN_MODELS[name][0](num_classes), "random-init"
    from labelclean.models.backbones import create_model

    net, source = create_model(name, image_size, weights, pretrained)
    net.reset_classifier(num_classes)
    return net, source
