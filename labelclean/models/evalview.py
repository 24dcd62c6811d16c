"""A model's eval resize and crop in PIL and numpy only, so decoding needs no torch.

timm's eval transform for most models is torchvision's ``Resize`` (the shorter side to S,
or both sides), ``CenterCrop`` (H, W) and a uint8 tensor conversion. :func:`eval_view`
reads those steps into an :class:`EvalView` that does the same to a PIL image, pixel for
pixel (torchvision resizes a PIL image with PIL itself), and returns a numpy array. A
process that only decodes (a Ray task, a DataLoader worker) then never imports torch,
torchvision or timm: on a small machine those imports cost seconds per worker.
Transforms with any other step give None, and callers keep the transform itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

#: torchvision's interpolation names -> PIL's resampling filters
_RESAMPLE = {"nearest": Image.Resampling.NEAREST, "bilinear": Image.Resampling.BILINEAR,
             "bicubic": Image.Resampling.BICUBIC, "box": Image.Resampling.BOX,
             "hamming": Image.Resampling.HAMMING, "lanczos": Image.Resampling.LANCZOS}
_TO_TENSOR = ("MaybePILToTensor", "PILToTensor")


@dataclass(frozen=True)
class EvalView:
    """One RGB PIL image -> uint8 (3, H, W) array: resized, then centre-cropped.

    ``short_side``: the shorter side after resizing (aspect kept), or None with ``size``
    (H, W) to resize to exactly; ``crop`` (H, W); ``resample``: a PIL filter.
    """

    crop: tuple[int, int]
    resample: int
    short_side: int | None = None
    size: tuple[int, int] | None = None

    def __call__(self, img: Image.Image) -> np.ndarray:
        img = self._resized(img)
        img = _centre_crop(img, *self.crop)
        return np.ascontiguousarray(np.asarray(img, dtype=np.uint8).transpose(2, 0, 1))

    def _resized(self, img: Image.Image) -> Image.Image:
        w, h = img.size
        if self.short_side is None:
            new_h, new_w = self.size
        else:
            short, long = (w, h) if w <= h else (h, w)
            new_short, new_long = self.short_side, int(self.short_side * long / short)
            new_w, new_h = (new_short, new_long) if w <= h else (new_long, new_short)
        if (new_w, new_h) == (w, h):
            return img
        return img.resize((new_w, new_h), self.resample)


def _centre_crop(img: Image.Image, crop_h: int, crop_w: int) -> Image.Image:
    """torchvision's ``center_crop`` of a PIL image: zero padding where the crop is larger."""
    w, h = img.size
    if crop_w > w or crop_h > h:
        left, top = max(0, (crop_w - w) // 2), max(0, (crop_h - h) // 2)
        right, bottom = max(0, (crop_w - w + 1) // 2), max(0, (crop_h - h + 1) // 2)
        canvas = Image.new(img.mode, (w + left + right, h + top + bottom), 0)
        canvas.paste(img, (left, top))
        img, (w, h) = canvas, canvas.size
        if (w, h) == (crop_w, crop_h):
            return img
    top, left = int(round((h - crop_h) / 2.0)), int(round((w - crop_w) / 2.0))
    return img.crop((left, top, left + crop_w, top + crop_h))


def eval_view(transform: Any) -> EvalView | None:
    """The :class:`EvalView` doing what ``transform`` (a torchvision ``Compose``) does, or
    None when it holds any step other than Resize (no ``max_size``), CenterCrop and a
    uint8 tensor conversion, in that order."""
    steps = list(getattr(transform, "transforms", None) or [])
    names = [type(step).__name__ for step in steps]
    if len(steps) != 3 or names[:2] != ["Resize", "CenterCrop"] or names[2] not in _TO_TENSOR:
        return None
    resize, crop = steps[0], steps[1]
    mode = getattr(getattr(resize, "interpolation", None), "value", None)
    if getattr(resize, "max_size", None) is not None or mode not in _RESAMPLE:
        return None
    size = resize.size
    size = [size] if isinstance(size, int) else list(size)
    crop_size = crop.size if isinstance(crop.size, (tuple, list)) else (crop.size,)
    crop_hw = (int(crop_size[0]), int(crop_size[-1]))
    if len(size) == 1:
        return EvalView(crop=crop_hw, resample=_RESAMPLE[mode], short_side=int(size[0]))
    return EvalView(crop=crop_hw, resample=_RESAMPLE[mode], size=(int(size[0]), int(size[1])))
