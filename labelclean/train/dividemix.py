"""DivideMix (Li, Socher and Hoi, 2020): two nets that each split the training set into clean
(labeled) and noisy (unlabeled) for the other, then train semi-supervised with MixMatch.

One epoch after the CE warm-up:

1. **co-divide**: each net's per-sample cross-entropy on the un-augmented images is min-max
   normalised and fitted with a two-component Gaussian mixture; an image's clean
   probability is the posterior of the component with the smaller mean, and it is labeled
   when that exceeds ``p_threshold``. Net A trains on net B's split and B on A's.
2. per batch, for the net being trained (its peer in eval mode): **co-refinement** of the
   labeled images' targets ``w * y + (1 - w) * mean(p(view 1), p(view 2))`` (``w`` the
   peer's clean probability, ``p`` the trained net's softmax), **co-guessing** of the
   unlabeled images' targets, the mean softmax of both nets over two views, both then
   **sharpened** ``p^(1/T)`` (renormalised); **MixMatch** of all of them with
   ``l ~ Beta(alpha, alpha)``, ``l = max(l, 1 - l)``; soft cross-entropy on the labeled part,
   mean squared error on the unlabeled part weighted ``lambda_u * clip((t - warm-up) /
   rampup_epochs, 0, 1)`` (``t`` the epoch with its fraction); plus the uniform-prior
   penalty ``sum_k (1/K) log((1/K) / mean_batch p_k)``.

The warm-up trains both nets with cross-entropy (plus the negative-entropy penalty
``mean sum_k p_k log p_k`` for asymmetric noise). The model that predicts sums both nets'
logits (:class:`~labelclean.train.loop.LogitSum`).

How this differs from the reference code, on purpose: the loop hands one batch of the rows
labeled for either net; each net trains on the part of it that its peer labeled, with as many
unlabeled images drawn from its own unlabeled pool (the reference runs net A's epoch, then
net B's, over B-sized labeled batches: each net still sees each of its labeled images once
an epoch). The optimiser and schedule are the loop's AdamW + cosine (``optimizer="sgd"``
gives the reference's SGD, momentum 0.9, at the run's ``lr``).

Defaults, small data on a CPU (what :class:`DivideMixSettings` holds): a warm-up of a third
of the run (10 of 30 epochs), then the paper's p_threshold 0.5, T 0.5, alpha 4, lambda_u 25,
ramp-up 16 epochs; AdamW at the run's lr (3e-3) with the loop's cosine. Measured on sklearn
digits rendered at 32 px (1,258 training images, 539 clean held-out), ``small_cnn``, 30
epochs, seed 0: 40% symmetric noise, plain training (label smoothing) 87.4% held-out
accuracy, DivideMix 96.5%; 20% symmetric + 20% asymmetric, 82.8% and 95.9%. DivideMix took
256 s of CPU time on one thread (plain training 37 s); 20 epochs gave 95.6%.

The paper's defaults, real photos on a GPU (CIFAR-10, PreAct ResNet-18, 300 epochs):
warm-up 10 epochs (30 for CIFAR-100), p_threshold 0.5, T 0.5, alpha 4, lambda_u 0 / 25 / 150
at 20% / 50% / 80-90% symmetric noise (0 for 40% asymmetric, with ``asymmetric=True``),
ramp-up 16 epochs, batch 64, SGD lr 0.02 momentum 0.9 weight decay 5e-4 (lr / 10 after half).

Import this module lazily: it needs torch and scikit-learn.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from labelclean.errors import ConfigError
from labelclean.models.inputs import Normalise
from labelclean.train import mixmatch as mm
from labelclean.train.augment import get_augmentation
from labelclean.train.fixmatch import OPTIMIZERS, make_optimizer, seek
from labelclean.train.images import chunks, gather
from labelclean.train.loop import Batch, LogitSum, TrainConfig, build_model, build_schedule
from labelclean.train.runtime import Runtime, autocast
from labelclean.train.strong import weak_view

#: Fewest training images of each class DivideMix trains on (see :func:`check_dividemix`).
MIN_PER_CLASS = 4
#: Each net trains on at least this many labeled images, even when its peer's mixture
#: labels fewer (the most probably clean ones).
MIN_LABELED = 2


@dataclass
class DivideMixSettings:
    """DivideMix's own settings (the run's model, epochs, batch size and lr are in TrainConfig).

    warmup_epochs : epochs of cross-entropy on all images before the first co-divide;
        None: a third of the run's epochs, at most 10 (:meth:`warmup`).
    p_threshold : an image is labeled when its clean probability exceeds this.
    temperature : sharpening temperature T of the refined and guessed targets.
    alpha : MixMatch's Beta(alpha, alpha).
    lambda_u : weight of the unlabeled (MSE) loss once ramped up.
    rampup_epochs : epochs after the warm-up over which that weight grows linearly from 0.
    asymmetric : add the negative-entropy penalty (weight ``entropy_weight``) in warm-up.
    prior_penalty : add the uniform-prior penalty after the warm-up.
    optimizer : ``adamw`` (the loop's) or ``sgd`` (the reference's, momentum 0.9).
    """

    warmup_epochs: int | None = None
    p_threshold: float = 0.5
    temperature: float = 0.5
    alpha: float = 4.0
    lambda_u: float = 25.0
    rampup_epochs: int = 16
    asymmetric: bool = False
    entropy_weight: float = 1.0
    prior_penalty: bool = True
    optimizer: str = "adamw"

    def warmup(self, epochs: int) -> int:
        """The warm-up's epochs in a run of ``epochs``."""
        return min(10, epochs // 3) if self.warmup_epochs is None else self.warmup_epochs

    def check(self, epochs: int) -> None:
        """Raise :class:`ConfigError` for a setting out of range or a warm-up of the whole run."""
        if not 0 <= self.warmup(epochs) < epochs:
            raise ConfigError(f"`warmup_epochs` ({self.warmup_epochs}) must be at least 0 and "
                              f"below `epochs` ({epochs}): DivideMix divides after the warm-up")
        if not 0 < self.p_threshold < 1:
            raise ConfigError(f"`p_threshold` must be in (0, 1), not {self.p_threshold:g}")
        if not 0 < self.temperature <= 1:
            raise ConfigError(f"`temperature` must be in (0, 1], not {self.temperature:g}")
        if self.alpha <= 0:
            raise ConfigError(f"`alpha` must be above 0, not {self.alpha:g}")
        if self.lambda_u < 0 or self.rampup_epochs < 0:
            raise ConfigError("`lambda_u` and the ramp-up must be at least 0")
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"unknown optimizer '{self.optimizer}'; choose one of: "
                              f"{', '.join(OPTIMIZERS)}")


