"""Where a fold trains: the device, mixed precision on CUDA, and seeded generators.

Every training method starts with :func:`setup_runtime` (before it builds a model, so the
weights' initialisation is seeded too) and steps its optimisers through
:meth:`MixedPrecision.backward_step`. Import this module lazily: it needs torch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


def autocast(device: torch.device):
    """float16 autocast on CUDA; a no-op context elsewhere."""
    return torch.autocast(device.type, dtype=torch.float16, enabled=device.type == "cuda")


class MixedPrecision:
    """Autocast plus loss scaling on CUDA (a no-op elsewhere), shared by a fold's optimisers."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.scaler = torch.amp.GradScaler("cuda", enabled=device.type == "cuda")

    def autocast(self):
        return autocast(self.device)

    def backward_step(self, loss: torch.Tensor, optimizer: torch.optim.Optimizer) -> None:
        """Zero the gradients, back-propagate the (scaled) ``loss`` and step ``optimizer``."""
        optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(optimizer)
        self.scaler.update()


@dataclass
class Runtime:
    """Where a fold trains and its seeded randomness.

    ``rng`` orders the batches, ``gen`` draws the augmentations, torch's global generator
    (seeded by :func:`setup_runtime`) initialises the weights.
    """

    device: torch.device
    amp: MixedPrecision
    rng: np.random.Generator
    gen: torch.Generator


def setup_runtime(device: str, seed: int) -> Runtime:
    """Resolve ``device`` and seed every generator a fold draws from (call before building)."""
    from labelclean.models.backbones import resolve_device

    dev = resolve_device(device)
    torch.manual_seed(seed)
    return Runtime(device=dev, amp=MixedPrecision(dev), rng=np.random.default_rng(seed),
                   gen=torch.Generator().manual_seed(seed))
