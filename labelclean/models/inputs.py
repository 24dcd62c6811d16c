"""What a model is fed: image files as rows for a torch DataLoader, and the batch normaliser.

Cheap to import: torch is imported when a row is read or a normaliser is made.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from labelclean.errors import ConfigError
from labelclean.io.imageio import UnreadableImage, load_rgb

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class ImageRows:
    """A map-style dataset of image files: row ``i`` -> uint8 tensor (3, H, W).

    Parameters
    ----------
    paths : one file per row; ``None`` marks a row known to be unreadable (its reason in
        ``errors[i]``).
    size : squash every image to ``size`` x ``size`` (bilinear), unless ``transform``.
    transform : one RGB PIL image -> uint8 (3, H, W) tensor or numpy array (e.g. a model's
        eval resize and crop, :attr:`~labelclean.models.backbones.Encoder.decode_transform`).
    max_side : JPEGs are decoded in draft mode down to this side; default ``2 * size``
        (None without ``size``: decoded in full).
    blank : (3, H, W). When given, bad data is data: item ``i`` is ``(tensor, "")``, or
        ``(zeros(blank), reason)`` for a file that cannot be decoded. Without it, item
        ``i`` is the tensor and an unreadable file raises
        :class:`~labelclean.errors.ConfigError` naming it (the scan found it readable).
    errors : (N,) reasons of the rows whose path is None.
    """

    def __init__(self, paths: Sequence[str | None], size: int | None = None, *,
                 transform: Callable[[Any], Any] | None = None, max_side: int | None = None,
                 blank: Sequence[int] | None = None,
                 errors: Sequence[str] | None = None) -> None:
        self.paths = list(paths)
        self.size = int(size) if size else None
        self.transform = transform or self._squash
        self.max_side = max_side if max_side is not None else (
            2 * self.size if self.size else None)
        self.blank = tuple(blank) if blank is not None else None
        self.errors = errors

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int):
        import torch

        if self.blank is None:
            return _as_tensor(self._strict(i))
        image, error = self.array(i)
        return torch.from_numpy(image), error

    def array(self, i: int) -> tuple[np.ndarray, str]:
        """Row ``i`` as ``(uint8 (3, H, W) array, "")``, or ``(zeros(blank), reason)`` for a
        file that cannot be decoded (needs ``blank``). Imports torch only when
        ``transform`` returns tensors."""
        path = self.paths[i]
        if path is None:
            error = (self.errors[i] if self.errors else "") or "unreadable in the index"
        else:
            try:
                image = self.transform(load_rgb(path, max_side=self.max_side))
                return (image if isinstance(image, np.ndarray) else image.numpy()), ""
            except Exception as exc:  # bad data is data: UnreadableImage or a decoder bug
                error = str(exc) or type(exc).__name__
        return np.zeros(self.blank, dtype=np.uint8), error

    def _strict(self, i: int):
        try:
            img = load_rgb(self.paths[i], max_side=self.max_side)
        except UnreadableImage as exc:
            raise ConfigError(f"image {self.paths[i]} cannot be read any more ({exc}); run "
                              "'labelclean scan' again") from None
        return self.transform(img)

    def _squash(self, img):
        import torch
        from PIL import Image

        img = img.resize((self.size, self.size), Image.Resampling.BILINEAR)
        return torch.from_numpy(np.asarray(img, dtype=np.uint8).copy()).permute(2, 0, 1)


def _as_tensor(image):
    """A transform's output as a torch tensor (numpy arrays are wrapped, not copied)."""
    import torch

    return torch.from_numpy(image) if isinstance(image, np.ndarray) else image


class Normalise:
    """uint8 image batches (B, 3, H, W) -> model inputs ``(x / 255 - mean) / std`` on ``device``.

    :meth:`floats` then :meth:`__call__` (training: the augmentation works in [0, 1] between
    them), or :meth:`fused` in one step (embedding).
    """

    def __init__(self, mean: Sequence[float], std: Sequence[float], device: Any) -> None:
        import torch

        self.device = device
        self.mean = torch.tensor(mean, dtype=torch.float32, device=device).view(1, 3, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32, device=device).view(1, 3, 1, 1)
        self.scale = 1.0 / (255.0 * self.std)
        self.shift = -self.mean / self.std

    @classmethod
    def of(cls, net: Any, device: Any) -> Normalise:
        """The normaliser of ``net``'s pretrained config (ImageNet statistics without one)."""
        cfg = getattr(net, "pretrained_cfg", None) or {}
        return cls(cfg.get("mean", IMAGENET_MEAN), cfg.get("std", IMAGENET_STD), device)

    def floats(self, batch):
        """uint8 (B, 3, H, W) -> float32 in [0, 1] on the device."""
        return batch.to(self.device, non_blocking=True).float() / 255.0

    def __call__(self, x):
        """float (B, 3, H, W) in [0, 1] -> normalised."""
        return (x - self.mean) / self.std

    def fused(self, batch):
        """uint8 (B, 3, H, W) -> normalised, in one fused multiply-add on the device."""
        import torch

        return torch.addcmul(self.shift, batch.to(self.device, non_blocking=True).float(),
                             self.scale)