def check_dividemix(labels: np.ndarray, train_rows: np.ndarray, n_classes: int, *,
                    classes: Sequence[str] | None = None) -> None:
    """Raise :class:`ConfigError` when the data are too small for DivideMix: fewer than 2
    classes, or a class with fewer than :data:`MIN_PER_CLASS` training images (``classes``
    names the codes in the message)."""
    if n_classes < 2:
        raise ConfigError(f"DivideMix needs at least 2 classes, not {n_classes}")
    codes = np.asarray(labels)[np.asarray(train_rows, dtype=np.int64)]
    if len(codes) and (codes.min() < 0 or codes.max() >= n_classes):
        raise ConfigError(f"DivideMix's training labels must be class codes 0..{n_classes - 1}")
    counts = np.bincount(codes.astype(np.int64), minlength=n_classes)
    few = np.flatnonzero(counts < MIN_PER_CLASS)
    if len(few):
        names = [f"'{classes[k]}'" if classes is not None else str(k) for k in few[:5]]
        more = f" and {len(few) - 5} more" if len(few) > 5 else ""
        raise ConfigError(
            f"DivideMix needs at least {MIN_PER_CLASS} training images of every class; "
            f"class {', '.join(names)}{more} has {int(counts[few].min())}"
            f"{'' if len(few) == 1 else ' or more'}: add images, or use `method` ce")


# -- the co-divide ---------------------------------------------------------------------

