"""The weak and strong training views of FixMatch; the weak one is DivideMix's view too.

- **weak** (:func:`weak_view`): the augmentation preset's flips (``hflip`` / ``vflip`` /
  ``transpose`` of :mod:`labelclean.train.augment`; the papers flip horizontally, the
  ``light`` preset keeps orientation for digits and text), then a random crop of the image
  reflect-padded by 1/8 of its side (4 px of 32, the papers' CIFAR view).
- **strong** (:class:`StrongView`): timm's RandAugment (2 ops, each applied with
  probability 0.5 at a magnitude drawn uniformly in [0, 10]; the op pool is FixMatch's:
  :data:`FIXMATCH_OPS`) on each image as a PIL image, then the weak view, then Cutout.
  Cutout is our own :func:`cutout`: a grey square of half the side at a uniform centre,
  clipped at the border, as in FixMatch. timm's ``RandomErasing`` draws rectangles of
  random area and aspect instead, and draws them from Python's global generator.

All randomness comes from one ``torch.Generator`` (timm's RandAugment draws from Python's
and numpy's global generators: :class:`StrongView` seeds them from the generator for the
batch and puts their states back afterwards). Images are float batches (B, 3, S, S) in
[0, 1]. Import this module lazily: it needs torch.
"""

from __future__ import annotations

import random
from contextlib import contextmanager

import numpy as np
import torch
import torch.nn.functional as F

from labelclean.train.augment import Augmentation, augment_batch

#: The crop's reflect padding as a fraction of the side (4 px of 32).
PAD_FRACTION = 0.125
#: timm RandAugment op names matching FixMatch's pool (``PosterizeOriginal`` keeps 4-8 bits;
#: timm's default ``Posterize`` can keep 0 bits, a black image). Identity is implied: each op
#: is skipped with probability 0.5.
FIXMATCH_OPS = ("AutoContrast", "Brightness", "Color", "Contrast", "Equalize",
                "PosterizeOriginal", "Rotate", "Sharpness", "ShearX", "ShearY", "Solarize",
                "TranslateXRel", "TranslateYRel")
#: RandAugment fills uncovered pixels with this grey (uint8 RGB); Cutout with 0.5.
FILL = (128, 128, 128)


def flips_of(aug: Augmentation) -> Augmentation:
    """Only the flips and transpose of a preset (no crop, no colour jitter)."""
    return Augmentation(hflip=aug.hflip, vflip=aug.vflip, transpose=aug.transpose)


def weak_view(x: torch.Tensor, gen: torch.Generator, flips: Augmentation,
              pad_fraction: float = PAD_FRACTION) -> torch.Tensor:
    """Flip (as ``flips`` says) and pad-crop a float batch (B, 3, S, S); returns the same shape."""
    x = augment_batch(x, flips_of(flips), gen)
    return pad_crop(x, max(1, round(pad_fraction * min(x.shape[-2:]))), gen)


def pad_crop(x: torch.Tensor, pad: int, gen: torch.Generator) -> torch.Tensor:
    """Reflect-pad each image of (B, C, H, W) by ``pad`` and crop H x W at a random offset."""
    n, _, h, w = x.shape
    pad = min(pad, h - 1, w - 1)
    if pad < 1 or n == 0:
        return x
    padded = F.pad(x, (pad, pad, pad, pad), mode="reflect").permute(0, 2, 3, 1)
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=gen).to(x.device)
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=gen).to(x.device)
    iy = dy[:, None] + torch.arange(h, device=x.device)[None]
    ix = dx[:, None] + torch.arange(w, device=x.device)[None]
    picked = padded[torch.arange(n, device=x.device)[:, None, None], iy[:, :, None],
                    ix[:, None, :]]
    return picked.permute(0, 3, 1, 2).contiguous()


def cutout(x: torch.Tensor, fraction: float, gen: torch.Generator,
           fill: float = 0.5) -> torch.Tensor:
    """Fill one square per image of (B, C, H, W) with ``fill``: side ``fraction`` of the
    shorter side, centre uniform over the image, clipped at the border (FixMatch's Cutout)."""
    n, _, h, w = x.shape
    side = round(fraction * min(h, w))
    if side < 1 or n == 0:
        return x
    cy = torch.randint(0, h, (n,), generator=gen).to(x.device)
    cx = torch.randint(0, w, (n,), generator=gen).to(x.device)

    def span(centre: torch.Tensor, length: int) -> torch.Tensor:
        start = (centre - side // 2).clamp(min=0)[:, None]
        end = (centre - side // 2 + side).clamp(max=length)[:, None]
        at = torch.arange(length, device=x.device)[None]
        return (at >= start) & (at < end)

    mask = span(cy, h)[:, None, :, None] & span(cx, w)[:, None, None, :]
    return torch.where(mask, torch.as_tensor(fill, dtype=x.dtype, device=x.device), x)


@contextmanager
def seeded_globals(seed: int):
    """Seed Python's and numpy's global generators for the block; restore them after."""
    saved_py, saved_np = random.getstate(), np.random.get_state()
    random.seed(seed)
    np.random.seed(seed % 2**32)
    try:
        yield
    finally:
        random.setstate(saved_py)
        np.random.set_state(saved_np)


class StrongView:
    """FixMatch's strong view: RandAugment + the weak view + Cutout.

    Parameters
    ----------
    flips : the preset whose flips the weak part uses.
    n_ops, magnitude : RandAugment's ops per image and its largest magnitude (of 10); each
        op's magnitude is uniform in [0, magnitude].
    cutout : Cutout's side as a fraction of the image side (0: no Cutout).
    """

    def __init__(self, flips: Augmentation, n_ops: int = 2, magnitude: int = 10,
                 cutout: float = 0.5) -> None:
        from timm.data.auto_augment import rand_augment_transform

        self.flips, self.cutout = flips, cutout
        self.randaug = rand_augment_transform(
            f"rand-m{magnitude}-n{n_ops}-mstd101",
            hparams={"translate_pct": 0.3, "img_mean": FILL}, transforms=list(FIXMATCH_OPS))

    def __call__(self, images: torch.Tensor, gen: torch.Generator,
                 device: torch.device | str = "cpu") -> torch.Tensor:
        """uint8 (B, 3, S, S) on the CPU -> strong views, float (B, 3, S, S) in [0, 1] on
        ``device``."""
        seed = int(torch.randint(0, 2**31 - 1, (1,), generator=gen))
        with seeded_globals(seed):
            out = [self._randaugment(img) for img in images]
        x = (torch.stack(out) if out else images).to(device).float() / 255.0
        x = weak_view(x, gen, self.flips)
        return cutout(x, self.cutout, gen)

    def _randaugment(self, img: torch.Tensor) -> torch.Tensor:
        from PIL import Image

        pil = Image.fromarray(img.permute(1, 2, 0).contiguous().numpy())
        out = self.randaug(pil.convert("RGB"))
        return torch.from_numpy(np.asarray(out, dtype=np.uint8).copy()).permute(2, 0, 1)
