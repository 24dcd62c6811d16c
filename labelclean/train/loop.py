"""Training one fold of an image classifier: models, builders, one step per method, the
loop, TTA.

Models come from :mod:`labelclean.models.classifiers` (``small_cnn``, or any timm model
name). The builders make a fold's runtime (:mod:`labelclean.train.runtime`: device, mixed
precision on CUDA, seeded generators), model, AdamW optimiser and cosine schedule after a
linear warm-up. A training method is a :class:`TrainStep` (the plain one:
:class:`CrossEntropyStep`) that :func:`run_epochs` drives over shuffled batches; batch
augmentation presets are in :mod:`labelclean.train.augment`. Prediction averages the flips
the preset trained on (test-time augmentation).

On the CPU every run with the same seed gives the same weights and probabilities.
Import this module lazily: it needs torch.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from labelclean.errors import ConfigError, TrainingError
from labelclean.models.classifiers import build_classifier, check_model, default_image_size
from labelclean.models.inputs import ImageRows, Normalise
from labelclean.train.augment import Augmentation, augment_batch, get_augmentation
from labelclean.train.runtime import Runtime, autocast, setup_runtime

#: Decoded training images are kept in memory when they need at most this many bytes.
CACHE_BYTES = 2 * 1024**3
#: The default peak learning rate of AdamW (:attr:`TrainConfig.lr`).
DEFAULT_LR = 3e-3
#: A run stops when its loss is not finite, or this many times its first loss (or 1).
LOSS_GROWTH = 1000.0
#: The loss is checked every this many batches and at each epoch's end (not after every
#: batch, so a GPU is not made to wait).
CHECK_EVERY = 32


# -- images -----------------------------------------------------------------------------

def preload(rows: ImageRows, progress: Callable[[int, int], None] | None = None,
            budget: int = CACHE_BYTES) -> torch.Tensor | ImageRows:
    """All images as one uint8 tensor (N, 3, S, S) when it fits ``budget``, else ``rows``."""
    if len(rows) * 3 * rows.size**2 > budget:
        return rows
    out = torch.empty((len(rows), 3, rows.size, rows.size), dtype=torch.uint8)
    for i in range(len(rows)):
        out[i] = rows[i]
        if progress is not None and ((i + 1) % 256 == 0 or i + 1 == len(rows)):
            progress(i + 1, len(rows))
    return out


def _batches(images, rows: np.ndarray, batch_size: int, workers: int):
    """uint8 batches (B, 3, S, S) of ``rows`` in the given order."""
    if isinstance(images, torch.Tensor):
        for start in range(0, len(rows), batch_size):
            yield images[torch.from_numpy(rows[start:start + batch_size])]
        return
    subset = torch.utils.data.Subset(images, rows.tolist())
    yield from torch.utils.data.DataLoader(subset, batch_size=batch_size, shuffle=False,
                                           num_workers=workers)


# -- configuration ----------------------------------------------------------------------

@dataclass
class TrainConfig:
    """Everything that decides one fold's training (part of the resume fingerprint)."""

    model: str = "small_cnn"
    image_size: int | None = None  # None: the model's default
    epochs: int = 10
    batch_size: int = 64
    lr: float = DEFAULT_LR
    weight_decay: float = 5e-4
    warmup_epochs: float = 1.0
    loss: str = "label_smoothing"
    loss_params: dict[str, Any] = field(default_factory=dict)
    augment: str = "light"
    tta: bool = True
    pretrained: bool = False
    weights: str | None = None
    device: str = "auto"
    workers: int = 0

    def resolved(self) -> TrainConfig:
        """A copy with the image size filled in and the names checked."""
        from labelclean.train.losses import make_loss

        check_model(self.model)
        get_augmentation(self.augment)
        make_loss(self.loss, **self.loss_params)
        for name, value in (("epochs", self.epochs), ("batch size", self.batch_size)):
            if value < 1:
                raise ConfigError(f"{name} must be at least 1, not {value}")
        if not math.isfinite(self.lr) or self.lr <= 0:
            raise ConfigError(f"`lr` must be a positive, finite number, not {self.lr:g}; "
                              f"try `lr` {DEFAULT_LR:g} (the default)")
        if self.image_size is not None and self.image_size < 8:
            raise ConfigError(f"image size must be at least 8 pixels, not {self.image_size}")
        size = self.image_size or default_image_size(self.model)
        return TrainConfig(**{**asdict(self), "image_size": size})


def check_input_size(config: TrainConfig, n_classes: int) -> None:
    """Fail now, with a :class:`ConfigError`, if the model cannot take the configured size.

    Builds the model with random weights and runs one blank image through it, so a size a
    network cannot take is one clear error before any fold is trained.
    """
    from labelclean.models.backbones import image_size_errors

    size = int(config.image_size)
    with image_size_errors(config.model, size), torch.no_grad():
        net, _ = build_classifier(config.model, n_classes, image_size=size)
        net.eval()(torch.zeros(1, 3, size, size))


# -- builders ---------------------------------------------------------------------------

