"""FixMatch (Sohn et al., 2020): a labeled batch plus ``mu`` times as many unlabeled images;
each unlabeled image's weak view gives a pseudo-label, kept when its confidence reaches the
threshold, which the strong view is trained to predict.

Per batch of B labeled rows: ``mu * B`` unlabeled rows are drawn without replacement from a
shuffled pass over ``unlabeled_rows`` (a new pass, shuffled with ``runtime.rng``, when one
runs out, as the reference's unlabeled loader); one forward over labeled weak views,
unlabeled weak views and unlabeled strong views (:mod:`labelclean.train.strong`);
``loss = CE(labeled) + lambda_u * mean(mask * CE(strong, pseudo-label))`` with
``mask = max softmax(weak) >= threshold``. Predictions come from an EMA of the weights
(timm's ``ModelEmaV3``).

Defaults, small data on a CPU (what :class:`FixMatchSettings` holds): threshold 0.95,
**mu 2** (the paper's 7 makes an epoch about 15 times a plain one: too slow on a CPU), lambda_u
1, AdamW at the run's ``lr`` (3e-3) and weight decay, EMA decay 0.999 with timm's decay
warm-up (``1 - (1 + step)^(-2/3)``, capped at 0.999: a run of a few hundred steps would
otherwise predict with weights still close to their random start), the paper's cosine.
Measured on sklearn digits rendered at 32 px, ``small_cnn``, 30 epochs, seed 0, labeled =
880 correctly labeled images, unlabeled = 378 others: FixMatch 97.6% held-out accuracy
(mu 1: 97.4%, its net without the EMA 96.8%; SGD at lr 0.03: 97.0%), against 97.6% for plain
training with cross-entropy on the labeled images alone and 98.0% with label smoothing
(the default `loss` of plain training). FixMatch took 150 s of CPU time on one thread.

The paper's defaults, real photos on a GPU (CIFAR/ImageNet-style): threshold 0.95, mu 7,
lambda_u 1, ``optimizer="sgd"`` (nesterov, momentum 0.9, ``lr`` 0.03, weight decay 5e-4 not
applied to biases and batch-norm weights), ``lr * cos(7 pi k / 16 K)`` over K steps, EMA 0.999
(``ema_warmup=False`` for runs of many thousand steps), batch 64, RandAugment 2 ops with
Cutout of half the side.

Import this module lazily: it needs torch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from labelclean.errors import ConfigError
from labelclean.models.inputs import Normalise
from labelclean.train.augment import get_augmentation
from labelclean.train.images import gather
from labelclean.train.loop import Batch, TrainConfig, build_model, build_optimizer
from labelclean.train.runtime import Runtime
from labelclean.train.strong import StrongView, weak_view

OPTIMIZERS = ("adamw", "sgd")


@dataclass
class FixMatchSettings:
    """FixMatch's own settings (the run's model, epochs, batch size and lr are in TrainConfig).

    threshold : a pseudo-label counts when its softmax confidence is at least this.
    mu : unlabeled images per labeled image in a batch.
    lambda_u : weight of the unlabeled loss.
    ema_decay : decay of the weights' moving average that predicts.
    ema_warmup : ramp the decay up as ``1 - (1 + step)^(-2/3)`` (capped at ``ema_decay``).
    optimizer : ``adamw`` (the loop's AdamW) or ``sgd`` (nesterov, no decay on biases / BN).
    momentum : SGD's momentum.
    cosine_fraction : the schedule is ``lr * cos(pi * cosine_fraction * k / K)``; 7/16 is the
        paper's (ends at 0.2 lr).
    n_ops, magnitude, cutout : the strong view's RandAugment ops per image, largest
        magnitude (of 10) and Cutout side (fraction of the image side).
    """

    threshold: float = 0.95
    mu: int = 2
    lambda_u: float = 1.0
    ema_decay: float = 0.999
    ema_warmup: bool = True
    optimizer: str = "adamw"
    momentum: float = 0.9
    cosine_fraction: float = 7 / 16
    n_ops: int = 2
    magnitude: int = 10
    cutout: float = 0.5

    def check(self) -> None:
        """Raise :class:`ConfigError` for a setting out of range."""
        if not 0 < self.threshold <= 1:
            raise ConfigError(f"`threshold` must be in (0, 1], not {self.threshold:g}")
        if self.mu < 1:
            raise ConfigError(f"`mu` must be at least 1, not {self.mu}")
        if self.lambda_u < 0:
            raise ConfigError(f"`lambda_u` must be at least 0, not {self.lambda_u:g}")
        if not 0 <= self.ema_decay < 1:
            raise ConfigError(f"the EMA decay must be in [0, 1), not {self.ema_decay:g}")
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"unknown optimizer '{self.optimizer}'; choose one of: "
                              f"{', '.join(OPTIMIZERS)}")


def check_fixmatch(train_rows: np.ndarray, unlabeled_rows: np.ndarray) -> None:
    """Raise :class:`ConfigError` unless FixMatch has labeled and unlabeled images, disjoint."""
    if len(train_rows) == 0:
        raise ConfigError("FixMatch has no labeled training images")
    if len(unlabeled_rows) == 0:
        raise ConfigError("FixMatch needs unlabeled images, and there are none: no image was "
                          "flagged or sent to review, and no `unlabeled` folder was given; "
                          "give `unlabeled` DIR or use `method` ce")
    both = np.intersect1d(train_rows, unlabeled_rows)
    if len(both):
        raise ConfigError(f"{len(both)} rows are both labeled and unlabeled for FixMatch")


def build_sgd(net: nn.Module, config: TrainConfig, momentum: float = 0.9,
              nesterov: bool = True) -> torch.optim.SGD:
    """SGD at ``config.lr``; ``config.weight_decay`` on weights, none on biases and norms."""
    decay, plain = [], []
    for p in net.parameters():
        (plain if p.ndim <= 1 else decay).append(p)
    groups = [{"params": decay, "weight_decay": config.weight_decay},
              {"params": plain, "weight_decay": 0.0}]
    return torch.optim.SGD(groups, lr=config.lr, momentum=momentum, nesterov=nesterov)


def make_optimizer(net: nn.Module, config: TrainConfig, name: str,
                   momentum: float = 0.9) -> torch.optim.Optimizer:
    """``adamw``: :func:`~labelclean.train.loop.build_optimizer`; ``sgd``: :func:`build_sgd`."""
    return build_sgd(net, config, momentum) if name == "sgd" else build_optimizer(net, config)


def seek(scheduler: torch.optim.lr_scheduler.LambdaLR, step: int) -> None:
    """Set every learning rate of ``scheduler``'s optimiser to its value at ``step``."""
    scheduler.last_epoch = step
    for group, base, factor in zip(scheduler.optimizer.param_groups, scheduler.base_lrs,
                                   scheduler.lr_lambdas):
        group["lr"] = base * factor(step)


def fixmatch_schedule(optimizer: torch.optim.Optimizer, total_steps: int,
                      fraction: float = 7 / 16) -> torch.optim.lr_scheduler.LambdaLR:
    """The paper's ``lr * cos(pi * fraction * k / K)`` over ``total_steps`` K."""
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda k: math.cos(math.pi * fraction * min(k, total_steps) / total_steps))