def clean_probability(losses: np.ndarray) -> np.ndarray:
    """Per-sample losses (n,) -> clean probability (n,) in [0, 1] (higher: cleaner).

    Min-max normalised, fitted with ``GaussianMixture(2, max_iter=10, tol=1e-2,
    reg_covar=5e-4)``; the posterior of the smaller-mean component. Fewer than 2 samples, or
    losses all equal, are all clean (probability 1).
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.mixture import GaussianMixture

    x = np.nan_to_num(np.asarray(losses, dtype=np.float64).reshape(-1), posinf=1e30)
    if len(x) < 2 or not x.max() - x.min() > 1e-12:
        return np.ones(len(x))
    x = ((x - x.min()) / (x.max() - x.min())).reshape(-1, 1)
    gmm = GaussianMixture(n_components=2, max_iter=10, tol=1e-2, reg_covar=5e-4,
                          random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        gmm.fit(x)
    return gmm.predict_proba(x)[:, int(np.argmin(gmm.means_.reshape(-1)))]


def labeled_mask(prob: np.ndarray, threshold: float, minimum: int = MIN_LABELED) -> np.ndarray:
    """(n,) bool: ``prob > threshold``, topped up with the most probable to ``minimum``."""
    labeled = np.asarray(prob) > threshold
    if labeled.sum() < min(minimum, len(labeled)):
        labeled[np.argsort(-np.asarray(prob), kind="stable")[:minimum]] = True
    return labeled


# -- the step ---------------------------------------------------------------------------

class DivideMixStep:
    """DivideMix as a :class:`~labelclean.train.loop.TrainStep` (see the module docstring).

    ``labels`` (N,) are the given (noisy) class codes; only ``train_rows`` are read.
    After :meth:`begin_epoch` past the warm-up, ``labeled[k]`` (N,) bool marks the rows net
    ``k`` trains on as labeled (its peer's split), ``weight[k]`` (N,) their clean probability
    (the peer's), ``clean[k]`` (N,) net ``k``'s own clean probability.
    """

    def __init__(self, config: TrainConfig, settings: DivideMixSettings, images,
                 labels: np.ndarray, train_rows: np.ndarray, n_classes: int,
                 runtime: Runtime) -> None:
        settings.check(config.epochs)
        check_dividemix(labels, train_rows, n_classes)
        self.config, self.settings, self.images, self.runtime = config, settings, images, runtime
        self.warmup_epochs = settings.warmup(config.epochs)
        self.labels = np.asarray(labels, dtype=np.int64)
        self.train_rows = np.asarray(train_rows, dtype=np.int64)
        self.n_classes = n_classes
        self.nets = [build_model(config, n_classes, runtime.device) for _ in range(2)]
        self.optimizers = [make_optimizer(net, config, settings.optimizer) for net in self.nets]
        self.schedulers = [build_schedule(opt, config, len(self.train_rows))
                           for opt in self.optimizers]
        self.per_epoch = math.ceil(len(self.train_rows) / config.batch_size)
        self.norm = Normalise.of(self.nets[0], runtime.device)
        self.flips = get_augmentation(config.augment)
        self.has_batch_norm = any(isinstance(m, nn.modules.batchnorm._BatchNorm)
                                  for m in self.nets[0].modules())
        n = len(self.labels)
        self.clean = [np.ones(n), np.ones(n)]
        self.labeled = [np.zeros(n, bool), np.zeros(n, bool)]
        self.weight = [np.zeros(n), np.zeros(n)]
        self.pools = [np.empty(0, np.int64), np.empty(0, np.int64)]
        self.orders = [np.empty(0, np.int64), np.empty(0, np.int64)]
        self.positions = [0, 0]
        self.epoch, self.index, self.n_batches, self.dividing = 0, 0, self.per_epoch, False

    # -- epochs -------------------------------------------------------------------------

    def begin_epoch(self, epoch: int) -> np.ndarray | None:
        """Warm-up: ``None`` (all training rows). After: co-divide, and return the rows
        labeled for either net."""
        self.epoch, self.index = epoch, 0
        self.dividing = epoch >= self.warmup_epochs
        if not self.dividing:
            self.n_batches = self.per_epoch
            return None
        rows = self.co_divide(self.sample_losses())
        self.n_batches = max(1, math.ceil(len(rows) / self.config.batch_size))
        return rows

    @torch.no_grad()
    def sample_losses(self) -> np.ndarray:
        """(2, n_train) per-sample cross-entropy of each net on the un-augmented training
        images, in ``train_rows`` order (higher: more likely mislabeled)."""
        device = self.runtime.device
        for net in self.nets:
            net.eval()
        out = []
        for part, imgs in chunks(self.images, self.train_rows, 4 * self.config.batch_size,
                                 self.config.workers):
            x = self.norm(self.norm.floats(imgs))
            y = torch.from_numpy(self.labels[part]).to(device)
            with autocast(device):
                logits = [net(x).float() for net in self.nets]
            out.append(torch.stack([F.cross_entropy(z, y, reduction="none") for z in logits]))
        return torch.cat(out, dim=1).cpu().numpy()

    def co_divide(self, losses: np.ndarray) -> np.ndarray:
        """Split on each net's losses (2, n_train); net ``k`` gets its peer's split. Returns
        the rows labeled for either net (sorted)."""
        rows, n = self.train_rows, len(self.labels)
        own = []
        for k in (0, 1):
            self.clean[k] = np.zeros(n)
            self.clean[k][rows] = clean_probability(losses[k])
            own.append(labeled_mask(self.clean[k][rows], self.settings.p_threshold))
        for k in (0, 1):
            peer = 1 - k
            self.labeled[k] = np.zeros(n, bool)
            self.labeled[k][rows[own[peer]]] = True
            self.weight[k] = self.clean[peer]
            self.pools[k] = rows[~own[peer]]
            self.orders[k], self.positions[k] = self.runtime.rng.permutation(self.pools[k]), 0
        return rows[own[0] | own[1]]

    def epoch_metrics(self) -> dict[str, float]:
        """``labeled_fraction_net1`` / ``_net2``: the fraction of the training rows each net
        trained on as labeled this epoch (its peer's split); NaN during the warm-up."""
        if not self.dividing:
            return {"labeled_fraction_net1": float("nan"), "labeled_fraction_net2": float("nan")}
        rows = self.train_rows
        return {f"labeled_fraction_net{k + 1}": float(self.labeled[k][rows].mean())
                for k in (0, 1)}

    def model(self) -> nn.Module:
        """Both nets summing their logits, in eval mode."""
        return LogitSum(self.nets).eval()

    # -- batches ------------------------------------------------------------------------

    def __call__(self, batch: Batch) -> dict[str, torch.Tensor] | None:
        t = batch.epoch + self.index / self.n_batches
        self._seek(t)
        self.index += 1
        if not self.dividing:
            return self._warmup(batch)
        out = []
        for k in (0, 1):
            keep = self.labeled[k][batch.rows]
            if not keep.any():
                continue
            rows = batch.rows[keep]
            u_rows = self.draw_unlabeled(k, len(rows))
            out.append(self.train_net(k, batch.images[torch.from_numpy(keep)],
                                      batch.targets[torch.from_numpy(keep)],
                                      torch.from_numpy(self.weight[k][rows]).float(),
                                      gather(self.images, u_rows, self.config.workers), t))
        if not out:
            return None
        return {key: torch.stack([o[key] for o in out]).mean() for key in out[0]}

    def _seek(self, t: float) -> None:
        for scheduler in self.schedulers:
            seek(scheduler, round(t * self.per_epoch))

    def draw_unlabeled(self, k: int, count: int) -> np.ndarray:
        """The next ``count`` rows of net ``k``'s unlabeled pool (reshuffled when used up);
        empty when the pool is."""
        pool, out = self.pools[k], []
        while count > 0 and len(pool):
            if self.positions[k] >= len(self.orders[k]):
                self.orders[k], self.positions[k] = self.runtime.rng.permutation(pool), 0
            take = self.orders[k][self.positions[k]:self.positions[k] + count]
            self.positions[k] += len(take)
            count -= len(take)
            out.append(take)
        return np.concatenate(out) if out else np.empty(0, np.int64)

    def _views(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        gen = self.runtime.gen
        return weak_view(x, gen, self.flips), weak_view(x, gen, self.flips)

    def _softmax(self, net: nn.Module, x: torch.Tensor) -> torch.Tensor:
        with self.runtime.amp.autocast():
            return F.softmax(net(self.norm(x)).float(), dim=1)

    def _warmup(self, batch: Batch) -> dict[str, torch.Tensor] | None:
        """Cross-entropy (+ negative entropy for asymmetric noise) for both nets."""
        rt = self.runtime
        if len(batch.rows) < 2 and self.has_batch_norm:
            return None  # batch norm cannot train on a single image
        x, y = self.norm.floats(batch.images), batch.targets.to(rt.device)
        losses = []
        for net, optimizer in zip(self.nets, self.optimizers):
            net.train()
            with rt.amp.autocast():
                logits = net(self.norm(weak_view(x, rt.gen, self.flips))).float()
            loss = F.cross_entropy(logits, y)
            if self.settings.asymmetric:
                loss = loss + self.settings.entropy_weight * mm.negative_entropy(logits)
            rt.amp.backward_step(loss, optimizer)
            losses.append(loss.detach())
        return {"loss": torch.stack(losses).mean()}

    def train_net(self, k: int, images: torch.Tensor, targets: torch.Tensor, w: torch.Tensor,
                  unlabeled: torch.Tensor, t: float) -> dict[str, torch.Tensor]:
        """One MixMatch update of net ``k`` on uint8 labeled ``images`` (B, 3, S, S) with
        given ``targets`` (B,) and clean probabilities ``w`` (B,), and ``unlabeled`` uint8
        images (U, 3, S, S) (U may be 0), at epoch ``t`` (with its fraction)."""
        rt, s = self.runtime, self.settings
        net, peer = self.nets[k], self.nets[1 - k]
        net.train()
        peer.eval()
        x1, x2 = self._views(self.norm.floats(images))
        u1, u2 = self._views(self.norm.floats(unlabeled))
        inputs = torch.cat([x1, x2, u1, u2])
        b, u = len(images), len(unlabeled)
        with torch.no_grad():  # the trained net's four views in one batch (batch norm)
            own = self._softmax(net, inputs).split([b, b, u, u])
            onehot = F.one_hot(targets.to(rt.device), self.n_classes)
            tx = mm.refine_labels(onehot, w.to(rt.device), own[0], own[1], s.temperature)
            guesses = (own[2], own[3], self._softmax(peer, u1), self._softmax(peer, u2))
            tu = mm.co_guess(guesses, s.temperature) if u else tx[:0]
        soft = torch.cat([tx, tx, tu, tu])
        perm = torch.randperm(len(inputs), generator=rt.gen).to(rt.device)
        lam = float(rt.rng.beta(s.alpha, s.alpha))
        mixed, mixed_targets = mm.mixmatch(inputs, soft, lam, perm)
        with rt.amp.autocast():
            logits = net(self.norm(mixed)).float()
        n_x = 2 * b
        loss_x = mm.soft_cross_entropy(logits[:n_x], mixed_targets[:n_x])
        loss_u = (((F.softmax(logits[n_x:], dim=1) - mixed_targets[n_x:]) ** 2).mean()
                  if u else logits.new_zeros(()))
        loss = loss_x + mm.rampup(t, self.warmup_epochs, s.rampup_epochs, s.lambda_u) * loss_u
        if s.prior_penalty:
            loss = loss + mm.uniform_prior_penalty(logits)
        rt.amp.backward_step(loss, self.optimizers[k])
        return {"loss": loss.detach(), "loss_x": loss_x.detach(), "loss_u": loss_u.detach()}

    # -- resume -------------------------------------------------------------------------

    def state_dict(self) -> dict:
        """Everything needed to resume exactly at an epoch boundary (the co-divide is redone
        from the nets at the next :meth:`begin_epoch`)."""
        return {"nets": [net.state_dict() for net in self.nets],
                "optimizers": [opt.state_dict() for opt in self.optimizers],
                "schedulers": [sch.state_dict() for sch in self.schedulers],
                "scaler": self.runtime.amp.scaler.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        for net, opt, sch, k in zip(self.nets, self.optimizers, self.schedulers, (0, 1)):
            net.load_state_dict(state["nets"][k])
            opt.load_state_dict(state["optimizers"][k])
            sch.load_state_dict(state["schedulers"][k])
        self.runtime.amp.scaler.load_state_dict(state["scaler"])
