"""The ce method of the train stage: one net, a noise-robust loss, and optionally an average
of its weights.

:class:`CEStep` is the oof stage's :class:`~labelclean.train.loop.CrossEntropyStep` (same
losses, AdamW, cosine schedule after a warm-up, batch augmentation) plus what a training
run needs: an exponential moving average of the weights (``timm.utils.ModelEmaV3``,
evaluated instead of the net) or stochastic weight averaging of the last ``swa`` epochs
(``torch.optim.swa_utils.AveragedModel``, batch-norm statistics recomputed with
``update_bn`` on the training images), and its state for an exact resume.
Import this module lazily: it needs torch.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from labelclean.errors import ConfigError
from labelclean.models.inputs import Normalise
from labelclean.train.augment import get_augmentation
from labelclean.train.loop import (
    Batch,
    CrossEntropyStep,
    TrainConfig,
    _batches,
    build_model,
    build_optimizer,
    build_schedule,
)
from labelclean.train.runtime import Runtime


class CEStep:
    """A :class:`~labelclean.train.loop.TrainStep`: cross-entropy-style training of one net.

    Parameters
    ----------
    config : a resolved :class:`TrainConfig` (model, loss, lr, epochs, augmentation).
    images : the store (uint8 (N, 3, S, S) tensor or ``ImageRows``), for SWA's batch norm.
    train_rows : (M,) rows of ``images`` trained on.
    ema : decay of the weights' moving average (0: none).
    swa : average the weights at the end of each of the last ``swa`` epochs (0: none).
    """

    def __init__(self, config: TrainConfig, images, train_rows: np.ndarray, n_classes: int,
                 runtime: Runtime, *, ema: float = 0.0, swa: int = 0) -> None:
        from labelclean.train.losses import make_loss

        if ema and swa:
            raise ConfigError("`ema` and `swa` both average the weights; choose one")
        if swa > config.epochs:
            raise ConfigError(f"`swa` {swa} averages more epochs than `epochs` "
                              f"{config.epochs}; give `swa` {config.epochs} or fewer")
        self.config, self.images, self.train_rows = config, images, np.asarray(train_rows)
        self.net = build_model(config, n_classes, runtime.device)
        self.optimizer = build_optimizer(self.net, config)
        self.scheduler = build_schedule(self.optimizer, config, len(self.train_rows))
        self.inner = CrossEntropyStep(self.net, make_loss(config.loss, **config.loss_params),
                                      self.optimizer, self.scheduler, runtime,
                                      get_augmentation(config.augment))
        self.runtime, self.updates = runtime, 0
        self.ema = self._ema(ema) if ema else None
        self.swa_start = config.epochs - swa if swa else None
        self.swa = torch.optim.swa_utils.AveragedModel(self.net) if swa else None
        self._bn_fresh = False

    def _ema(self, decay: float):
        from timm.utils import ModelEmaV3

        return ModelEmaV3(self.net, decay=decay, use_warmup=True)

    # -- the TrainStep protocol -----------------------------------------------------------
    def begin_epoch(self, epoch: int) -> None:
        self.inner.begin_epoch(epoch)

    def __call__(self, batch: Batch) -> dict[str, torch.Tensor] | None:
        losses = self.inner(batch)
        if losses is not None:
            self.updates += 1
            if self.ema is not None:
                self.ema.update(self.net, step=self.updates)
        return losses

    def end_epoch(self, epoch: int) -> None:
        """After each epoch: fold the weights into the SWA average in the last epochs."""
        if self.swa is not None and epoch >= self.swa_start:
            self.swa.update_parameters(self.net)
            self._bn_fresh = False

    def model(self) -> nn.Module:
        """The net to evaluate: the SWA average (batch norm recomputed), the EMA copy, or
        the net itself."""
        if self.swa is not None and int(self.swa.n_averaged) > 0:
            if not self._bn_fresh:
                self._update_bn()
            return self.swa.module
        return self.ema.module if self.ema is not None else self.net

    def _update_bn(self) -> None:
        """Recompute the SWA model's batch-norm statistics on the un-augmented training
        images (a no-op for a net without batch norm)."""
        norm = Normalise.of(self.net, self.runtime.device)
        batches = (norm(norm.floats(b)) for b in _batches(
            self.images, self.train_rows, self.config.batch_size, self.config.workers))
        torch.optim.swa_utils.update_bn(batches, self.swa, device=self.runtime.device)
        self._bn_fresh = True

    def epoch_metrics(self) -> dict[str, float]:
        return {}

    def current_lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    # -- resume ---------------------------------------------------------------------------
    def state_dict(self) -> dict:
        state = {"net": self.net.state_dict(), "optimizer": self.optimizer.state_dict(),
                 "scheduler": self.scheduler.state_dict(), "updates": self.updates}
        if self.ema is not None:
            state["ema"] = self.ema.state_dict()
        if self.swa is not None:
            state["swa"] = self.swa.state_dict()
        return state

    def load_state_dict(self, state: dict) -> None:
        self.net.load_state_dict(state["net"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.updates = int(state["updates"])
        if self.ema is not None:
            self.ema.load_state_dict(state["ema"])
        if self.swa is not None:
            self.swa.load_state_dict(state["swa"])
            self._bn_fresh = False
