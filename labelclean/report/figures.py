"""The report's figures as PNG files (matplotlib, Agg backend, imported only when drawing)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from labelclean.io.workdir import atomic_path

ACTION_COLORS = {"keep": "#6b8f71", "relabel": "#d08c2f", "drop": "#c0392b",
                 "review": "#4a6fa5"}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: str | os.PathLike) -> Path:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    _pyplot().close(fig)
    return Path(path)


def noise_matrix_figure(joint: np.ndarray, labels: list[str], path: str | os.PathLike, *,
                        row_sums: np.ndarray | None = None,
                        n_classes: int | None = None) -> Path:
    """Draw the estimated label noise as a heatmap.

    ``joint`` (K, K) is cleanlab's confident joint: counts, row = given label, column =
    estimated true label. Each row is drawn normalised to sum 1, so a cell is the share of
    the images given label i whose true label is estimated to be j, and the diagonal is 1
    minus the class's noise rate. Off-diagonal mass is noise (higher is worse). When
    ``joint`` is the block of K of ``n_classes`` classes
    (:func:`labelclean.noise.matrices.dense_block`), ``row_sums`` (K,) are the sums of the
    whole rows, which a cell is a share of.
    """
    plt = _pyplot()
    m = np.asarray(joint, dtype=float)
    sums = (m.sum(axis=1, keepdims=True) if row_sums is None
            else np.asarray(row_sums, dtype=float).reshape(-1, 1))
    m = np.divide(m, sums, out=np.zeros_like(m), where=sums > 0)
    k = len(labels)
    side = min(max(3.6, 0.48 * k + 1.8), 12)
    fig, ax = plt.subplots(figsize=(side + 0.8, side))
    im = ax.imshow(m, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(k), labels, rotation=45 if k > 4 else 0, ha="right" if k > 4 else
                  "center", fontsize=8)
    ax.set_yticks(range(k), labels, fontsize=8)
    ax.set_xlabel("estimated true label")
    ax.set_ylabel("given label")
    if k <= 15:
        for i in range(k):
            for j in range(k):
                if m[i, j] >= 0.005:
                    ax.text(j, i, f"{m[i, j]:.2f}", ha="center", va="center", fontsize=7,
                            color="white" if m[i, j] > 0.55 else "#1d2733")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04,
                 label="share of the images with this given label")
    part = (f" ({k} of {n_classes:,} classes: the noisiest)"
            if n_classes is not None and n_classes > k else "")
    ax.set_title(f"Estimated noise matrix{part}", fontsize=11)
    return _save(fig, path)


def label_quality_figure(quality: np.ndarray, actions: list[str] | np.ndarray,
                         path: str | os.PathLike) -> Path:
    """Draw the distribution of label quality (shape (N,), lower is worse) by action."""
    plt = _pyplot()
    quality = np.asarray(quality, dtype=float)
    actions = np.asarray(actions)
    ok = ~np.isnan(quality)
    bins = np.linspace(0, 1, 41)
    fig, ax = plt.subplots(figsize=(6.4, 3.4))
    stacks, colors, names = [], [], []
    for action, color in ACTION_COLORS.items():
        sel = ok & (actions == action)
        if sel.any():
            stacks.append(quality[sel])
            colors.append(color)
            names.append(f"{action} ({int(sel.sum()):,})")
    if stacks:
        ax.hist(stacks, bins=bins, stacked=True, color=colors, label=names)
        # beside the axes: the tallest bars sit at both ends of the range
        ax.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.set_yscale("log")
    ax.set_xlim(0, 1)
    ax.set_xlabel("label quality (lower is worse)")
    ax.set_ylabel("images (log scale)")
    ax.set_title("Label quality distribution", fontsize=11)
    ax.spines[["top", "right"]].set_visible(False)
    return _save(fig, path)
