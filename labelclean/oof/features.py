"""The fold models' pooled features, saved as embeddings (``oof --from train``).

While a fold's model predicts its validation rows, a forward hook on its last linear layer
keeps that layer's input: the pooled feature vector the class scores are made from. Each
image's features thus come from the model that never trained on it, like its OOF
probabilities. :func:`write_features` saves them as ``oof_features.npy`` ((N, D) float16,
L2-normalised, one row per row of ``index.csv``, zeros for images without an out-of-fold
model) with ``oof_features.json`` beside it (the embeddings' settings: ``model``, ``n``,
``dim``, ``ids_sha256``, ``rows``: how many rows hold features). They live outside
``embeddings/`` so that the dedupe and oof stages, which pick embeddings up from there,
never take them for pretrained ones; the outlier score reads them
(:func:`read_features`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from labelclean.io.workdir import atomic_path, remove_file, write_json

FEATURES = "oof_features.npy"
FEATURES_META = "oof_features.json"


class _Collected(list):
    """The hooked layer's inputs, one (B, D) array per forward pass, in call order."""

    def features(self, n_rows: int) -> np.ndarray | None:
        """(n_rows, D): each row's features averaged over its forward passes (test-time
        flips call the net once per view, batch by batch); None when nothing was seen."""
        if not self:
            return None
        total = sum(len(a) for a in self)
        views = total // max(n_rows, 1)
        if views < 1 or views * n_rows != total:
            return None
        out, i = [], 0
        while i < len(self):
            out.append(np.mean(self[i:i + views], axis=0))
            i += views
        return np.concatenate(out).astype(np.float32)


@contextmanager
def pooled_features(net: Any) -> Iterator[_Collected]:
    """Within the block, keep the input of ``net``'s last ``nn.Linear`` on every forward.

    Yields the list the inputs are appended to (:meth:`_Collected.features` gives the
    per-row features); nothing is kept when the net has no linear layer.
    """
    import torch.nn as nn

    collected = _Collected()
    heads = [m for m in net.modules() if isinstance(m, nn.Linear)]
    if not heads:
        yield collected
        return

    def keep(module, inputs, output) -> None:
        collected.append(inputs[0].detach().float().flatten(1).cpu().numpy())

    handle = heads[-1].register_forward_hook(keep)
    try:
        yield collected
    finally:
        handle.remove()


def write_features(workdir: str | Path, index_ids: list[str], rows: np.ndarray,
                   features: np.ndarray | None, model: str) -> list[str]:
    """Write (or, when ``features`` is None, remove) ``oof_features.npy`` and its json.

    ``features`` (M, D) belong to the index rows ``rows`` (M,). Returns the file names
    written (for the stage record).
    """
    from labelclean.arrays import l2_normalize
    from labelclean.models.embeddings import ids_sha256

    root = Path(workdir)
    if features is None:
        for name in (FEATURES, FEATURES_META):
            if (root / name).exists():
                remove_file(root / name)
        return []
    out = np.zeros((len(index_ids), features.shape[1]), dtype=np.float16)
    out[np.asarray(rows)] = l2_normalize(np.asarray(features, dtype=np.float32))
    with atomic_path(root / FEATURES) as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, out)
    write_json({"model": model, "source": "oof --from train (fold models' pooled features)",
                "l2_normalized": True, "dtype": "float16", "n": len(index_ids),
                "dim": int(features.shape[1]), "rows": int(len(rows)),
                "ids_sha256": ids_sha256(index_ids)}, root / FEATURES_META)
    return [FEATURES, FEATURES_META]


def write_plan_features(plan: Any, result: Any) -> list[str]:
    """:func:`write_features` for an oof stage run (``plan``: its OOFPlan, ``result``: its
    OOFResult; ``result.features`` None removes stale files)."""
    from labelclean.io.formats import index_ids

    model = plan.train_config.model if plan.train_config is not None else ""
    return write_features(plan.workdir, index_ids(plan.workdir) or [], plan.rows,
                          result.features, model)


def read_features(workdir: str | Path) -> tuple[np.ndarray, dict] | None:
    """``(features (N, D), meta)`` from ``oof_features.npy``, or None when absent or made
    for another ``index.csv``."""
    import json

    from labelclean.io.formats import index_ids
    from labelclean.models.embeddings import ids_sha256

    root = Path(workdir)
    try:
        meta = json.loads((root / FEATURES_META).read_text())
        array = np.load(root / FEATURES, mmap_mode="r")
    except (OSError, ValueError):
        return None
    ids = index_ids(root)
    if ids is None or ids_sha256(ids) != meta.get("ids_sha256") or len(array) != len(ids):
        return None
    return array, meta
