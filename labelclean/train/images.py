"""Picking rows out of an image store, for methods that draw images outside the loop's batches
(DivideMix's co-divide pass and unlabeled batches, FixMatch's unlabeled batches).

A store is a uint8 tensor (N, 3, S, S) (preloaded, :func:`labelclean.train.loop.preload`) or
an :class:`~labelclean.models.inputs.ImageRows` that decodes row ``i`` on demand.
Import this module lazily: it needs torch.
"""

from __future__ import annotations

import numpy as np
import torch


def gather(images, rows, workers: int = 0) -> torch.Tensor:
    """The images at ``rows``, in that order, as one uint8 tensor (len(rows), 3, S, S) on the CPU.

    ``images`` is a uint8 tensor (N, 3, S, S) or an ``ImageRows`` (items are tensors, or
    ``(tensor, reason)`` pairs when it was built with ``blank``); ``workers`` > 0 decodes an
    ``ImageRows`` in that many processes. Rows may repeat.
    """
    index = np.asarray(rows, dtype=np.int64).reshape(-1)
    if isinstance(images, torch.Tensor):
        return images[torch.from_numpy(index)]
    if len(index) == 0:
        side = images.size or _item(images[0]).shape[-1]
        return torch.empty((0, 3, side, side), dtype=torch.uint8)
    if workers > 0:
        subset = torch.utils.data.Subset(images, index.tolist())
        loader = torch.utils.data.DataLoader(subset, batch_size=64, num_workers=workers,
                                             collate_fn=_collate)
        return torch.stack([item for chunk in loader for item in chunk])
    return torch.stack([_item(images[int(i)]) for i in index])


def chunks(images, rows, size: int, workers: int = 0):
    """``(rows_chunk, uint8 images)`` pairs over ``rows`` in order, ``size`` rows at a time."""
    index = np.asarray(rows, dtype=np.int64).reshape(-1)
    for start in range(0, len(index), size):
        part = index[start:start + size]
        yield part, gather(images, part, workers)


def _collate(items: list) -> list[torch.Tensor]:
    return [_item(i) for i in items]


def _item(item) -> torch.Tensor:
    """An ``ImageRows`` item -> its uint8 tensor (drops the reason of a ``blank`` store)."""
    return item[0] if isinstance(item, tuple) else item