def build_model(config: TrainConfig, n_classes: int, device: torch.device) -> nn.Module:
    """A fresh classifier for ``config`` on ``device`` (channels-last on CUDA)."""
    net, _ = build_classifier(config.model, n_classes, image_size=config.image_size,
                              weights=config.weights, pretrained=config.pretrained)
    layout = torch.channels_last if device.type == "cuda" else torch.preserve_format
    return net.to(device, memory_format=layout)


def build_optimizer(net: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """AdamW over all of ``net``'s parameters at ``config.lr`` and ``config.weight_decay``."""
    return torch.optim.AdamW(net.parameters(), lr=config.lr, weight_decay=config.weight_decay)


def build_schedule(optimizer: torch.optim.Optimizer, config: TrainConfig, n_train: int):
    """Linear warm-up for ``config.warmup_epochs``, then cosine decay to 0; stepped per batch."""
    per_epoch = math.ceil(n_train / config.batch_size)
    warmup_steps, total_steps = int(config.warmup_epochs * per_epoch), config.epochs * per_epoch

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


# -- one step per method ----------------------------------------------------------------

@dataclass
class Batch:
    """One batch the loop hands a step: uint8 images (B, 3, S, S) on the CPU, their row
    numbers, their given labels (B,) int64 on the CPU, and the epoch."""

    images: torch.Tensor
    rows: np.ndarray
    targets: torch.Tensor
    epoch: int


class TrainStep(Protocol):
    """What a training method supplies to :func:`run_epochs`.

    A method owns its nets, optimisers and schedules (built with the builders above).
    ``begin_epoch`` runs before each epoch and may return the rows to train on in it
    (``None``: the fold's training rows), e.g. after a co-divide; ``__call__`` updates on
    one batch and returns its losses, or ``None`` when it skipped the batch; ``model`` is
    the net that predicts once training ends (an EMA copy, or an ensemble).
    """

    def begin_epoch(self, epoch: int) -> np.ndarray | None: ...

    def __call__(self, batch: Batch) -> dict[str, torch.Tensor] | None: ...

    def model(self) -> nn.Module: ...


class CrossEntropyStep:
    """The plain method: one net, ``loss_fn`` on the augmented batch, one optimiser step."""

    def __init__(self, net: nn.Module, loss_fn: nn.Module, optimizer: torch.optim.Optimizer,
                 scheduler, runtime: Runtime, aug: Augmentation) -> None:
        self.net, self.loss_fn, self.optimizer, self.scheduler = net, loss_fn, optimizer, scheduler
        self.runtime, self.aug = runtime, aug
        self.norm = Normalise.of(net, runtime.device)
        self.has_batch_norm = any(isinstance(m, nn.BatchNorm2d) for m in net.modules())

    def begin_epoch(self, epoch: int) -> None:
        self.net.train()

    def __call__(self, batch: Batch) -> dict[str, torch.Tensor] | None:
        rt = self.runtime
        y = batch.targets.to(rt.device)
        if len(y) < 2 and self.has_batch_norm:
            return None  # batch norm cannot train on a single image
        x = self.norm(augment_batch(self.norm.floats(batch.images), self.aug, rt.gen))
        with rt.amp.autocast():
            loss = self.loss_fn(self.net(x), y)
        rt.amp.backward_step(loss, self.optimizer)
        self.scheduler.step()
        return {"loss": loss.detach()}

    def model(self) -> nn.Module:
        return self.net


class LogitSum(nn.Module):
    """Several nets as one: ``forward`` returns the sum of their logits (B, K), as
    DivideMix tests with both of its nets. A method whose ``model()`` is an ensemble returns
    one of these, so a saved model can be rebuilt from its members."""

    def __init__(self, nets: list[nn.Module]) -> None:
        super().__init__()
        self.nets = nn.ModuleList(nets)
        self.pretrained_cfg = getattr(nets[0], "pretrained_cfg", None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return sum(net(x) for net in self.nets)


# -- the loop ---------------------------------------------------------------------------

class LossDiverged(TrainingError):
    """The loss became NaN or infinite, or grew :data:`LOSS_GROWTH`-fold, in ``epoch`` (from 0);
    ``where`` (e.g. ``"fold 2, "``) goes before the epoch in the message."""

    def __init__(self, config: TrainConfig, epoch: int, loss: float, first: float,
                 where: str = "") -> None:
        self.config, self.epoch, self.loss, self.first = config, epoch, loss, first
        what = (f"became {loss}" if not math.isfinite(loss)
                else f"grew from {first:.3g} to {loss:.3g}")
        at = f"{what} in {where}epoch {epoch + 1}"
        lr = config.lr
        if lr > DEFAULT_LR:
            text = f"`lr` {lr:g} is too large: the loss {at}; try `lr` {DEFAULT_LR:g}"
        else:
            text = (f"training diverged: the loss {at} (`lr` {lr:g}, `loss` {config.loss}); "
                    f"try a smaller `lr` such as {lr / 10:g}, or `loss` cross_entropy")
        super().__init__(text)

    def at(self, where: str) -> LossDiverged:
        """The same error, its message naming ``where`` (``"fold 2, "``)."""
        return LossDiverged(self.config, self.epoch, self.loss, self.first, where)


class _LossWatch:
    """The largest loss since the last check, kept on the device (NaN wins); checked every
    :data:`CHECK_EVERY` batches and at the end of each epoch. Reads only, so the run's
    numbers are the same with it."""

    def __init__(self, config: TrainConfig) -> None:
        self.config, self.first, self.peak, self.count = config, None, None, 0

    def add(self, losses: dict[str, torch.Tensor], epoch: int) -> None:
        values = [torch.as_tensor(v).detach().float().reshape(-1) for v in losses.values()]
        if not values:
            return
        worst = torch.cat(values).max()
        if self.first is None:
            self.first = float(worst)
        self.peak = worst if self.peak is None else torch.maximum(self.peak, worst)
        self.count += 1
        if self.count % CHECK_EVERY == 0:
            self.check(epoch)

    def check(self, epoch: int) -> None:
        if self.peak is None:
            return
        peak, self.peak = float(self.peak), None
        first = self.first if self.first is not None and math.isfinite(self.first) else 1.0
        if not math.isfinite(peak) or peak > LOSS_GROWTH * max(first, 1.0):
            raise LossDiverged(self.config, epoch, peak, first)


def run_epochs(method: TrainStep, images, labels: np.ndarray, train_rows: np.ndarray,
               config: TrainConfig, rng: np.random.Generator,
               step: Callable[[int, int], None] | None = None, *, start_epoch: int = 0,
               on_epoch_end: Callable[[int], None] | None = None) -> None:
    """Epochs ``start_epoch..config.epochs-1`` of ``method`` over shuffled batches of
    ``images``.

    ``step(epoch, n_epochs)`` is called after every batch the method trained on, and
    ``on_epoch_end(epoch)`` after each epoch (e.g. to evaluate and save a resume point:
    restoring ``rng`` and the method's state there and passing ``start_epoch = epoch + 1``
    continues the run exactly). A loss that becomes NaN or infinite, or grows
    :data:`LOSS_GROWTH`-fold, raises :class:`LossDiverged`.
    """
    targets = torch.tensor(np.asarray(labels, dtype=np.int64))
    size = config.batch_size
    watch = _LossWatch(config)
    for epoch in range(start_epoch, config.epochs):
        rows = method.begin_epoch(epoch)
        order = rng.permutation(np.asarray(train_rows if rows is None else rows))
        for batch, start in zip(_batches(images, order, size, config.workers),
                                range(0, len(order), size)):
            picked = order[start:start + size]
            losses = method(Batch(images=batch, rows=picked, epoch=epoch,
                                  targets=targets[torch.from_numpy(picked)]))
            if losses is not None:
                watch.add(losses, epoch)
                if step is not None:
                    step(epoch, config.epochs)
        watch.check(epoch)
        if on_epoch_end is not None:
            on_epoch_end(epoch)


def train_fold(images, labels: np.ndarray, train_rows: np.ndarray, n_classes: int,
               config: TrainConfig, *, seed: int = 0,
               step: Callable[[int, int], None] | None = None) -> nn.Module:
    """Train a fresh model on ``train_rows`` of ``images``; returns it in eval mode.

    Parameters
    ----------
    images : uint8 tensor (N, 3, S, S) or :class:`ImageRows` of N images.
    labels : (N,) class codes in ``0..n_classes-1``; only ``train_rows`` are read.
    train_rows : row numbers to train on.
    config : a :meth:`TrainConfig.resolved` configuration.
    step : called as ``step(epoch, n_epochs)`` after every optimiser step.
    """
    from labelclean.train.losses import make_loss

    runtime = setup_runtime(config.device, seed)
    net = build_model(config, n_classes, runtime.device)
    optimizer = build_optimizer(net, config)
    method = CrossEntropyStep(net, make_loss(config.loss, **config.loss_params), optimizer,
                              build_schedule(optimizer, config, len(train_rows)), runtime,
                              get_augmentation(config.augment))
    run_epochs(method, images, labels, train_rows, config, runtime.rng, step=step)
    return method.model().eval()


@torch.no_grad()
def predict_probs(net: nn.Module, images, rows: np.ndarray, config: TrainConfig,
                  norm: Normalise | None = None) -> np.ndarray:
    """Softmax probabilities (len(rows), K), averaged over the preset's TTA flips;
    ``norm``: the input normalisation (default: the net's own)."""
    device = next(net.parameters()).device
    norm = norm if norm is not None else Normalise.of(net, device)
    views = get_augmentation(config.augment).tta_views() if config.tta else ["none"]
    out = []
    for batch in _batches(images, np.asarray(rows), config.batch_size, config.workers):
        x = norm(norm.floats(batch))
        probs = 0
        for view in views:
            xv = x.flip(3) if view == "hflip" else x.flip(2) if view == "vflip" else x
            with autocast(device):
                probs = probs + F.softmax(net(xv).float(), dim=1)
        out.append((probs / len(views)).cpu().numpy())
    return np.concatenate(out)
