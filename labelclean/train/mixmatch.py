"""The semi-supervised half of DivideMix as functions of tensors: sharpening, label
co-refinement and co-guessing, the MixMatch mix, the unlabeled weight's ramp-up and the
penalties. Probabilities and soft targets are (B, K) rows that sum to 1.
Import this module lazily: it needs torch.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F


def sharpen(p: torch.Tensor, temperature: float) -> torch.Tensor:
    """Rows of ``p`` (B, K) raised to ``1 / temperature`` and renormalised to sum 1."""
    q = p.pow(1.0 / temperature)
    return q / q.sum(dim=1, keepdim=True)


def refine_labels(onehot: torch.Tensor, w: torch.Tensor, p1: torch.Tensor, p2: torch.Tensor,
                  temperature: float) -> torch.Tensor:
    """Co-refinement: ``sharpen(w * y + (1 - w) * (p1 + p2) / 2)``; ``onehot``, ``p1``, ``p2``
    (B, K), ``w`` (B,) the peer's clean probability."""
    w = w.view(-1, 1).to(p1)
    return sharpen(w * onehot.to(p1) + (1 - w) * (p1 + p2) / 2, temperature)


def co_guess(probs: Sequence[torch.Tensor], temperature: float) -> torch.Tensor:
    """Co-guessing: the sharpened mean of the softmaxes (B, K) of both nets on both views."""
    return sharpen(torch.stack(list(probs)).mean(dim=0), temperature)


def mixmatch(inputs: torch.Tensor, targets: torch.Tensor, lam: float,
             perm: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """MixMatch's mix of a batch with a permutation of itself: ``l = max(lam, 1 - lam)``,
    ``l * a + (1 - l) * a[perm]`` for the images (B, ...) and the soft targets (B, K).

    Our own mix because the targets are soft (refined and guessed distributions): timm's
    ``Mixup`` takes integer class targets only, and mixes with the flipped batch.
    """
    lam = max(lam, 1.0 - lam)
    return (lam * inputs + (1 - lam) * inputs[perm],
            lam * targets + (1 - lam) * targets[perm])


def rampup(t: float, warmup_epochs: float, rampup_epochs: float, lambda_u: float) -> float:
    """``lambda_u * clip((t - warmup_epochs) / rampup_epochs, 0, 1)`` at epoch ``t``."""
    if rampup_epochs <= 0:
        return lambda_u if t >= warmup_epochs else 0.0
    return lambda_u * min(1.0, max(0.0, (t - warmup_epochs) / rampup_epochs))


def uniform_prior_penalty(logits: torch.Tensor) -> torch.Tensor:
    """``sum_k (1/K) log((1/K) / mean_b softmax(logits)_bk)`` for logits (B, K): 0 when the
    batch's mean prediction is uniform, larger the more it favours some classes."""
    mean = F.softmax(logits.float(), dim=1).mean(dim=0)
    prior = torch.full_like(mean, 1.0 / mean.numel())
    return (prior * torch.log(prior / mean)).sum()


def negative_entropy(logits: torch.Tensor) -> torch.Tensor:
    """``mean_b sum_k p_bk log p_bk`` (at most 0; near 0 for confident predictions)."""
    logp = F.log_softmax(logits.float(), dim=1)
    return (logp.exp() * logp).sum(dim=1).mean()


def soft_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """``-mean_b sum_k t_bk log softmax(logits)_bk`` for (B, K) logits and soft targets."""
    return -(F.log_softmax(logits.float(), dim=1) * targets).sum(dim=1).mean()