def masked_pseudo_label_loss(weak_logits: torch.Tensor, strong_logits: torch.Tensor,
                             threshold: float) -> tuple[torch.Tensor, torch.Tensor]:
    """``(loss, mask)``: ``mean(mask * CE(strong, argmax weak))`` over the M unlabeled images,
    ``mask`` (M,) 1.0 where ``max softmax(weak) >= threshold``; logits are (M, K)."""
    confidence, pseudo = F.softmax(weak_logits.detach().float(), dim=1).max(dim=1)
    mask = (confidence >= threshold).float()
    per_image = F.cross_entropy(strong_logits.float(), pseudo, reduction="none")
    return (per_image * mask).mean(), mask


class FixMatchStep:
    """FixMatch as a :class:`~labelclean.train.loop.TrainStep` (see the module docstring).

    ``images`` holds the labeled and the unlabeled rows; ``labels`` (N,) has -1 on unlabeled
    rows; the loop's batches are of ``train_rows``.
    """

    def __init__(self, config: TrainConfig, settings: FixMatchSettings, images,
                 labels: np.ndarray, train_rows: np.ndarray, unlabeled_rows: np.ndarray,
                 n_classes: int, runtime: Runtime) -> None:
        from timm.utils import ModelEmaV3

        settings.check()
        check_fixmatch(np.asarray(train_rows), np.asarray(unlabeled_rows))
        self.config, self.settings, self.images, self.runtime = config, settings, images, runtime
        self.unlabeled = np.asarray(unlabeled_rows, dtype=np.int64)
        self.net = build_model(config, n_classes, runtime.device)
        self.optimizer = make_optimizer(self.net, config, settings.optimizer, settings.momentum)
        self.per_epoch = math.ceil(len(train_rows) / config.batch_size)
        self.scheduler = fixmatch_schedule(self.optimizer, config.epochs * self.per_epoch,
                                           settings.cosine_fraction)
        self.ema = ModelEmaV3(self.net, decay=settings.ema_decay, use_warmup=settings.ema_warmup)
        self.ema.module.eval()
        self.norm = Normalise.of(self.net, runtime.device)
        self.flips = get_augmentation(config.augment)
        self.strong = StrongView(self.flips, settings.n_ops, settings.magnitude, settings.cutout)
        self.has_batch_norm = any(isinstance(m, nn.modules.batchnorm._BatchNorm)
                                  for m in self.net.modules())
        self.updates, self.batch_index = 0, 0
        self.order, self.position = np.empty(0, dtype=np.int64), 0
        self._reset_counts()

    def _reset_counts(self) -> None:
        self.masked = torch.zeros((), device=self.runtime.device)
        self.seen = 0

    def begin_epoch(self, epoch: int) -> None:
        self.epoch, self.batch_index = epoch, 0
        self.net.train()
        self._reset_counts()

    def draw_unlabeled(self, count: int) -> np.ndarray:
        """The next ``count`` unlabeled rows of the current shuffled pass (new passes as needed)."""
        out = []
        while count > 0:
            if self.position >= len(self.order):
                self.order, self.position = self.runtime.rng.permutation(self.unlabeled), 0
            take = self.order[self.position:self.position + count]
            self.position += len(take)
            count -= len(take)
            out.append(take)
        return np.concatenate(out) if out else np.empty(0, dtype=np.int64)

    def __call__(self, batch: Batch) -> dict[str, torch.Tensor] | None:
        rt, n = self.runtime, len(batch.rows)
        u_rows = self.draw_unlabeled(self.settings.mu * n)
        if n + 2 * len(u_rows) < 2 and self.has_batch_norm:
            return None
        u_images = gather(self.images, u_rows, self.config.workers)
        x = weak_view(self.norm.floats(batch.images), rt.gen, self.flips)
        u_weak = weak_view(self.norm.floats(u_images), rt.gen, self.flips)
        u_strong = self.strong(u_images, rt.gen, rt.device)
        self.net.train()
        with rt.amp.autocast():
            logits = self.net(self.norm(torch.cat([x, u_weak, u_strong]))).float()
        m = len(u_rows)
        loss_x = F.cross_entropy(logits[:n], batch.targets.to(rt.device))
        loss_u, mask = masked_pseudo_label_loss(logits[n:n + m], logits[n + m:],
                                                self.settings.threshold)
        loss = loss_x + self.settings.lambda_u * loss_u
        seek(self.scheduler, self.epoch * self.per_epoch + self.batch_index)
        rt.amp.backward_step(loss, self.optimizer)
        self.batch_index += 1
        self.updates += 1
        self.ema.update(self.net, step=self.updates)
        self.masked += mask.sum()
        self.seen += m
        return {"loss": loss.detach(), "loss_x": loss_x.detach(), "loss_u": loss_u.detach()}

    def model(self) -> nn.Module:
        """The EMA copy of the net, in eval mode (logits (B, K))."""
        return self.ema.module.eval()

    def epoch_metrics(self) -> dict[str, float]:
        """``mask_rate``: the fraction of the epoch's unlabeled images whose pseudo-label was
        kept (confidence >= threshold); NaN when the epoch had none."""
        return {"mask_rate": float(self.masked) / self.seen if self.seen else float("nan")}

    def state_dict(self) -> dict:
        """Everything needed to resume exactly at an epoch boundary."""
        return {"net": self.net.state_dict(), "ema": self.ema.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(),
                "scaler": self.runtime.amp.scaler.state_dict(), "updates": self.updates,
                "order": self.order.copy(), "position": self.position}

    def load_state_dict(self, state: dict) -> None:
        self.net.load_state_dict(state["net"])
        self.ema.load_state_dict(state["ema"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.runtime.amp.scaler.load_state_dict(state["scaler"])
        self.updates, self.position = int(state["updates"]), int(state["position"])
        self.order = np.asarray(state["order"], dtype=np.int64)
