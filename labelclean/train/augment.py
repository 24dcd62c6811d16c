"""Batch augmentation presets for training: flips, transposes, random-resized crops, colour
jitter, all on float batches (B, 3, S, S) in [0, 1] with randomness from one generator.

Each preset also names the views test-time augmentation averages (the flips it trained on).
Import this module lazily: it needs torch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from labelclean.errors import RegistryError


@dataclass(frozen=True)
class Augmentation:
    """A batch augmentation preset; each flip/transpose is applied to half the images."""

    hflip: bool = False
    vflip: bool = False
    transpose: bool = False
    crop_scale: float = 1.0  # random-resized crop keeps this to 1.0 of the area
    jitter: float = 0.0  # brightness / contrast / saturation jitter strength

    def tta_views(self) -> list[str]:
        """Views averaged at prediction: the original and each flip trained on."""
        return ["none"] + [v for v in ("hflip", "vflip") if getattr(self, v)]


AUGMENTATIONS: dict[str, Augmentation] = {
    "none": Augmentation(),
    "light": Augmentation(crop_scale=0.8, jitter=0.1),
    "flips": Augmentation(hflip=True, vflip=True, transpose=True, crop_scale=0.8),
    "strong": Augmentation(hflip=True, vflip=True, transpose=True, crop_scale=0.5, jitter=0.3),
}


def list_augmentations() -> list[str]:
    """Names of the augmentation presets (``light`` keeps orientation: digits, text)."""
    return sorted(AUGMENTATIONS)


def get_augmentation(name: str) -> Augmentation:
    if name not in AUGMENTATIONS:
        raise RegistryError("augmentation preset", name, list_augmentations())
    return AUGMENTATIONS[name]


def _coin(n: int, gen: torch.Generator) -> torch.Tensor:
    return (torch.rand(n, generator=gen) < 0.5).view(n, 1, 1, 1)


def augment_batch(x: torch.Tensor, aug: Augmentation, gen: torch.Generator) -> torch.Tensor:
    """Augment a float batch (B, 3, S, S) in [0, 1]; randomness only from ``gen``."""
    n = x.shape[0]
    if aug.crop_scale < 1.0:
        x = _random_resized_crop(x, aug.crop_scale, gen)
    if aug.hflip:
        x = torch.where(_coin(n, gen).to(x.device), x.flip(3), x)
    if aug.vflip:
        x = torch.where(_coin(n, gen).to(x.device), x.flip(2), x)
    if aug.transpose:
        x = torch.where(_coin(n, gen).to(x.device), x.transpose(2, 3), x)
    if aug.jitter:
        x = _colour_jitter(x, aug.jitter, gen)
    return x


def _random_resized_crop(x: torch.Tensor, min_scale: float, gen: torch.Generator):
    """Crop a random box (area in [min_scale, 1], aspect in [3/4, 4/3]) and resize it back."""
    n = x.shape[0]
    area = min_scale + (1 - min_scale) * torch.rand(n, generator=gen)
    log_ratio = (torch.rand(n, generator=gen) * 2 - 1) * math.log(4 / 3)
    ratio = torch.exp(log_ratio)
    width = torch.sqrt(area * ratio).clamp(max=1.0)
    height = torch.sqrt(area / ratio).clamp(max=1.0)
    cx = (torch.rand(n, generator=gen) * 2 - 1) * (1 - width)
    cy = (torch.rand(n, generator=gen) * 2 - 1) * (1 - height)
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0], theta[:, 0, 2] = width, cx
    theta[:, 1, 1], theta[:, 1, 2] = height, cy
    grid = F.affine_grid(theta.to(x.device, x.dtype), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def _colour_jitter(x: torch.Tensor, strength: float, gen: torch.Generator) -> torch.Tensor:
    n = x.shape[0]

    def factor() -> torch.Tensor:
        return (1 + (torch.rand(n, generator=gen) * 2 - 1) * strength).view(n, 1, 1, 1).to(x)

    x = x * factor()  # brightness
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = (x - mean) * factor() + mean  # contrast
    grey = x.mean(dim=1, keepdim=True)
    x = (x - grey) * factor() + grey  # saturation
    return x.clamp(0, 1)
