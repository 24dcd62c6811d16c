"""Training losses for noisy labels, one small module each, chosen by name.

Every loss takes ``logits`` (B, K) and integer ``targets`` (B,) and returns the batch mean.
Notation in the docstrings: ``p = softmax(logits)``, ``y`` the target class, ``K`` classes.
Import this module lazily: it needs torch.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from labelclean.errors import ConfigError, RegistryError


class CrossEntropy(nn.Module):
    """``L = -log p_y``."""

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits, targets)


class LabelSmoothing(nn.Module):
    """``L = (1 - eps) (-log p_y) + eps * mean_k(-log p_k)``.

    The target is ``1 - eps`` on the given class plus ``eps / K`` spread over all classes;
    ``eps = 0`` is cross-entropy.
    """

    def __init__(self, smoothing: float = 0.1) -> None:
        super().__init__()
        if not 0 <= smoothing < 1:
            raise ConfigError(f"label smoothing must be in [0, 1), not {smoothing}")
        self.smoothing = smoothing

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        logp = F.log_softmax(logits.float(), dim=1)
        nll = -logp.gather(1, targets[:, None]).squeeze(1)
        uniform = -logp.mean(dim=1)
        return ((1 - self.smoothing) * nll + self.smoothing * uniform).mean()


def log_t(x: torch.Tensor, t: float) -> torch.Tensor:
    """Tempered logarithm ``(x^(1-t) - 1) / (1 - t)``; ``log`` at ``t = 1``."""
    if t == 1.0:
        return torch.log(x)
    return (x.pow(1.0 - t) - 1.0) / (1.0 - t)


def exp_t(x: torch.Tensor, t: float) -> torch.Tensor:
    """Tempered exponential ``[1 + (1-t) x]_+ ^ (1/(1-t))``; ``exp`` at ``t = 1``."""
    if t == 1.0:
        return torch.exp(x)
    return torch.clamp(1.0 + (1.0 - t) * x, min=0.0).pow(1.0 / (1.0 - t))


def tempered_softmax(logits: torch.Tensor, t: float, iters: int = 40) -> torch.Tensor:
    """``p_k = exp_t(a_k - lam)`` with ``lam`` such that the ``p_k`` sum to one.

    ``lam`` lies in ``[max a, max a - log_t(1/K)]``, where the sum falls from >= 1 to <= 1;
    it is found by bisection. Its gradient, ``d lam / d a_k = p_k^t / sum_j p_j^t``
    (implicit function theorem), is attached by hand.
    """
    if t == 1.0:
        return F.softmax(logits, dim=1)
    a = logits.float()
    top = a.max(dim=1, keepdim=True).values
    with torch.no_grad():
        low = top.clone()
        high = top - log_t(torch.tensor(1.0 / a.shape[1], device=a.device), t)
        for _ in range(iters):
            mid = (low + high) / 2
            too_big = exp_t(a - mid, t).sum(dim=1, keepdim=True) > 1
            low = torch.where(too_big, mid, low)
            high = torch.where(too_big, high, mid)
        lam = (low + high) / 2
        weights = exp_t(a - lam, t).pow(t)
        weights = weights / weights.sum(dim=1, keepdim=True)
    lam = lam + (weights * (a - a.detach())).sum(dim=1, keepdim=True)
    return exp_t(a - lam, t)


class BiTempered(nn.Module):
    """Bi-tempered logistic loss (Amid et al., 2019), bounded (t1 < 1) and heavy-tailed (t2 > 1).

    ``p = tempered_softmax(logits, t2)``, ``q`` the (optionally smoothed) one-hot target::

        L = sum_k [ q_k (log_t1(q_k) - log_t1(p_k)) - (q_k^(2-t1) - p_k^(2-t1)) / (2 - t1) ]

    ``t1 = t2 = 1`` is cross-entropy.
    """

    def __init__(self, t1: float = 0.8, t2: float = 1.2, smoothing: float = 0.0) -> None:
        super().__init__()
        if not (0 < t1 <= 1 and t2 >= 1):
            raise ConfigError(f"bi-tempered loss needs 0 < t1 <= 1 <= t2, got t1={t1}, t2={t2}")
        self.t1, self.t2, self.smoothing = t1, t2, smoothing

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        k = logits.shape[1]
        q = F.one_hot(targets, k).float()
        if self.smoothing:
            q = (1 - self.smoothing) * q + self.smoothing / k
        p = tempered_softmax(logits, self.t2)
        tiny = 1e-10
        cross = q * (log_t(q + tiny, self.t1) - log_t(p + tiny, self.t1))
        power = (q.pow(2 - self.t1) - p.pow(2 - self.t1)) / (2 - self.t1)
        return (cross - power).sum(dim=1).mean()


class TaylorCrossEntropy(nn.Module):
    """Taylor cross-entropy (Feng et al., 2020): ``L = sum_{i=1..n} (1 - p_y)^i / i``.

    The order-``n`` Taylor series of ``-log p_y`` around ``p_y = 1``: bounded, so wrong
    labels cannot dominate; ``n = 1`` is MAE-like, ``n -> inf`` is cross-entropy.
    """

    def __init__(self, order: int = 2) -> None:
        super().__init__()
        if order < 1:
            raise ConfigError(f"Taylor cross-entropy order must be at least 1, not {order}")
        self.order = order

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        p_y = F.softmax(logits.float(), dim=1).gather(1, targets[:, None]).squeeze(1)
        gap = 1 - p_y
        return sum(gap.pow(i) / i for i in range(1, self.order + 1)).mean()


class SymmetricCrossEntropy(nn.Module):
    """Symmetric cross-entropy (Wang et al., 2019): ``L = alpha * CE + beta * RCE``.

    ``RCE = -sum_k p_k log q_k`` with the one-hot target's zeros clipped to ``floor``, so
    ``RCE = -log(floor) * (1 - p_y)``. ``beta = 0, alpha = 1`` is cross-entropy.
    """

    def __init__(self, alpha: float = 0.1, beta: float = 1.0, floor: float = 1e-4) -> None:
        super().__init__()
        self.alpha, self.beta, self.floor = alpha, beta, floor

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        logits = logits.float()
        ce = F.cross_entropy(logits, targets, reduction="none")
        p_y = F.softmax(logits, dim=1).gather(1, targets[:, None]).squeeze(1)
        rce = -math.log(self.floor) * (1 - p_y)
        return (self.alpha * ce + self.beta * rce).mean()


class FocalCosine(nn.Module):
    """Focal-cosine loss: cosine distance to the one-hot target plus a focal term.

    ``z = logits / ||logits||``, ``p = softmax(z)``, ``e_y`` the one-hot target::

        L = (1 - cos(logits, e_y)) + xi * alpha * (1 - p_y)^gamma * (-log p_y)
    """

    def __init__(self, alpha: float = 1.0, gamma: float = 2.0, xi: float = 0.1) -> None:
        super().__init__()
        self.alpha, self.gamma, self.xi = alpha, gamma, xi

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        logits = logits.float()
        unit = F.normalize(logits, dim=1)
        cosine = unit.gather(1, targets[:, None]).squeeze(1)
        logp_y = F.log_softmax(unit, dim=1).gather(1, targets[:, None]).squeeze(1)
        focal = self.alpha * (1 - logp_y.exp()).pow(self.gamma) * (-logp_y)
        return ((1 - cosine) + self.xi * focal).mean()


LOSSES: dict[str, type[nn.Module]] = {
    "cross_entropy": CrossEntropy,
    "label_smoothing": LabelSmoothing,
    "bi_tempered": BiTempered,
    "taylor_cross_entropy": TaylorCrossEntropy,
    "symmetric_cross_entropy": SymmetricCrossEntropy,
    "focal_cosine": FocalCosine,
}


def list_losses() -> list[str]:
    """Names of the training losses."""
    return sorted(LOSSES)


def make_loss(name: str, **params: Any) -> nn.Module:
    """The loss ``name`` with ``params`` (its constructor's keyword arguments)."""
    key = name.replace("-", "_")
    if key not in LOSSES:
        raise RegistryError("loss", name, list_losses())
    return LOSSES[key](**params)
