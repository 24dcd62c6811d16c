"""The report's training section: what ``labelclean train --compare`` measured.

Shown when ``train/comparison.csv`` exists: the table of recipes (held-out accuracy and
per-class recall, higher is better; seconds) and the learning curves (held-out accuracy and
training loss per epoch, from each recipe's ``metrics.csv``).
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from labelclean.io.trainfiles import TRAIN_DIR, read_comparison, read_metrics

FIGURE = "training_curves.png"


def _number(value: Any) -> float | None:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(value) else value


def training_section(workdir: str | os.PathLike, figures_dir: str | os.PathLike
                     ) -> dict[str, Any] | None:
    """The template's ``training`` value (None without ``train/comparison.csv``): ``rows``
    (recipe, method, labels_from, n_train, accuracy, recalls, seconds, note), ``classes``
    and ``figure`` (a path relative to the report folder, or None)."""
    table = read_comparison(workdir)
    if table is None:
        return None
    recall_cols = [c for c in table.columns if c.startswith("recall_")]
    rows = []
    for _, r in table.iterrows():
        rows.append({"recipe": r["recipe"], "method": r["method"],
                     "labels_from": r["labels_from"], "n_train": _number(r["n_train"]),
                     "accuracy": _number(r["heldout_accuracy"]),
                     "recalls": [_number(r[c]) for c in recall_cols],
                     "seconds": _number(r["seconds"]), "note": r["note"]})
    curves = {r["recipe"]: read_metrics(Path(workdir) / TRAIN_DIR / r["recipe"]) for r in rows}
    curves = {k: v for k, v in curves.items() if v is not None and len(v)}
    figure = None
    if curves:
        learning_curves_figure(curves, Path(figures_dir) / FIGURE)
        figure = f"assets/figures/{FIGURE}"
    return {"rows": rows, "classes": [c.removeprefix("recall_") for c in recall_cols],
            "figure": figure}


def learning_curves_figure(curves: dict[str, Any], path: Path) -> Path:
    """Held-out accuracy (left, higher is better) and mean training loss (right) per epoch,
    one line per recipe (``curves``: recipe -> its metrics.csv table)."""
    from labelclean.report.figures import _pyplot, _save

    plt = _pyplot()
    fig, (acc, loss) = plt.subplots(1, 2, figsize=(9, 3.4))
    for name, m in curves.items():
        if "heldout_accuracy" in m:
            acc.plot(m["epoch"], m["heldout_accuracy"], marker=".", label=name)
        column = "loss" if "loss" in m else next(
            (c for c in m.columns if c.startswith("loss")), None)
        if column is not None:
            loss.plot(m["epoch"], m[column], marker=".", label=name)
    acc.set_xlabel("epoch")
    acc.set_ylabel("held-out accuracy")
    acc.set_ylim(0, 1)
    loss.set_xlabel("epoch")
    loss.set_ylabel("training loss")
    acc.legend(fontsize=8)
    fig.tight_layout()
    return _save(fig, path)
